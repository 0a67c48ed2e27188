"""Nothing at Meta that adgate does not track.

A submission that was withdrawn, blocked by its checks or failed after it created something
at Meta — or while the answer to a create was lost — is marked for removal; the worker then
deletes what it created (newest first), looks up by name what it may have created, and
records what it removed. ``reconcile`` lists adgate's objects at Meta per registered ad
account (``flask meta reconcile``, and the worker once an hour): an object named for this
installation that no live submission tracks is deleted (or, if Meta refuses, paused) and
audited. Objects of another installation on the same account are counted, never touched.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select
from sqlmodel import Session, col

from app import audit
from app.db import transaction
from app.meta import throttle
from app.meta.gateway import NAME, MetaError, Named
from app.models import AdAccount, Checklist, Cleanup, Installation, Submission, utcnow
from app.submissions import WORKER, claims
from workflows.machine import State

if TYPE_CHECKING:
    from app.submissions.worker import Worker

log = logging.getLogger(__name__)
# Newest first: an ad before its creative and ad set, an ad set before its campaign. Images
# stay in the account's library (Meta refuses to delete one that a creative uses).
REMOVAL_ORDER = ("ad", "creative", "adset", "campaign")
# Submissions whose objects are Meta's business now or being made: reconciliation leaves them
# to the worker that holds them.
IN_FLIGHT = frozenset({State.QUEUED, State.SENDING})
OVER = frozenset({State.FAILED, State.WITHDRAWN})


def mark_if_needed(
    db: Session, submission: Submission, why: str, actor: audit.Actor | None = None
) -> bool:
    """Mark a submission that ends before Meta has its ad for removal, if anything of it may
    exist at Meta (an id recorded, or a create whose answer was lost)."""
    if not submission.object_ids() and submission.creating is None:
        return False
    submission.cleanup = Cleanup.PENDING
    submission.lookups = 0
    submission.next_attempt_at = None
    db.add(submission)
    audit.record(
        db,
        "submission.removal_started",
        subject=("submission", submission.id or 0),
        data={"why": why, "ids": submission.object_ids(), "creating": submission.creating},
        actor=actor,
    )
    return True


def clean_up(worker: Worker) -> int:
    """Remove at Meta what marked submissions left there; returns how many were finished."""
    done = 0
    while (taken := _take(worker)) is not None:
        if _remove(worker, taken):
            done += 1
    return done


def _take(worker: Worker) -> int | None:
    with transaction() as db:
        taken = claims.take(db, worker.name, col(Submission.cleanup) == Cleanup.PENDING, utcnow())
        return taken.id if taken is not None else None


def _remove(worker: Worker, submission_id: int) -> bool:
    """Delete the submission's objects; look up by name what a lost answer may have made
    (more than once, with waits, as when sending). True when nothing is left to do."""
    config = current_app.config
    with transaction(write=False) as db:
        submission = db.get(Submission, submission_id)
        assert submission is not None
        spec = worker.spec(db, submission)
        known, creating, lookups = submission.object_ids(), submission.creating, submission.lookups
    removed: dict[str, list[str]] = {}
    kept: dict[str, str] = {}
    try:
        for kind in REMOVAL_ORDER:
            ids = [known[kind]] if kind in known else []
            if kind == creating:
                ids += [n.id for n in worker.gateway.find(spec, kind) if n.id not in ids]
            for object_id in ids:
                if (action := remove_object(worker, kind, object_id)) != "deleted":
                    kept[object_id] = action
            if ids:
                removed[kind] = ids
    except MetaError as error:
        worker.record_usage()
        _failed(worker, submission_id, error)
        return False
    worker.record_usage()
    now = utcnow()
    look_again = creating is not None and lookups < int(config["WORKER_LOOKUPS"])
    with transaction() as db:
        submission = worker.held(db, submission_id)
        submission.lease_until = None
        if look_again:
            # Meta may still make what the lost answer was about: look once more, later.
            submission.lookups += 1
            wait = float(config["WORKER_LOOKUP_WAIT_SECONDS"]) * 2 ** (submission.lookups - 1)
            submission.next_attempt_at = now + timedelta(seconds=wait)
        else:
            submission.cleanup = Cleanup.DONE
            submission.cleaned_at = now
            submission.creating = None
        db.add(submission)
        if removed or not look_again:
            audit.record(
                db,
                "submission.objects_removed",
                subject=("submission", submission_id),
                data={"removed": removed, "finished": not look_again}
                | ({"not_deleted": kept} if kept else {}),
                actor=WORKER,
            )
    return not look_again


def _failed(worker: Worker, submission_id: int, error: MetaError) -> None:
    now = utcnow()
    with transaction() as db:
        submission = worker.held(db, submission_id)
        checklist = db.get(Checklist, submission.checklist_id)
        assert checklist is not None
        submission.lease_until = None
        wait = timedelta(seconds=float(current_app.config["WORKER_LOOKUP_WAIT_SECONDS"]))
        if error.rate_limited:
            until = throttle.throttle_for(db, error, checklist.ad_account_id, now, WORKER, wait)
        else:
            until = now + wait
        submission.next_attempt_at = until
        db.add(submission)
        audit.record(
            db,
            "submission.removal_failed",
            subject=("submission", submission_id),
            data={"error": error.as_dict(), "next": until.isoformat()},
            actor=WORKER,
        )


# --- reconciliation -------------------------------------------------------------------------


@dataclass
class Report:
    """What one reconciliation found at Meta."""

    accounts: list[str] = field(default_factory=list)
    tracked: int = 0
    untracked: list[dict[str, str]] = field(default_factory=list)
    other_installations: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)


def reconcile(worker: Worker) -> Report:
    """List adgate's objects at Meta per registered ad account; remove and audit those that no
    submission tracks (accounts that Meta throttles, or whose rate budget it lately said is
    mostly used, are skipped and named in the report)."""
    now = utcnow()
    report = Report()
    grace = timedelta(seconds=2 * float(current_app.config["WORKER_LEASE_SECONDS"]))
    with transaction(write=False) as db:
        installation = db.get(Installation, 1)
        assert installation is not None
        ours = installation.name
        throttled = throttle.throttled_accounts(db, now)
        accounts = list(db.scalars(select(col(AdAccount.id)).order_by(col(AdAccount.id))))
    busy = worker.busy_accounts()
    for account_id in accounts:
        if account_id in throttled or account_id in busy or throttle.APP in busy:
            report.skipped.append(account_id)
            continue
        report.accounts.append(account_id)
        try:
            found = [
                named
                for kind in REMOVAL_ORDER
                for named in worker.gateway.list_named(account_id, kind)
            ]
        except MetaError as error:
            log.warning("reconciling %s failed: %s", account_id, error.message)
            report.skipped.append(account_id)
            continue
        finally:
            worker.record_usage()
        for named in found:
            match = NAME.fullmatch(named.name)
            assert match is not None
            installation_name, submission_id, kind = match.groups()
            if installation_name != ours:
                report.other_installations[installation_name] += 1
                continue
            if named.created_time is not None and named.created_time > now - grace:
                continue  # being made right now: the sending worker decides
            verdict = _verdict(int(submission_id), kind, named)
            if verdict == "tracked":
                report.tracked += 1
            elif verdict == "untracked":
                report.untracked.append(_remove_untracked(worker, account_id, named))
    with transaction() as db:
        installation = db.get(Installation, 1)
        assert installation is not None
        installation.reconciled_at = now
        db.add(installation)
        audit.record(
            db,
            "meta.reconciled",
            data={
                "accounts": report.accounts,
                "tracked": report.tracked,
                "untracked": report.untracked,
                "other_installations": dict(report.other_installations),
                "skipped": report.skipped,
            },
            actor=WORKER,
        )
    return report


def _verdict(submission_id: int, kind: str, named: Named) -> str:
    """ "tracked" (a submission holds it), "untracked", or "busy" (a worker is on it)."""
    with transaction(write=False) as db:
        submission = db.get(Submission, submission_id)
        if submission is None:
            return "untracked"
        if submission.status in IN_FLIGHT or submission.cleanup == Cleanup.PENDING:
            return "busy"
        if submission.status in OVER:
            return "untracked"
        return "tracked" if submission.object_ids().get(kind) == named.id else "untracked"


def remove_object(worker: Worker, kind: str, object_id: str) -> str:
    """Delete an object at Meta, or pause it if Meta refuses the delete for good (a creative
    cannot be paused); returns what was done. A transient error or a rate limit is raised:
    the caller tries again later, instead of pausing what could still be deleted."""
    try:
        worker.gateway.delete(kind, object_id)
        return "deleted"
    except MetaError as error:
        if error.transient:
            raise
        refused = f"not deleted: {error.message}"
    if kind == "creative":
        return refused
    try:
        worker.gateway.set_status(kind, object_id, "PAUSED")
    except MetaError as error:
        if error.transient:
            raise
        return f"{refused}; not paused: {error.message}"
    return f"paused ({refused})"


def _remove_untracked(worker: Worker, account_id: str, named: Named) -> dict[str, str]:
    """Delete an object no submission tracks; pause it if Meta will not delete it."""
    try:
        action = remove_object(worker, named.kind, named.id)
    except MetaError as error:
        action = f"not removed yet ({error.message}): the next reconciliation tries again"
    finally:
        worker.record_usage()
    entry = {"account": account_id, "kind": named.kind, "id": named.id, "name": named.name,
             "action": action}  # fmt: skip
    with transaction() as db:
        audit.record(
            db, "meta.untracked_object", subject=("ad_account", account_id), data=entry,
            actor=WORKER,
        )  # fmt: skip
    log.warning("untracked %s %s at Meta (%s): %s", named.kind, named.id, named.name, action)
    return entry


def reconcile_if_due(worker: Worker) -> Report | None:
    """Reconcile when the last reconciliation is older than RECONCILE_HOURS (the first worker
    to see it due takes it; the others find it done)."""
    every = timedelta(hours=float(current_app.config["RECONCILE_HOURS"]))
    now = utcnow()
    with transaction() as db:
        installation = db.get(Installation, 1)
        if installation is None:
            return None
        last = installation.reconciled_at
        if last is not None and last > now - every:
            return None
        # Claimed by moving the time first: another worker now sees it as done.
        installation.reconciled_at = now
        db.add(installation)
    return reconcile(worker)


def reconciled_before(db: Session) -> datetime | None:
    """When Meta was last reconciled with adgate (for the admin pages)."""
    installation = db.get(Installation, 1)
    return installation.reconciled_at if installation else None
