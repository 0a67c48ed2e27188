"""The auditors' pages (blueprint) and ``flask audit …``."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("audits", __name__, url_prefix="/audit")


def init_app(app: Flask) -> None:
    """Register the blueprint and the CLI."""
    from app.audits import cli, dashboard, views  # noqa: F401  (registers the routes)
    from app.audits.kinds import CATALOGUE

    app.register_blueprint(bp)
    app.jinja_env.globals["kind_names"] = lambda: sorted(CATALOGUE)
    app.cli.add_command(cli.audit_cli)
