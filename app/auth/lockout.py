"""Brute-force protection per account: after a few failures the account locks, twice as long
each time, until a full sign-in succeeds. Per-IP limits (Flask-Limiter) sit in front of it."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update
from sqlmodel import Session, col

from app import audit
from app.models import User


def locked_for(user: User, now: datetime) -> timedelta | None:
    """How long the account stays locked, or None when it is not."""
    if user.locked_until is None or user.locked_until <= now:
        return None
    return user.locked_until - now


def record_failure(session: Session, user: User, now: datetime, stage: str) -> timedelta | None:
    """Count a failed password or code; lock the account when the limit is reached.

    The counter is incremented in SQL, so that failures arriving at once from
    several processes are all counted. Returns the lock's duration if one began.
    """
    assert user.id is not None
    failures = session.execute(
        update(User)
        .where(col(User.id) == user.id)
        .values(failed_logins=col(User.failed_logins) + 1)
        .returning(col(User.failed_logins), col(User.lockouts))
    ).one()
    session.refresh(user)
    count, lockouts = failures
    if count < current_app.config["LOGIN_MAX_FAILURES"]:
        return None
    base = current_app.config["LOGIN_LOCKOUT_BASE_SECONDS"]
    seconds = min(base * 2**lockouts, current_app.config["LOGIN_LOCKOUT_MAX_SECONDS"])
    user.locked_until = now + timedelta(seconds=seconds)
    user.lockouts = lockouts + 1
    user.failed_logins = 0
    session.add(user)
    audit.record(
        session,
        "auth.locked",
        subject=("user", user.id),
        data={"seconds": seconds, "lockouts": user.lockouts, "stage": stage},
        actor=audit.ANONYMOUS,
    )
    return timedelta(seconds=seconds)


def clear(session: Session, user: User) -> None:
    """A full sign-in succeeded: forget failures and past locks."""
    if user.failed_logins or user.lockouts or user.locked_until:
        user.failed_logins = 0
        user.lockouts = 0
        user.locked_until = None
        session.add(user)
