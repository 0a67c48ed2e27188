"""Changing one's own password, and the change forced by a password someone else set."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlmodel import col
from werkzeug.security import check_password_hash
from werkzeug.test import TestResponse

from app.auth import totp
from app.db import transaction
from app.models import AuditEvent, User, utcnow
from tests.api.conftest import issue_token, token_status
from tests.conftest import PASSWORD, AuthActions, UserFactory, csrf_token, english_client

NEW_PASSWORD = "a new and longer passphrase"


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(col(AuditEvent.kind) == kind)))


def _user(app: Flask, email: str) -> User:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(select(User).where(col(User.email) == email)).one()


def _change(client: FlaskClient, **fields: str) -> TestResponse:
    data = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
        "code": "",
        **fields,
    }
    token = csrf_token(client, "/account/password")
    return client.post("/account/password", data={**data, "csrf_token": token})


def _feedback(response: TestResponse) -> list[str]:
    pattern = r'class="invalid-feedback[^"]*"[^>]*>\s*([^<]*?)\s*<'
    return re.findall(pattern, response.get_data(as_text=True))


def test_a_change_ends_the_other_logins_keeps_this_one_and_revokes_tokens(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    elsewhere = AuthActions(english_client(app), make_user)
    elsewhere.login("m@example.org")
    assert elsewhere.client.get("/").status_code == 200
    secret = issue_token(app, "m@example.org", ["checklists:read"])
    assert token_status(app, secret) == 404
    auth.login("m@example.org")
    response = _change(client, code=two_factor.next_code())
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # this login goes on
    assert elsewhere.client.get("/").headers["Location"].startswith("/login")  # that one ended
    assert token_status(app, secret) == 401
    [revoked] = _events(app, "token.revoked")
    assert json.loads(revoked.data)["reason"] == "password_changed"
    [changed] = _events(app, "account.password_changed")
    # The credentials' new version voids any half-finished sign-in of the account.
    assert json.loads(changed.data) == {"own": True, "tokens_revoked": 1, "credentials_version": 1}
    with app.app_context(), transaction(write=False) as db:
        logged = " ".join(e.data for e in db.scalars(select(AuditEvent)))
    assert NEW_PASSWORD not in logged
    assert PASSWORD not in logged
    # The new password signs in; the old one does not.
    auth.logout()
    assert auth.password("m@example.org").status_code == 200
    assert auth.login("m@example.org", NEW_PASSWORD).headers["Location"] == "/"


def test_wrong_password_and_wrong_code_read_alike_count_lock_and_are_audited(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    auth.login("m@example.org")
    wrong_password = _change(client, current_password="a guess", code=two_factor.next_code())
    wrong_code = _change(client, code="000000")
    assert wrong_password.status_code == wrong_code.status_code == 400
    assert _feedback(wrong_password) == _feedback(wrong_code)
    assert len(_events(app, "auth.password_failed")) == 1
    assert len(_events(app, "auth.code_failed")) == 1
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 2):
        _change(client, current_password="another guess", code="000000")
    assert len(_events(app, "auth.locked")) == 1
    locked = _change(client, code=two_factor.next_code())
    assert locked.status_code == 400
    assert "this account is locked" in locked.get_data(as_text=True)
    user = _user(app, "m@example.org")
    assert check_password_hash(user.password_hash, PASSWORD)
    assert _events(app, "account.password_changed") == []


def test_the_form_refuses_what_the_rules_refuse(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("aud@example.org", "auditor")  # no 2FA: no code asked for
    auth.login("aud@example.org")
    page = client.get("/account/password").get_data(as_text=True)
    assert 'name="code"' not in page
    short = _change(client, new_password="short", confirm_password="short")
    assert "at least" in " ".join(_feedback(short))
    differ = _change(client, confirm_password="something else entirely")
    assert "The two new passwords differ." in _feedback(differ)
    same = _change(client, new_password=PASSWORD, confirm_password=PASSWORD)
    assert "Choose a password other than the current one." in _feedback(same)
    wrong = _change(client, current_password="a guess")
    assert _feedback(wrong) == ["The password is incorrect."]
    for response in (short, differ, same, wrong):
        assert response.status_code == 400
    assert _events(app, "account.password_changed") == []
    assert _change(client).headers["Location"] == "/"


def test_a_change_with_2fa_needs_a_code(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    response = _change(client)
    assert response.status_code == 400
    assert check_password_hash(_user(app, "m@example.org").password_hash, PASSWORD)


def _create_on_the_command_line(app: Flask, email: str, role: str) -> None:
    """An account whose password someone else chose (the pages invite people instead)."""
    created = app.test_cli_runner().invoke(
        args=["users", "create", email, "--role", role, "--password-stdin"], input=PASSWORD
    )
    assert created.exit_code == 0, created.output


def test_a_password_someone_else_set_is_changed_first_then_the_enrolment(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    _create_on_the_command_line(app, "r@example.org", "reviewer")
    assert _user(app, "r@example.org").must_change_password
    assert auth.password("r@example.org").headers["Location"] == "/account/password"
    # Nothing else opens before the change: not even the enrolment.
    for path in ("/", "/reviews/", "/account/two-factor", "/two-factor/enrol", "/tokens/"):
        assert client.get(path).headers["Location"] == "/account/password", path
    page = client.get("/account/password").get_data(as_text=True)
    assert 'id="password-change-required"' in page
    assert _change(client).headers["Location"] == "/"
    assert not _user(app, "r@example.org").must_change_password
    # Now the enrolment, and only then the rest.
    assert client.get("/").headers["Location"] == "/two-factor/enrol"
    page = client.get("/two-factor/enrol").get_data(as_text=True)
    secret = page.split('id="totp-secret"')[1].split(">")[1].split("<")[0]
    token = csrf_token(client, "/two-factor/enrol")
    code = totp.code_at(secret, totp.time_step(utcnow()))
    done = client.post("/two-factor/enrol", data={"code": code, "csrf_token": token})
    assert done.get_data(as_text=True).count("<li><code>") == 10
    assert client.get("/").status_code == 200


def test_with_2fa_the_code_comes_before_the_forced_change(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    make_user: UserFactory,
    runner: FlaskCliRunner,
) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    secret = issue_token(app, "m@example.org", ["checklists:read"])
    result = runner.invoke(
        args=["users", "set-password", "m@example.org", "--password-stdin"],
        input="a password the admin chose",
    )
    assert result.exit_code == 0, result.output
    assert token_status(app, secret) == 401
    assert _user(app, "m@example.org").must_change_password
    assert auth.password("m@example.org", "a password the admin chose").headers["Location"] == (
        "/login/code"
    )
    assert auth.code(two_factor.next_code()).headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/account/password"
    response = _change(
        client, current_password="a password the admin chose", code=two_factor.next_code()
    )
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_accounts_made_on_the_command_line_change_the_password_first(
    app: Flask, runner: FlaskCliRunner
) -> None:
    created = runner.invoke(
        args=["users", "create", "aud@example.org", "--role", "auditor", "--password-stdin"],
        input=PASSWORD,
    )
    assert created.exit_code == 0, created.output
    assert _user(app, "aud@example.org").must_change_password
    auth = AuthActions(english_client(app), UserFactory(app))
    assert auth.login("aud@example.org").headers["Location"] == "/account/password"


def test_demo_accounts_sign_straight_in(app: Flask, runner: FlaskCliRunner) -> None:
    # Documented fixtures whose passwords ``make run`` prints: no forced change.
    demo = runner.invoke(args=["users", "demo"])
    assert demo.exit_code == 0, demo.output
    with app.app_context(), transaction(write=False) as db:
        assert not any(u.must_change_password for u in db.scalars(select(User)))
