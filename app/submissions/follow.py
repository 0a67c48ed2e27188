"""Following an ad at Meta after it was created: its review and delivery, starting and pausing.

What Meta reports moves the checklist through the table (``workflows.machine.meta_event``):
in review, approved and paused, delivering, paused again, delivery issues (no violation),
billing blocked, disapproved (a violation), removed. Meta's own texts (review feedback,
``issues_info``) are kept as Meta wrote them.

Reading stays within Meta's budget: many ads in one call (``Gateway.read_ads``), each ad
read again only after a pause that doubles while nothing changes (``REVIEW_POLL_SECONDS`` up
to ``REVIEW_POLL_MAX_SECONDS``), and a failed read moves the next one later, never sooner.
A webhook from Meta only makes an ad due at once; what it says is read from Meta itself.
Taking the due ads moves their next read forward in the same transaction, so that two
workers never read one ad twice.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import or_, select
from sqlmodel import Session, col

from app import audit, notifications
from app.checklists import gate
from app.db import is_sqlite, transaction
from app.meta import throttle
from app.meta.gateway import AdStatus, MetaError
from app.models import AdAccount, Checklist, Submission, utcnow
from app.submissions import WORKER, claims
from workflows.machine import AT_META, Event, State, meta_event

if TYPE_CHECKING:
    from app.submissions.worker import Worker

log = logging.getLogger(__name__)
# How many ads one round reads at most.
BATCH = 200
# The order in which a status is set on the objects: a campaign is started first and
# paused last, so that nothing runs under a parent that is not yet (or no longer) set.
START_ORDER = ("campaign", "adset", "ad")
FOLLOWED = frozenset(AT_META)


def first_read(config: Mapping[str, Any]) -> timedelta:
    """How long after a change Meta is asked again."""
    return timedelta(seconds=float(config["REVIEW_POLL_SECONDS"]))


def _longer(interval: float | None, config: Mapping[str, Any]) -> float:
    shortest = float(config["REVIEW_POLL_SECONDS"])
    return min(max(2 * (interval or shortest), shortest), float(config["REVIEW_POLL_MAX_SECONDS"]))


# --- reading Meta's status ---------------------------------------------------------------


def poll_reviews(worker: Worker) -> int:
    """Read the due ads' status from Meta, many per call; returns how many moved."""
    busy = worker.busy_accounts()
    if throttle.APP in busy:
        return 0
    taken = _take_due(utcnow(), busy)
    moved = 0
    for account_id, ads in taken.items():
        try:
            found = worker.gateway.read_ads([ad_id for ad_id, _ in ads])
        except MetaError as error:
            log.warning("reading %d ads of %s failed: %s", len(ads), account_id, error.message)
            _read_failed(ads, account_id, error)
            continue
        finally:
            worker.record_usage()
        for ad_id, submission_id in ads:
            status = found.get(ad_id)
            if status is not None:
                moved += record_status(submission_id, status)
    return moved


def _take_due(now: datetime, busy: set[str]) -> dict[str, list[tuple[str, int]]]:
    """The ads due for a read, by ad account (throttled and ``busy`` accounts skipped); their
    next read is moved forward in the same transaction so that no other worker takes them."""
    config = current_app.config
    with transaction() as db:
        query = (
            select(Submission, Checklist.ad_account_id)  # type: ignore[call-overload]
            .join(Checklist, col(Checklist.id) == col(Submission.checklist_id))
            .outerjoin(AdAccount, col(AdAccount.id) == col(Checklist.ad_account_id))
            .where(
                col(Submission.status).in_(FOLLOWED),
                col(Submission.ad_id).is_not(None),
                col(Submission.status_change).is_(None),
                or_(
                    col(Submission.review_next_at).is_(None),
                    col(Submission.review_next_at) <= now,
                ),
                throttle.account_free(now),
                col(Checklist.ad_account_id).not_in(sorted(busy)),
            )
            .order_by(col(Submission.review_next_at))
            .limit(BATCH)
        )
        if not is_sqlite(db.get_bind().engine):
            query = query.with_for_update(of=Submission, skip_locked=True)
        taken: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for submission, account_id in db.execute(query).all():
            # A read in flight: if this worker dies, the ad is due again after the pause.
            submission.review_next_at = now + timedelta(
                seconds=submission.review_interval or float(config["REVIEW_POLL_SECONDS"])
            )
            db.add(submission)
            taken[account_id].append((str(submission.ad_id), submission.id))
    return taken


def _read_failed(ads: Sequence[tuple[str, int]], account_id: str, error: MetaError) -> None:
    """A failed read: the next one comes later (and after a throttle ends), never sooner."""
    now = utcnow()
    config = current_app.config
    with transaction() as db:
        wait = timedelta(seconds=float(config["REVIEW_POLL_SECONDS"]))
        until = (
            throttle.throttle_for(db, error, account_id, now, WORKER, wait)
            if error.rate_limited
            else None
        )
        for _, submission_id in ads:
            submission = db.get(Submission, submission_id)
            if submission is None:
                continue
            submission.review_interval = _longer(submission.review_interval, config)
            later = now + timedelta(seconds=submission.review_interval)
            submission.review_next_at = max(later, until) if until else later
            db.add(submission)


def record_status(submission_id: int, status: AdStatus) -> int:
    """Keep what Meta says of the ad and move the checklist if it means something new."""
    now = utcnow()
    config = current_app.config
    with transaction() as db:
        # Locked: two workers may record one status; the second then finds it recorded (on
        # SQLite the write lock does this).
        submission = db.get(Submission, submission_id, with_for_update=True)
        if submission is None or submission.status not in FOLLOWED:
            return 0
        changed = (
            status.effective_status != submission.effective_status
            or _issues(status) != submission.issues_info
        )
        submission.review_checked_at = now
        submission.effective_status = status.effective_status
        submission.issues_info = _issues(status)
        if status.feedback:
            submission.review_feedback = json.dumps(status.feedback, ensure_ascii=False)
        interval = (
            float(config["REVIEW_POLL_SECONDS"])
            if changed
            else _longer(submission.review_interval, config)
        )
        submission.review_interval = interval
        submission.review_next_at = now + timedelta(seconds=interval)
        submission.updated_at = now
        db.add(submission)
        event = meta_event(submission.status, status.effective_status)
        if event is None:
            return 0
        checklist = db.get(Checklist, submission.checklist_id)
        assert checklist is not None
        outcome = gate.transition(
            db,
            checklist,
            event,
            None,
            now,
            checks=(),
            data=_meta_data(status),
            actor=WORKER,
            submission=submission,
        )
        if event is Event.REVIEW_REJECT:
            record_violation(db, checklist.ad_account_id, submission_id)
        _tell_owner(db, checklist, event, outcome.source, submission_id, status)
        return 1


def _tell_owner(
    db: Session,
    checklist: Checklist,
    event: Event,
    source: State,
    submission_id: int,
    status: AdStatus,
) -> None:
    """Meta's decision, told to the owner: rejected, delivery issues, or approved (paused,
    or delivering straight from review)."""
    if event is Event.REVIEW_REJECT:
        outcome, said = "rejected", status.feedback
    elif event is Event.META_ISSUES:
        outcome = "issues"
        said = {"issues": [i.get("error_summary") or i.get("error_message") for i in status.issues]}
    elif event is Event.META_APPROVE or (event is Event.META_DELIVER and source is State.SUBMITTED):
        outcome, said = "approved", None
    else:
        return
    notifications.meta_outcome(db, checklist, outcome, submission_id=submission_id, feedback=said)


def _issues(status: AdStatus) -> str | None:
    return json.dumps(status.issues, ensure_ascii=False, sort_keys=True) if status.issues else None


def _meta_data(status: AdStatus) -> dict[str, Any]:
    data: dict[str, Any] = {"effective_status": status.effective_status}
    if status.feedback:
        data["feedback"] = status.feedback
    if status.issues:
        data["issues_info"] = status.issues
    return data


def record_violation(db: Session, ad_account_id: str, submission_id: int) -> None:
    """Count an ad Meta disapproved against its account; too many cost the eligibility."""
    account = db.get(AdAccount, ad_account_id)
    if account is None:
        return
    account.violations += 1
    audit.record(
        db,
        "ad_account.violation",
        subject=("ad_account", account.id),
        data={"submission": submission_id, "violations": account.violations},
        actor=WORKER,
    )
    if account.political_eligible and account.violations >= int(
        current_app.config["MAX_VIOLATIONS"]
    ):
        account.political_eligible = False
        audit.record(
            db,
            "ad_account.eligibility_lost",
            subject=("ad_account", account.id),
            data={"violations": account.violations},
            actor=WORKER,
        )
    db.add(account)


def read_soon(db: Session, ad_ids: Sequence[str], now: datetime) -> int:
    """Make these ads due for a read now (Meta's webhook said something changed)."""
    rows = db.scalars(
        select(Submission).where(
            col(Submission.ad_id).in_(list(ad_ids)), col(Submission.status).in_(FOLLOWED)
        )
    ).all()
    for submission in rows:
        submission.review_next_at = now
        submission.review_interval = None
        db.add(submission)
    return len(rows)


# --- starting and pausing ------------------------------------------------------------------


def change_statuses(worker: Worker) -> int:
    """Set at Meta the statuses people asked for (start: ACTIVE, pause: PAUSED)."""
    done = 0
    while (taken := _take_change(worker)) is not None:
        submission_id, status, ids = taken
        order = START_ORDER if status == "ACTIVE" else tuple(reversed(START_ORDER))
        try:
            for kind in order:
                if kind in ids:
                    worker.gateway.set_status(kind, ids[kind], status)
            read = worker.gateway.read_ads([ids["ad"]]).get(ids["ad"])
        except MetaError as error:
            worker.record_usage()
            _change_failed(worker, submission_id, error)
            continue
        worker.record_usage()
        _changed(worker, submission_id, status, read)
        done += 1
    return done


def _take_change(worker: Worker) -> tuple[int, str, dict[str, str]] | None:
    with transaction() as db:
        taken = claims.take(db, worker.name, col(Submission.status_change).is_not(None), utcnow())
        if taken is None:
            return None
        assert taken.id is not None
        return taken.id, str(taken.status_change), taken.object_ids()


def _changed(worker: Worker, submission_id: int, status: str, read: AdStatus | None) -> None:
    now = utcnow()
    with transaction() as db:
        submission = worker.held(db, submission_id)
        submission.status_change = None
        submission.lease_until = None
        submission.error = None
        submission.review_next_at = now + first_read(current_app.config)
        submission.review_interval = None
        db.add(submission)
        audit.record(
            db,
            "submission.status_set",
            subject=("submission", submission_id),
            data={"status": status, "ids": submission.object_ids()},
            actor=WORKER,
        )
    if read is not None:
        record_status(submission_id, read)


def _change_failed(worker: Worker, submission_id: int, error: MetaError) -> None:
    """A rate limit waits (the change stays asked for); anything else gives up, with Meta's
    answer shown, and the ad goes back to where it was."""
    now = utcnow()
    with transaction() as db:
        submission = worker.held(db, submission_id)
        checklist = db.get(Checklist, submission.checklist_id)
        assert checklist is not None
        submission.lease_until = None
        submission.error = json.dumps(error.as_dict())
        wait = timedelta(seconds=float(current_app.config["WORKER_LOOKUP_WAIT_SECONDS"]))
        if error.rate_limited:
            submission.next_attempt_at = throttle.throttle_for(
                db, error, checklist.ad_account_id, now, WORKER, wait
            )
            db.add(submission)
            return
        if error.transient:
            submission.next_attempt_at = now + wait
            db.add(submission)
            return
        event = (
            Event.ACTIVATION_FAILED if submission.status == State.ACTIVATING else Event.PAUSE_FAILED
        )
        gate.transition(
            db, checklist, event, None, now, checks=(), data={"error": error.as_dict()},
            actor=WORKER, submission=submission,
        )  # fmt: skip
        submission.status_change = None
        db.add(submission)
