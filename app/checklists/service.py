"""What ad managers do to a checklist: create, edit, classify, attest, submit, withdraw.

Each operation loads nothing itself, changes the rows, flushes and writes its audit
events; the request (or the API call) commits once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from app import audit, inputs
from app.checklists import gate
from app.models import AdImage, Checklist, Submission, User
from app.submissions import cleanup
from app.suggester import get_suggester
from workflows import delivery, policy
from workflows.checks import SOCIAL_ISSUES, Category, CheckResult, evaluate_all
from workflows.classify.suggester import Suggestion
from workflows.delivery import ALL_PLACEMENTS, Budget, BudgetType, Placement, Schedule
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
# How the ad is delivered: a change voids the approval, not the classification of its content.
DELIVERY_FIELDS = frozenset(
    {"budget_type", "budget_amount", "start_time", "end_time", "placements"}
)


class ChecklistError(ValueError):
    """Input a checklist cannot take; ``field`` names where, ``code`` is stable."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code


class Conflict(Exception):
    """The checklist changed since the caller read it (a stale version)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the checklist is at version {current_version}")
        self.current_version = current_version


@dataclass(frozen=True)
class AdInput:
    """A checklist's fields as entered (shape already checked by the form or the API model)."""

    title: str
    page_id: str
    ad_account_id: str
    message: str
    headline: str
    link_url: str
    countries: Sequence[str]
    paid_for_by: str = ""
    dsa_payor: str = ""
    dsa_beneficiary: str = ""
    budget_type: str = BudgetType.DAILY
    budget_amount: int = delivery.DEFAULT_DAILY_BUDGET
    start_time: datetime | None = None
    end_time: datetime | None = None
    placements: Sequence[str] = tuple(p.value for p in ALL_PLACEMENTS)
    image_id: int | None = None

    def values(self) -> dict[str, Any]:
        """The values as stored, with the rules the form cannot know checked."""
        countries = []
        for raw in self.countries:
            code = raw.strip().upper()
            try:
                countries.append(policy.check_country(code))
            except policy.InvalidCountry as exc:
                raise ChecklistError("countries", "country_invalid", str(exc)) from exc
        if not countries:
            raise ChecklistError("countries", "countries_missing", "choose at least one country")
        # ASCII digits only: str.isdigit() takes other scripts' digits too.
        if not inputs.valid("ad_account_id", self.ad_account_id):
            raise ChecklistError(
                "ad_account_id", "ad_account_invalid", "an ad account id looks like act_1234"
            )
        if not inputs.valid("page_id", self.page_id):
            raise ChecklistError("page_id", "page_invalid", "a page id is a number")
        if not self.link_url.startswith(("https://", "http://")):
            raise ChecklistError("link_url", "link_invalid", "the link must start with https://")
        budget, schedule, placements = self.delivery()
        for problem in delivery.shape_errors(budget, schedule, placements):
            raise ChecklistError(problem.field, problem.code, problem.detail)
        return {
            "title": self.title.strip(),
            "page_id": self.page_id,
            "ad_account_id": self.ad_account_id,
            "message": self.message.strip(),
            "headline": self.headline.strip(),
            "link_url": self.link_url.strip(),
            "countries": ",".join(sorted(dict.fromkeys(countries))),
            "paid_for_by": self.paid_for_by.strip(),
            "dsa_payor": self.dsa_payor.strip(),
            "dsa_beneficiary": self.dsa_beneficiary.strip(),
            "budget_type": budget.type,
            "budget_amount": budget.amount,
            "start_time": schedule.start,
            "end_time": schedule.end,
            # Stored in one order, so that the same choice never counts as a change.
            "placements": [p.value for p in ALL_PLACEMENTS if p in placements],
            "image_id": self.image_id,
        }

    def delivery(self) -> tuple[Budget, Schedule, tuple[Placement, ...]]:
        """Budget, schedule and placements as the workflow takes them (shape errors raised)."""
        try:
            budget_type = BudgetType(self.budget_type)
        except ValueError:
            raise ChecklistError(
                "budget_type", "budget_type_invalid", "the budget is daily or lifetime"
            ) from None
        try:
            placements = tuple(Placement(p) for p in self.placements)
        except ValueError:
            raise ChecklistError(
                "placements", "placement_invalid", "placements are facebook and instagram"
            ) from None
        if isinstance(self.budget_amount, bool) or not isinstance(self.budget_amount, int):
            raise ChecklistError("budget", "amount_invalid", "the budget is a whole amount")
        return (
            Budget(budget_type, self.budget_amount),
            Schedule(self.start_time, self.end_time),
            placements,
        )


def _check_image(db: Session, owner_id: int, image_id: int | None) -> None:
    """An ad may use only an image its owner uploaded."""
    if image_id is None:
        return
    image = db.get(AdImage, image_id)
    if image is None or image.owner_id != owner_id:
        raise ChecklistError("image", "image_unknown", f"there is no image {image_id} of yours")


def _logged(value: Any) -> Any:
    """A stored value as the audit log keeps it (times as ISO 8601)."""
    return value.isoformat() if isinstance(value, datetime) else value


def create(db: Session, owner: User, ad: AdInput, now: datetime) -> Checklist:
    """A new checklist in draft."""
    values = ad.values()
    _check_image(db, _uid(owner), values["image_id"])
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
            "countries": checklist.country_list,
            "delivery": {
                f: _logged(values[f])
                for f in ("budget_type", "budget_amount", "start_time", "end_time", "placements")
            },
            "image_id": values["image_id"],
        },
    )
    return checklist


def edit(
    db: Session, checklist: Checklist, user: User, ad: AdInput, version: int, now: datetime
) -> tuple[list[str], list[str]]:
    """Change the ad; returns the changed fields and what the change voided.

    A content change voids the classification (a change of budget, schedule or placements
    does not), any change voids the approval;
    checks that change outcome are audited.
    """
    expect_version(checklist, version)
    values = ad.values()
    if values["image_id"] != checklist.image_id:
        _check_image(db, checklist.owner_id, values["image_id"])
    changed = {
        f: (getattr(checklist, f), v) for f, v in values.items() if getattr(checklist, f) != v
    }
    if not changed:
        return [], []
    before = gate.evaluate(db, checklist, now)
    voided = []
    for field_name, (_, new) in changed.items():
        setattr(checklist, field_name, new)
    content_changed = any(f in AD_FIELDS and f not in DELIVERY_FIELDS for f in changed)
    if content_changed and checklist.category is not None:
        _clear_classification(checklist)
        voided.append("classification")
    _fire_edit(
        db,
        checklist,
        user,
        now,
        before,
        voided,
        {
            "changed": {
                f: {"before": _logged(old), "after": _logged(new)}
                for f, (old, new) in changed.items()
            }
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
    checklist.social_issues = ",".join(social_issues)
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


def withdraw(db: Session, checklist: Checklist, user: User, now: datetime) -> None:
    """Stop the ad before Meta has it; a queued or held submission is withdrawn with it, and
    whatever an attempt already created at Meta is removed by the worker."""
    # At most one: a checklist is queued or held with the submission that took it there.
    waiting = db.scalars(
        select(Submission).where(
            col(Submission.checklist_id) == _cid(checklist),
            col(Submission.status).in_([State.QUEUED, State.HELD]),
        )
    ).first()
    gate.transition(db, checklist, Event.WITHDRAW, user, now, submission=waiting)
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
    checklist.social_issues = ""
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


def _uid(user: User) -> int:
    assert user.id is not None
    return user.id


def _cid(checklist: Checklist) -> int:
    assert checklist.id is not None
    return checklist.id
