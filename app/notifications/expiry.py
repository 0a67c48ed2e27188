"""The daily pass over recorded identity verifications: a verification about to expire is told
to its person and the reviewers, once per verification (its dedup key)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select
from sqlmodel import Session, col

from app.models import IdentityVerification, User
from app.notifications import Kind, enqueue, reviewers


def notify(db: Session, today: date) -> int:
    """Queue the mails for verifications expiring within NOTIFY_IDENTITY_EXPIRY_DAYS that no
    later verification of the same person and country replaces; returns how many were new."""
    days = int(current_app.config["NOTIFY_IDENTITY_EXPIRY_DAYS"])
    current = db.scalars(
        select(IdentityVerification).where(
            col(IdentityVerification.revoked_at).is_(None),
            col(IdentityVerification.expires_on) >= today,
        )
    ).all()
    # The latest expiry per person and country: a renewed verification silences the old one.
    latest: dict[tuple[int, str], date] = {}
    for v in current:
        key = (v.user_id, v.issuing_country)
        latest[key] = max(latest.get(key, v.expires_on), v.expires_on)
    added = 0
    reviewing = list(reviewers(db))
    for v in current:
        if v.expires_on > today + timedelta(days=days):
            continue
        if latest[(v.user_id, v.issuing_country)] > v.expires_on:
            continue
        person = db.get(User, v.user_id)
        if person is None:
            continue
        others = [r for r in reviewing if r.id != person.id]
        added += enqueue(
            db,
            Kind.IDENTITY_EXPIRING,
            [person, *others],
            key=f"identity:{v.id}",
            person=person.email,
            person_id=person.id,
            days=days,
        )
    return added
