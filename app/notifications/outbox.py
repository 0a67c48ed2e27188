"""Sending the outbox: the worker claims due mails, sends each over SMTP, marks it sent.

Delivery is at least once, with the window made as small as SMTP allows:

- A mail is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock
  on SQLite), sent outside any transaction, and marked sent in a transaction of its own
  right after the server accepted it. A worker that dies before sending leaves a claim that
  expires (MAIL_LEASE_SECONDS); the mail is then sent by the next round.
- A worker that dies after the server accepted the mail and before it marked it sent cannot
  know that it was delivered: the mail is sent again after the lease. It carries the same
  Message-ID (made from the outbox row's id and the installation), so that a receiving
  system that de-duplicates by Message-ID shows it once. That window is the time between
  the server's "250" and the commit of one row: milliseconds, and only on a crash.
- A refusal or an unreachable server is retried with exponential backoff (jitter included)
  up to MAIL_BACKOFF_MAX_SECONDS between tries, without end: a mail is never given up. The
  last error is kept on the row and logged.
"""

from __future__ import annotations

import email.message
import logging
import random
import smtplib
from datetime import datetime, timedelta
from email import policy
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app
from flask_mailman import EmailMessage
from sqlalchemy import delete, or_, select
from sqlmodel import Session, col

from app import audit, crypto
from app.db import is_sqlite, transaction
from app.models import Installation, Invitation, OutboxMail, User, utcnow
from app.notifications import Kind, enabled, mail, texts, wants
from app.submissions import WORKER

log = logging.getLogger(__name__)
# Mails claimed per round (one SMTP connection carries them).
BATCH = 50


class _WireMessage(email.message.EmailMessage):
    """The standard library's message, as Flask-Mailman's SMTP backend serializes it."""

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\r\n") -> bytes:  # type: ignore[override]
        return super().as_bytes(unixfrom, policy=self.policy.clone(linesep=linesep))


class OutboxMessage(EmailMessage):  # type: ignore[misc]
    """A mail of the outbox. Flask-Mailman connects, authenticates and sends; the message
    itself is built with the standard library's email API, which folds and encodes headers
    as RFC 5322 and RFC 2047 say (Flask-Mailman's own message can fold a long encoded
    subject behind an empty first line, which readers show with a leading blank)."""

    def message(self) -> _WireMessage:
        msg = _WireMessage(policy=policy.SMTP)
        # First: set_content clears every Content-* header set before it (Content-Language).
        # Quoted-printable: 7-bit on the wire, whatever the server supports.
        msg.set_content(self.body, charset="utf-8", cte="quoted-printable")
        msg["Subject"] = self.subject
        msg["From"] = self.from_email
        msg["To"] = ", ".join(self.to)
        for name, value in self.extra_headers.items():
            msg[name] = value
        return msg


def message_id(mail_id: int, installation: str) -> str:
    """The mail's Message-ID: the same for every attempt to send this outbox row."""
    sender = parseaddr(str(current_app.config["MAIL_DEFAULT_SENDER"]))[1]
    domain = sender.rpartition("@")[2] or "adgate.invalid"
    return f"<adgate.{installation}.outbox.{mail_id}@{domain}>"


def claim(worker: str, now: datetime, limit: int = BATCH) -> list[int]:
    """Claim the due mails (never sent, not dropped, due, no live claim) for ``worker``."""
    lease = timedelta(seconds=float(current_app.config["MAIL_LEASE_SECONDS"]))
    with transaction() as db:
        query = (
            select(OutboxMail)
            .where(
                col(OutboxMail.sent_at).is_(None),
                col(OutboxMail.dropped).is_(None),
                or_(
                    col(OutboxMail.next_attempt_at).is_(None),
                    col(OutboxMail.next_attempt_at) <= now,
                ),
                or_(col(OutboxMail.lease_until).is_(None), col(OutboxMail.lease_until) < now),
            )
            .order_by(col(OutboxMail.id))
            .limit(limit)
        )
        if not is_sqlite(db.get_bind().engine):
            query = query.with_for_update(skip_locked=True)
        rows = list(db.scalars(query))
        for row in rows:
            row.claimed_by = worker
            row.lease_until = now + lease
            db.add(row)
        return [row.id for row in rows if row.id is not None]


def smtp_connection() -> Any:
    """A connection (Flask-Mailman's SMTP backend, not yet open) as configured now."""
    config = current_app.config
    return mail.get_connection(
        host=config["MAIL_SERVER"],
        port=int(config["MAIL_PORT"]),
        username=config["MAIL_USERNAME"],
        password=config["MAIL_PASSWORD"],
        use_tls=bool(config["MAIL_USE_TLS"]),
        use_ssl=bool(config["MAIL_USE_SSL"]),
        timeout=float(config["MAIL_TIMEOUT"]),
    )


def send_due(worker: str) -> int:
    """Send what is due; returns how many mails the server accepted."""
    if not enabled():
        return 0
    ids = claim(worker, utcnow())
    if not ids:
        return 0
    connection = smtp_connection()
    sent = 0
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        for mail_id in ids:
            mark_failed(mail_id, worker, error)
        return 0
    try:
        for i, mail_id in enumerate(ids):
            message = compose(mail_id, worker)
            if message is None:
                continue
            try:
                connection.send_messages([message])
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                # The connection is gone: this mail failed, the rest wait for the next round.
                mark_failed(mail_id, worker, error)
                _release(ids[i + 1 :], worker)
                break
            except smtplib.SMTPException as error:
                mark_failed(mail_id, worker, error)
                continue
            mark_sent(mail_id, worker, message.extra_headers["Message-ID"])
            sent += 1
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            log.warning("closing the SMTP connection failed", exc_info=True)
    return sent


def compose(mail_id: int, worker: str) -> OutboxMessage | None:
    """The mail as it goes out, or None when it must not go (and is marked so)."""
    with transaction() as db:
        row = db.get(OutboxMail, mail_id)
        if row is None or row.sent_at is not None or row.claimed_by != worker:
            return None
        if row.invitation_id is not None:
            return _compose_invitation(db, row, worker)
        person = db.get(User, row.recipient_id) if row.recipient_id is not None else None
        if person is None or not wants(person, Kind(row.kind)):
            row.dropped = "opted_out" if person is not None and person.active else "recipient_gone"
            row.lease_until = None
            db.add(row)
            audit.record(
                db,
                "notification.dropped",
                subject=("user", row.recipient_id or 0),
                data={"mail": mail_id, "kind": row.kind, "why": row.dropped},
                actor=WORKER,
            )
            return None
        return _message(db, row, person.email, row.body)


def _message(db: Session, row: OutboxMail, to: str, body: str) -> OutboxMessage:
    assert row.id is not None
    installation = db.get(Installation, 1)
    name = installation.name if installation is not None else "adgate"
    return OutboxMessage(
        subject=row.subject,
        body=body,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[to],
        headers={
            # When the event happened: every attempt sends the same mail.
            "Date": formatdate(row.created_at.timestamp(), usegmt=True),
            "Message-ID": message_id(row.id, name),
            # RFC 3834: a machine wrote it; no vacation replies, please.
            "Auto-Submitted": "auto-generated",
            "Content-Language": row.locale,
        },
    )


def _compose_invitation(db: Session, row: OutboxMail, worker: str) -> OutboxMessage | None:
    """An invitation's mail, its link made from the token the row keeps encrypted; dropped
    when the invitation was resent, revoked or accepted since (the token is erased then) or
    has expired."""
    from app.auth import invitations

    invitation = db.get(Invitation, row.invitation_id)
    token = crypto.decrypt(row.secret) if row.secret is not None else None
    if (
        invitation is None
        or token is None
        or not invitations.is_pending(invitation, utcnow())
        or invitations.token_digest(token) != invitation.token_hash
    ):
        row.dropped, row.secret, row.lease_until = "invitation_void", None, None
        db.add(row)
        audit.record(
            db,
            "notification.dropped",
            subject=("invitation", row.invitation_id or 0),
            data={"mail": row.id, "kind": row.kind, "why": row.dropped},
            actor=WORKER,
        )
        return None
    body = row.body.replace(texts.INVITATION_LINK, texts.invitation_link(token), 1)
    return _message(db, row, invitation.email, body)


def mark_sent(mail_id: int, worker: str, sent_as: str) -> None:
    """Mark the mail sent (the server accepted it) and audit it."""
    now = utcnow()
    with transaction() as db:
        row = db.get(OutboxMail, mail_id, with_for_update=True)
        if row is None or row.sent_at is not None:
            return  # another worker, whose claim took over from an expired one, was quicker
        row.sent_at = now
        row.attempts += 1
        row.lease_until = None
        row.last_error = None
        row.secret = None  # an invitation's token: the mail has it now, the outbox no more
        db.add(row)
        data: dict[str, Any] = {"mail": mail_id, "kind": row.kind, "message_id": sent_as}
        if row.checklist_id is not None:
            data["checklist"] = row.checklist_id
        subject = (
            ("user", row.recipient_id)
            if row.recipient_id is not None
            else ("invitation", row.invitation_id or 0)
        )
        audit.record(db, "notification.sent", subject=subject, data=data, actor=WORKER)


def mark_failed(mail_id: int, worker: str, error: BaseException) -> None:
    """Keep the error and try again later (backoff with jitter)."""
    now = utcnow()
    with transaction() as db:
        row = db.get(OutboxMail, mail_id, with_for_update=True)
        if row is None or row.sent_at is not None or row.claimed_by != worker:
            return
        row.attempts += 1
        row.last_error = _describe(error)
        row.next_attempt_at = now + backoff(row.attempts)
        row.lease_until = None
        db.add(row)
    log.warning("mail %s not sent (attempt %s): %s", mail_id, row.attempts, row.last_error)


def _release(ids: list[int], worker: str) -> None:
    """Give claims back without counting an attempt (the connection broke before them)."""
    with transaction() as db:
        for mail_id in ids:
            row = db.get(OutboxMail, mail_id)
            if row is not None and row.claimed_by == worker and row.sent_at is None:
                row.lease_until = None
                db.add(row)


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, capped: many mails failing at once do not come back
    in step."""
    config = current_app.config
    base = float(config["MAIL_BACKOFF_BASE_SECONDS"])
    delay = min(base * 2 ** max(attempts - 1, 0), float(config["MAIL_BACKOFF_MAX_SECONDS"]))
    return timedelta(seconds=random.uniform(delay / 2, delay))  # noqa: S311 (not security)


def _describe(error: BaseException) -> str:
    """The server's answer (code and text) or the connection's error, for the row and log."""
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return f"{error.smtp_code} {detail}"[:1000]
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
            for code, msg in error.recipients.values()
        )[:1000]
    return f"{type(error).__name__}: {error}"[:1000]


def purge_sent(now: datetime) -> int:
    """Delete mails sent or dropped more than MAIL_KEEP_DAYS ago (the audit log keeps that
    they were sent)."""
    cutoff = now - timedelta(days=float(current_app.config["MAIL_KEEP_DAYS"]))
    with transaction() as db:
        result = db.execute(
            delete(OutboxMail).where(
                or_(
                    col(OutboxMail.sent_at) < cutoff,
                    (col(OutboxMail.dropped).is_not(None)) & (col(OutboxMail.created_at) < cutoff),
                )
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
