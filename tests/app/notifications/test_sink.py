"""``flask mail-sink``'s handler: each mail becomes an .eml file and one printed line."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from app.notifications.sink import FileSink


def test_each_mail_is_written_to_a_file_and_announced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(FileSink(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = EmailMessage()
        message["Subject"] = "Freigegeben: Abstimmung über Gebühren"
        message["From"] = "adgate@example.org"
        message["To"] = "manager@example.org"
        message.set_content("Guten Tag,\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.send_message(message)
    finally:
        controller.stop()
    [written] = (tmp_path / "mail").glob("*.eml")
    assert b"Subject: " in written.read_bytes()
    out = capsys.readouterr().out
    assert out.count("mail-sink: to manager@example.org") == 1
    assert "Freigegeben: Abstimmung über Gebühren" in out
    assert str(written) in out
