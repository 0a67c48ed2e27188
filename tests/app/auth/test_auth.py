"""Sign-in and sign-out: audit events, session renewal, open redirects, CSRF, disabled accounts."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col
from werkzeug import security

from app.audit import verification
from app.db import engine, transaction
from app.models import AuditEvent
from tests.conftest import PASSWORD, AuthActions, UserFactory, csrf_token


def events(app: Flask, kind: str | None = None) -> list[AuditEvent]:
    """The audit events so far, oldest first (optionally of one kind)."""
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if kind:
            query = query.where(col(AuditEvent.kind) == kind)
        return list(db.scalars(query))


def test_login_opens_a_session_and_is_audited(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    user = make_user("m@example.org")
    response = auth.login("M@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "m@example.org" in page
    [login] = events(app, "auth.login")
    assert (login.actor_type, login.actor_id) == ("user", str(user.id))
    assert (login.subject_type, login.subject_id) == ("user", str(user.id))
    assert login.request_id
    client_ref = json.loads(login.data)["client"]
    assert client_ref
    assert "127.0.0.1" not in login.data


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("m@example.org", "wrong password!!", "bad_password"),
        ("nobody@example.org", PASSWORD, "unknown_email"),
    ],
)
def test_failed_logins_below_the_limit_are_audited_and_do_not_lock(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    make_user: UserFactory,
    email: str,
    password: str,
    reason: str,
) -> None:
    make_user("m@example.org")
    attempts = app.config["LOGIN_MAX_FAILURES"] - 1
    for _ in range(attempts):
        response = auth.login(email, password)
        assert response.status_code == 200
        assert "Wrong e-mail address or password" in response.get_data(as_text=True)
    failures = events(app, "auth.login_failed")
    assert len(failures) == attempts
    assert all(json.loads(f.data)["reason"] == reason for f in failures)
    assert all("nobody@example.org" not in f.data for f in failures)
    # Below the limit nothing is locked: the right password and code still work at once.
    assert auth.login("m@example.org").headers["Location"] == "/"
    assert events(app, "auth.locked") == []


def test_disabled_account_cannot_log_in(
    app: Flask, runner: object, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    result = app.test_cli_runner().invoke(args=["users", "disable", "m@example.org"])
    assert result.exit_code == 0, result.output
    response = auth.login("m@example.org")
    assert response.status_code == 200
    [failure] = events(app, "auth.login_failed")
    assert json.loads(failure.data)["reason"] == "disabled"


def test_disabling_ends_open_logins(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    assert client.get("/").status_code == 200
    app.test_cli_runner().invoke(args=["users", "disable", "m@example.org"])
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_session_is_renewed_at_login(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        before = dict(sess)
    auth.login("m@example.org")
    with client.session_transaction() as sess:
        after = dict(sess)
    assert "planted" not in after
    assert after.get("csrf_token") != before.get("csrf_token")
    assert after["_user_id"]


def test_logout_ends_the_login_on_the_server(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    with client.session_transaction() as sess:
        stolen = dict(sess)
    response = auth.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert len(events(app, "auth.logout")) == 1
    # Replaying the cookie as it was before the logout gets nowhere.
    with client.session_transaction() as sess:
        sess.update(stolen)
    assert client.get("/").status_code == 302


def test_logout_needs_post_and_csrf(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
    [refusal] = events(app, "access.csrf_refused")
    assert json.loads(refusal.data)["endpoint"] == "auth.logout"


def test_login_without_csrf_token_is_refused_and_audited(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    response = client.post("/login", data={"email": "m@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "form has expired" in response.get_data(as_text=True)
    assert events(app, "auth.login") == []
    assert len(events(app, "access.csrf_refused")) == 1
    forged = client.post(
        "/login", data={"email": "m@example.org", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert events(app, "auth.login") == []


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http:evil.example",
        "/%0d%0aLocation:%20https://evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_only_leads_to_this_site(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory, target: str
) -> None:
    make_user("m@example.org")
    response = auth.login("m@example.org", next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_to_a_local_page_is_followed(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("a@example.org", "admin")
    first = client.get("/admin/users")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=%2Fadmin%2Fusers"
    response = auth.login("a@example.org", next_url="/admin/users")
    assert response.headers["Location"] == "/admin/users"


def test_signed_in_user_visiting_login_is_sent_on(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    assert client.get("/login").status_code == 302


def test_every_event_so_far_verifies(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org", "wrong password!!")
    auth.login("m@example.org")
    csrf_token(client, "/")
    auth.logout()
    with app.app_context():
        result = verification.verify(engine())
    assert result.ok
    # created, recovery codes made, failed, login, logout
    assert [e.kind for e in events(app)] == [
        "account.created",
        "twofactor.recovery_codes_generated",
        "auth.login_failed",
        "auth.login",
        "auth.logout",
    ]
    assert result.events == 5


def test_unknown_locked_and_wrong_read_alike_and_all_hash_a_password(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_user("locked@example.org")
    make_user("open@example.org")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.password("locked@example.org", "a wrong password")
    assert len(events(app, "auth.locked")) == 1
    # Count the password hashes each attempt computes (the real check still runs).
    hashed: list[str] = []
    real = security.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        hashed.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr("app.auth.accounts.check_password_hash", counting)
    answers = {}
    for case, email, password in (
        ("unknown", "nobody@example.org", PASSWORD),
        ("locked, right password", "locked@example.org", PASSWORD),
        ("locked, wrong password", "locked@example.org", "a wrong password"),
        ("wrong password", "open@example.org", "a wrong password"),
    ):
        hashed.clear()
        response = auth.password(email, password)
        alert = re.search(r'class="alert[^"]*"[^>]*>\s*(.*?)\s*<', response.get_data(True), re.S)
        assert alert is not None, case
        answers[case] = (response.status_code, alert.group(1))
        assert len(hashed) == 1, case  # the same work, so the same time, for each case
    assert len(set(answers.values())) == 1, answers
    assert answers["unknown"] == (
        200,
        "Wrong e-mail address or password, or the account is locked for a while after too "
        "many failed attempts.",
    )
    assert client.get("/").headers["Location"].startswith("/login")
