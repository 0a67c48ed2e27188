"""The German catalog: complete, and its placeholders match the English source."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[2]
CATALOG = ROOT / "app" / "translations" / "de" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_every_message_has_a_german_translation() -> None:
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh)
    missing = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == []
    assert fuzzy == []


def test_placeholders_survive_translation() -> None:
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh)
    for message in catalog:
        if message.id and isinstance(message.id, str):
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
                PLACEHOLDER.findall(str(message.string))
            ), message.id


def test_every_message_in_the_code_is_in_the_catalog() -> None:
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    method_map = [("app/**.py", "python"), ("app/templates/**.html", "jinja2")]
    in_code = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, keywords=keywords)
    }
    with CATALOG.open("rb") as fh:
        catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    assert sorted(in_code - catalog) == [], "run `make translations-extract` and translate"
