"""``flask worker`` (the submission worker) and ``flask meta reconcile`` (what adgate holds at
Meta)."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.config import UnsafeConfigError
from app.meta.sdk import SdkGateway
from app.submissions import cleanup
from app.submissions.worker import Worker, make_gateway


def meta_gateway() -> SdkGateway:
    """The gateway of a command that calls Meta, or a clear refusal (exit 1, no traceback)."""
    try:
        return make_gateway(current_app._get_current_object())  # type: ignore[attr-defined]
    except UnsafeConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is ready and poll due reviews, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Send queued submissions to Meta and follow their review (runs until stopped)."""
    worker = Worker(meta_gateway())
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


@click.group("meta", cls=AppGroup)
def meta_cli() -> None:
    """What adgate holds at Meta."""


@meta_cli.command("reconcile")
def reconcile_command() -> None:
    """List adgate's objects at Meta per registered ad account; remove (or pause) and audit
    those no submission tracks. Prints what was found as JSON."""
    worker = Worker(meta_gateway(), name="reconcile")
    report = cleanup.reconcile(worker)
    click.echo(
        json.dumps(
            {
                "accounts": report.accounts,
                "tracked": report.tracked,
                "untracked": report.untracked,
                "other_installations": dict(report.other_installations),
                "skipped_throttled_or_failed": report.skipped,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    if report.untracked:
        click.echo(f"{len(report.untracked)} untracked object(s) removed or paused", err=True)
