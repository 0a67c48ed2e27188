"""Requests for an identity verification: an ad manager asks, the reviewers are told, a
reviewer's verification for that person and country fulfils it, or the manager withdraws it.

A request holds who asks, for which country, and a note: never anything of the document.
One open request per person and country, kept by a partial unique index: two clicks or two
tabs insert one row, and the second is told that it was asked already. Closing a request is
a conditional UPDATE (``state = 'open'``), so a withdrawal racing a verification ends it once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col

from app import audit, notifications
from app.checklists.service import ChecklistError
from app.db import is_sqlite
from app.models import (
    Checklist,
    IdentityRequest,
    IdentityVerification,
    RequestState,
    Role,
    User,
)
from workflows import policy
from workflows.machine import editable

NOTE_MAX = 500
# A run of letters and digits with many digits looks like a document's number (CH: X0123456,
# DE: C01X00T47): a note must never carry one, so such a note is refused.
_NUMBER_LIKE = re.compile(r"[A-Za-z0-9]{6,}")


class AlreadyAsked(ChecklistError):
    """The person has an open request for this country already (``request``)."""

    def __init__(self, request: IdentityRequest) -> None:
        super().__init__("country", "asked_already", "an open request for this country exists")
        self.request = request


def askable() -> frozenset[str]:
    """The countries a request may name: those an ad may target."""
    return policy.TARGETABLE


def _looks_like_a_number(note: str) -> bool:
    return any(sum(c.isdigit() for c in run) >= 4 for run in _NUMBER_LIKE.findall(note))


def _valid_verification(db: Session, person: User, country: str, until: date) -> bool:
    """Whether a verification for ``country`` holds for ``person`` until ``until``."""
    return (
        db.scalar(
            select(col(IdentityVerification.id)).where(
                col(IdentityVerification.user_id) == person.id,
                col(IdentityVerification.issuing_country) == country,
                col(IdentityVerification.revoked_at).is_(None),
                col(IdentityVerification.verified_by) != person.id,
                col(IdentityVerification.expires_on) >= until,
            )
        )
        is not None
    )


def ask(
    db: Session, person: User, country: str, now: datetime, *, note: str | None = None
) -> IdentityRequest:
    """``person`` (an ad manager) asks the reviewers to verify their identity for ``country``;
    audited, and the reviewers are told in the same transaction. ``AlreadyAsked`` when an open
    request exists; a country that is verified for long enough needs no request."""
    if person.role != Role.MANAGER:
        raise ChecklistError("user", "not_manager", "only ad managers ask for a verification")
    try:
        code = policy.check_country(str(country).strip().upper())
    except policy.InvalidCountry as exc:
        raise ChecklistError("country", "country_invalid", str(exc)) from exc
    if code not in askable():
        raise ChecklistError("country", "country_not_targetable", f"no ad can target {code}")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ChecklistError("note", "note_too_long", f"at most {NOTE_MAX} characters")
    if note is not None and _looks_like_a_number(note):
        raise ChecklistError("note", "note_number", "a note must not carry a document number")
    # A verification about to expire may be renewed: asking is refused only for one that
    # holds beyond the expiry notice.
    notice = timedelta(days=int(current_app.config["NOTIFY_IDENTITY_EXPIRY_DAYS"]))
    if _valid_verification(db, person, code, (now + notice).date()):
        raise ChecklistError("country", "verified_already", f"verified for {code} already")
    assert person.id is not None
    insert = sqlite_insert if is_sqlite(db.get_bind().engine) else pg_insert
    statement = (
        insert(IdentityRequest)
        .values(
            requester_id=person.id,
            country=code,
            state=RequestState.OPEN.value,
            note=note,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["requester_id", "country"], index_where=text("state = 'open'")
        )
        .returning(col(IdentityRequest.id))
    )
    new_id = db.execute(statement).scalar()
    if new_id is None:
        raise AlreadyAsked(_open(db, person.id, code))
    request = db.get(IdentityRequest, new_id)
    assert request is not None
    audit.record(
        db,
        "identity.requested",
        subject=("user", person.id),
        data={"request": new_id, "country": code},
    )
    notifications.identity_requested(db, person, code, request_id=new_id)
    return request


def _open(db: Session, person_id: int, country: str) -> IdentityRequest:
    found = db.scalars(
        select(IdentityRequest).where(
            col(IdentityRequest.requester_id) == person_id,
            col(IdentityRequest.country) == country,
            col(IdentityRequest.state) == RequestState.OPEN.value,
        )
    ).first()
    assert found is not None  # the insert conflicted with it
    return found


def _close(db: Session, where: Sequence[Any], now: datetime, **values: Any) -> list[int]:
    """Close the open requests ``where`` selects; the ids of those this call closed."""
    result = cast(
        CursorResult[Any],
        db.execute(
            update(IdentityRequest)
            .where(col(IdentityRequest.state) == RequestState.OPEN.value, *where)
            .values(closed_at=now, **values)
            .returning(col(IdentityRequest.id))
            .execution_options(synchronize_session=False)
        ),
    )
    closed = sorted(int(i) for i in result.scalars())
    for request_id in closed:  # the session's copies were read before the UPDATE
        found = db.get(IdentityRequest, request_id)
        if found is not None:
            db.refresh(found)
    return closed


def withdraw(db: Session, person: User, request: IdentityRequest, now: datetime) -> bool:
    """The person takes back their own open request (audited); False when it was no longer
    open (fulfilled or withdrawn meanwhile: nothing changes)."""
    if request.requester_id != person.id:
        raise ChecklistError("user", "not_requester", "only the person who asked withdraws")
    closed = _close(
        db, [col(IdentityRequest.id) == request.id], now, state=RequestState.WITHDRAWN.value
    )
    for request_id in closed:
        audit.record(
            db,
            "identity.request_withdrawn",
            subject=("user", request.requester_id),
            data={"request": request_id, "country": request.country},
        )
    return bool(closed)


def fulfil(db: Session, verification: IdentityVerification, now: datetime) -> list[int]:
    """Close the person's open request for the verification's country as fulfilled by it
    (audited); the ids closed."""
    closed = _close(
        db,
        [
            col(IdentityRequest.requester_id) == verification.user_id,
            col(IdentityRequest.country) == verification.issuing_country,
        ],
        now,
        state=RequestState.FULFILLED.value,
        fulfilled_by=verification.id,
    )
    for request_id in closed:
        audit.record(
            db,
            "identity.request_fulfilled",
            subject=("user", verification.user_id),
            data={
                "request": request_id,
                "country": verification.issuing_country,
                "verification": verification.id,
            },
        )
    return closed


def close_for_erasure(db: Session, person_id: int, now: datetime) -> None:
    """An erased person's open requests end as withdrawn, and every note of theirs goes."""
    _close(
        db,
        [col(IdentityRequest.requester_id) == person_id],
        now,
        state=RequestState.WITHDRAWN.value,
    )
    db.execute(
        update(IdentityRequest)
        .where(col(IdentityRequest.requester_id) == person_id)
        .values(note=None)
        .execution_options(synchronize_session=False)
    )


def of_person(db: Session, person: User, limit: int = 50) -> Sequence[IdentityRequest]:
    """The person's requests, the newest first."""
    return db.scalars(
        select(IdentityRequest)
        .where(col(IdentityRequest.requester_id) == person.id)
        .order_by(col(IdentityRequest.id).desc())
        .limit(limit)
    ).all()


def open_requests(db: Session, *, besides: int | None = None) -> list[tuple[IdentityRequest, User]]:
    """Open requests of active people, the oldest first, with who asked (without ``besides``:
    a reviewer is never shown a request of their own)."""
    query = (
        select(IdentityRequest, User)
        .join(User, col(User.id) == col(IdentityRequest.requester_id))
        .where(
            col(IdentityRequest.state) == RequestState.OPEN.value,
            col(User.active).is_(True),
            col(User.erased_at).is_(None),
        )
        .order_by(col(IdentityRequest.created_at), col(IdentityRequest.id))
    )
    if besides is not None:
        query = query.where(col(IdentityRequest.requester_id) != besides)
    return [(r, u) for r, u in db.execute(query).all()]


@dataclass(frozen=True)
class Ask:
    """A country of the ad without a valid verification, and the open request for it."""

    country: str
    request: IdentityRequest | None


def for_checklist(db: Session, checklist: Checklist, now: datetime) -> list[Ask]:
    """What the checklist page offers its owner: a request per target country that has no
    valid verification (none while the ad cannot be edited)."""
    owner = db.get(User, checklist.owner_id)
    if owner is None or owner.role != Role.MANAGER or not editable(checklist.state):
        return []
    countries = [c for c in checklist.countries if c in askable()]
    missing = [c for c in countries if not _valid_verification(db, owner, c, now.date())]
    if not missing:
        return []
    asked = {r.country: r for r in of_person(db, owner) if r.state == RequestState.OPEN}
    return [Ask(c, asked.get(c)) for c in sorted(set(missing))]


def waiting_drafts(items: Iterable[tuple[int, Iterable[str]]]) -> dict[tuple[int, str], int]:
    """How many drafts wait for each (owner, country): from (owner id, countries) pairs."""
    counts: dict[tuple[int, str], int] = {}
    for owner_id, countries in items:
        for country in countries:
            counts[(owner_id, country)] = counts.get((owner_id, country), 0) + 1
    return counts
