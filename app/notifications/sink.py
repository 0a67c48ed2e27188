"""``flask mail-sink``: a local SMTP server on loopback for development (``make run`` starts
it). It delivers nothing: each mail is written to ``instance/mail/`` as an ``.eml`` file, and
one line per mail is printed."""

from __future__ import annotations

import logging
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import click
from aiosmtpd.controller import Controller
from flask import current_app
from flask.cli import with_appcontext


class FileSink:
    """An aiosmtpd handler that keeps every mail as a file and says so on one line."""

    def __init__(self, folder: Path, echo: bool = True) -> None:
        self.folder = folder
        self.echo = echo
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        with self._lock:
            self._count += 1
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self._count:04d}.eml"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        path.write_bytes(content)
        if self.echo:
            parsed = message_from_bytes(content, policy=policy.default)
            click.echo(
                f"mail-sink: to {', '.join(envelope.rcpt_tos)} · {parsed['Subject']} · {path}"
            )
        return "250 Message accepted for delivery"


@click.command("mail-sink")
@click.option("--port", default=8025, show_default=True, help="The port on 127.0.0.1.")
@click.option("--dir", "folder", default=None, help="Where mails go (default: instance/mail).")
@with_appcontext
def mail_sink_command(port: int, folder: str | None) -> None:
    """Take mails on 127.0.0.1 and write each to a file instead of delivering it."""
    target = Path(folder) if folder else Path(current_app.instance_path) / "mail"
    # aiosmtpd logs every connection at INFO; the one line per mail is enough here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(FileSink(target), hostname="127.0.0.1", port=port)
    controller.start()
    click.echo(f"mail-sink: smtp://127.0.0.1:{port} → {target}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
