"""Between the database and ``workflows``: build the checks' context, evaluate, fire events.

Every state change of a checklist goes through ``transition``: the machine decides,
the checklist row changes (and the status of the submission it moves, which follows from
the outcome: ``workflows.machine.submission_status``), and the audit event is written in the
same transaction.
A refused transition is audited as deferred event, so its record survives the
request's rollback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import current_app, has_request_context
from sqlalchemy import select
from sqlmodel import Session, col

from app import audit
from app.admin.ad_accounts import standing_facts, standing_facts_of
from app.checklists import images
from app.models import AdAccount, Checklist, IdentityVerification, Role, Submission, User
from workflows.checks import (
    Ad,
    Approval,
    CheckContext,
    CheckResult,
    Classification,
    Standing,
    evaluate_all,
)
from workflows.checks import IdentityVerification as Identity
from workflows.delivery import Budget, BudgetType, Placement, Schedule
from workflows.machine import (
    Event,
    Outcome,
    Party,
    TransitionRefused,
    fire,
    submission_status,
)


def ad_of(checklist: Checklist, image_sha256: str | None = None) -> Ad:
    """The checklist's ad as the workflow sees it (``image_sha256``: its image's, if any)."""
    return Ad(
        page_id=checklist.page_id,
        ad_account_id=checklist.ad_account_id,
        message=checklist.message,
        headline=checklist.headline,
        link_url=checklist.link_url,
        countries=tuple(checklist.countries),
        paid_for_by=checklist.paid_for_by,
        dsa_payor=checklist.dsa_payor,
        dsa_beneficiary=checklist.dsa_beneficiary,
        budget=Budget(BudgetType(checklist.budget_type), checklist.budget_amount),
        schedule=Schedule(checklist.start_time, checklist.end_time),
        placements=tuple(Placement(p) for p in checklist.placements),
        image_sha256=image_sha256,
    )


def image_sha256(db: Session, checklist: Checklist) -> str | None:
    """The SHA-256 of the checklist's image (read without its bytes), or None."""
    found = images.meta(db, checklist.image_id)
    return found.sha256 if found is not None else None


def classification_of(checklist: Checklist) -> Classification | None:
    """The checklist's classification, or None before it is classified."""
    if checklist.category is None:
        return None
    return Classification(
        category=checklist.category,
        social_issues=tuple(checklist.social_issues),
        digitally_created_media=checklist.digitally_created_media,
        justification=checklist.justification,
        flagged=checklist.flagged,
        signed_off_by=checklist.signed_off_by,
    )


def context_for(
    db: Session, checklist: Checklist, now: datetime, *, submitted_hash: str | None = None
) -> CheckContext:
    """Everything the checks need, read now (2FA, identities, the ad account, the approval);
    ``submitted_hash``: the submission's, when the worker checks before sending."""
    owner = db.get(User, checklist.owner_id)
    assert owner is not None
    identities = db.scalars(
        select(IdentityVerification).where(
            col(IdentityVerification.user_id) == checklist.owner_id,
            col(IdentityVerification.revoked_at).is_(None),
        )
    ).all()
    account = db.get(AdAccount, checklist.ad_account_id)
    facts = standing_facts(db, account.id) if account is not None else None
    return _context(
        checklist, now, owner, identities, account, facts, image_sha256(db, checklist),
        submitted_hash=submitted_hash,
    )  # fmt: skip


def contexts_for(
    db: Session, checklists: Sequence[Checklist], now: datetime
) -> dict[int, CheckContext]:
    """``context_for`` of many checklists by id, in a fixed number of queries (not one round
    per checklist): for lists and counts of what waits for whom."""
    if not checklists:
        return {}
    owner_ids = {c.owner_id for c in checklists}
    owners = {u.id: u for u in db.scalars(select(User).where(col(User.id).in_(owner_ids)))}
    identities: dict[int, list[IdentityVerification]] = {i: [] for i in owner_ids}
    for v in db.scalars(
        select(IdentityVerification).where(
            col(IdentityVerification.user_id).in_(owner_ids),
            col(IdentityVerification.revoked_at).is_(None),
        )
    ):
        identities[v.user_id].append(v)
    account_ids = sorted({c.ad_account_id for c in checklists})
    accounts = {
        a.id: a for a in db.scalars(select(AdAccount).where(col(AdAccount.id).in_(account_ids)))
    }
    facts = standing_facts_of(db, list(accounts))
    hashes = images.sha256_of(db, {c.image_id for c in checklists if c.image_id is not None})
    found = {}
    for c in checklists:
        account = accounts.get(c.ad_account_id)
        found[_id(c)] = _context(
            c, now, owners[c.owner_id], identities[c.owner_id], account,
            facts.get(account.id) if account is not None else None,
            hashes.get(c.image_id) if c.image_id is not None else None,
        )  # fmt: skip
    return found


def _context(
    checklist: Checklist,
    now: datetime,
    owner: User,
    identities: Sequence[IdentityVerification],
    account: AdAccount | None,
    facts: tuple[frozenset[str], Mapping[str, frozenset[str]]] | None,
    image_hash: str | None,
    *,
    submitted_hash: str | None = None,
) -> CheckContext:
    standing = Standing(registered=False)
    if account is not None and facts is not None:
        authorized, disclaimers = facts
        standing = Standing(
            registered=True,
            page_id=account.page_id,
            political_eligible=account.political_eligible,
            violations=account.violations,
            currency=account.currency,
            authorized=authorized,
            disclaimers=disclaimers,
            meta_page_authorized=account.meta_page_authorized,
            meta_min_daily_budget=account.meta_min_daily_budget,
        )
    approval = (
        Approval(checklist.approved_by, checklist.approved_hash)
        if checklist.approved_by is not None and checklist.approved_hash is not None
        else None
    )
    return CheckContext(
        now=now,
        owner_id=checklist.owner_id,
        ad=ad_of(checklist, image_hash),
        owner_totp_enabled=owner.totp_enabled and owner.active,
        facebook_2fa_attested=checklist.facebook_2fa_attested_at is not None,
        identities=tuple(
            Identity(v.document_type, v.issuing_country, v.expires_on, v.verified_by)
            for v in identities
        ),
        classification=classification_of(checklist),
        standing=standing,
        approval=approval,
        four_eyes=bool(current_app.config["FOUR_EYES"]),
        submitted_hash=submitted_hash,
    )


def evaluate(db: Session, checklist: Checklist, now: datetime) -> tuple[CheckResult, ...]:
    """Every check of the checklist, evaluated live."""
    return evaluate_all(context_for(db, checklist, now))


def parties(user: User | None, checklist: Checklist) -> frozenset[Party]:
    """The parts ``user`` plays for ``checklist`` (None: the worker)."""
    if user is None:
        return frozenset({Party.WORKER})
    played = set()
    if user.id == checklist.owner_id:
        played.add(Party.OWNER)
    elif user.role == Role.REVIEWER:
        played.add(Party.REVIEWER)
    if user.role == Role.ADMIN:
        played.add(Party.ADMIN)
    return frozenset(played)


def transition(
    db: Session,
    checklist: Checklist,
    event: Event,
    user: User | None,
    now: datetime,
    *,
    data: Mapping[str, Any] | None = None,
    checks: Sequence[CheckResult] | None = None,
    attempts_left: int = 0,
    actor: audit.Actor | None = None,
    submission: Submission | None = None,
) -> Outcome:
    """Fire ``event``; on success move the checklist (and ``submission``, the one the event
    moves with it) and audit it, on refusal audit why."""
    if checks is None:
        checks = evaluate(db, checklist, now)
    state = checklist.state
    try:
        outcome = fire(state, event, parties(user, checklist), checks, attempts_left)
    except TransitionRefused as refused:
        record_refusal(checklist, refused)
        raise
    checklist.state = outcome.target
    touch(db, checklist, now)
    if submission is not None:
        submission.status = submission_status(outcome)
        submission.updated_at = now
        db.add(submission)
    payload: dict[str, Any] = {"from": state.value, "to": outcome.target.value, **(data or {})}
    if outcome.blocked:
        payload["blocked"] = [u.__dict__ for u in outcome.blocked]
    kind = f"checklist.{event.value}" + ("_blocked" if outcome.blocked else "")
    audit.record(db, kind, subject=("checklist", _id(checklist)), data=payload, actor=actor)
    return outcome


def record_refusal(checklist: Checklist, refused: TransitionRefused) -> None:
    """Audit a refused transition with every unmet step (outliving the request's rollback)."""
    data = {
        "event": refused.event.value,
        "state": refused.state.value,
        "unmet": [{"step": u.step, "code": u.code} for u in refused.unmet],
    }
    subject = ("checklist", _id(checklist))
    if has_request_context():
        audit.defer("checklist.refused", subject=subject, data=data)


def touch(db: Session, checklist: Checklist, now: datetime) -> None:
    """Count a change: a new version, a new time."""
    checklist.version += 1
    checklist.updated_at = now
    db.add(checklist)
    db.flush()


def _id(checklist: Checklist) -> int:
    assert checklist.id is not None
    return checklist.id
