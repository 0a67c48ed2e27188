"""``flask users …``: accounts from the command line; bad input changes nothing."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlmodel import col
from werkzeug.security import check_password_hash

from app.db import transaction
from app.models import AuditEvent, User
from tests.conftest import PASSWORD, AuthActions, UserFactory


def users(app: Flask) -> list[User]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(User).order_by(User.email)))


def kinds(app: Flask) -> list[str]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(col(AuditEvent.kind)).order_by(col(AuditEvent.seq))))


def test_create_reads_the_password_from_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "create", "Rev@Example.org", "--role", "reviewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created rev@example.org (reviewer)" in result.output
    [user] = users(app)
    assert user.email == "rev@example.org"
    assert user.password_hash.startswith("scrypt:")
    assert check_password_hash(user.password_hash, PASSWORD)
    assert PASSWORD not in user.password_hash
    with app.app_context(), transaction(write=False) as db:
        event = db.scalars(select(AuditEvent)).one()
    assert (event.kind, event.actor_type, event.subject_id) == (
        "account.created",
        "system",
        str(user.id),
    )
    # The shell is the trust root: its reviewer acts without a second person's confirmation.
    assert json.loads(event.data) == {
        "role": "reviewer",
        "must_change_password": True,
        "awaits_confirmation": False,
    }
    assert "rev@example.org" not in event.data


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["not-an-email", "--role", "manager"], PASSWORD, "not a valid e-mail address"),
        (["a@example.org", "--role", "manager"], "short", "at least 12 characters"),
        (["a@example.org", "--role", "king"], PASSWORD, "Invalid value for '--role'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, args: list[str], password: str, message: str
) -> None:
    result = runner.invoke(
        args=["users", "create", *args, "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code != 0
    assert message in result.output
    assert users(app) == []
    assert kinds(app) == []


def test_duplicate_email_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    args = ["users", "create", "a@example.org", "--role", "admin", "--password-stdin"]
    assert runner.invoke(args=args, input=PASSWORD).exit_code == 0
    again = runner.invoke(args=[*args[:2], "A@example.org", *args[3:]], input=PASSWORD)
    assert again.exit_code == 1
    assert "exists already" in again.output
    assert len(users(app)) == 1


def test_list_disable_enable(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=["users", "create", "a@example.org", "--role", "auditor", "--password-stdin"],
        input=PASSWORD,
    )
    assert runner.invoke(args=["users", "list"]).output == "a@example.org\tauditor\tactive\n"
    assert runner.invoke(args=["users", "disable", "a@example.org"]).exit_code == 0
    assert runner.invoke(args=["users", "list"]).output == "a@example.org\tauditor\tdisabled\n"
    assert runner.invoke(args=["users", "enable", "a@example.org"]).exit_code == 0
    missing = runner.invoke(args=["users", "disable", "b@example.org"])
    assert missing.exit_code == 1
    assert "no account for b@example.org" in missing.output
    assert kinds(app) == ["account.created", "account.disabled", "account.enabled"]


def test_set_password_ends_logins(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=["users", "create", "a@example.org", "--role", "auditor", "--password-stdin"],
        input=PASSWORD,
    )
    result = runner.invoke(
        args=["users", "set-password", "a@example.org", "--password-stdin"],
        input="another long password",
    )
    assert result.exit_code == 0, result.output
    [user] = users(app)
    assert check_password_hash(user.password_hash, "another long password")
    assert kinds(app)[-1] == "account.password_changed"


def test_demo_accounts_once(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["users", "demo"])
    assert first.exit_code == 0
    assert {u.role for u in users(app)} == {"manager", "reviewer", "auditor", "admin"}
    # The printed passwords work: the auditor is in, the manager must set up 2FA first.
    logins = {}
    for line in first.output.splitlines()[1:]:
        role, email, password = line.split()
        client = app.test_client()
        logins[role] = AuthActions(client, UserFactory(app)).login(email, password)
    assert logins["auditor"].headers["Location"] == "/"
    assert logins["manager"].headers["Location"] == "/two-factor/enrol"
    second = runner.invoke(args=["users", "demo"])
    assert "no demo accounts created" in second.output
    assert len(users(app)) == 4
