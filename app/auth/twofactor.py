"""Two-factor authentication: enrolment, codes accepted once, recovery codes, step-up, reset.

Flask-Security warns that replay protection is the caller's job; here it is done:
every accepted TOTP time step is inserted into ``totp_use`` under the primary key
(user, step), so a second use of a code fails on the database's unique key even
when it arrives through another process at the same moment.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app import audit, crypto
from app.auth import totp
from app.models import LoginSession, RecoveryCode, TotpUse, User, utcnow

RECOVERY_CODE_COUNT = 10
# 20 characters of base32: 100 random bits per code.
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LENGTH = 20
# Used steps older than this can no longer be replayed (the window is ±1 step).
_KEEP_USED_STEPS = 4


class CodeCheck(StrEnum):
    """The outcome of checking a second-factor code."""

    TOTP = "totp"
    RECOVERY = "recovery"
    INVALID = "invalid"
    REPLAYED = "replayed"

    @property
    def ok(self) -> bool:
        return self in (CodeCheck.TOTP, CodeCheck.RECOVERY)


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret as text and as a QR code's URI."""

    secret: str
    uri: str


def required_for(user: User) -> bool:
    """Whether the account's role must use two-factor authentication."""
    return user.role in current_app.config["TWO_FACTOR_ROLES"]


def must_enrol(user: User) -> bool:
    """The role requires 2FA and the account has none yet."""
    return required_for(user) and not user.totp_enabled


# --- enrolment ----------------------------------------------------------------


def start_enrolment(session: Session, user: User) -> tuple[Enrolment, str]:
    """A new secret for one enrolment, and the nonce that its session keeps.

    The secret any other enrolment was shown is void from now on: whoever saw it (another
    sign-in with the same password) cannot confirm it, nor use codes from it later.
    """
    nonce = secrets.token_urlsafe(32)
    user.totp_pending = crypto.encrypt(totp.new_secret())
    user.totp_pending_binding = _binding(nonce)
    session.add(user)
    session.flush()
    enrolment = shown_enrolment(user, nonce)
    assert enrolment is not None
    return enrolment, nonce


def shown_enrolment(user: User, nonce: str | None) -> Enrolment | None:
    """The secret pending for the enrolment holding ``nonce``, if it is still the pending one."""
    if user.totp_pending is None or user.totp_pending_binding is None or not nonce:
        return None
    if not hmac.compare_digest(user.totp_pending_binding, _binding(nonce)):
        return None
    secret = crypto.decrypt(user.totp_pending)
    uri = totp.provisioning_uri(secret, user.email, current_app.config["TWO_FACTOR_ISSUER"])
    return Enrolment(secret=secret, uri=uri)


def enrolment_refused(session: Session, user: User) -> None:
    """Audit a confirmation from an enrolment whose secret is no longer the pending one."""
    audit.record(
        session,
        "twofactor.enrolment_failed",
        subject=("user", _id(user)),
        data={"reason": "not_this_enrolment"},
    )


def _binding(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def confirm_enrolment(
    session: Session, user: User, nonce: str | None, code: str, now: datetime
) -> list[str] | None:
    """Enable 2FA if ``code`` fits the secret shown to this enrolment; returns the new
    recovery codes."""
    enrolment = shown_enrolment(user, nonce)
    if enrolment is None:
        enrolment_refused(session, user)
        return None
    step = totp.verify(enrolment.secret, code, now)
    if step is None or not _claim_step(session, user, step, now):
        audit.record(
            session,
            "twofactor.enrolment_failed",
            subject=("user", _id(user)),
            data={"reason": "invalid"},
        )
        return None
    user.totp_secret, user.totp_enabled_at = user.totp_pending, now
    user.totp_pending = user.totp_pending_binding = None
    session.add(user)
    audit.record(session, "twofactor.enabled", subject=("user", _id(user)))
    return regenerate_recovery_codes(session, user)


# --- checking codes -------------------------------------------------------------


def check_code(session: Session, user: User, code: str, now: datetime) -> CodeCheck:
    """Accept a TOTP code (once) or an unused recovery code; audit a recovery code's use.

    Failures are counted and audited by ``app.auth.secondfactor.prove``, the one caller
    outside tests.
    """
    if user.totp_secret is None:
        return CodeCheck.INVALID
    candidate = code.strip()
    result = CodeCheck.INVALID
    if candidate.replace(" ", "").isdigit():
        step = totp.verify(crypto.decrypt(user.totp_secret), candidate, now)
        if step is not None:
            result = CodeCheck.TOTP if _claim_step(session, user, step, now) else CodeCheck.REPLAYED
    elif _use_recovery_code(session, user, candidate, now):
        result = CodeCheck.RECOVERY
        remaining = recovery_codes_left(session, user)
        audit.record(
            session,
            "twofactor.recovery_code_used",
            subject=("user", _id(user)),
            data={"remaining": remaining},
        )
    return result


def _claim_step(session: Session, user: User, step: int, now: datetime) -> bool:
    """Record the step as used; False if it was used before (by any process)."""
    user_id = _id(user)
    try:
        with session.begin_nested():
            session.add(TotpUse(user_id=user_id, step=step, used_at=now))
    except IntegrityError:
        return False
    session.execute(
        delete(TotpUse).where(
            col(TotpUse.user_id) == user_id, col(TotpUse.step) < step - _KEEP_USED_STEPS
        )
    )
    return True


# --- recovery codes ---------------------------------------------------------------


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten new single-use codes (shown once); every older code stops working."""
    user_id = _id(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        salt = secrets.token_hex(16)
        session.add(RecoveryCode(user_id=user_id, salt=salt, digest=_digest(salt, raw)))
        codes.append("-".join(raw[i : i + 5] for i in range(0, _RECOVERY_LENGTH, 5)))
    session.flush()
    audit.record(session, "twofactor.recovery_codes_generated", subject=("user", user_id))
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    """How many unused recovery codes the account has."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(col(RecoveryCode.user_id) == _id(user), col(RecoveryCode.used_at).is_(None))
        )
        or 0
    )


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    raw = code.lower().replace("-", "").replace(" ", "")
    if len(raw) != _RECOVERY_LENGTH:
        return False
    unused = session.scalars(
        select(RecoveryCode).where(
            col(RecoveryCode.user_id) == _id(user), col(RecoveryCode.used_at).is_(None)
        )
    ).all()
    for stored in unused:
        if hmac.compare_digest(stored.digest, _digest(stored.salt, raw)):
            # Conditional on still being unused: two requests with the same code, one wins.
            used = session.execute(
                update(RecoveryCode)
                .where(col(RecoveryCode.id) == stored.id, col(RecoveryCode.used_at).is_(None))
                .values(used_at=now)
            )
            return bool(used.rowcount)  # type: ignore[attr-defined]
    return False


def _digest(salt: str, raw: str) -> str:
    return hashlib.sha256(f"{salt}:{raw}".encode()).hexdigest()


# --- step-up, disable, reset --------------------------------------------------------


def mark_fresh(session: Session, login_id_hash: str, now: datetime) -> None:
    """Note that this login proved the second factor just now."""
    session.execute(
        update(LoginSession)
        .where(col(LoginSession.id_hash) == login_id_hash)
        .values(second_factor_at=now)
    )


def is_fresh(login: LoginSession | None, now: datetime | None = None) -> bool:
    """Whether the login proved the second factor within the step-up window."""
    if login is None or login.second_factor_at is None:
        return False
    window = timedelta(seconds=current_app.config["STEP_UP_MAX_AGE_SECONDS"])
    return (now or utcnow()) - login.second_factor_at <= window


def disable(session: Session, user: User) -> None:
    """Remove the account's TOTP secret and recovery codes (the user's own decision)."""
    from app.auth.accounts import renew_credentials

    _remove(session, user)
    renew_credentials(session, user)
    audit.record(
        session,
        "twofactor.disabled",
        subject=("user", _id(user)),
        data={"credentials_version": user.credentials_version},
    )


def reset(session: Session, user: User, by: User | None = None) -> None:
    """An admin removes another account's 2FA; the user signs in again and enrols anew.

    The account's API tokens are revoked with it: whoever asked for the reset (perhaps not
    the person) must not inherit tokens issued while the old second factor guarded them.
    """
    from app.api import tokens
    from app.auth.accounts import end_all_logins, renew_credentials

    _remove(session, user)
    renew_credentials(session, user)
    end_all_logins(session, user)
    revoked = tokens.revoke_all(session, user, by, utcnow(), reason="two_factor_reset")
    audit.record(
        session,
        "twofactor.reset",
        subject=("user", _id(user)),
        data={"tokens_revoked": revoked, "credentials_version": user.credentials_version},
    )


def _remove(session: Session, user: User) -> None:
    user.totp_secret = user.totp_pending = user.totp_enabled_at = None
    user.totp_pending_binding = None
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == _id(user)))


# --- key rotation --------------------------------------------------------------------


def reencrypt_all(session: Session) -> int:
    """Re-encrypt every stored secret under the primary key; returns how many."""
    box = crypto.box()
    count = 0
    for user in session.scalars(
        select(User).where(col(User.totp_secret).is_not(None) | col(User.totp_pending).is_not(None))
    ):
        if user.totp_secret:
            user.totp_secret = box.rotate(user.totp_secret.encode()).decode()
        if user.totp_pending:
            user.totp_pending = box.rotate(user.totp_pending.encode()).decode()
        session.add(user)
        count += 1
    session.flush()
    audit.record(session, "twofactor.secrets_reencrypted", data={"accounts": count})
    return count


def _id(user: User) -> int:
    assert user.id is not None
    return user.id
