"""One input rule set for pages and API: characters, ids and lengths; NUL and body limits.

Every case runs through both front doors (the page's form and the JSON API) against the
running app on SQLite and PostgreSQL, and checks that a refusal stores nothing.
"""

from __future__ import annotations

import io
import os
import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from app.api import tokens
from app.auth.accounts import find_user
from app.db import transaction
from app.inputs import FIELDS, MAX_JSON_DEPTH, Kind, characters, json_too_deep
from app.models import AuditEvent, Checklist, utcnow
from tests.app.conftest import CH_AD, CH_FORM, Cast
from tests.conftest import csrf_token

# The ad's fields that the page's form and the API's body both take, as the API nests them.
AD_FIELDS = {
    "title": "title",
    "headline": "ad.headline",
    "message": "ad.message",
    "link_url": "ad.link_url",
    "page_id": "ad.page_id",
    "ad_account_id": "ad.ad_account_id",
    "paid_for_by": "ad.paid_for_by",
    "dsa_payor": "ad.dsa_payor",
    "dsa_beneficiary": "ad.dsa_beneficiary",
}
# Typed through the API only: the page chooses the ad account, which brings its page.
IDS = {"page_id", "ad_account_id"}


class Fronts:
    """The manager's two ways in: the page's form and an API token."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        cast.app.config["API_RATE_LIMIT"] = "100000 per minute"
        with cast.app.app_context(), transaction() as db:
            owner = find_user(db, "manager@example.org")
            assert owner is not None
            self.token = tokens.issue(
                db, owner, name="inputs", scopes=["checklists:read", "checklists:write"],
                lifetime=timedelta(days=1), issued_by=None, now=utcnow(),
            ).secret  # fmt: skip

    def form(self, **changes: str) -> TestResponse:
        """POST the new-ad form with ``changes``."""
        token = csrf_token(self.cast.manager, "/checklists/new")
        return self.cast.manager.post(
            "/checklists/new", data={**CH_FORM, **changes, "csrf_token": token}
        )

    def api(self, **changes: str) -> TestResponse:
        """POST /api/v1/checklists with ``changes`` (title at the top, the rest in ``ad``)."""
        ad: dict[str, Any] = {k: v for k, v in CH_AD.items() if k not in ("title", "countries")}
        ad["countries"] = ["CH"]
        body: dict[str, Any] = {"title": CH_AD["title"], "ad": ad}
        for name, value in changes.items():
            (body if name == "title" else ad)[name] = value
        return self.cast.manager.post(
            "/api/v1/checklists", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )

    def count(self) -> int:
        with self.cast.app.app_context(), transaction(write=False) as db:
            return int(db.scalar(select(func.count()).select_from(Checklist)) or 0)


@pytest.fixture
def fronts(cast: Cast) -> Fronts:
    return Fronts(cast)


def refused_by_both(fronts: Fronts, name: str, value: str, message: str, code: str) -> None:
    """The form shows ``message`` on the field; the API names the field with ``code``."""
    before = fronts.count()
    page = fronts.form(**{name: value})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert message in html, html
    assert f'id="{name}"' in html
    problem = fronts.api(**{name: value})
    assert problem.status_code == 422, problem.get_json()
    errors = problem.get_json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(AD_FIELDS[name], code)], errors
    assert fronts.count() == before


# --- NUL: refused before anything reads it ------------------------------------------------


def _events(app: Flask) -> int:
    with app.app_context(), transaction(write=False) as db:
        return int(db.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_a_nul_in_the_sign_in_form_is_a_clear_400(client: FlaskClient, app: Flask) -> None:
    token = csrf_token(client, "/login")
    events = _events(app)
    response = client.post(
        "/login",
        data={"email": "manager@example.org\x00", "password": "pw\x00", "csrf_token": token},
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    # Without a CSRF token, and in the query string, just the same.
    assert client.post("/login", data={"email": "\x00"}).status_code == 400
    assert client.get("/login?next=%00").status_code == 400
    assert _events(app) == events


def test_the_nul_page_speaks_german(client: FlaskClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "a\x00", "password": "x", "csrf_token": token},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 400
    assert "NUL-Zeichen" in response.get_data(as_text=True)


def test_a_nul_in_a_new_ad_is_refused_and_nothing_is_stored(fronts: Fronts) -> None:
    for name in ("title", "message", "countries", "csrf_token_extra"):
        response = fronts.form(**{name: "Abstimmung\x00"})
        assert response.status_code == 400, name
        assert "NUL character" in response.get_data(as_text=True)
    problem = fronts.api(headline="a\x00b")
    assert problem.status_code == 400
    assert problem.mimetype == "application/problem+json"
    assert problem.get_json()["errors"][0]["field"] == "ad.headline"
    assert problem.get_json()["errors"][0]["code"] == "nul_character"
    assert fronts.count() == 0


# --- characters that change what a reviewer reads ---------------------------------------


@pytest.mark.parametrize(
    ("name", "char", "code", "message"),
    [
        ("title", "\u202e", "invisible_character", "Remove the invisible character U+202E"),
        ("title", "\u2066", "invisible_character", "Remove the invisible character U+2066"),
        ("title", "\u200b", "invisible_character", "Remove the invisible character U+200B"),
        ("headline", "\ufeff", "invisible_character", "Remove the invisible character U+FEFF"),
        ("headline", "\u061c", "invisible_character", "Remove the invisible character U+061C"),
        ("headline", "\x07", "control_character", "Remove the control character U+0007"),
        ("headline", "\x9b", "control_character", "Remove the control character U+009B"),
        ("title", "\n", "line_break", "This field takes one line"),
        ("message", "\u200d", "invisible_character", "Remove the invisible character U+200D"),
        ("message", "\x1b", "control_character", "Remove the control character U+001B"),
        ("paid_for_by", "\u200f", "invisible_character", "Remove the invisible character U+200F"),
        ("link_url", "\u202a", "invisible_character", "Remove the invisible character U+202A"),
        ("headline", "\u00ad", "invisible_character", "Remove the invisible character U+00AD"),
        ("title", "\u2062", "invisible_character", "Remove the invisible character U+2062"),
        ("message", "\u3164", "invisible_character", "Remove the invisible character U+3164"),
        ("message", "\U000e0041", "invisible_character", "Remove the invisible character U+E0041"),
    ],
)
def test_hidden_and_control_characters_are_refused_by_form_and_api(
    fronts: Fronts, name: str, char: str, code: str, message: str
) -> None:
    value = {"link_url": "https://www.musterstadt.ch/ab"}.get(name, "Abstimmung") + char + "x"
    refused_by_both(fronts, name, value, message, code)


def test_line_breaks_and_tabs_are_text_in_the_ad_text(fronts: Fronts) -> None:
    message = "Erste Zeile\r\nZweite Zeile\tmit Tab"
    assert fronts.form(message=message).status_code == 302
    assert fronts.api(message=message).status_code == 201
    with fronts.cast.app.app_context(), transaction(write=False) as db:
        stored = db.scalars(select(Checklist.message)).all()  # type: ignore[call-overload]
    assert stored == [message, message]


def test_emoji_joined_by_a_zero_width_joiner_are_taken(fronts: Fronts) -> None:
    """A joiner between pictographs makes one emoji that every screen shows; between
    letters it hides itself, and the table above refuses it there."""
    family, rainbow = (
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\U0001f3f3\ufe0f\u200d\U0001f308",
    )
    headline = f"Familienfest {family} Pride {rainbow}"
    message = "Unsere Astronautin \U0001f9d1\U0001f3fd\u200d\U0001f680 erz\u00e4hlt"
    assert fronts.form(headline=headline, message=message).status_code == 302
    assert fronts.api(headline=headline, message=message).status_code == 201
    refused_by_both(
        fronts, "headline", "Ab\u200dstimmung", "Remove the invisible character U+200D",
        "invisible_character",
    )  # fmt: skip


def test_the_german_form_explains_in_german(fronts: Fronts) -> None:
    token = csrf_token(fronts.cast.manager, "/checklists/new")
    page = fronts.cast.manager.post(
        "/checklists/new",
        data={**CH_FORM, "title": "Ab\u202estimmung", "csrf_token": token},
        headers={"Accept-Language": "de"},
    )
    assert page.status_code == 400
    assert "unsichtbare Zeichen U+202E" in page.get_data(as_text=True)


# --- ids: ASCII digits only ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page_id", "\u0662\u0660\u0660\u0661"),
        ("page_id", "\u06f2\u06f0\u06f0\u06f1"),
        ("page_id", "\uff12\uff10\uff10\uff11"),
        ("ad_account_id", "act_\u0661\u0660\u0660\u0661"),
    ],
)
def test_digits_of_other_scripts_are_no_id(fronts: Fronts, name: str, value: str) -> None:
    # What Python's str.isdigit() accepts.
    assert not value.isascii()
    assert value.removeprefix("act_").isdigit()
    # The API names the field; the page chooses the account (and with it the page) from the
    # registered ones, so such an id is no choice there.
    problem = fronts.api(**{name: value})
    assert problem.status_code == 422, problem.get_json()
    errors = [(e["field"], e["code"]) for e in problem.get_json()["errors"]]
    assert errors == [(AD_FIELDS[name], "invalid_format")]
    page = fronts.form(ad_account_id=value)
    assert page.status_code == 400
    assert "Not a valid choice" in page.get_data(as_text=True)
    assert fronts.count() == 0


# --- one table of lengths -----------------------------------------------------------------


def _of_length(name: str, length: int) -> str:
    """A valid value of ``name`` with ``length`` characters."""
    if name == "link_url":
        return "https://" + "a" * (length - len("https://"))
    if name == "page_id":
        return "1" * length
    if name == "ad_account_id":
        return "act_" + "1" * (length - len("act_"))
    return "x" * length


@pytest.mark.parametrize("name", sorted(set(AD_FIELDS) - IDS))
def test_the_longest_value_is_taken_and_one_more_refused_by_both(fronts: Fronts, name: str) -> None:
    longest = FIELDS[name].max
    assert fronts.form(**{name: _of_length(name, longest)}).status_code == 302
    assert fronts.api(**{name: _of_length(name, longest)}).status_code == 201
    assert fronts.count() == 2
    too_long = _of_length(name, longest + 1)
    page = fronts.form(**{name: too_long})
    assert page.status_code == 400
    assert f"At most {longest} characters." in page.get_data(as_text=True)
    problem = fronts.api(**{name: too_long})
    assert problem.status_code == 422
    assert [e["field"] for e in problem.get_json()["errors"]] == [AD_FIELDS[name]]
    assert fronts.count() == 2


@pytest.mark.parametrize(
    ("name", "registered"),
    [("page_id", "page_mismatch"), ("ad_account_id", "ad_account_unknown")],
)
def test_an_id_of_the_longest_shape_is_looked_up_and_one_more_refused(
    fronts: Fronts, name: str, registered: str
) -> None:
    longest = FIELDS[name].max
    for value, code in ((_of_length(name, longest), registered),
                        (_of_length(name, longest + 1), "string_too_long")):  # fmt: skip
        problem = fronts.api(**{name: value})
        assert problem.status_code == 422, problem.get_json()
        assert [(e["field"], e["code"]) for e in problem.get_json()["errors"]] == [
            (AD_FIELDS[name], code)
        ]
    assert fronts.count() == 0


def test_every_form_field_takes_its_length_from_the_table(app: Flask) -> None:
    """The rendered forms tell the browser the same maximum as the table."""
    from app.checklists.forms import ChecklistForm

    with app.test_request_context("/"):
        form = ChecklistForm()
        for name in set(AD_FIELDS) - IDS:
            assert f'maxlength="{FIELDS[name].max}"' in str(form[name]()), name


# --- body limits --------------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """A request body that counts what the app reads of it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.taken += len(line)
        return line


def test_a_form_above_the_limit_is_a_413_page_unread(client: FlaskClient) -> None:
    boundary, data = encode_multipart(MultiDict({f"filler{i}": "x" * 400_000 for i in range(5)}))
    body = CountingStream(data)
    response = client.post(
        "/login",
        input_stream=body,
        content_length=len(data),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert "larger than adgate accepts" in response.get_data(as_text=True)
    assert body.taken == 0


def test_a_form_above_the_limit_is_a_413_whatever_its_encoding(client: FlaskClient) -> None:
    # Each multipart field stays under Flask's per-field limit; together they pass 1 MB.
    boundary, body = encode_multipart(MultiDict({f"filler{i}": "x" * 400_000 for i in range(5)}))
    response = client.post(
        "/login", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 413
    response = client.post("/login", data={"filler": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413


def test_an_image_of_several_megabytes_is_still_taken(fronts: Fronts) -> None:
    out = io.BytesIO()
    # Noise does not compress: the PNG is about 4 MB.
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(out, format="PNG")
    data = out.getvalue()
    assert len(data) > 3 * 1024 * 1024
    # Encoded here in memory: the test client would spool a large upload to a file it
    # never closes.
    fields = MultiDict(
        [*((k, str(v)) for k, v in CH_FORM.items() if k != "placements"),
         ("placements", "facebook"), ("csrf_token", csrf_token(fronts.cast.manager, "/")),
         ("image", FileStorage(io.BytesIO(data), "noise.png", content_type="image/png"))]
    )  # fmt: skip
    boundary, body = encode_multipart(fields)
    response = fronts.cast.manager.post(
        "/checklists/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with fronts.cast.app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(Checklist)).one().image_id is not None
    # A plain (not multipart) post to the same page keeps the small limit.
    token = csrf_token(fronts.cast.manager, "/checklists/new")
    plain = fronts.cast.manager.post(
        "/checklists/new",
        data={**CH_FORM, "csrf_token": token, "filler": "x" * (2 * 1024 * 1024)},
        content_type="application/x-www-form-urlencoded",
    )
    assert plain.status_code == 413


def test_json_depth_is_judged_without_parsing() -> None:
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1))
    assert json_too_deep("[" * 10_000)
    # Brackets inside strings are text, not nesting.
    assert not json_too_deep(b'{"title": "' + b"[" * 10_000 + b'"}')
    assert not json_too_deep(b'{"a": "\\"[[[[", "b": [1, {"c": [2]}]}')


def test_every_format_character_is_refused() -> None:
    """The list of invisible characters holds every format character (category Cf) of the
    interpreter's Unicode data, whatever version that is."""
    format_characters = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    taken = [c for c in format_characters if characters(f"a{c}b", Kind.LINE) is None]
    assert taken == []


def test_a_nul_in_the_path_is_a_400_before_any_lookup(cast: Cast) -> None:
    # PostgreSQL refused the NUL in the lookup of an account id with a 500.
    for path in ("/admin/ad-accounts/act_1%00", "/checklists/1%00"):
        response = cast.admin.get(path)
        assert response.status_code == 400, path
