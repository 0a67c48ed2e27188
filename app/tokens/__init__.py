"""The API tokens pages (blueprint): everyone issues and revokes their own tokens."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def init_app(app: Flask) -> None:
    """Register the blueprint."""
    from app.tokens import views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
