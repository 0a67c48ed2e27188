"""The UI shell: security headers, error pages in both languages, health checks, language."""

from __future__ import annotations

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth.access import public
from app.db import alembic_config, head_revision, transaction
from app.models import User
from tests.conftest import AuthActions, UserFactory, csrf_token, make_test_app


@pytest.mark.parametrize("path", ["/login", "/healthz", "/nowhere", "/"])
def test_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert len(headers["X-Request-ID"]) == 32


def test_pages_carry_no_inline_script_or_style(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("a@example.org", "admin")
    auth.login("a@example.org")
    for path in ("/", "/admin/users", "/nowhere"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html
        assert "<script " not in html.replace('<script src="', "")
        assert " style=" not in html
        assert "<style" not in html
        assert " on" + "click=" not in html


@pytest.mark.parametrize(
    ("language", "title"), [("de", "Seite nicht gefunden"), ("en", "Page not found")]
)
def test_404_page_in_both_languages(client: FlaskClient, language: str, title: str) -> None:
    response = client.get("/nowhere", headers={"Accept-Language": language})
    assert response.status_code == 404
    assert title in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "title"), [("de", "Zugriff verweigert"), ("en", "Access denied")]
)
def test_403_page_in_both_languages(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory, language: str, title: str
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    response = client.get("/admin/users", headers={"Accept-Language": language})
    assert response.status_code == 403
    assert title in response.get_data(as_text=True)


@pytest.mark.dialect("sqlite")
def test_500_shows_no_stack_trace(app: Flask) -> None:
    def explode() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_url_rule("/explode", "explode", public(explode))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/explode", headers={"Accept-Language": "en"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert "Traceback" not in body
    assert "hunter2" not in body
    assert response.headers["X-Request-ID"] in body


@pytest.mark.dialect("sqlite")
def test_failed_request_changes_nothing(app: Flask) -> None:
    from app.auth.accounts import create_user
    from app.db import get_session

    def half_done() -> str:
        create_user(get_session(), "ghost@example.org", "manager", "a long enough password")
        raise RuntimeError("failed after the change was flushed")

    app.add_url_rule("/half-done", "half_done", public(half_done), methods=["POST"])
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["WTF_CSRF_ENABLED"] = False
    assert app.test_client().post("/half-done").status_code == 500
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(User)).all() == []


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_waits_for_the_migration(database_url: str, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    app = make_test_app(database_url, tmp_path / "instance")
    client = app.test_client()
    before = client.get("/readyz")
    assert before.status_code == 503
    assert before.json is not None
    assert before.json["reason"] == "migrations"
    command.upgrade(alembic_config(database_url), "head")
    after = client.get("/readyz")
    assert after.status_code == 200
    assert after.json is not None
    with app.app_context():
        assert after.json["status"] == "ok"
        assert after.json["schema"] == after.json["database"] == head_revision()
    app.extensions["adgate.db"].dispose()


@pytest.mark.dialect("sqlite")
def test_readyz_reports_an_unreachable_database(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    app = make_test_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", tmp_path / "instance")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["status"] == "unavailable"
    assert response.json["reason"] == "database"


def test_language_follows_the_browser_then_the_choice(client: FlaskClient) -> None:
    assert 'lang="en"' in client.get("/login", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    # A language adgate does not speak: the default, German.
    assert 'lang="de"' in client.get("/login", headers={"Accept-Language": "es"}).get_data(
        as_text=True
    )
    # A Swiss browser: its regional German first, English as a second choice.
    swiss = {"Accept-Language": "de-CH, en;q=0.5"}
    assert '<html lang="de"' in client.get("/login", headers=swiss).get_data(as_text=True)
    token = csrf_token(client, "/login")
    response = client.post("/language", data={"lang": "de", "next": "/login", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="de"' in page
    assert "Anmelden" in page


def test_language_choice_is_kept_on_the_account(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    token = csrf_token(client, "/")
    client.post(
        "/language", data={"lang": "en", "next": "https://evil.example/", "csrf_token": token}
    )
    with app.app_context(), transaction(write=False) as db:
        user = db.scalars(select(User)).one()
        assert user.locale == "en"
    other = app.test_client()
    AuthActions(other, make_user).login("m@example.org")
    assert 'lang="en"' in other.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)


def test_unknown_language_is_bad_input(client: FlaskClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post("/language", data={"lang": "xx", "csrf_token": token})
    assert response.status_code == 400
