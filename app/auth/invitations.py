"""Invitations: an admin invites a person by e-mail to an account in a role; the person opens
the mail's single-use link and sets their own password (then enrols 2FA, app.auth.access).

The token carries 256 random bits; only its SHA-256 is stored, so that a database dump opens
no invitation, and a token is found by its hash (an index lookup, no comparison that could
leak by its timing). The mail carries the token: the outbox keeps it encrypted until the
mail is sent (app.notifications.invitation). Resending makes a new token (the old one is
void); revoking voids it. Every step, and every refused link, is audited; the audit log
never holds a token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import select, update
from sqlmodel import Session, col

from app import audit
from app.auth.accounts import (
    CONFIRMED_ROLES,
    AccountError,
    check_password_policy,
    create_user,
    find_user,
    normalize_email,
    user_id,
)
from app.models import Invitation, OutboxMail, Role, User


class Refusal(StrEnum):
    """Why a link opens nothing. The page says the same for each: it must not tell a guesser
    whether a token ever existed; the audit log keeps the reason."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    # An account with the address exists since the invitation was sent.
    EMAIL_TAKEN = "email_taken"


class InvitationError(ValueError):
    """An invitation that cannot be made, resent or revoked; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Sent:
    """A new or resent invitation and its token (for the mail only; never stored)."""

    invitation: Invitation
    token: str


def token_digest(token: str) -> str:
    """How a token is stored and looked up: its SHA-256 (256 random bits need no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _hours() -> timedelta:
    return timedelta(hours=float(current_app.config["INVITATION_HOURS"]))


def is_pending(invitation: Invitation, now: datetime) -> bool:
    """Neither accepted nor revoked, and the link still holds."""
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > now
    )


def pending(session: Session, now: datetime) -> list[Invitation]:
    """The invitations whose link still holds, the newest first."""
    return list(
        session.scalars(
            select(Invitation)
            .where(
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                col(Invitation.expires_at) > now,
            )
            .order_by(col(Invitation.sent_at).desc(), col(Invitation.id).desc())
        )
    )


def _pending_for(session: Session, email: str, now: datetime) -> Invitation | None:
    return session.scalars(
        select(Invitation).where(
            col(Invitation.email) == email,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
    ).first()


def _subject(invitation: Invitation) -> tuple[str, int]:
    assert invitation.id is not None
    return ("invitation", invitation.id)


def invite(
    session: Session, email: str, role: str, locale: str, *, by: User, now: datetime
) -> Sent:
    """A new invitation and its mail, in the caller's transaction."""
    from app import notifications

    address = normalize_email(email)
    try:
        checked_role = Role(role)
    except ValueError as exc:
        raise AccountError("role_unknown", f"unknown role {role!r}") from exc
    if locale not in current_app.config["LANGUAGES"]:
        raise InvitationError("locale_unknown", f"unknown language {locale!r}")
    if not notifications.enabled():
        raise InvitationError("mail_off", "no mail server is configured")
    if find_user(session, address) is not None:
        raise AccountError("email_taken", f"an account for {address} exists already")
    if _pending_for(session, address, now) is not None:
        raise InvitationError("pending", f"{address} has a pending invitation")
    token = _new_token()
    invitation = Invitation(
        email=address,
        role=checked_role,
        locale=locale,
        token_hash=token_digest(token),
        created_at=now,
        created_by=user_id(by),
        sent_at=now,
        sent_by=user_id(by),
        expires_at=now + _hours(),
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        "invitation.created",
        subject=_subject(invitation),
        data={
            "role": checked_role.value,
            "locale": locale,
            "expires_at": invitation.expires_at.isoformat(),
            "awaits_confirmation": checked_role in CONFIRMED_ROLES,
        },
    )
    notifications.invitation(session, invitation, token, by)
    return Sent(invitation, token)


def resend(session: Session, invitation: Invitation, *, by: User, now: datetime) -> Sent:
    """A new link (the old one is void from now on), valid INVITATION_HOURS from now; not
    sooner than INVITATION_RESEND_MINUTES after the last one."""
    from app import notifications

    if not is_pending(invitation, now):
        raise InvitationError("not_pending", "the invitation is no longer pending")
    wait = timedelta(minutes=float(current_app.config["INVITATION_RESEND_MINUTES"]))
    if now < invitation.sent_at + wait:
        raise InvitationError("too_soon", "the invitation was sent moments ago")
    if not notifications.enabled():
        raise InvitationError("mail_off", "no mail server is configured")
    _void_mails(session, invitation)
    token = _new_token()
    invitation.token_hash = token_digest(token)
    invitation.sent_at, invitation.sent_by = now, user_id(by)
    invitation.expires_at = now + _hours()
    invitation.resent += 1
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        "invitation.resent",
        subject=_subject(invitation),
        data={"expires_at": invitation.expires_at.isoformat(), "resent": invitation.resent},
    )
    notifications.invitation(session, invitation, token, by)
    return Sent(invitation, token)


def revoke(session: Session, invitation: Invitation, *, by: User, now: datetime) -> None:
    """The link opens nothing from now on."""
    if not is_pending(invitation, now):
        raise InvitationError("not_pending", "the invitation is no longer pending")
    invitation.revoked_at, invitation.revoked_by = now, user_id(by)
    session.add(invitation)
    _void_mails(session, invitation)
    audit.record(session, "invitation.revoked", subject=_subject(invitation))


def _void_mails(session: Session, invitation: Invitation) -> None:
    """Erase the token of the invitation's mails: one not sent yet is dropped when its turn
    comes (app.notifications.outbox)."""
    session.execute(
        update(OutboxMail).where(col(OutboxMail.invitation_id) == invitation.id).values(secret=None)
    )


def find(session: Session, token: str, now: datetime) -> Invitation | Refusal:
    """The pending invitation of a token, or why the link opens nothing. The token is looked
    up by its hash: no comparison with stored tokens happens."""
    if not token or len(token) > 100:
        return Refusal.UNKNOWN
    invitation = session.scalars(
        select(Invitation).where(col(Invitation.token_hash) == token_digest(token))
    ).first()
    if invitation is None:
        return Refusal.UNKNOWN
    if invitation.accepted_at is not None:
        return Refusal.USED
    if invitation.revoked_at is not None:
        return Refusal.REVOKED
    if invitation.expires_at <= now:
        return Refusal.EXPIRED
    if find_user(session, invitation.email) is not None:
        return Refusal.EMAIL_TAKEN
    return invitation


def refused(reason: Refusal, invitation_id: int | None = None) -> None:
    """Audit a link that opened nothing (the client by its keyed reference), written when the
    request ends whatever its outcome."""
    subject = ("invitation", invitation_id) if invitation_id is not None else None
    audit.defer(
        "invitation.refused",
        subject=subject,
        data={"reason": reason.value, "client": audit.client_ref()},
        actor=audit.ANONYMOUS,
    )


def find_by_digest(session: Session, digest: str) -> Invitation | None:
    """The invitation whose token has this hash (the page keeps the hash between requests)."""
    return session.scalars(select(Invitation).where(col(Invitation.token_hash) == digest)).first()


def accept(session: Session, invitation: Invitation, password: str, now: datetime) -> User:
    """Make the account with the person's own password; the link is used up. A reviewer or
    admin waits for a second person's confirmation, the inviting admin being its creator."""
    check_password_policy(password)
    # Two tabs (or two people) sending the same link at once: the second waits for the
    # first here and finds the link used, instead of failing on the address's uniqueness.
    current = session.scalars(
        select(Invitation)
        .where(col(Invitation.id) == invitation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if current.accepted_at is not None or current.revoked_at is not None:
        raise AccountError("invitation_used", "the invitation was used or revoked meanwhile")
    inviter = session.get(User, invitation.created_by)
    assert inviter is not None
    user = create_user(
        session,
        invitation.email,
        invitation.role.value,
        password,
        must_change_password=False,
        created_by=inviter,
    )
    invitation.accepted_at, invitation.user_id = now, user_id(user)
    session.add(invitation)
    _void_mails(session, invitation)
    audit.record(
        session,
        "invitation.accepted",
        subject=_subject(invitation),
        data={"user": user_id(user), "role": invitation.role.value},
        actor=audit.Actor("user", str(user.id)),
    )
    return user
