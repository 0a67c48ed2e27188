"""The auditors' workspace: their pages (blueprint) and ``flask audit …``.

What they read and run is the audit engine, ``app.audit``; nothing there imports this.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("audits", __name__, url_prefix="/audit")


def init_app(app: Flask) -> None:
    """Register the blueprint and the CLI."""
    from app.audit.kinds import CATALOGUE
    from app.auditors import cli, dashboard, views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
    app.jinja_env.globals["kind_names"] = lambda: sorted(CATALOGUE)
    app.cli.add_command(cli.audit_cli)
