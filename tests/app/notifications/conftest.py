"""A real SMTP server in-process (aiosmtpd) and an app that sends its notifications to it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import OutboxMail, User
from app.notifications import outbox

PUBLIC_URL = "https://adgate.example.org"


@dataclass
class Received:
    """One mail as the server took it: the envelope's recipients and the bytes."""

    rcpt_tos: list[str]
    content: bytes

    def parsed(self) -> EmailMessage:
        """The mail parsed strictly: any defect (RFC 5322, MIME) raises."""
        message = BytesParser(policy=policy.strict).parsebytes(self.content)
        assert isinstance(message, EmailMessage)
        assert not message.defects, message.defects
        return message


@dataclass
class Recorder:
    """The handler: keeps each mail; refuses the next ``refuse`` ones with a 451."""

    mails: list[Received] = field(default_factory=list)
    refuse: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Mailbox busy, try again later"
            self.mails.append(Received(list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    handler: Recorder

    @property
    def mails(self) -> list[Received]:
        return list(self.handler.mails)

    def to(self, address: str) -> list[EmailMessage]:
        return [m.parsed() for m in self.mails if address in m.rcpt_tos]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """An SMTP server on a free loopback port, recording what it accepts."""
    handler = Recorder()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


@pytest.fixture
def mailing(app: Flask, smtp: SmtpServer) -> Flask:
    """The app with notifications on, sending to ``smtp``, retrying within milliseconds."""
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_DEFAULT_SENDER="adgate <adgate@example.org>",
        MAIL_BACKOFF_BASE_SECONDS=0.01,
        MAIL_BACKOFF_MAX_SECONDS=0.02,
        PUBLIC_URL=PUBLIC_URL,
    )
    return app


def send(app: Flask, worker: str = "test-worker") -> int:
    """One round of the worker's mail sending."""
    with app.app_context():
        return outbox.send_due(worker)


def rows(app: Flask) -> list[OutboxMail]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(OutboxMail).order_by(col(OutboxMail.id))))


def set_locale(app: Flask, email: str, locale: str | None) -> None:
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == email)).one()
        user.locale = locale
        db.add(user)
