"""Step-up: approving and submitting need a second factor proven within the last minutes."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user

from app.auth import lockout, secondfactor, twofactor
from app.auth.accounts import login_digest
from app.db import get_session
from app.models import utcnow


def is_fresh() -> bool:
    """Whether the current login proved its second factor recently enough."""
    return twofactor.is_fresh(current_user.login)


def confirm(code: str | None) -> str | None:
    """None when the login is fresh or ``code`` makes it so; else the message to show.

    A locked account is refused first, fresh or not. A refused code has ended the request's
    transaction and recorded itself (``secondfactor``).
    """
    user, now = current_user.user, utcnow()
    # The lock first, even for a login that proved a code minutes ago: while someone is
    # guessing this account's codes, nothing is approved or sent in its name.
    if (remaining := lockout.locked_for(user, now)) is not None:
        return secondfactor.locked_message(remaining)
    if is_fresh():
        return None
    if not user.totp_enabled:
        return str(_("Set up two-factor authentication first."))
    if not (code or "").strip():
        return str(_("Enter a current code from your authenticator app to confirm."))
    db = get_session()
    attempt = secondfactor.prove(db, user, code or "", now)
    if attempt.ok:
        twofactor.mark_fresh(db, login_digest(current_user.login_session_id), now)
        return None
    return secondfactor.message(attempt, code)
