"""A change of credentials voids every half-finished sign-in and enrolment of the account: a
password set or changed, a 2FA reset, 2FA turned off."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlmodel import col

from app.auth import totp, twofactor
from app.auth.accounts import set_password
from app.db import transaction
from app.models import AuditEvent, User, utcnow
from tests.conftest import AuthActions, UserFactory, csrf_token, english_client

EMAIL = "m@example.org"
ADMINS_PASSWORD = "a password the admin chose"


def _user(app: Flask) -> User:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(select(User).where(col(User.email) == EMAIL)).one()


def _last_event(app: Flask, kind: str) -> dict[str, object]:
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).where(col(AuditEvent.kind) == kind)
        event = db.scalars(query.order_by(col(AuditEvent.seq).desc())).first()
        assert event is not None
        data: dict[str, object] = json.loads(event.data)
        return data


def _reset(app: Flask) -> None:
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == EMAIL)).one()
        twofactor.reset(db, user)


def _set_on_the_command_line(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "set-password", EMAIL, "--password-stdin"], input=f"{ADMINS_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output


def test_a_password_set_on_the_command_line_voids_a_half_finished_enrolment(
    app: Flask, runner: FlaskCliRunner, make_user: UserFactory
) -> None:
    make_user(EMAIL, "manager")
    _reset(app)  # the phone was lost: the admin resets 2FA
    # Someone who knew the old password signs in and reaches the enrolment: the secret.
    attacker = AuthActions(english_client(app), make_user)
    assert attacker.password(EMAIL).headers["Location"] == "/two-factor/enrol"
    page = attacker.client.get("/two-factor/enrol").get_data(as_text=True)
    secret = page.split('id="totp-secret"')[1].split(">")[1].split("<")[0]
    token = csrf_token(attacker.client, "/two-factor/enrol")
    # The admin sets a new password ("ends the account's logins").
    _set_on_the_command_line(app, runner)
    assert _user(app).totp_pending is None
    code = totp.code_at(secret, totp.time_step(utcnow()))
    response = attacker.client.post("/two-factor/enrol", data={"code": code, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "<code>" not in response.get_data(as_text=True)
    user = _user(app)
    assert not user.totp_enabled
    assert _last_event(app, "account.password_changed")["credentials_version"] == (
        user.credentials_version
    )
    # The person signs in with the new password and enrols their own authenticator.
    person = AuthActions(english_client(app), make_user)
    assert person.password(EMAIL, ADMINS_PASSWORD).headers["Location"] == "/account/password"


def _own_change(app: Flask, make_user: UserFactory) -> None:
    """The person changes the password in another browser (signed in, with a code)."""
    client = english_client(app)
    assert AuthActions(client, make_user).login(EMAIL).status_code == 302
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == EMAIL)).one()
        set_password(db, user, "a passphrase of my own", by=user)


def _turn_off(app: Flask, make_user: UserFactory) -> None:
    with app.app_context(), transaction() as db:
        twofactor.disable(db, db.scalars(select(User).where(col(User.email) == EMAIL)).one())


CHANGES: dict[str, Callable[[Flask, FlaskCliRunner, UserFactory], None]] = {
    "set on the command line": lambda app, runner, users: _set_on_the_command_line(app, runner),
    "changed by the person": lambda app, runner, users: _own_change(app, users),
    "2FA reset": lambda app, runner, users: _reset(app),
    "2FA turned off": lambda app, runner, users: _turn_off(app, users),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_credentials_change_voids_a_half_finished_code_step(
    app: Flask, runner: FlaskCliRunner, make_user: UserFactory, change: str
) -> None:
    make_user(EMAIL, "auditor", enrolled=True)  # an auditor may turn 2FA off
    attacker = AuthActions(english_client(app), make_user)
    assert attacker.password(EMAIL).headers["Location"] == "/login/code"
    before = _user(app).credentials_version
    CHANGES[change](app, runner, make_user)
    assert _user(app).credentials_version == before + 1
    # Even the right code finishes nothing: the step began with the old credentials.
    response = attacker.code(make_user.two_factor[EMAIL].next_code())
    assert response.headers["Location"] == "/login"
    assert attacker.client.get("/").headers["Location"].startswith("/login")
