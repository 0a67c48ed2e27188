"""Administration (blueprint): accounts and ad accounts; ``flask ad-accounts``."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Register the blueprint."""
    from app.admin import cli, invitation_views, views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
    app.cli.add_command(cli.ad_accounts_cli)
