"""What reviewers do: verify identities (and revoke them), approve ads, sign off classifications."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from app import audit, notifications
from app.auth.accounts import awaits_confirmation
from app.checklists import gate
from app.checklists.service import ChecklistError, expect_version
from app.models import Checklist, IdentityVerification, Role, User
from app.reviews import requests
from workflows import policy
from workflows.checks import DOCUMENT_TYPES, Category
from workflows.machine import Event, State, editable

UNCONFIRMED = "a second person has not confirmed this account yet"


def _confirmed(reviewer: User, field: str) -> None:
    """Refuse a reviewer whom no second person confirmed: one admin alone made them."""
    if awaits_confirmation(reviewer):
        raise ChecklistError(field, "unconfirmed", UNCONFIRMED)


def verify_identity(
    db: Session,
    reviewer: User,
    person: User,
    *,
    document_type: str,
    issuing_country: str,
    expires_on: date,
    now: datetime,
) -> IdentityVerification:
    """Record that ``reviewer`` saw ``person``'s valid document (type, country, expiry only)."""
    if reviewer.id == person.id:
        raise ChecklistError("user", "self_verification", "a reviewer cannot verify themself")
    if reviewer.role != Role.REVIEWER:
        raise ChecklistError("user", "not_reviewer", "only reviewers verify identities")
    _confirmed(reviewer, "user")
    if document_type not in DOCUMENT_TYPES:
        raise ChecklistError("document_type", "document_type_unknown", "unknown document type")
    try:
        country = policy.check_country(issuing_country.strip().upper())
    except policy.InvalidCountry as exc:
        raise ChecklistError("issuing_country", "country_invalid", str(exc)) from exc
    if expires_on < now.date():
        raise ChecklistError("expires_on", "expired", "the document has expired already")
    assert person.id is not None
    assert reviewer.id is not None
    verification = IdentityVerification(
        user_id=person.id,
        document_type=document_type,
        issuing_country=country,
        expires_on=expires_on,
        verified_by=reviewer.id,
        verified_at=now,
    )
    db.add(verification)
    db.flush()
    audit.record(
        db,
        "identity.verified",
        subject=("user", person.id),
        # The document's details stay in the verification's row, which erasure can reach;
        # the chained event refers to it.
        data={"verification": verification.id},
    )
    # The person's open request for this country is answered by it.
    requests.fulfil(db, verification, now)
    # The person's drafts that waited only for this now wait for the approval.
    for draft in db.scalars(
        select(Checklist).where(
            col(Checklist.owner_id) == person.id, col(Checklist.state) == State.DRAFT.value
        )
    ):
        notifications.ready_for_approval(db, draft, now)
    return verification


def revoke_identity(
    db: Session, reviewer: User, verification: IdentityVerification, now: datetime
) -> None:
    """Withdraw a verification (a document reported lost, a mistake); the identity check fails."""
    if reviewer.role != Role.REVIEWER:
        raise ChecklistError("user", "not_reviewer", "only reviewers revoke verifications")
    _confirmed(reviewer, "user")
    if verification.revoked_at is not None:
        return
    verification.revoked_at = now
    verification.revoked_by = reviewer.id
    db.add(verification)
    audit.record(
        db,
        "identity.revoked",
        subject=("user", verification.user_id),
        data={"verification": verification.id},
    )


def approve(
    db: Session, checklist: Checklist, reviewer: User, now: datetime, *, version: int
) -> None:
    """Four-eyes approval of exactly the content the reviewer saw: ``version`` is the one
    shown to them (stale: ``Conflict``, nothing approved); the machine checks the rest."""
    if reviewer.role != Role.REVIEWER:
        # The machine refuses it too (only the reviewer party approves); said here as well so
        # that no other path can make an admin approve.
        raise ChecklistError("approval", "not_reviewer", "only reviewers approve")
    _confirmed(reviewer, "approval")
    expect_version(checklist, version)
    context = gate.context_for(db, checklist, now)
    gate.transition(
        db,
        checklist,
        Event.APPROVE,
        reviewer,
        now,
        data={"content_hash": context.content_hash},
    )
    checklist.approved_by = reviewer.id
    checklist.approved_hash = context.content_hash
    checklist.approved_at = now
    db.add(checklist)
    db.flush()
    notifications.approved(db, checklist)


def sign_off_classification(
    db: Session, checklist: Checklist, reviewer: User, now: datetime
) -> None:
    """Accept the justification of a NONE that the suggester found political."""
    if reviewer.id == checklist.owner_id or reviewer.role != Role.REVIEWER:
        raise ChecklistError(
            "classification", "not_reviewer", "another person, a reviewer, signs off"
        )
    _confirmed(reviewer, "classification")
    if checklist.category != Category.NONE or not checklist.flagged:
        raise ChecklistError("classification", "nothing_to_sign", "no flagged NONE to sign off")
    if not checklist.justification:
        raise ChecklistError("classification", "justification_missing", "no justification yet")
    if not editable(checklist.state):
        raise ChecklistError("classification", "not_editable", f"the ad is {checklist.state}")
    checklist.signed_off_by = reviewer.id
    gate.touch(db, checklist, now)
    audit.record(
        db,
        "checklist.classification_signed_off",
        subject=("checklist", checklist.id or 0),
        data={"justification": checklist.justification},
    )
    notifications.ready_for_approval(db, checklist, now)
