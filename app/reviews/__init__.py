"""The reviewers' pages (blueprint): the queue, approvals, sign-offs, identity verification."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("reviews", __name__, url_prefix="/reviews")


def init_app(app: Flask) -> None:
    """Register the blueprint."""
    from app.reviews import account, views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
    app.register_blueprint(account.bp)
