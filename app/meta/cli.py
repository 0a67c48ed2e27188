"""``flask worker`` (the submission worker) and ``flask meta-sandbox`` (the local Graph server)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from app.meta.worker import Worker, make_gateway


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is ready and poll due reviews, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Send queued submissions to Meta and follow their review (runs until stopped)."""
    worker = Worker(make_gateway(current_app._get_current_object()))  # type: ignore[attr-defined]
    if once:
        click.echo(f"worker {worker.name}: {worker.run_once()} done")
        return
    stop = threading.Event()

    def finish(signum: int, _frame: FrameType | None) -> None:
        # The round in progress ends normally; what it has not finished stays claimed until
        # its lease expires, and is then taken over.
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    mode = current_app.config["META_MODE"]
    click.echo(f"worker {worker.name} started ({mode} mode)")
    worker.run(stop)
    click.echo(f"worker {worker.name} stopped")
