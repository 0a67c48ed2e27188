"""Accounts and logins: the operations that change them, each with its audit event."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import func, select, update
from sqlmodel import Session, col
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit
from app.auth import lockout
from app.models import LoginSession, Role, User, utcnow


class AccountError(ValueError):
    """Input that cannot become (or change) an account; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Attempt:
    """A password check's outcome: the account if it may go on, else how long it is locked."""

    user: User | None
    locked_for: timedelta | None = None


class Principal(UserMixin):  # type: ignore[misc]
    """The signed-in user as Flask-Login sees it: an account plus the login it came with."""

    def __init__(self, user: User, login_session_id: str, login: LoginSession | None) -> None:
        self.user = user
        self.login_session_id = login_session_id
        self.login = login

    def get_id(self) -> str:
        """The login's id, so that logout ends this login rather than the account."""
        return self.login_session_id

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def is_active(self) -> bool:
        return self.user.active


def normalize_email(email: str) -> str:
    """The address as stored: checked for shape, lower-cased."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError("email_invalid", f"not a valid e-mail address: {exc}") from exc
    return checked.normalized.lower()


def check_password_policy(password: str) -> None:
    """Length only (ASVS V2.1): at least the configured minimum, at most 128 characters."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise AccountError("password_short", f"the password needs at least {minimum} characters")
    if len(password) > 128:
        raise AccountError("password_long", "the password may have at most 128 characters")


def hash_password(password: str) -> str:
    """scrypt; the cost is configurable, and each hash records its own parameters."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    # Checked against when the e-mail is unknown, so both cases take the same time.
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def find_user(session: Session, email: str) -> User | None:
    """The account with this e-mail address, if any."""
    return session.scalars(select(User).where(col(User.email) == email.strip().lower())).first()


# Roles that verify, approve or manage accounts: made by one admin on the pages, such an
# account could be that admin under another name. It acts in its role only once a second
# person has confirmed it (``confirm``).
CONFIRMED_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})


def create_user(
    session: Session,
    email: str,
    role: str,
    password: str,
    *,
    must_change_password: bool = False,
    created_by: User | None = None,
) -> User:
    """A new active account.

    ``must_change_password`` when someone other than the person chose the password (an
    admin's page, the command line): the first sign-in then changes it before anything else.
    ``created_by`` is the admin on the pages; a reviewer or admin they create waits for a
    second person's confirmation. None is the command line, the installation's trust root:
    its accounts are confirmed at once.
    """
    address = normalize_email(email)
    try:
        checked_role = Role(role)
    except ValueError as exc:
        raise AccountError(
            "role_unknown", f"unknown role {role!r}; roles: {', '.join(Role)}"
        ) from exc
    check_password_policy(password)
    if find_user(session, address) is not None:
        raise AccountError("email_taken", f"an account for {address} exists already")
    waits = created_by is not None and checked_role in CONFIRMED_ROLES
    user = User(
        email=address,
        role=checked_role,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        created_by=created_by.id if created_by is not None else None,
        confirmed_at=None if waits else utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "account.created",
        subject=("user", user_id(user)),
        data={
            "role": user.role,
            "must_change_password": must_change_password,
            "awaits_confirmation": waits,
        },
    )
    return user


def awaits_confirmation(user: User) -> bool:
    """A reviewer or admin created on the pages that no second person has confirmed yet: it
    signs in, but approves, signs off, verifies, manages accounts and issues tokens only once
    confirmed."""
    return user.confirmed_at is None


def confirmation_refused(user: User, by: User) -> AccountError | None:
    """Why ``by`` may not confirm ``user``, or None: a confirmed admin or reviewer confirms an
    active account that waits, and is neither that account nor the admin who created it."""
    if not awaits_confirmation(user):
        return AccountError("confirmed_already", f"{user.email} is confirmed already")
    if by.id == user.id:
        return AccountError("confirm_self", "nobody confirms their own account")
    if by.id == user.created_by:
        return AccountError("confirm_creator", "the admin who created an account cannot confirm it")
    if not (user.active and by.active) or by.role not in CONFIRMED_ROLES or awaits_confirmation(by):
        return AccountError(
            "confirm_refused", "a confirmed admin or reviewer confirms an active account"
        )
    return None


def confirm(session: Session, user: User, by: User, now: datetime) -> None:
    """The second person's confirmation: from now on ``user`` acts in its role."""
    if (refused := confirmation_refused(user, by)) is not None:
        raise refused
    user.confirmed_at, user.confirmed_by = now, by.id
    session.add(user)
    audit.record(
        session,
        "account.confirmed",
        subject=("user", user_id(user)),
        data={"role": user.role, "by": user_id(by), "created_by": user.created_by},
    )


def set_active(session: Session, user: User, active: bool) -> None:
    """Enable or disable an account; disabling ends all its logins at once."""
    if user.active == active:
        return
    user.active = active
    session.add(user)
    if not active:
        end_all_logins(session, user)
    kind = "account.enabled" if active else "account.disabled"
    audit.record(session, kind, subject=("user", user_id(user)))


def set_password(
    session: Session, user: User, password: str, *, by: User | None, keep_login: str | None = None
) -> int:
    """Replace the password: every login made with the old one ends (but ``keep_login``, the
    raw id of the login that changed it) and every API token of the account is revoked.

    Set by someone else (``by`` another account, or None: the command line), the password
    must be changed at the next sign-in. Returns how many tokens were revoked.
    """
    from app.api import tokens

    check_password_policy(password)
    own = by is not None and by.id == user.id
    user.password_hash = hash_password(password)
    user.must_change_password = not own
    renew_credentials(session, user)
    end_all_logins(session, user, keep=keep_login)
    revoked = tokens.revoke_all(session, user, by, utcnow(), reason="password_changed")
    audit.record(
        session,
        "account.password_changed",
        subject=("user", user_id(user)),
        data={
            "own": own,
            "tokens_revoked": revoked,
            "credentials_version": user.credentials_version,
        },
    )
    return revoked


def renew_credentials(session: Session, user: User) -> None:
    """The account's credentials changed: every half-finished sign-in (its password step made
    with the old ones, app.auth.views) and the secret a pending enrolment was shown are void.

    Else whoever knew the old password and stood at the code step or on the enrolment page
    would finish there after the admin's new password, and enrol their own authenticator.
    """
    user.credentials_version += 1
    user.totp_pending = user.totp_pending_binding = None
    session.add(user)


def authenticate(session: Session, email: str, password: str, now: datetime) -> Attempt:
    """Check the password unless the account is locked; failures are counted and audited.

    Every path hashes once (a dummy hash for an unknown address, the account's own while it
    is locked), so that the answer's timing does not tell them apart.
    """
    user = find_user(session, email)
    method = current_app.config["PASSWORD_HASH_METHOD"]
    ok = check_password_hash(user.password_hash if user else _dummy_hash(method), password)
    if user is not None and (remaining := lockout.locked_for(user, now)):
        _audit_failure(session, user, "locked")
        return Attempt(None, remaining)
    if user is not None and ok and user.active:
        return Attempt(user)
    reason = "unknown_email" if user is None else ("disabled" if ok else "bad_password")
    _audit_failure(session, user, reason)
    if user is not None and not ok:
        return Attempt(None, lockout.record_failure(session, user, now, "password"))
    return Attempt(None)


def _audit_failure(session: Session, user: User | None, reason: str) -> None:
    data = {"reason": reason, "client": audit.client_ref()}
    subject = ("user", user_id(user)) if user is not None else None
    audit.record(session, "auth.login_failed", subject=subject, data=data, actor=audit.ANONYMOUS)


def start_login(session: Session, user: User, now: datetime, second_factor: str | None) -> str:
    """Open a login for ``user``; returns the random id that the browser's cookie carries.

    ``second_factor`` names what proved the second factor ("totp", "recovery"), if anything.
    """
    raw = secrets.token_urlsafe(32)
    lockout.clear(session, user)
    session.add(
        LoginSession(
            id_hash=login_digest(raw),
            user_id=user_id(user),
            created_at=now,
            expires_at=now + current_app.config["LOGIN_SESSION_MAX_AGE"],
            second_factor_at=now if second_factor else None,
        )
    )
    audit.record(
        session,
        "auth.login",
        subject=("user", user_id(user)),
        data={"client": audit.client_ref(), "second_factor": second_factor},
        actor=audit.Actor("user", str(user.id)),
    )
    return raw


def load_login(session: Session, raw_id: str, now: datetime | None = None) -> Principal | None:
    """The principal of a login that is open, unexpired and belongs to an active account."""
    now = now or utcnow()
    row = session.execute(
        select(User, LoginSession)
        .join(LoginSession, col(LoginSession.user_id) == col(User.id))
        .where(
            col(LoginSession.id_hash) == login_digest(raw_id),
            col(LoginSession.ended_at).is_(None),
            col(LoginSession.expires_at) > now,
            col(User.active).is_(True),
        )
    ).first()
    return Principal(row[0], raw_id, row[1]) if row else None


def end_login(session: Session, principal: Principal) -> None:
    """Close one login (logout)."""
    session.execute(
        update(LoginSession)
        .where(col(LoginSession.id_hash) == login_digest(principal.login_session_id))
        .values(ended_at=utcnow())
    )
    audit.record(session, "auth.logout", subject=("user", principal.id))


def end_all_logins(session: Session, user: User, *, keep: str | None = None) -> None:
    """Close every open login of an account (but ``keep``, a login's raw id)."""
    query = update(LoginSession).where(
        col(LoginSession.user_id) == user.id, col(LoginSession.ended_at).is_(None)
    )
    if keep is not None:
        query = query.where(col(LoginSession.id_hash) != login_digest(keep))
    session.execute(query.values(ended_at=utcnow()))


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def user_id(user: User) -> int:
    """The id of a flushed account."""
    assert user.id is not None, "flush the account before referring to it"
    return user.id


def login_digest(raw: str) -> str:
    """How a login's id is stored: its SHA-256, so that a database dump opens no session."""
    return hashlib.sha256(raw.encode()).hexdigest()
