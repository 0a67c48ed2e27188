"""The home page, the language switch, the health checks and the navigation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from app.auth.access import rule_for
from app.models import Role

bp = Blueprint("main", __name__)

# The menu; each entry is shown to the roles its view admits, so menu and access cannot disagree.
NAVIGATION = (
    ("main.index", _l("Start")),
    ("checklists.index", _l("Ads")),
    ("reviews.queue", _l("Reviews")),
    ("reviews.identities", _l("Identities")),
    ("admin.users", _l("Accounts")),
    ("admin.ad_accounts", _l("Ad accounts")),
    ("audits.events", _l("Audit log")),
    ("tokens.index", _l("API tokens")),
    ("main.privacy", _l("Privacy")),
    ("auth.two_factor", _l("Security")),
    ("auth.change_password", _l("Password")),
    ("notifications.settings", _l("Notifications")),
    ("identity.mine", _l("My identity")),
)
ROLE_NAMES = {
    Role.MANAGER: _l("ad manager"),
    Role.REVIEWER: _l("reviewer"),
    Role.AUDITOR: _l("auditor"),
    Role.ADMIN: _l("administrator"),
}


def nav_items() -> list[tuple[str, Any]]:
    """The menu entries the signed-in user may open."""
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in NAVIGATION:
        rule = rule_for(endpoint)
        if rule is not None and current_user.role in rule.roles:
            items.append((endpoint, label))
    return items


def inbox_count() -> int | None:
    """How many things wait for the signed-in user (the navigation's count); None when not
    signed in or when it cannot be counted now (an error page must still render)."""
    if not current_user.is_authenticated or request.blueprint == "api":
        return None
    if "inbox" in g:
        return int(g.inbox.count)
    from app.db import transaction
    from app.main.inbox import inbox
    from app.models import User, utcnow

    try:
        # A session of its own: the request's may be in a failed transaction (a 500 page).
        with transaction(write=False) as db:
            user = db.get(User, current_user.id)
            if user is None:
                return None
            g.inbox = inbox(db, user, utcnow())
    except SQLAlchemyError:
        current_app.logger.exception("the inbox could not be counted")
        return None
    return int(g.inbox.count)


def init_app(app: Flask) -> None:
    """Register the blueprint and the template helpers."""
    from app.main import views  # noqa: F401  (registers the routes)
    from app.main.forms import LANGUAGE_NAMES

    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        nav_items=nav_items,
        inbox_count=inbox_count,
        role_label=lambda role: ROLE_NAMES.get(Role(role), role),
        languages=LANGUAGE_NAMES,
    )
