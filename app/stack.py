"""``flask stack``: the whole service on one machine — app server, worker and (in sandbox mode)
the Meta sandbox — as child processes; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("stack")
@click.option("--port", default=5000, show_default=True, help="The app's port on 127.0.0.1.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@with_appcontext
def stack_command(port: int, workers: int) -> None:
    """Serve adgate with gunicorn, run the submission worker and, in sandbox mode, the sandbox
    (with MAIL_SINK, also the local SMTP sink on MAIL_PORT)."""
    bin_dir = Path(sys.executable).parent
    flask = [str(bin_dir / "flask"), "--app", "wsgi"]
    commands: dict[str, list[str]] = {}
    if current_app.config["META_MODE"] == "sandbox":
        sandbox_port = urlsplit(current_app.config["META_GRAPH_URL"]).port or 5001
        commands["sandbox"] = [*flask, "meta-sandbox", "--port", str(sandbox_port)]
    sink_port = None
    if current_app.config["MAIL_SINK"]:
        sink_port = int(current_app.config["MAIL_PORT"])
        commands["mail-sink"] = [*flask, "mail-sink", "--port", str(sink_port)]
    commands["worker"] = [*flask, "worker"]
    commands["web"] = [
        str(bin_dir / "gunicorn"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--access-logfile", "-",
        # The access log must not carry query strings (they may hold tokens one day).
        "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
        "wsgi:app",
    ]  # fmt: skip
    env = os.environ.copy()
    if current_app.config["META_APP_SECRET"]:
        # The sandbox then requires appsecret_proof as Meta does ("Require App Secret"); the
        # secret goes through the environment, never on a command line.
        env["ADGATE_META_APP_SECRET"] = current_app.config["META_APP_SECRET"]
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands.items():
        # Fixed commands of this installation's own virtualenv; no user input reaches them.
        children[name] = subprocess.Popen(cmd, env=env)  # noqa: S603
        if name == "sandbox":
            # The worker's first round calls Meta at once: the sandbox answers first.
            _wait_for_port(sandbox_port, children[name])
        if name == "mail-sink" and sink_port is not None:
            _wait_for_port(sink_port, children[name])
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    click.echo(f"adgate: http://127.0.0.1:{port}/login  (Ctrl-C stops everything)")
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"adgate: {name} exited with {child.returncode}; stopping", err=True)
                stopping, exit_code = True, 1
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    raise SystemExit(exit_code)


def _wait_for_port(port: int, child: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (or the child died, or time ran
    out: the loop below then reports it or the worker retries)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
