"""Claiming one piece of the workers' follow-up work (a removal, a status change at Meta).

A submission qualifies when it matches the caller's condition, is due (``next_attempt_at``),
no live claim holds it, and Meta does not throttle its ad account. It is claimed for the
worker for a lease: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, or_, select
from sqlmodel import Session, col

from app.db import is_sqlite
from app.meta import throttle
from app.models import AdAccount, Checklist, Submission


def take(
    db: Session, worker_name: str, condition: ColumnElement[bool], now: datetime
) -> Submission | None:
    """The first qualifying submission, claimed by ``worker_name``; None when there is none."""
    query = (
        select(Submission)
        .join(Checklist, col(Checklist.id) == col(Submission.checklist_id))
        .outerjoin(AdAccount, col(AdAccount.id) == col(Checklist.ad_account_id))
        .where(
            condition,
            or_(col(Submission.lease_until).is_(None), col(Submission.lease_until) < now),
            or_(
                col(Submission.next_attempt_at).is_(None),
                col(Submission.next_attempt_at) <= now,
            ),
            throttle.account_free(now),
        )
        .order_by(col(Submission.id))
        .limit(1)
    )
    if not is_sqlite(db.get_bind().engine):
        query = query.with_for_update(of=Submission, skip_locked=True)
    submission = db.scalars(query).first()
    if submission is None:
        return None
    lease = timedelta(seconds=float(current_app.config["WORKER_LEASE_SECONDS"]))
    submission.claimed_by = worker_name
    submission.lease_until = now + lease
    db.add(submission)
    return submission
