"""Sending the outbox to a real SMTP server: valid mails, once each, retried with backoff,
never sent for a rolled-back event, and the same Message-ID when a crash makes a resend."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import OutboxMail, User, utcnow
from app.notifications import Kind, enqueue, outbox
from tests.app.notifications.conftest import SmtpServer, rows, send
from tests.conftest import UserFactory


def _queue(app: Flask, email: str, key: str = "one") -> None:
    """An identity request from ``email``'s point of view: a mail to every reviewer."""
    with app.app_context(), transaction() as db:
        person = db.scalars(select(User).where(col(User.email) == email)).one()
        enqueue(
            db,
            Kind.IDENTITY_REQUESTED,
            [person],
            key=key,
            person="müller@example.org",
            country="CH",
        )


def test_a_mail_is_valid_rfc_5322_with_encoded_umlauts_and_sent_once(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    _queue(mailing, "reviewer@example.org")
    assert send(mailing) == 1
    assert send(mailing) == 0
    [received] = smtp.mails
    assert received.rcpt_tos == ["reviewer@example.org"]
    # Headers as sent: 7-bit, the subject's umlauts encoded (RFC 2047).
    raw_head = received.content.split(b"\r\n\r\n", 1)[0]
    assert raw_head.isascii()
    message = received.parsed()
    for header in ("Date", "Message-ID", "From", "To", "Subject"):
        assert message[header], header
        assert not message[header].defects, header
    assert message["From"] == "adgate <adgate@example.org>"
    assert message["To"] == "reviewer@example.org"
    # German by default (the reviewer chose no language): "Identitätsprüfung …".
    assert "Schweiz" in message["Subject"]
    assert "ä" in message["Subject"] or "ü" in message["Subject"]
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "de"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    assert "müller@example.org" in body
    assert "https://adgate.example.org/reviews/identities" in body
    assert "https://adgate.example.org/account/notifications" in body
    [row] = rows(mailing)
    assert row.sent_at is not None
    assert (row.attempts, row.locale, row.last_error) == (1, "de", None)


def test_the_same_event_queues_one_mail(mailing: Flask, make_user: UserFactory) -> None:
    make_user("reviewer@example.org", "reviewer")
    _queue(mailing, "reviewer@example.org", key="same")
    _queue(mailing, "reviewer@example.org", key="same")
    assert len(rows(mailing)) == 1


def test_nothing_is_sent_when_the_event_rolls_back(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")

    def event_that_fails() -> None:
        with mailing.app_context(), transaction() as db:
            reviewer = db.scalars(select(User)).one()
            enqueue(db, Kind.IDENTITY_REQUESTED, [reviewer], key="x", person="a@b.c", country="LI")
            raise RuntimeError("the event failed after the mail was queued")

    with pytest.raises(RuntimeError):
        event_that_fails()
    assert rows(mailing) == []
    assert send(mailing) == 0
    assert smtp.mails == []


def test_a_refusing_server_gets_the_mail_later_with_backoff(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    mailing.config.update(MAIL_BACKOFF_BASE_SECONDS=0.4, MAIL_BACKOFF_MAX_SECONDS=0.8)
    smtp.handler.refuse = 2
    _queue(mailing, "reviewer@example.org")
    assert send(mailing) == 0
    [row] = rows(mailing)
    assert row.attempts == 1
    assert str(row.last_error).startswith("451 ")
    assert row.next_attempt_at is not None
    assert row.next_attempt_at > utcnow() + timedelta(seconds=0.1)
    # Not due yet: the next round leaves it.
    assert send(mailing) == 0
    assert rows(mailing)[0].attempts == 1
    deadline = time.monotonic() + 10
    while not smtp.mails and time.monotonic() < deadline:
        send(mailing)
        time.sleep(0.05)
    [row] = rows(mailing)
    assert (row.attempts, row.last_error) == (3, None)
    assert row.sent_at is not None
    # The second wait was longer than the first (exponential): at least base x 2 / 2.
    assert len(smtp.mails) == 1


def test_an_unreachable_server_keeps_the_mail(mailing: Flask, make_user: UserFactory) -> None:
    make_user("reviewer@example.org", "reviewer")
    mailing.config["MAIL_PORT"] = 9  # discard: nothing listens on loopback
    _queue(mailing, "reviewer@example.org")
    assert send(mailing) == 0
    [row] = rows(mailing)
    assert row.sent_at is None
    assert row.attempts == 1
    assert "ConnectionRefusedError" in str(row.last_error)


def test_a_worker_killed_after_the_server_took_the_mail_resends_it_under_the_same_id(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    mailing.config["MAIL_LEASE_SECONDS"] = 0.3
    _queue(mailing, "reviewer@example.org")
    # The first worker claims and sends, and dies before it marks the mail sent.
    with mailing.app_context():
        [mail_id] = outbox.claim("dying-worker", utcnow())
        message = outbox.compose(mail_id, "dying-worker")
        assert message is not None
        assert outbox.smtp_connection().send_messages([message]) == 1
    assert len(smtp.mails) == 1
    # Its claim holds: nobody sends the mail meanwhile.
    assert send(mailing, "next-worker") == 0
    time.sleep(0.35)
    assert send(mailing, "next-worker") == 1
    first, second = (m.parsed() for m in smtp.mails)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Subject"] == second["Subject"]
    assert first.get_content() == second.get_content()
    assert send(mailing, "next-worker") == 0
    assert len(smtp.mails) == 2
    [row] = rows(mailing)
    assert row.sent_at is not None
    assert row.id == mail_id


def test_a_worker_killed_before_sending_leaves_the_mail_to_the_next_one(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    mailing.config["MAIL_LEASE_SECONDS"] = 0.3
    _queue(mailing, "reviewer@example.org")
    with mailing.app_context():
        assert len(outbox.claim("dying-worker", utcnow())) == 1
    assert send(mailing, "next-worker") == 0
    time.sleep(0.35)
    assert send(mailing, "next-worker") == 1
    assert send(mailing, "next-worker") == 0
    assert len(smtp.mails) == 1


def test_a_mail_to_a_person_who_opted_out_since_is_not_sent(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    _queue(mailing, "reviewer@example.org")
    with mailing.app_context(), transaction() as db:
        reviewer = db.scalars(select(User)).one()
        reviewer.mail_opt_out = [Kind.IDENTITY_REQUESTED.value]
        db.add(reviewer)
    assert send(mailing) == 0
    [row] = rows(mailing)
    assert (row.sent_at, row.dropped) == (None, "opted_out")
    assert smtp.mails == []


def test_without_a_mail_server_nothing_is_queued(app: Flask, make_user: UserFactory) -> None:
    make_user("reviewer@example.org", "reviewer")
    assert app.config["MAIL_SERVER"] is None
    _queue(app, "reviewer@example.org")
    assert rows(app) == []


def test_sent_mails_are_deleted_after_the_days_kept(mailing: Flask, make_user: UserFactory) -> None:
    make_user("reviewer@example.org", "reviewer")
    _queue(mailing, "reviewer@example.org")
    send(mailing)
    with mailing.app_context():
        assert outbox.purge_sent(utcnow()) == 0
        assert outbox.purge_sent(utcnow() + timedelta(days=91)) == 1
    assert rows(mailing) == []


def test_message_ids_differ_per_row(mailing: Flask, make_user: UserFactory) -> None:
    make_user("reviewer@example.org", "reviewer")
    _queue(mailing, "reviewer@example.org", key="a")
    _queue(mailing, "reviewer@example.org", key="b")
    with mailing.app_context():
        ids = {outbox.message_id(row.id or 0, "x") for row in rows(mailing)}
    assert len(ids) == 2
    assert all(isinstance(row, OutboxMail) for row in rows(mailing))


def test_metrics_show_what_waits_to_be_sent(
    mailing: Flask, smtp: SmtpServer, make_user: UserFactory
) -> None:
    make_user("reviewer@example.org", "reviewer")
    smtp.handler.refuse = 1
    _queue(mailing, "reviewer@example.org")
    send(mailing)
    text = mailing.test_client().get("/metrics").get_data(as_text=True)
    assert "adgate_mail_unsent 1.0" in text
    age = float(text.split("\nadgate_mail_oldest_unsent_seconds ", 1)[1].split()[0])
    assert 0 < age < 60
