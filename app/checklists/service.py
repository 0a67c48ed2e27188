"""What ad managers do to a checklist: create, edit, classify, attest, submit, withdraw.

Each operation loads nothing itself, changes the rows, flushes and writes its audit
events; the request (or the API call) commits once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from app import audit, inputs, notifications
from app.checklists import gate
from app.checklists.adinput import AdInput as AdInput
from app.checklists.adinput import ChecklistError as ChecklistError
from app.checklists.adinput import problems as problems
from app.checklists.adinput import refuse as refuse
from app.models import Checklist, Submission, User
from app.submissions import cleanup
from app.suggester import get_suggester
from workflows.checks import (
    SOCIAL_ISSUES,
    Category,
    CheckResult,
    evaluate_all,
    voids_classification,
)
from workflows.classify.suggester import Suggestion
from workflows.machine import Event, State, editable

# The fields of the ad; all but the title are part of what is sent to Meta.
AD_FIELDS = (
    "page_id",
    "ad_account_id",
    "message",
    "headline",
    "link_url",
    "countries",
    "paid_for_by",
    "dsa_payor",
    "dsa_beneficiary",
    "budget_type",
    "budget_amount",
    "start_time",
    "end_time",
    "placements",
    "image_id",
)
FIELDS = ("title", *AD_FIELDS)


class Conflict(Exception):
    """The checklist changed since the caller read it (a stale version)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the checklist is at version {current_version}")
        self.current_version = current_version


def _logged(field: str, value: Any) -> Any:
    """A stored value as the audit log keeps it: times as ISO 8601, and a change of the
    countries as the text "CH,LI" that the log has recorded since the first edit (stored
    as a list since 0014; the log's readers keep meeting one form)."""
    if field == "countries":
        return ",".join(value)
    return value.isoformat() if isinstance(value, datetime) else value


def create(
    db: Session, owner: User, ad: AdInput, now: datetime, *, duplicated_from: int | None = None
) -> Checklist:
    """A new checklist in draft (``duplicated_from``: the ad whose content it copies)."""
    values, found = problems(db, _uid(owner), ad)
    refuse(found)
    checklist = Checklist(
        owner_id=_uid(owner), state=State.DRAFT, created_at=now, updated_at=now, **values
    )
    db.add(checklist)
    db.flush()
    audit.record(
        db,
        "checklist.created",
        subject=("checklist", _cid(checklist)),
        data={
            "version": checklist.version,
            "countries": checklist.countries,
            "delivery": {
                f: _logged(f, values[f])
                for f in ("budget_type", "budget_amount", "start_time", "end_time", "placements")
            },
            "image_id": values["image_id"],
            **({"duplicated_from": duplicated_from} if duplicated_from is not None else {}),
        },
    )
    return checklist


def duplicate(db: Session, source: Checklist, owner: User, now: datetime) -> Checklist:
    """A new draft with ``source``'s content (its ad and title), and nothing of its steps:
    no classification, attestation, sign-off, approval or submission. Refused like a new
    ad when the content no longer passes (an ad account deregistered meanwhile)."""
    if source.owner_id != _uid(owner):
        raise ChecklistError("checklist", "not_owner", "only the owner can duplicate an ad")
    ad = AdInput(
        **{f: getattr(source, f) for f in FIELDS if f != "countries"},
        countries=list(source.countries),
    )
    return create(db, owner, ad, now, duplicated_from=_cid(source))


def edit(
    db: Session, checklist: Checklist, user: User, ad: AdInput, version: int, now: datetime
) -> tuple[list[str], list[str]]:
    """Change the ad; returns the changed fields and what the change voided.

    A change of what the classification judges voids it (``voids_classification``), any
    change voids the approval; a change of the ad (not of its title) counts as a new
    content version; checks that change outcome are audited.
    """
    expect_version(checklist, version)
    values, found = problems(db, checklist.owner_id, ad, checklist)
    refuse(found)
    changed = {
        f: (getattr(checklist, f), v) for f, v in values.items() if getattr(checklist, f) != v
    }
    if not changed:
        return [], []
    before = gate.evaluate(db, checklist, now)
    ad_before = gate.ad_of(checklist, gate.image_sha256(db, checklist))
    voided = []
    for field_name, (_, new) in changed.items():
        setattr(checklist, field_name, new)
    ad_after = gate.ad_of(checklist, gate.image_sha256(db, checklist))
    if checklist.category is not None and voids_classification(ad_before, ad_after):
        _clear_classification(checklist)
        voided.append("classification")
    if any(f in AD_FIELDS for f in changed):
        checklist.content_version += 1
    _fire_edit(
        db,
        checklist,
        user,
        now,
        before,
        voided,
        {
            "changed": {
                f: {"before": _logged(f, old), "after": _logged(f, new)}
                for f, (old, new) in changed.items()
            },
            "content_version": checklist.content_version,
        },
    )
    return list(changed), voided


def suggestion(checklist: Checklist) -> Suggestion:
    """adgate's classification suggestion for the ad's text, with the words behind it."""
    return get_suggester().suggest(f"{checklist.headline}\n{checklist.message}")


def classify(
    db: Session,
    checklist: Checklist,
    user: User,
    *,
    category: Category,
    social_issues: Sequence[str],
    digitally_created_media: bool,
    justification: str | None,
    suggestion: Suggestion,
    version: int,
    now: datetime,
) -> None:
    """Record the ad manager's classification next to adgate's suggestion."""
    expect_version(checklist, version)
    unknown = sorted(set(social_issues) - set(SOCIAL_ISSUES))
    if unknown:
        raise ChecklistError("social_issues", "topic_unknown", f"unknown topics: {unknown}")
    if category is not Category.SOCIAL_ISSUE:
        social_issues = ()
    before = gate.evaluate(db, checklist, now)
    checklist.category = category
    checklist.social_issues = list(social_issues)
    checklist.digitally_created_media = digitally_created_media
    checklist.justification = (justification or "").strip() or None
    checklist.suggested_probability = round(suggestion.probability, 4)
    # The suggester says political, the ad manager says NONE: a reviewer must sign off.
    checklist.flagged = category is Category.NONE and suggestion.label == "political"
    checklist.signed_off_by = None
    classified = {
        "category": category.value,
        "social_issues": list(social_issues),
        "digitally_created_media": digitally_created_media,
        "justified": checklist.justification is not None,
        "suggested_probability": checklist.suggested_probability,
        "suggested_terms": list(suggestion.terms),
        "flagged": checklist.flagged,
    }
    _fire_edit(db, checklist, user, now, before, [], {"classified": classified})


def attest_facebook_2fa(
    db: Session, checklist: Checklist, user: User, wording: str, now: datetime
) -> None:
    """The owner declares that 2FA is on for the Facebook account used for ads."""
    if user.id != checklist.owner_id:
        raise ChecklistError("attestation", "not_owner", "only the owner can attest")
    if not editable(checklist.state):
        raise ChecklistError("attestation", "not_editable", f"the ad is {checklist.state}")
    before = gate.evaluate(db, checklist, now)
    checklist.facebook_2fa_attested_at = now
    checklist.facebook_2fa_attestation = wording
    gate.touch(db, checklist, now)
    audit.record(
        db, "checklist.attested", subject=("checklist", _cid(checklist)), data={"wording": wording}
    )
    _audit_changed_checks(db, checklist, before, now)


def submit(db: Session, checklist: Checklist, user: User | None, now: datetime) -> Submission:
    """Queue the checklist for sending if every check passes now (else TransitionRefused)."""
    context = gate.context_for(db, checklist, now)
    content = context.content_hash
    submission = Submission(checklist_id=_cid(checklist), content_hash=content, created_at=now)
    gate.transition(
        db, checklist, Event.SUBMIT, user, now, checks=evaluate_all(context), submission=submission
    )
    db.flush()
    audit.record(
        db,
        "submission.queued",
        subject=("submission", submission.id or 0),
        data={"checklist": _cid(checklist), "content_hash": content},
    )
    return submission


def withdraw(
    db: Session, checklist: Checklist, user: User, now: datetime, reason: str | None = None
) -> None:
    """Stop the ad before Meta has it, for ``reason`` (audited); a queued or held submission
    is withdrawn with it, and whatever an attempt already created at Meta is removed by the
    worker."""
    reason = (reason or "").strip() or None
    if reason is not None and not inputs.valid("reason", reason):
        raise ChecklistError("reason", "reason_invalid", "the reason is not valid text")
    # At most one: a checklist is queued or held with the submission that took it there.
    waiting = db.scalars(
        select(Submission).where(
            col(Submission.checklist_id) == _cid(checklist),
            col(Submission.status).in_([State.QUEUED, State.HELD]),
        )
    ).first()
    gate.transition(
        db, checklist, Event.WITHDRAW, user, now, submission=waiting,
        data={"reason": reason} if reason else None,
    )  # fmt: skip
    if waiting is not None:
        cleanup.mark_if_needed(db, waiting, "withdrawn")


def activate(db: Session, checklist: Checklist, user: User | None, now: datetime) -> Submission:
    """Start a Meta-approved ad: every check runs again; the worker sets it ACTIVE at Meta."""
    return _change_at_meta(db, checklist, user, now, Event.ACTIVATE, "ACTIVE")


def pause(db: Session, checklist: Checklist, user: User | None, now: datetime) -> Submission:
    """Pause a running ad: the worker sets it PAUSED at Meta."""
    return _change_at_meta(db, checklist, user, now, Event.PAUSE, "PAUSED")


def _change_at_meta(
    db: Session, checklist: Checklist, user: User | None, now: datetime, event: Event, status: str
) -> Submission:
    submission = latest_submission(db, checklist)
    gate.transition(db, checklist, event, user, now, submission=submission)
    assert submission is not None  # the table allows these events only once Meta has the ad
    submission.status_change = status
    submission.next_attempt_at = None
    db.add(submission)
    return submission


def resume(db: Session, checklist: Checklist, user: User | None, now: datetime) -> Submission:
    """Try a held submission again after a person looked (the checks run again at sending)."""
    submission = latest_submission(db, checklist)
    gate.transition(db, checklist, Event.RESUME, user, now, checks=(), submission=submission)
    assert submission is not None
    submission.next_attempt_at = now
    submission.claimed_by = None
    db.add(submission)
    return submission


def latest_submission(db: Session, checklist: Checklist) -> Submission | None:
    """The newest submission of the checklist, if any."""
    return db.scalars(
        select(Submission)
        .where(col(Submission.checklist_id) == _cid(checklist))
        .order_by(col(Submission.id).desc())
    ).first()


def _fire_edit(
    db: Session,
    checklist: Checklist,
    user: User,
    now: datetime,
    before: Sequence[CheckResult],
    voided: list[str],
    data: Mapping[str, Any],
) -> None:
    """The edit transition shared by editing and classifying: any edit voids the approval."""
    if checklist.approved_by is not None:
        _clear_approval(checklist)
        voided.append("approval")
    gate.transition(
        db, checklist, Event.EDIT, user, now, checks=before, data={**data, "voided": voided}
    )
    _audit_changed_checks(db, checklist, before, now)


def expect_version(checklist: Checklist, version: int | None) -> None:
    """Refuse a change based on another version than the checklist's (``Conflict``)."""
    if version != checklist.version:
        raise Conflict(checklist.version)


def _clear_classification(checklist: Checklist) -> None:
    checklist.category = None
    checklist.social_issues = []
    checklist.digitally_created_media = False
    checklist.justification = None
    checklist.suggested_probability = None
    checklist.flagged = False
    checklist.signed_off_by = None


def _clear_approval(checklist: Checklist) -> None:
    checklist.approved_by = None
    checklist.approved_hash = None
    checklist.approved_at = None


def _audit_changed_checks(
    db: Session, checklist: Checklist, before: Sequence[CheckResult], now: datetime
) -> None:
    after = {r.name: r for r in gate.evaluate(db, checklist, now)}
    changes: list[Mapping[str, Any]] = [
        {"check": b.name, "from": b.status.value, "to": after[b.name].status.value,
         "code": after[b.name].code}
        for b in before
        if after[b.name].status is not b.status
    ]  # fmt: skip
    if changes:
        audit.record(
            db,
            "checklist.checks_changed",
            subject=("checklist", _cid(checklist)),
            data={"changes": changes},
        )
    # The reviewers hear of it when this change left only the approval to do.
    notifications.ready_for_approval(db, checklist, now)


def _uid(user: User) -> int:
    assert user.id is not None
    return user.id


def _cid(checklist: Checklist) -> int:
    assert checklist.id is not None
    return checklist.id
