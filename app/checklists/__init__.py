"""The ad managers' pages (blueprint) and ``flask workflow``, ``flask classify``."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("checklists", __name__, url_prefix="/checklists")


def init_app(app: Flask) -> None:
    """Register the blueprint and the CLI."""
    from app.checklists import cli, lifecycle, views  # noqa: F401  (registers the routes)
    from app.suggester import classify_command

    app.register_blueprint(bp)
    app.cli.add_command(cli.workflow_cli)
    app.cli.add_command(classify_command)
