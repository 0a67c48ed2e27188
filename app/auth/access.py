"""Who may call which view: one decorator on every view, enforced before anything else runs.

``roles_required(...)`` declares the roles a view admits; ``public`` marks the few
views anyone may call. ``enforce`` runs before every request, ahead of the CSRF
check and the view: anonymous users go to the sign-in page, other roles get 403,
and a view that declares nothing is refused (deny by default), so a forgotten
decorator fails closed. A test walks the URL map to prove every route's rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.auth.accounts import awaits_confirmation
from app.auth.twofactor import must_enrol
from app.models import Role

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AccessRule:
    """The roles a view admits; ``public`` views admit everyone, signed in or not.

    Accounts whose role requires two-factor authentication reach a view only once they
    have enrolled, unless the view is open ``before_enrolment`` (signing out). Accounts
    whose password someone else set reach only views open ``before_password_change``
    (the password page, signing out) until they have changed it.
    """

    roles: frozenset[Role]
    public: bool = False
    before_enrolment: bool = False
    before_password_change: bool = False


PUBLIC = AccessRule(roles=frozenset(Role), public=True)
ANY_ROLE = frozenset(Role)


def roles_required(
    *roles: Role, before_enrolment: bool = False, before_password_change: bool = False
) -> Callable[[F], F]:
    """Admit signed-in users whose role is one of ``roles`` (all roles when none are named)."""
    rule = AccessRule(
        roles=frozenset(roles) or ANY_ROLE,
        before_enrolment=before_enrolment,
        before_password_change=before_password_change,
    )

    def decorator(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return decorator


def public(view: F) -> F:
    """Mark a view as open to everyone (login page, health checks, language switch)."""
    view.access_rule = PUBLIC  # type: ignore[attr-defined]
    return view


def rule_for(endpoint: str | None) -> AccessRule | None:
    """The access rule of an endpoint's view, or None when it has none."""
    if endpoint is None:
        return None
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


def enforce() -> Response | None:
    """Apply the view's rule to this request (static files excepted)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static" or endpoint.endswith(".static"):
        return None
    if request.blueprint == "api":
        return None  # bearer tokens and scopes: the API blueprint's own guard (app.api.auth)
    rule = rule_for(endpoint)
    if rule is None:
        current_app.logger.error("view %s declares no access rule; refused", endpoint)
        abort(403)
    if rule.public:
        return None
    if not current_user.is_authenticated:
        response: Response = current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return response
    if current_user.role not in rule.roles:
        abort(403)
    # The password first: the enrolment's secret is for the person, not for whoever else
    # knows the password they were given.
    if not rule.before_password_change and current_user.user.must_change_password:
        return redirect(url_for("auth.change_password"))
    if not rule.before_enrolment and must_enrol(current_user.user):
        return redirect(url_for("auth.enrol"))
    return None


def refuse_unconfirmed(back: str) -> Response | None:
    """Send an account that waits for a second person's confirmation back to ``back``, told
    why and audited; None for a confirmed account.

    A blueprint's ``before_request`` for the POSTs of reviews and account administration: one
    admin alone must not make a reviewer or an admin that acts (app.auth.accounts.confirm).
    """
    if request.method != "POST" or not awaits_confirmation(current_user.user):
        return None
    audit.defer(
        "access.forbidden",
        data={"endpoint": request.endpoint, "method": request.method, "reason": "unconfirmed"},
    )
    flash(unconfirmed_message(), "danger")
    return redirect(back)


def unconfirmed_message() -> str:
    """What an account waiting for confirmation is told where its action is refused."""
    return str(
        _(
            "Your account is waiting for confirmation by a second person (another "
            "administrator or a confirmed reviewer, not the one who created it). Until then "
            "you cannot approve, sign off, verify identities, manage accounts or create "
            "tokens. Ask them to confirm it on the Accounts page."
        )
    )
