"""Who may call which view: one decorator on every view, and a guard that denies the rest.

``roles_required(...)`` is the decorator; ``public`` marks the few views anyone may
call. A view with neither is refused (deny by default), so a forgotten decorator
fails closed, and a test walks the URL map to prove every route has its rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, request
from flask_login import current_user

from app.models import Role

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AccessRule:
    """The roles a view admits; ``public`` views admit everyone, signed in or not."""

    roles: frozenset[Role]
    public: bool = False


PUBLIC = AccessRule(roles=frozenset(Role), public=True)
ANY_ROLE = frozenset(Role)


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Admit signed-in users whose role is one of ``roles`` (all roles when none are named)."""
    rule = AccessRule(roles=frozenset(roles) or ANY_ROLE)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if current_user.role not in rule.roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.access_rule = rule  # type: ignore[attr-defined]
        return cast(F, wrapped)

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


def deny_undeclared() -> None:
    """Refuse any request to a view that declares no access rule (static files excepted)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static" or endpoint.endswith(".static"):
        return
    if rule_for(endpoint) is None:
        current_app.logger.error("view %s has no access rule; refused", endpoint)
        abort(403)
