"""Language that is whole: German pages without English, French and Italian for Swiss
browsers and accounts, one way to write dates per language, one gender form, and the audit
pages' changes in words."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from app.checklists import steps
from app.db import transaction
from app.i18n import format_amount, format_date, format_datetime
from app.models import User
from tests.app.conftest import Cast
from tests.conftest import AuthActions, UserFactory, csrf_token, make_test_app

TRANSLATIONS = Path(__file__).parents[1].parent / "app/translations"
CATALOG = TRANSLATIONS / "de/LC_MESSAGES/messages.po"
GERMAN = {"Accept-Language": "de"}


def test_dates_have_four_digit_years_in_both_languages(app: Flask) -> None:
    moment = datetime(2026, 12, 2, 13, 5, 9, tzinfo=UTC)  # 14:05 in Berlin
    with app.test_request_context():
        with force_locale("de"):
            assert format_date(date(2026, 12, 2)) == "02.12.2026"
            assert format_datetime(moment) == "02.12.2026 14:05"
            assert format_datetime(moment, seconds=True, utc=True) == "02.12.2026 13:05:09"
            # A time typed into a form, without a zone: as typed, not converted.
            typed = datetime(2026, 12, 2, 13, 5, tzinfo=UTC).replace(tzinfo=None)
            assert format_datetime(typed, as_typed=True) == "02.12.2026 13:05"
        with force_locale("en"):
            assert format_date(date(2026, 12, 2)) == "2026-12-02"
            assert format_datetime(moment) == "2026-12-02 14:05"
        # French and Italian as Switzerland writes them.
        for language in ("fr", "it"):
            with force_locale(language):
                assert format_date(date(2026, 12, 2)) == "02.12.2026"
                assert format_datetime(moment) == "02.12.2026 14:05"
        assert format_datetime(None) == ""


def test_amounts_and_refusal_dates_as_swiss_french_and_italian_write_them(app: Flask) -> None:
    with app.test_request_context():
        expected = {"de": "1050,50", "fr": "1050,50", "it": "1050.50", "en": "1050.50"}
        for language, written in expected.items():
            with force_locale(language):
                assert format_amount("1050.50") == written
                assert format_amount("nonsense") == "nonsense"
        days = {
            "fr": ("1er octobre 2025", "6 octobre 2025"),
            "it": ("1 ottobre 2025", "6 ottobre 2025"),
        }
        for language, (first, sixth) in days.items():
            with force_locale(language):
                assert (steps.day("2025-10-01"), steps.day("2025-10-06")) == (first, sixth)


@pytest.mark.parametrize(
    ("asked", "language"),
    [("fr-CH", "fr"), ("fr-CH, de;q=0.8", "fr"), ("it-CH", "it"), ("it-CH, fr;q=0.5", "it"),
     ("de-CH, fr;q=0.5", "de"), ("rm-CH, it;q=0.7", "it"), ("es", "de")],
)  # fmt: skip
def test_a_swiss_browser_gets_its_language(app: Flask, asked: str, language: str) -> None:
    page = app.test_client().get("/login", headers={"Accept-Language": asked})
    assert f'<html lang="{language}">' in page.get_data(as_text=True)


def test_an_error_page_speaks_french(app: Flask) -> None:
    page = app.test_client().get("/nowhere", headers={"Accept-Language": "fr-CH"})
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert "Page introuvable" in html
    assert "Il n\u2019y a pas de page à cette adresse." in html


def test_the_switch_offers_each_language_named_in_itself(app: Flask) -> None:
    page = app.test_client().get("/login", headers={"Accept-Language": "fr-CH"})
    html = page.get_data(as_text=True)
    assert "Se connecter" in html
    for code, name in (
        ("de", "Deutsch"),
        ("fr", "Français"),
        ("it", "Italiano"),
        ("en", "English"),
    ):
        assert re.search(rf'value="{code}" lang="{code}"[^>]*>{name}</button>', html), code
    assert re.search(r'value="fr" lang="fr"[^>]*aria-pressed="true"', html)


@pytest.mark.parametrize("language", ["fr", "it"])
def test_a_chosen_french_or_italian_is_kept_on_the_account(
    cast: Cast, app: Flask, language: str
) -> None:
    token = csrf_token(cast.manager, "/")
    response = cast.manager.post(
        "/language", data={"lang": language, "next": "/", "csrf_token": token}
    )
    assert response.status_code == 302
    with app.app_context(), transaction(write=False) as db:
        user = db.get(User, cast.manager_user.id)
        assert user is not None
        assert user.locale == language
    # The account's choice wins over the browser's, on every later request.
    page = cast.manager.get("/", headers=GERMAN).get_data(as_text=True)
    assert f'<html lang="{language}">' in page


def test_a_language_chosen_before_signing_in_stays_through_sign_in_and_out(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    """A browser that asks for German, a person who reads French: the switch's choice is
    kept when the sign-in renews the session, and after signing out."""
    make_user("m@example.org")
    token = csrf_token(client, "/login")
    client.post("/language", data={"lang": "fr", "next": "/login", "csrf_token": token})
    auth.login("m@example.org")
    page = client.get("/", headers=GERMAN).get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Se déconnecter" in page
    auth.logout()
    assert '<html lang="fr">' in client.get("/login", headers=GERMAN).get_data(as_text=True)


def test_the_french_catalogue_uses_doublets_or_epicene_words() -> None:
    """The Federal Chancellery's style: no point médian ("vérificateur·rice"), no brackets
    ("administrateur(trice)"), no slash forms."""
    with (TRANSLATIONS / "fr/LC_MESSAGES/messages.po").open("rb") as fh:
        texts = [str(m.string) for m in read_po(fh) if m.id]
    contracted = re.compile(r"\w[·.(/-](e|es|rice|rices|trice|trices|euse|euses|ne|nes)\b\)?")
    assert [t for t in texts if re.search(r"\w·\w", t) or contracted.search(t)] == []
    assert any("vérificateur ou vérificatrice" in t.casefold() for t in texts)
    assert any("règlement (UE) 2024/900 du Parlement européen et du Conseil" in t for t in texts)


def test_the_catalogue_uses_one_gender_form() -> None:
    """The colon (Prüfer:in), which screen readers read as a short pause; no ·in, *in, _in."""
    with CATALOG.open("rb") as fh:
        texts = [str(m.string) for m in read_po(fh) if m.id]
    others = [t for t in texts if re.search(r"\w[·*_/](in|innen|r|e)\b", t)]
    assert others == []
    # Nor the generic masculine for a role ("einen Administrator").
    masculine = re.compile(
        r"\b(ein|einen|einem|eines|der|den|dem|des|kein) "
        r"(Administrator|Prüfer|Revisor|Inhaber)\b(?!:)",
        re.IGNORECASE,
    )
    assert [t for t in texts if masculine.search(t)] == []
    # Nor pairs ("eine Prüferin oder ein Prüfer").
    assert [
        t for t in texts if re.search(r"\b(Prüferin|Administratorin|Revisorin|Inhaberin)\b", t)
    ] == []
    assert any("Prüfer:in" in t for t in texts)


def test_the_tokens_page_speaks_german(cast: Cast) -> None:
    html = cast.manager.get("/tokens/", headers=GERMAN).get_data(as_text=True)
    assert "checklists:read: Checklisten und Übermittlungen lesen" in html
    assert "read checklists and submissions" not in html
    # A scope the role does not allow: refused in German, the role by its German name.
    response = cast.manager.post(
        "/tokens/",
        data={
            "name": "CI",
            "scopes": ["checklists:read", "audit:read"],
            "days": "30",
            "code": cast.code("manager@example.org"),
            "csrf_token": csrf_token(cast.manager, "/tokens/"),
        },
        headers=GERMAN,
    )
    assert response.status_code == 400
    assert (
        "Ein Token eines Kontos mit der Rolle Anzeigenverantwortliche:r kann die "
        "Berechtigungen audit:read nicht haben." in response.get_data(as_text=True)
    )


def test_the_audit_pages_say_what_changed_in_words(cast: Cast, auditor: FlaskClient) -> None:
    checklist = cast.create()
    cast.attest(checklist)
    html = auditor.get(f"/audit/checklists/{checklist}", headers=GERMAN).get_data(as_text=True)
    assert "Zwei-Faktor-Authentifizierung: zu tun → erledigt" in html
    for raw in ("failed → passed", "two_factor:", ">None<", "[&#34;CH&#34;]", '["CH"]'):
        assert raw not in html, raw
    assert '<dt class="col-sm-4">Zielländer</dt>' in html
    english = auditor.get(f"/audit/checklists/{checklist}", headers={"Accept-Language": "en"})
    assert "to do → done" in english.get_data(as_text=True)


def test_the_statement_on_accessibility_is_public_and_filled_in(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/accessibility", headers=GERMAN).get_data(as_text=True)
    assert "Erklärung zur Barrierefreiheit" in html
    assert "noch nicht überprüft" in html
    assert "wenden Sie sich an Ihre Administrator:in" in html
    assert 'href="https://www.schlichtungsstelle-bgg.de/"' in html
    app.config["ACCESSIBILITY_CONTACT"] = "barrierefreiheit@musterstadt.example"
    app.config["ACCESSIBILITY_REVIEWED_ON"] = "2026-12-02"
    html = client.get("/accessibility", headers=GERMAN).get_data(as_text=True)
    assert "schreiben Sie an: barrierefreiheit@musterstadt.example." in html
    assert "zuletzt am 02.12.2026 überprüft" in html
    # Every page links to it, signed in or not.
    assert 'href="/accessibility"' in client.get("/login").get_data(as_text=True)


def test_a_reviewed_on_that_is_not_a_date_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ACCESSIBILITY_REVIEWED_ON"):
        make_test_app(
            f"sqlite:///{tmp_path / 'a.db'}", tmp_path, ACCESSIBILITY_REVIEWED_ON="2.12.26"
        )


def test_amounts_are_written_as_the_language_writes_them(cast: Cast) -> None:
    checklist = cast.create()
    german = cast.manager.get(f"/checklists/{checklist}", headers=GERMAN).get_data(as_text=True)
    assert "Tagesbudget von 10,00 CHF." in german
    assert "Tagesbudget: 10,00 CHF" in german
    english = cast.manager.get(f"/checklists/{checklist}").get_data(as_text=True)
    assert "Daily budget of 10.00 CHF." in english
