"""The one way to prove a second factor: sign-in, step-up, the 2FA settings, the password
change and the API's ``X-OTP`` all come here, so that all of them behave alike.

1. A locked account is refused before the password or the code is looked at.
2. The password (where the page asks for one), then the code: a TOTP accepted once, or an
   unused recovery code (``app.auth.twofactor``).
3. A failure is counted, the account locked when due (``app.auth.lockout``), and both are
   audited in a transaction of their own that commits at once: the refused request's
   rollback cannot take the record with it.
4. A success forgets the failures counted so far.

Pages that ask for a password and a code give the same answer whichever was wrong, so that
a stolen session cannot be used to guess the password (``message(..., with_password=True)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import format_timedelta
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.security import check_password_hash

from app import audit
from app.auth import lockout, twofactor
from app.db import transaction
from app.models import User

LOCKED, PASSWORD = "locked", "bad_password"


@dataclass(frozen=True)
class Attempt:
    """What one attempt proved: ``check`` names the code's kind; ``refused`` says why not."""

    check: twofactor.CodeCheck | None = None
    refused: str | None = None
    # Set when the account is locked: before the attempt, or by this failure.
    locked_for: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None

    @property
    def second_factor(self) -> str | None:
        """What proved the second factor ("totp", "recovery"), for the login's record."""
        return self.check.value if self.ok and self.check is not None else None


def prove(
    session: Session,
    user: User,
    code: str | None,
    now: datetime,
    *,
    password: str | None = None,
) -> Attempt:
    """Check the lock, then ``password`` (when given), then ``code`` (when given).

    A refusal ends the request's transaction (rolled back: the request is refused, and on
    SQLite its write lock would hold up the refusal's own record); a success stays in it.
    """
    if (remaining := lockout.locked_for(user, now)) is not None:
        _refuse(session, user, now, LOCKED, stage="code", count=False)
        return Attempt(refused=LOCKED, locked_for=remaining)
    if password is not None and not check_password_hash(user.password_hash, password):
        locked = _refuse(session, user, now, PASSWORD, stage="password", count=True)
        return Attempt(refused=PASSWORD, locked_for=locked)
    check = None
    if code is not None:
        check = twofactor.check_code(session, user, code, now)
        if not check.ok:
            locked = _refuse(session, user, now, check.value, stage="code", count=True)
            return Attempt(check, refused=check.value, locked_for=locked)
    if user.failed_logins:
        user.failed_logins = 0
        session.add(user)
    return Attempt(check)


def _refuse(
    session: Session, user: User, now: datetime, reason: str, *, stage: str, count: bool
) -> timedelta | None:
    user_id, actor = user.id, audit.current_actor()
    assert user_id is not None
    # Read before the rollback: afterwards the signed-in account would be loaded again in the
    # request's session, which on SQLite would take the write lock the record below needs.
    session.rollback()
    with transaction(write=True) as own:
        row = own.get(User, user_id)
        assert row is not None, "accounts are never deleted"
        kind = "auth.password_failed" if stage == "password" else "auth.code_failed"
        data = {"reason": reason, "client": audit.client_ref()}
        audit.record(own, kind, subject=("user", user_id), data=data, actor=actor)
        return lockout.record_failure(own, row, now, stage) if count else None


def locked_message(remaining: timedelta) -> str:
    """How long to wait, rounded up to whole minutes ("1 minute" rather than "59 seconds")."""
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    wait = format_timedelta(timedelta(minutes=minutes), threshold=1, add_direction=False)
    return str(
        _(
            "Too many failed attempts: this account is locked. Please try again in %(wait)s.",
            wait=wait,
        )
    )


def message(attempt: Attempt, entered: str | None, *, with_password: bool = False) -> str:
    """Why ``attempt`` was refused, in words that tell no more than the page may."""
    if attempt.locked_for is not None:
        return locked_message(attempt.locked_for)
    if with_password:
        # Password or code: the same words, else the page would confirm a guessed password.
        return str(_("The password or the code is not correct. Each code works only once."))
    if attempt.refused == twofactor.CodeCheck.REPLAYED:
        return str(_("This code has been used already. Please wait for the next one."))
    if (entered or "").replace(" ", "").isdigit():
        return str(_("The code is not valid. Check that the clock of your device is correct."))
    return str(_("This recovery code is not valid or has been used already."))
