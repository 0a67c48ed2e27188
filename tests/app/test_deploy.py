"""docs/deploy/gunicorn.conf.py serves adgate: health, readiness, metrics, and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from alembic import command
from cryptography.fernet import Fernet

from app.db import alembic_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"
_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")
# Bounds the wait for a server that never comes up, so that the test fails instead of hanging.
START_WITHIN_SECONDS = 60


@dataclass
class Served:
    """A gunicorn master running the deployment config, and everything it wrote."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if not self.url and (match := _LISTENING.search(line)):
                self.url = match.group(1)
                self.listening.set()
        self.listening.set()  # the process ended (without listening, if url is empty)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app on a free loopback port."""
    command.upgrade(alembic_config(database_url), "head")
    env = {
        **os.environ,
        "ADGATE_DATABASE_URL": database_url,
        "ADGATE_INSTANCE_PATH": str(tmp_path / "instance"),
        "ADGATE_SECRET_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_IP_HMAC_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_TOTP_KEYS": json.dumps([Fernet.generate_key().decode()]),
        # Port 0: the kernel picks a free port, which gunicorn logs ("Listening at: ...").
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
    }
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(CONFIG), "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process)
    reader = threading.Thread(target=served.read, daemon=True)
    reader.start()
    try:
        served.listening.wait(START_WITHIN_SECONDS)
        assert served.url, f"gunicorn did not start:\n{served.output}"
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_WITHIN_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_gunicorn_config_serves_adgate_and_stops_gracefully(served: Served) -> None:
    # Workers boot after the master listens: the first answer may take a moment.
    with requests.Session() as session:
        health = session.get(f"{served.url}/healthz?token=kept-out-of-the-log", timeout=30)
        ready = session.get(f"{served.url}/readyz", timeout=30)
        # From loopback without METRICS_TOKEN; whichever worker answers reads the database.
        metrics = session.get(f"{served.url}/metrics", timeout=30)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"
    request_id = ready.headers["X-Request-ID"]
    assert metrics.status_code == 200
    assert "adgate_queue_depth 0.0" in metrics.text

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=START_WITHIN_SECONDS) == 0
    log = served.output
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert '"GET /readyz HTTP/1.1" 200' in log
    assert f"rid={request_id}" in log
    # The access log never carries a query string.
    assert "kept-out-of-the-log" not in log
    assert "Shutting down: Master" in log
