"""API tokens: issued to a person, limited to scopes, stored only as a hash, revocable.

A token is ``adg_`` followed by 43 URL-safe characters (256 random bits). It is shown
once, when it is created; the database keeps its SHA-256 and its first characters.
A token acts as its owner: it can never do more than the owner's role allows, and a
disabled owner's tokens stop working with the account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from app import audit
from app.auth.accounts import awaits_confirmation
from app.models import ApiToken, Role, User

PREFIX = "adg_"
SCOPES = (
    "checklists:read",
    "checklists:write",
    "submissions:write",
    "identity:write",
    "approvals:write",
    "audit:read",
)
# What each role's tokens may be granted: the API admits a role where the pages do.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.MANAGER: frozenset({"checklists:read", "checklists:write", "submissions:write"}),
    Role.REVIEWER: frozenset({"checklists:read", "identity:write", "approvals:write"}),
    Role.AUDITOR: frozenset({"checklists:read", "audit:read"}),
    Role.ADMIN: frozenset({"checklists:read", "checklists:write"}),
}
# Scopes that act in the owner's own name at the gate (submitting, verifying, approving):
# only the owner issues such a token, on the page with their own code, or on the command
# line with their own code. Nobody, an admin included, issues one for someone else.
PERSONAL_SCOPES = frozenset({"submissions:write", "identity:write", "approvals:write"})
# Whose tokens act only while their owner has two-factor authentication on: the people at
# the gate (an ad manager submits, a reviewer verifies and approves), checked on every call.
SECOND_FACTOR_ROLES = frozenset({Role.MANAGER, Role.REVIEWER})
MAX_LIFETIME = timedelta(days=366)
NAME_MAX = 100


class TokenError(ValueError):
    """A token that cannot be issued as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str, code: str, **values: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.values = values  # for a message in the reader's language (app.tokens.views)


@dataclass(frozen=True)
class Issued:
    """A new token: the row, and the secret that is shown this once."""

    token: ApiToken
    secret: str


def digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed_scopes(role: str) -> frozenset[str]:
    """The scopes a token of an account with ``role`` may carry."""
    return ROLE_SCOPES.get(Role(role), frozenset())


def issue(
    db: Session,
    owner: User,
    *,
    name: str,
    scopes: Iterable[str],
    lifetime: timedelta,
    issued_by: User | None,
    now: datetime,
) -> Issued:
    """Create a token for ``owner``; every scope must be one the owner's role allows.

    ``issued_by`` is the owner, who proved it with a code (the page, the command line with
    ``--code-stdin``), or None: the shell admin on the command line, audited as the system,
    for any scope but ``PERSONAL_SCOPES``. Nobody else issues a token for someone: an admin on
    the pages would act in another's name, with scopes that read the audit log or make a
    manager's own statements. The owner must be able to sign in as themself (active, their
    own password): else the token would be the only key to an account nobody has used.
    """
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(
            "name", f"give the token a name of 1 to {NAME_MAX} characters", "name",
            max=str(NAME_MAX),
        )  # fmt: skip
    wanted = sorted(set(scopes))
    if not wanted:
        raise TokenError("scopes", "choose at least one scope", "no_scope")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise TokenError(
            "scopes", f"unknown scopes: {', '.join(unknown)}", "unknown_scope",
            scopes=", ".join(unknown),
        )  # fmt: skip
    refused = [s for s in wanted if s not in allowed_scopes(owner.role)]
    if refused:
        raise TokenError(
            "scopes", f"a {owner.role}'s token cannot have the scopes {', '.join(refused)}",
            "scope_not_for_role", role=owner.role, scopes=", ".join(refused),
        )  # fmt: skip
    if issued_by is not None and issued_by.id != owner.id:
        raise TokenError("user", "a token is issued by its owner only", "not_owner")
    personal = [s for s in wanted if s in PERSONAL_SCOPES]
    if personal and issued_by is None:
        raise TokenError(
            "scopes",
            f"only the owner may create a token with {', '.join(personal)}: it acts in "
            "their own name",
            "personal_scope",
            scopes=", ".join(personal),
        )
    if not timedelta(hours=1) <= lifetime <= MAX_LIFETIME:
        raise TokenError("expires", "a token lives between one hour and one year", "lifetime")
    if not owner.active:
        raise TokenError("user", "the account is disabled", "owner_disabled")
    if owner.must_change_password:
        raise TokenError(
            "user",
            "the owner has not yet replaced the password someone else set",
            "owner_must_change_password",
        )
    if awaits_confirmation(owner):
        raise TokenError(
            "user", "a second person has not confirmed the account yet", "owner_unconfirmed"
        )
    assert owner.id is not None
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=owner.id,
        name=name,
        scopes=wanted,
        token_hash=digest(secret),
        prefix=secret[: len(PREFIX) + 6],
        created_at=now,
        created_by=issued_by.id if issued_by is not None else None,
        expires_at=now + lifetime,
    )
    db.add(token)
    db.flush()
    audit.record(
        db,
        "token.created",
        subject=("token", token.id or 0),
        data={"owner": owner.id, "scopes": wanted, "expires_at": token.expires_at.isoformat()},
    )
    return Issued(token, secret)


def revoke(db: Session, token: ApiToken, by: User | None, now: datetime) -> bool:
    """Revoke ``token`` (False if it was revoked already)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    token.revoked_by = by.id if by is not None else None
    db.add(token)
    db.flush()
    audit.record(db, "token.revoked", subject=("token", token.id or 0))
    return True


def revoke_all(db: Session, owner: User, by: User | None, now: datetime, *, reason: str) -> int:
    """Revoke every live token of ``owner``; returns how many. Each one is audited with the
    reason (``password_changed``, ``two_factor_reset``): whatever changed the owner's
    credentials must not leave a token issued under the old ones working."""
    live = db.scalars(
        select(ApiToken).where(
            col(ApiToken.user_id) == owner.id,
            col(ApiToken.revoked_at).is_(None),
            col(ApiToken.expires_at) > now,
        )
    ).all()
    for token in live:
        token.revoked_at = now
        token.revoked_by = by.id if by is not None else None
        db.add(token)
        audit.record(
            db,
            "token.revoked",
            subject=("token", token.id or 0),
            data={"owner": owner.id, "reason": reason},
        )
    db.flush()
    return len(live)


def find(db: Session, secret: str) -> tuple[ApiToken, User] | None:
    """The token row for a presented secret and its owner, if it exists (valid or not).

    One query for both: every API request asks.
    """
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    row = db.execute(
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(col(ApiToken.token_hash) == digest(secret))
    ).first()
    return None if row is None else (row[0], row[1])


def problem_with(token: ApiToken | None, owner: User | None, now: datetime) -> str | None:
    """Why a presented token does not authenticate, or None when it does."""
    if token is None or owner is None:
        return "unknown"
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    if not owner.active:
        return "owner_disabled"
    if owner.role in SECOND_FACTOR_ROLES and not owner.totp_enabled:
        return "owner_no_two_factor"
    return None


def effective_scopes(token: ApiToken, owner: User) -> frozenset[str]:
    """The token's scopes that its owner's role still allows."""
    return frozenset(token.scopes) & allowed_scopes(owner.role)


def of_user(db: Session, user_id: int | None = None) -> list[ApiToken]:
    """Tokens, newest first: one person's, or everyone's (``None``)."""
    query = select(ApiToken).order_by(col(ApiToken.id).desc())
    if user_id is not None:
        query = query.where(col(ApiToken.user_id) == user_id)
    return list(db.scalars(query))
