"""Sign-in, sign-out and two-factor authentication (blueprint), the login manager, the CLI."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager

from app.db import get_session

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"
# Logins are held on the server (LoginSession), so Flask-Login's IP/agent fingerprint adds nothing.
login_manager.session_protection = None

# Per client IP (the proxy's X-Forwarded-For when PROXY_COUNT is set); storage from
# RATELIMIT_STORAGE_URI. Only the sign-in forms are limited; the account lockout is separate.
limiter = Limiter(key_func=get_remote_address)
sign_in_limit = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])


def _load_user(login_id: str) -> object | None:
    from app.auth.accounts import load_login

    return load_login(get_session(), login_id)


login_manager.user_loader(_load_user)


def init_app(app: Flask) -> None:
    """Register the blueprint, the login manager, the rate limiter and the CLI."""
    from app.auth import cli, invitation_views, views  # noqa: F401  (registers the routes)

    login_manager.init_app(app)
    limiter.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(cli.users_cli)
    app.cli.add_command(cli.twofactor_cli)
