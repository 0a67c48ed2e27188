"""``flask workflow diagram``: the transition table as a Mermaid diagram."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from workflows.machine import mermaid


@click.group("workflow", cls=AppGroup)
def workflow_cli() -> None:
    """The checklist's lifecycle."""


@workflow_cli.command("diagram")
def diagram_command() -> None:
    """Print the lifecycle as a Mermaid state diagram, generated from the transition table."""
    click.echo(mermaid(), nl=False)
