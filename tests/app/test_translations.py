"""The German catalog: complete, and its placeholders match the English source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import force_locale

from app.checklists import steps
from workflows.machine import Unmet

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


def _calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def check_codes() -> set[str]:
    """Every code the checks can return, read from their source: each ``result(name, status,
    code, …)`` with a literal code, and for the budget check (``first.code``) each delivery
    ``Problem(field, code, …)``."""
    codes, dynamic = set(), set()
    calls = [
        c for path in (ROOT / "workflows" / "checks").glob("*.py") for c in _calls(path, "result")
    ]
    for call in calls:
        name, code = call.args[0], call.args[2]
        assert isinstance(name, ast.Constant), ast.unparse(call)
        if isinstance(code, ast.Constant):
            codes.add(f"{name.value!s}.{code.value!s}")
        else:
            assert ast.unparse(code) == "first.code", ast.unparse(call)
            dynamic.add(str(name.value))
    assert dynamic == {"budget"}
    for call in _calls(ROOT / "workflows" / "delivery.py", "Problem"):
        code = call.args[1]
        assert isinstance(code, ast.Constant), ast.unparse(call)
        codes.add(f"budget.{code.value!s}")
    return codes


def test_the_checks_codes_are_read_from_their_source() -> None:
    codes = check_codes()
    assert {"two_factor.ok", "identity.expired", "budget.below_minimum", "approval.stale"} <= codes
    assert len(codes) > 40


def test_every_check_code_has_an_english_and_a_german_text(app: Flask) -> None:
    codes = check_codes()
    with app.test_request_context():
        with force_locale("en"):
            english = steps.catalogue({})
        with force_locale("de"):
            german = steps.catalogue({})
    assert sorted(codes - english.keys()) == [], "a check code without a text"
    assert sorted(english.keys() - codes) == [], "a text for a code no check returns"
    untranslated = sorted(c for c in codes if german[c] == english[c] or not german[c])
    assert untranslated == []


def test_an_unknown_code_is_no_silent_english(app: Flask) -> None:
    with app.test_request_context(), pytest.raises(LookupError, match=r"budget\.nonsense"):
        steps.text("budget.nonsense", {}, "An English fallback.")
    with app.test_request_context(), pytest.raises(LookupError, match=r"nobody\.knows"):
        steps.refusal(Unmet("nobody", "nobody.knows", "An English fallback."))
    app.testing = False
    with app.test_request_context():
        assert steps.text("budget.nonsense", {}, "An English fallback.") == "An English fallback."


def test_a_check_that_was_not_evaluated_is_named_in_words(app: Flask) -> None:
    unmet = Unmet("identity", "identity.not_evaluated", "The identity check was not evaluated.")
    with app.test_request_context(), force_locale("de"):
        assert steps.refusal(unmet) == "Die Prüfung „Identität geprüft“ wurde nicht ausgeführt."
