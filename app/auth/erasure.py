"""Erasing a person (GDPR Art. 17): the account stays as a reference, the person goes.

The audit log refers to people as ``user:<id>`` and never copies an e-mail address, so
its chain stays intact and verifiable: what names, reaches or describes the person is
removed from the rows that are not chained. The account row stays with its id and role,
because checklists, approvals, identity checks and audit events point at it; its
address becomes ``erased-<id>@invalid`` (reserved by RFC 2606, unique like the original).

What goes: the address, the password (replaced by the hash of a random secret nobody
knows), the TOTP secrets, the language preference, the lockout counters, every login,
used TOTP step and recovery code, the API tokens' names (the tokens are revoked), the
answers stored for their Idempotency-Keys (they quote the owner's address), and the
notification mails to the person or naming them, and the address of their invitations. What stays:
identity verifications (type, issuing country, expiry, verifier: the evidence of the
four-eyes and identity checks, none of it a name or a document number) and the ads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Delete, delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col

from app import audit
from app.auth.accounts import hash_password, user_id
from app.models import (
    ApiToken,
    IdempotencyKey,
    IdentityVerification,
    Invitation,
    LoginSession,
    OutboxMail,
    RecoveryCode,
    Role,
    TotpUse,
    User,
)
from app.reviews import requests

# What an erased person's tokens are called instead of the names their owner gave them.
ERASED_NAME = "erased"


class ErasureError(ValueError):
    """A person who cannot be erased now; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed and kept; counts only, as in its audit event."""

    user_id: int
    placeholder: str
    already_erased: bool = False
    logins: int = 0
    totp_uses: int = 0
    recovery_codes: int = 0
    tokens: int = 0
    tokens_revoked: int = 0
    idempotency_keys: int = 0
    mails: int = 0
    identity_verifications_kept: int = 0

    def counts(self) -> dict[str, int]:
        """The numbers for the audit event and the command's output."""
        return {
            "logins": self.logins,
            "totp_uses": self.totp_uses,
            "recovery_codes": self.recovery_codes,
            "tokens": self.tokens,
            "tokens_revoked": self.tokens_revoked,
            "idempotency_keys": self.idempotency_keys,
            "mails": self.mails,
            "identity_verifications_kept": self.identity_verifications_kept,
        }


def placeholder(uid: int) -> str:
    """The address an erased account carries instead of the person's."""
    return f"erased-{uid}@invalid"


def erase(session: Session, user: User, by: audit.Actor | None, now: datetime) -> ErasureReport:
    """Erase the person behind ``user`` in the session's transaction, with its audit event.

    ``by`` is who asked (None: the request's actor, or the system on the command line).
    Erasing someone already erased changes nothing. The last active administrator is
    refused: nobody could manage the accounts afterwards.
    """
    uid = user_id(user)
    if user.erased_at is not None:
        return ErasureReport(uid, user.email, already_erased=True)
    # The audit log's append lock, taken first, serializes erasures: two administrators
    # erased at once cannot both see the other one as still active.
    audit.lock(session)
    if user.role == Role.ADMIN and user.active and _other_active_admins(session, uid) == 0:
        raise ErasureError(
            "last_admin",
            "this is the last active administrator; make another account admin first",
        )
    actor = by or audit.current_actor()

    tokens = list(session.scalars(select(ApiToken).where(col(ApiToken.user_id) == uid)))
    token_ids = [t.id for t in tokens if t.id is not None]
    revoked = 0
    for token in tokens:
        if token.revoked_at is None:
            token.revoked_at = now
            token.revoked_by = int(actor.id) if actor.type == "user" and actor.id else None
            revoked += 1
        token.name = ERASED_NAME
        session.add(token)
    # A stored answer quotes the checklist's owner by address: those of the person's own
    # tokens, and (belt and braces) any other that mentions the address, are forgotten.
    # They are a replay cache of a day at most; the tokens cannot be used any more.
    mentions = col(IdempotencyKey.response_body).contains(user.email, autoescape=True)
    own = col(IdempotencyKey.token_id).in_(token_ids)
    idempotency_keys = _delete(session, delete(IdempotencyKey).where(own | mentions))
    # Notification mails to the person, and those that name them (to reviewers), sent or not.
    mails = _delete(
        session,
        delete(OutboxMail).where(
            (col(OutboxMail.recipient_id) == uid)
            | col(OutboxMail.body).contains(user.email, autoescape=True)
            | col(OutboxMail.subject).contains(user.email, autoescape=True)
        ),
    )
    # Invitations to the person's address, or accepted as this account: their mails go, and
    # the address they kept becomes the placeholder.
    invited = (col(Invitation.user_id) == uid) | (col(Invitation.email) == user.email)
    mails += _delete(
        session,
        delete(OutboxMail).where(
            col(OutboxMail.invitation_id).in_(select(col(Invitation.id)).where(invited))
        ),
    )
    session.execute(update(Invitation).where(invited).values(email=placeholder(uid)))

    report = ErasureReport(
        uid,
        placeholder(uid),
        logins=_delete(session, delete(LoginSession).where(col(LoginSession.user_id) == uid)),
        totp_uses=_delete(session, delete(TotpUse).where(col(TotpUse.user_id) == uid)),
        recovery_codes=_delete(
            session, delete(RecoveryCode).where(col(RecoveryCode.user_id) == uid)
        ),
        tokens=len(tokens),
        tokens_revoked=revoked,
        idempotency_keys=idempotency_keys,
        mails=mails,
        identity_verifications_kept=int(
            session.scalar(
                select(func.count())
                .select_from(IdentityVerification)
                .where(col(IdentityVerification.user_id) == uid)
            )
            or 0
        ),
    )

    # The notes of the person's requests for a verification are their words: they go.
    requests.close_for_erasure(session, uid, now)

    user.email = report.placeholder
    # A hash of a secret that is thrown away: no password matches it, and the column
    # keeps the shape every other account's has.
    user.password_hash = hash_password(secrets.token_urlsafe(32))
    user.totp_secret = user.totp_pending = user.totp_enabled_at = None
    user.locale = None
    user.failed_logins = user.lockouts = 0
    user.locked_until = None
    user.active = False
    user.erased_at = now
    session.add(user)
    session.flush()
    audit.record(
        session, "account.erased", subject=("user", uid), data=report.counts(), actor=actor
    )
    return report


def _other_active_admins(session: Session, uid: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                col(User.role) == Role.ADMIN,
                col(User.active).is_(True),
                col(User.erased_at).is_(None),
                col(User.id) != uid,
            )
        )
        or 0
    )


def _delete(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount or 0)
