"""Sign-in and sign-out (blueprint), the login manager and the users command."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from app.db import get_session

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"
# Logins are held on the server (LoginSession), so Flask-Login's IP/agent fingerprint adds nothing.
login_manager.session_protection = None


def _load_user(login_id: str) -> object | None:
    from app.auth.accounts import load_login

    return load_login(get_session(), login_id)


login_manager.user_loader(_load_user)


def init_app(app: Flask) -> None:
    """Register the blueprint, the login manager and the CLI."""
    from app.auth import cli, views  # noqa: F401  (registers the routes)

    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(cli.users_cli)
