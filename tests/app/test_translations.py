"""The German, French and Italian catalogues: complete, and their placeholders match the
English source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import force_locale

from app.checklists import steps
from workflows.machine import Unmet

ROOT = Path(__file__).parents[2]
# Every language adgate speaks besides English, the language of the source.
TRANSLATED = ("de", "fr", "it")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Markup and brace fields that a few messages carry: kept as they are.
MARKUP = re.compile(r"<[^>]+>|\{\w+\}")


def catalog_path(language: str) -> Path:
    return ROOT / "app" / "translations" / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    with catalog_path(language).open("rb") as fh:
        return read_po(fh, locale=language)


def ids(catalog: Catalog) -> set[str]:
    """The catalogue's messages by their (singular) source text."""
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_configured_languages_are_english_and_the_translated_ones(app: Flask) -> None:
    assert set(app.config["LANGUAGES"]) == {"en", *TRANSLATED}
    found = ROOT.glob("app/translations/*/LC_MESSAGES/messages.po")
    assert sorted(p.parents[1].name for p in found) == sorted(TRANSLATED)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation(language: str) -> None:
    catalog = read_catalog(language)
    # A plural message needs each of the language's forms.
    missing = [
        m.id
        for m in catalog
        if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [], f"{len(missing)} messages without a {language} text"
    assert fuzzy == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_placeholders_survive_translation(language: str) -> None:
    for message in read_catalog(language):
        if not message.id:
            continue
        if isinstance(message.id, str):
            pairs = [(message.id, str(message.string or ""))]
        else:
            # Every plural form carries the plural source's placeholders.
            forms = message.string if isinstance(message.string, tuple) else ()
            pairs = [(message.id[1], str(form)) for form in forms]
        for source, text in pairs:
            if not text:
                continue  # a missing text is the finding of the test above
            for pattern in (PLACEHOLDER, MARKUP):
                kept = sorted(set(pattern.findall(text)))
                assert kept == sorted(set(pattern.findall(source))), (language, message.id, text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_holds_the_same_messages(language: str) -> None:
    template = ROOT / "app" / "translations" / "messages.pot"
    with template.open("rb") as fh:
        expected = ids(read_po(fh))
    assert ids(read_catalog(language)) == expected, "run `make translations-extract`"


def test_every_message_in_the_code_is_in_the_catalog() -> None:
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    method_map = [("app/**.py", "python"), ("app/templates/**.html", "jinja2")]
    in_code = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, keywords=keywords)
    }
    for language in TRANSLATED:
        missing = sorted(in_code - ids(read_catalog(language)))
        assert missing == [], f"run `make translations-extract` and translate ({language})"


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


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_check_code_has_a_text_in_every_language(app: Flask, language: str) -> None:
    codes = check_codes()
    with app.test_request_context():
        with force_locale("en"):
            english = steps.catalogue({})
        with force_locale(language):
            translated = steps.catalogue({})
    assert sorted(codes - english.keys()) == [], "a check code without a text"
    assert sorted(english.keys() - codes) == [], "a text for a code no check returns"
    untranslated = sorted(c for c in codes if translated[c] == english[c] or not translated[c])
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
