"""An invitation through a real SMTP server: from the admin's form to the mail, its link, the
person's own password and the enrolment in 2FA."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col

from app.auth import accounts
from app.db import transaction
from app.models import AuditEvent, OutboxMail
from tests.app.invite import PASSWORD_OF_INVITEE, enrol, invitation, invite
from tests.app.notifications.conftest import PUBLIC_URL, SmtpServer, rows, send
from tests.conftest import AuthActions, UserFactory, csrf_token, english_client

LINK = re.compile(re.escape(PUBLIC_URL) + r"/invitation/open\?token=([A-Za-z0-9_-]{43})\b")


def test_invitation_mail_to_password_to_two_factor(
    mailing: Flask, smtp: SmtpServer, client: FlaskClient, make_user: UserFactory
) -> None:
    app = mailing
    make_user("admin@example.org", "admin")
    assert AuthActions(client, make_user).login("admin@example.org").status_code == 302
    assert invite(client, "neu@example.org", "reviewer", "de").status_code == 302
    # Resent before the worker came by: the first mail (the old link) does not go.
    app.config["INVITATION_RESEND_MINUTES"] = 0
    path = f"/admin/invitations/{invitation(app, 'neu@example.org').id}/resend"
    assert (
        client.post(path, data={"csrf_token": csrf_token(client, "/admin/invitations")}).status_code
        == 302
    )
    assert send(app) == 1
    [mail] = smtp.to("neu@example.org")
    assert mail["Subject"] == "Einladung zu adgate"
    assert mail["Content-Language"] == "de"
    body = mail.get_content()
    assert "admin@example.org lädt Sie zu adgate ein" in body
    assert "Prüfer:in" in body
    [token] = LINK.findall(body)
    first, second = rows(app)
    assert (first.dropped, first.secret) == ("invitation_void", None)
    assert second.sent_at is not None
    assert second.secret is None  # the mail has the token now, the outbox no more
    with app.app_context(), transaction(write=False) as db:
        sent = db.scalars(
            select(AuditEvent).where(col(AuditEvent.kind) == "notification.sent")
        ).one()
        assert (sent.subject_type, sent.subject_id) == ("invitation", str(second.invitation_id))
        assert token not in sent.data
        assert db.scalars(select(OutboxMail).where(col(OutboxMail.secret).is_not(None))).all() == []

    # The person follows the link (in German, as the admin chose), sets a password, enrols.
    person = english_client(app)
    opened = person.get(f"/invitation/open?token={token}")
    assert opened.headers["Location"] == "/invitation"
    page = person.get("/invitation").get_data(as_text=True)
    assert "Ihr Passwort" in page
    data = {
        "new_password": PASSWORD_OF_INVITEE,
        "confirm_password": PASSWORD_OF_INVITEE,
        "csrf_token": csrf_token(person, "/invitation"),
    }
    assert person.post("/invitation", data=data).headers["Location"] == "/two-factor/enrol"
    enrol(person)
    home = person.get("/")
    assert home.status_code == 200
    # A reviewer one admin invited waits for a second person before acting.
    with app.app_context(), transaction(write=False) as db:
        user = accounts.find_user(db, "neu@example.org")
        assert user is not None
        assert user.totp_enabled
        assert user.confirmed_at is None
    assert english_client(app).get(f"/invitation/open?token={token}").status_code == 404
    assert send(app) == 0  # nothing more to send
