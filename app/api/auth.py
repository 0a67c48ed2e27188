"""Bearer-token authentication and the per-view rule (scope + roles) of the JSON API.

The API never looks at the session cookie: a request is authenticated by its
``Authorization: Bearer`` header alone, which is why the blueprint needs no CSRF
token. Each view declares ``requires(scope, *roles)``; a view without it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from app import audit
from app.api import bp, token_cache, tokens
from app.api.problems import ApiProblem
from app.auth import limiter
from app.auth.accounts import awaits_confirmation
from app.db import WRITE_METHODS, get_session, transaction
from app.models import ApiToken, Role, User, utcnow

F = TypeVar("F", bound=Callable[..., Any])
# last_used_at is written at most this often per token: a read stays a read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiRule:
    """What a view needs: a scope on the token and a role of its owner (None: public).

    ``by_role``: where a role needs another scope than ``scope`` (a reviewer's comment is
    written with approvals:write, which is what a reviewer's token carries to act).
    """

    scope: str | None
    roles: frozenset[Role]
    by_role: tuple[tuple[Role, str], ...] = ()

    def scope_for(self, role: Role) -> str | None:
        """The scope a token of an owner with ``role`` needs."""
        return dict(self.by_role).get(role, self.scope)


def requires(
    scope: str, *roles: Role, by_role: Mapping[Role, str] | None = None
) -> Callable[[F], F]:
    """Admit tokens carrying ``scope`` (or the role's own in ``by_role``) whose owner has
    one of ``roles``."""
    assert scope in tokens.SCOPES, scope
    assert all(s in tokens.SCOPES and r in roles for r, s in (by_role or {}).items()), by_role
    rule = ApiRule(scope, frozenset(roles), tuple(sorted((by_role or {}).items())))

    def decorator(view: F) -> F:
        view.api_rule = rule  # type: ignore[attr-defined]
        return view

    return decorator


def public(view: F) -> F:
    """The OpenAPI document and the documentation page."""
    view.api_rule = ApiRule(None, frozenset(Role))  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class Caller:
    """The authenticated token and its owner, for this request."""

    token: ApiToken
    user: User
    scopes: frozenset[str]
    # Kept apart from ``token``: a refused request's rollback expires the row, and logging
    # or storing its answer must not read it again.
    token_id: int


def caller() -> Caller:
    """The request's caller (the view's rule guarantees there is one)."""
    found: Caller | None = g.get("api_caller")
    assert found is not None
    return found


def _presented() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> Caller | None:
    """The caller of this request, or None (cached for the request)."""
    if "api_auth_done" in g:
        cached: Caller | None = g.get("api_caller")
        return cached
    g.api_auth_done = True
    secret = _presented()
    if secret is None:
        g.api_auth_problem = "missing"
        return None
    db, now, cache = get_session(), utcnow(), token_cache.current()
    token, owner = (cache.find(db, secret) if cache else tokens.find(db, secret)) or (None, None)
    problem = tokens.problem_with(token, owner, now)
    if problem is not None:
        g.api_auth_problem = problem
        g.api_auth_token_id = token.id if token is not None else None
        return None
    assert token is not None
    assert owner is not None
    assert token.id is not None
    found = Caller(token, owner, tokens.effective_scopes(token, owner), token.id)
    g.api_caller = found
    g.audit_actor = audit.Actor("token", str(token.id))
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        if request.method in WRITE_METHODS:
            token.last_used_at = now  # the request's own (write) transaction
            db.add(token)
        else:
            _touch(found.token_id)
        if cache is not None:
            cache.remember_use(token.token_hash, now)
    return found


def _touch(token_id: int) -> None:
    # Its own short transaction: reading requests stay read-only; losing one update is harmless.
    now = utcnow()
    try:
        with transaction(write=True) as db:
            row = db.get(ApiToken, token_id)
            if row is not None:
                row.last_used_at = now
                db.add(row)
    except Exception:  # never fail a request over bookkeeping
        current_app.logger.warning("could not record the use of token %s", token_id)


def rate_key() -> str:
    """Rate limits count per token; requests without a valid token count per client address.

    Kept for the request: the limiter asks again for its response headers, after a refused
    request's rollback has expired the token row (asking it again would reload it).
    """
    if "api_rate_key" not in g:
        found = authenticate() if request.blueprint == "api" else None
        # By a slice of the token's hash: unique across installations sharing a limiter store.
        g.api_rate_key = (
            f"token:{found.token.token_hash[:20]}" if found else f"ip:{get_remote_address()}"
        )
    key: str = g.api_rate_key
    return key


# Once per process: the limiter (like the blueprint) outlives the apps it is registered on.
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_key, per_method=False)(bp)


def enforce() -> None:
    """The blueprint's guard: a valid token with the view's scope, owned by an admitted role."""
    view = current_app.view_functions.get(request.endpoint or "")
    rule: ApiRule | None = getattr(view, "api_rule", None)
    if rule is None:
        raise ApiProblem("not-found") if view is None else ApiProblem("forbidden")
    if rule.scope is None:
        return
    found = authenticate()
    if found is None:
        reason = g.get("api_auth_problem", "missing")
        token_id = g.get("api_auth_token_id")
        audit.defer(
            "api.unauthorized",
            data={"reason": reason, "endpoint": request.endpoint, "client": audit.client_ref()},
            actor=audit.Actor("token", str(token_id)) if token_id else audit.ANONYMOUS,
        )
        raise ApiProblem(
            "unauthorized",
            {
                "missing": "send Authorization: Bearer <token>",
                "unknown": "the token is not known",
                "revoked": "the token has been revoked",
                "expired": "the token has expired",
                "owner_disabled": "the token's owner is disabled",
                "owner_no_two_factor": "the token's owner has no two-factor authentication: "
                "a manager's or reviewer's token works only while its owner has it on",
            }[reason],
            headers={
                "WWW-Authenticate": 'Bearer realm="adgate", error="invalid_token"'
                if reason != "missing"
                else 'Bearer realm="adgate"'
            },
        )
    needed = rule.scope_for(Role(found.user.role))
    if needed not in found.scopes:
        _refuse("insufficient_scope", needed)
        raise ApiProblem(
            "insufficient-scope",
            f"this request needs a token with the scope {needed}",
            headers={
                "WWW-Authenticate": f'Bearer realm="adgate", error="insufficient_scope", '
                f'scope="{needed}"'
            },
        )
    if found.user.role not in rule.roles:
        _refuse("role", needed)
        raise ApiProblem("forbidden", f"a {found.user.role} may not do this")
    if awaits_confirmation(found.user):
        # Its tokens are refused at issue; this holds whatever issued one before.
        _refuse("unconfirmed", needed)
        raise ApiProblem(
            "forbidden", "a second person has not confirmed the token's owner's account yet"
        )


def _refuse(reason: str, scope: str | None) -> None:
    audit.defer(
        "access.forbidden",
        data={
            "endpoint": request.endpoint,
            "method": request.method,
            "reason": reason,
            "scope": scope,
        },
    )
