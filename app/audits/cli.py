"""``flask audit verify``: walk the chain, exit 1 at the first broken link."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app import audit
from app.db import engine


@click.group("audit", cls=AppGroup)
def audit_cli() -> None:
    """Check the audit log."""


@audit_cli.command("verify")
def verify_command() -> None:
    """Verify the whole hash chain in constant memory."""
    result = audit.verify(engine())
    if result.ok:
        click.echo(f"ok {result.events} events head={result.head}")
        return
    click.echo(
        f"broken at event {result.first_bad_event}: {result.reason} "
        f"({result.events} events before it verified, last good head={result.head})",
        err=True,
    )
    raise SystemExit(1)
