"""Inviting people through the pages, for tests: the mail's token is read back from the
outbox (where it is kept encrypted until the worker sends the mail)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col
from werkzeug.test import TestResponse

from app import crypto
from app.auth import totp
from app.db import transaction
from app.models import Invitation, OutboxMail, utcnow
from tests.conftest import csrf_token, english_client

PASSWORD_OF_INVITEE = "my own passphrase, nobody else's"


def mail_on(app: Flask) -> None:
    """A mail server configured (a loopback port nobody listens on: nothing is sent)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)


def invite(admin: FlaskClient, email: str, role: str, locale: str = "en") -> TestResponse:
    """The admin's invitation form, submitted."""
    token = csrf_token(admin, "/admin/invitations")
    data = {"email": email, "role": role, "locale": locale, "csrf_token": token}
    return admin.post("/admin/invitations", data=data)


def invitation(app: Flask, email: str) -> Invitation:
    """The newest invitation of ``email``."""
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(
            select(Invitation)
            .where(col(Invitation.email) == email)
            .order_by(col(Invitation.id).desc())
        ).first()  # type: ignore[return-value]


def token_of(app: Flask, email: str) -> str:
    """The token of the newest mail to ``email`` not yet sent (decrypted from the outbox)."""
    with app.app_context(), transaction(write=False) as db:
        secret = db.scalars(
            select(col(OutboxMail.secret))
            .join(Invitation, col(Invitation.id) == col(OutboxMail.invitation_id))
            .where(col(Invitation.email) == email, col(OutboxMail.secret).is_not(None))
            .order_by(col(OutboxMail.id).desc())
        ).first()
        assert secret is not None, f"no unsent invitation mail to {email}"
        return crypto.decrypt(secret)


def set_password(
    client: FlaskClient, token: str, password: str = PASSWORD_OF_INVITEE
) -> TestResponse:
    """Open the link and choose the password."""
    opened = client.get(f"/invitation/open?token={token}")
    assert opened.status_code == 302, opened.get_data(as_text=True)
    assert opened.headers["Location"] == "/invitation"
    data = {
        "new_password": password,
        "confirm_password": password,
        "csrf_token": csrf_token(client, "/invitation"),
    }
    return client.post("/invitation", data=data)


@dataclass
class Invitee:
    """An invited person signed in after the enrolment, with their authenticator."""

    email: str
    client: FlaskClient
    secret: str
    used: set[int]

    def code(self) -> str:
        now = totp.time_step(utcnow())
        step = next(s for s in (now, now + 1, now - 1) if s not in self.used)
        self.used.add(step)
        return totp.code_at(self.secret, step)


def enrol(client: FlaskClient) -> tuple[str, int]:
    """The enrolment page's secret, confirmed with a code; returns it and the step used."""
    page = client.get("/two-factor/enrol").get_data(as_text=True)
    secret = page.split('id="totp-secret"')[1].split(">")[1].split("<")[0]
    step = totp.time_step(utcnow())
    token = csrf_token(client, "/two-factor/enrol")
    done = client.post(
        "/two-factor/enrol", data={"code": totp.code_at(secret, step), "csrf_token": token}
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    return secret, step


def invite_and_accept(app: Flask, admin: FlaskClient, email: str, role: str) -> Invitee:
    """The whole way: invited, password set, 2FA enrolled, signed in."""
    mail_on(app)
    assert invite(admin, email, role).status_code == 302
    client = english_client(app)
    done = set_password(client, token_of(app, email))
    if done.headers["Location"] == "/":  # a role without 2FA (TWO_FACTOR_ROLES)
        return Invitee(email, client, "", set())
    assert done.headers["Location"] == "/two-factor/enrol"
    secret, step = enrol(client)
    return Invitee(email, client, secret, {step})
