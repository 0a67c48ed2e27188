"""The submission worker: claims queued submissions, checks them again, sends them to Meta once.

Crash safety:
- Claims are short transactions: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
  lock on SQLite. A claim is a lease; a dead worker's lease expires and another takes over.
- No transaction is open during a call to Meta. Before each create the worker records
  which object it is creating; after a crash or an ambiguous failure (timeout, dropped
  connection) it looks that object up by name (it carries the submission id) before
  creating it again, and every id is recorded the moment it comes back.
- Transient errors retry with exponential backoff and jitter, up to the attempts
  allowed; permanent errors fail the submission with Meta's code, subcode, message
  and fbtrace_id.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from app import audit
from app.admin import ad_accounts as ad_account_service
from app.audits import integrity
from app.checklists import gate
from app.db import is_sqlite, transaction
from app.meta.gateway import KINDS, AdSpec, Gateway, MetaError, SdkGateway
from app.models import AdAccount, AdImage, Checklist, Submission, utcnow
from workflows.delivery import BudgetType, Placement
from workflows.machine import Event, State
from workflows.policy import EU

log = logging.getLogger(__name__)
WORKER = audit.Actor("system", "worker")
CHECKPOINT_CHECK_SECONDS = 60.0


def make_gateway(app: Flask) -> SdkGateway:
    """The gateway the configuration asks for (the sandbox's Graph server, or Meta's)."""
    config = app.config
    return SdkGateway(
        access_token=config["META_ACCESS_TOKEN"],
        graph_url=config["META_GRAPH_URL"],
        api_version=config["META_API_VERSION"],
        timeout=float(config["META_TIMEOUT_SECONDS"]),
        app_secret=config["META_APP_SECRET"],
        proxy=config["META_PROXY"],
        ca_bundle=config["META_CA_BUNDLE"],
    )


# Where each kind's id is kept on the submission (an image is known by Meta's hash).
ID_COLUMNS = {kind: "image_hash" if kind == "image" else f"{kind}_id" for kind in KINDS}


class LostClaim(Exception):
    """Another worker took the submission over (this one was too slow): stop touching it."""


@dataclass
class Worker:
    """One worker process (several may run against one PostgreSQL)."""

    gateway: Gateway
    name: str = f"{socket.gethostname()}:{os.getpid()}"

    # -- the loop ---------------------------------------------------------------

    def run_once(self) -> int:
        """Send every submission that is ready now, then poll due reviews; returns the work done."""
        done = 0
        while (submission_id := self.claim()) is not None:
            self.send(submission_id)
            done += 1
        return done + self.poll_reviews() + self.check_accounts()

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; between rounds wait a moment for new work."""
        interval = float(current_app.config["WORKER_POLL_SECONDS"])
        next_checkpoint_check = 0.0
        while not stop.is_set():
            try:
                self.run_once()
                # A checkpoint is due once a day: looking once a minute is plenty.
                if time.monotonic() >= next_checkpoint_check:
                    next_checkpoint_check = time.monotonic() + CHECKPOINT_CHECK_SECONDS
                    self.checkpoint_if_due()
            except Exception:  # one bad round must not stop the worker; it is logged
                log.exception("worker round failed")
            stop.wait(interval)

    def checkpoint_if_due(self) -> bool:
        """Take the audit log's daily checkpoint; with several workers, the first one does.

        The cheap check runs without the append lock; only when a checkpoint is due does it
        take the lock and look again, so that two workers never both take one.
        """
        every = timedelta(hours=float(current_app.config["AUDIT_CHECKPOINT_HOURS"]))
        now = utcnow()
        with transaction(write=False) as db:
            if not integrity.checkpoint_due(db, now, every):
                return False
        with transaction() as db:
            audit.lock(db)
            if not integrity.checkpoint_due(db, now, every):
                return False
            cp = integrity.take_checkpoint(db, now, integrity.signer())
        log.info("audit checkpoint at event %s", cp.seq)
        return True

    # -- claiming ---------------------------------------------------------------

    def claim(self) -> int | None:
        """Take the next ready submission (or one whose claim expired) and move it to sending.

        The checks run again here, right before the first call to Meta: if one no
        longer passes, the checklist goes back to draft with the reasons.
        """
        now = utcnow()
        lease = timedelta(seconds=float(current_app.config["WORKER_LEASE_SECONDS"]))
        with transaction() as db:
            query = (
                select(Submission)
                .where(
                    or_(
                        and_(
                            col(Submission.status) == State.QUEUED.value,
                            or_(
                                col(Submission.next_attempt_at).is_(None),
                                col(Submission.next_attempt_at) <= now,
                            ),
                        ),
                        and_(
                            col(Submission.status) == State.SENDING.value,
                            col(Submission.lease_until) < now,
                        ),
                    )
                )
                .order_by(col(Submission.id))
                .limit(1)
            )
            sqlite = is_sqlite(db.get_bind().engine)
            if not sqlite:
                query = query.with_for_update(skip_locked=True)
            submission = db.scalars(query).first()
            if submission is None:
                return None
            # The checklist is locked too, without waiting: a user withdrawing it right now
            # holds its lock, and the worker comes back to it in the next round.
            checklist_query = select(Checklist).where(col(Checklist.id) == submission.checklist_id)
            if not sqlite:
                checklist_query = checklist_query.with_for_update(skip_locked=True)
            checklist = db.scalars(checklist_query).first()
            if checklist is None:
                return None
            if submission.status == State.QUEUED.value:
                if not self._start(db, submission, checklist, now):
                    return submission.id  # handled: blocked, nothing to send
            else:
                audit.record(
                    db,
                    "submission.taken_over",
                    subject=("submission", _sid(submission)),
                    data={"from": submission.claimed_by, "to": self.name},
                    actor=WORKER,
                )
            submission.claimed_by = self.name
            submission.lease_until = now + lease
            submission.attempts += 1
            submission.updated_at = now
            db.add(submission)
            return submission.id

    def _start(
        self, db: Session, submission: Submission, checklist: Checklist, now: datetime
    ) -> bool:
        checks = gate.evaluate(db, checklist, now)
        outcome = gate.transition(db, checklist, Event.SEND, None, now, checks=checks, actor=WORKER)
        if outcome.blocked:
            submission.status = State.FAILED.value
            submission.error = json.dumps(
                {"code": "checks_failed", "unmet": [u.__dict__ for u in outcome.blocked]}
            )
            submission.updated_at = now
            db.add(submission)
            return False
        submission.status = State.SENDING.value
        return True

    # -- sending ----------------------------------------------------------------

    def send(self, submission_id: int) -> None:
        """Create the four objects (those not created yet), then confirm; no transaction open."""
        with transaction(write=False) as db:
            submission = db.get(Submission, submission_id)
            if submission is None or submission.status != State.SENDING.value:
                return
            spec = self._spec(db, submission)
            ids = {kind: getattr(submission, ID_COLUMNS[kind]) for kind in spec.kinds}
            creating = submission.creating
        try:
            self._send(submission_id, spec, ids, creating)
        except LostClaim as lost:
            log.warning("%s; this worker stops sending it", lost)

    def _send(
        self, submission_id: int, spec: AdSpec, ids: dict[str, str | None], creating: str | None
    ) -> None:
        # ``creating``: what an earlier attempt may have created (look it up before creating
        # it again); ``marked``: what the database says is being created. Each id is recorded
        # the moment it comes back, in one transaction with the next object's intent (the
        # last one with the confirmation): one commit per object instead of two.
        marked = creating
        last: tuple[str, str] | None = None
        try:
            if not any(ids.values()) and creating is None:
                self.gateway.validate(spec)
            for kind in spec.kinds:
                if ids[kind]:
                    continue
                found = self.gateway.find(spec, kind) if creating == kind else None
                if found is None:
                    if marked != kind:
                        self._mark_creating(submission_id, kind)
                    parents = {k: v for k, v in ids.items() if v is not None}
                    found = self.gateway.create(spec, kind, parents)
                ids[kind] = found
                following = next((k for k in spec.kinds if not ids[k]), None)
                if following is None:
                    last = (kind, found)
                    break
                self._record_id(submission_id, kind, found, following)
                creating, marked = None, following
        except MetaError as error:
            self._failed_attempt(submission_id, error)
            return
        self._confirm(submission_id, last)

    def _spec(self, db: Session, submission: Submission) -> AdSpec:
        checklist = db.get(Checklist, submission.checklist_id)
        assert checklist is not None
        image = db.get(AdImage, checklist.image_id) if checklist.image_id is not None else None
        return spec_of(
            checklist,
            image.data if image is not None else None,
            submission_id=_sid(submission),
            created_at=submission.created_at,
            status=current_app.config["META_AD_STATUS"],
        )

    def _mark_creating(self, submission_id: int, kind: str) -> None:
        with transaction() as db:
            submission = self._held(db, submission_id)
            submission.creating = kind
            self._renew(submission)
            db.add(submission)

    def _record_id(self, submission_id: int, kind: str, object_id: str, following: str) -> None:
        """Record a new object's id and, before its create call, the object created next."""
        with transaction() as db:
            submission = self._held(db, submission_id)
            self._store_id(db, submission, kind, object_id)
            submission.creating = following
            db.add(submission)

    def _store_id(self, db: Session, submission: Submission, kind: str, object_id: str) -> None:
        setattr(submission, ID_COLUMNS[kind], object_id)
        submission.creating = None
        self._renew(submission)
        db.add(submission)
        audit.record(
            db,
            "submission.object_created",
            subject=("submission", _sid(submission)),
            data={"kind": kind, "id": object_id},
            actor=WORKER,
        )

    def _held(self, db: Session, submission_id: int) -> Submission:
        """The submission, if this worker still holds its claim (else LostClaim: stop at once)."""
        submission = db.get(Submission, submission_id)
        assert submission is not None
        if submission.claimed_by != self.name:
            raise LostClaim(f"submission {submission_id} was taken over by {submission.claimed_by}")
        return submission

    def _renew(self, submission: Submission) -> None:
        now = utcnow()
        lease = float(current_app.config["WORKER_LEASE_SECONDS"])
        submission.lease_until = now + timedelta(seconds=lease)
        submission.updated_at = now

    def _confirm(self, submission_id: int, last: tuple[str, str] | None) -> None:
        """Record the last object's id (when this attempt created it) and confirm the send."""
        now = utcnow()
        with transaction() as db:
            submission = self._held(db, submission_id)
            if last is not None:
                self._store_id(db, submission, *last)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            ids = {ID_COLUMNS[k]: getattr(submission, ID_COLUMNS[k]) for k in KINDS}
            gate.transition(
                db, checklist, Event.CONFIRM, None, now, checks=(), data=ids, actor=WORKER
            )
            submission.status = State.SUBMITTED.value
            submission.sent_at = now
            submission.lease_until = None
            submission.error = None
            submission.updated_at = now
            db.add(submission)

    def _failed_attempt(self, submission_id: int, error: MetaError) -> None:
        now = utcnow()
        config = current_app.config
        with transaction() as db:
            submission = self._held(db, submission_id)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            left = int(config["WORKER_MAX_ATTEMPTS"]) - submission.attempts
            submission.error = json.dumps(error.as_dict())
            submission.lease_until = None
            submission.updated_at = now
            data = {
                "submission": submission_id,
                "error": error.as_dict(),
                "attempt": submission.attempts,
            }
            if error.transient and left > 0:
                base = float(config["WORKER_BACKOFF_BASE_SECONDS"])
                delay = min(
                    base * 2 ** (submission.attempts - 1),
                    float(config["WORKER_BACKOFF_MAX_SECONDS"]),
                )
                # Full jitter: workers retrying after one outage do not come back in step.
                delay = random.uniform(delay / 2, delay)  # noqa: S311 (not for security)
                submission.next_attempt_at = now + timedelta(seconds=delay)
                submission.status = State.QUEUED.value
                gate.transition(
                    db,
                    checklist,
                    Event.RETRY,
                    None,
                    now,
                    checks=(),
                    attempts_left=left,
                    data={**data, "retry_in_seconds": round(delay, 3)},
                    actor=WORKER,
                )
            else:
                submission.status = State.FAILED.value
                gate.transition(
                    db, checklist, Event.FAIL, None, now, checks=(), data=data, actor=WORKER
                )
            db.add(submission)

    # -- ad accounts ----------------------------------------------------------------

    def check_accounts(self) -> int:
        """Ask Meta about the ad accounts an admin asked about; returns how many answered."""
        with transaction(write=False) as db:
            due = ad_account_service.meta_checks_due(db)
        answered = 0
        for account_id in due:
            try:
                reading = self.gateway.read_account(account_id)
            except MetaError as error:
                with transaction() as db:
                    account = db.get(AdAccount, account_id)
                    assert account is not None
                    ad_account_service.record_meta_failure(db, account, error.message)
                continue
            with transaction() as db:
                account = db.get(AdAccount, account_id)
                assert account is not None
                ad_account_service.record_meta_reading(db, account, reading, utcnow())
            answered += 1
        return answered

    # -- Meta's review -------------------------------------------------------------

    def poll_reviews(self) -> int:
        """Ask Meta about submitted ads whose review is due; returns how many were decided."""
        now = utcnow()
        interval = timedelta(seconds=float(current_app.config["REVIEW_POLL_SECONDS"]))
        with transaction(write=False) as db:
            due = db.scalars(
                select(Submission)
                .where(
                    col(Submission.status) == State.SUBMITTED.value,
                    or_(
                        col(Submission.review_checked_at).is_(None),
                        col(Submission.review_checked_at) <= now - interval,
                    ),
                )
                .order_by(col(Submission.id))
                .limit(50)
            ).all()
            work = [(s.id, s.ad_id) for s in due]
        decided = 0
        for submission_id, ad_id in work:
            assert submission_id is not None
            try:
                review = self.gateway.review(str(ad_id))
            except MetaError as error:
                log.warning("review of submission %s failed: %s", submission_id, error.message)
                continue
            decided += self._record_review(submission_id, review.outcome, review.feedback)
        return decided

    def _record_review(self, submission_id: int, outcome: str, feedback: dict[str, Any]) -> int:
        now = utcnow()
        with transaction() as db:
            # Locked: every worker polls the submitted ads, so two may record one review; the
            # second waits here and then finds it decided (on SQLite the write lock does this).
            submission = db.get(Submission, submission_id, with_for_update=True)
            assert submission is not None
            if submission.status != State.SUBMITTED.value:
                return 0  # another worker decided it meanwhile
            submission.review_checked_at = now
            submission.updated_at = now
            db.add(submission)
            if outcome == "pending":
                return 0
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            submission.review_feedback = json.dumps(feedback, ensure_ascii=False)
            if outcome == "approved":
                submission.status = State.LIVE.value
                gate.transition(
                    db, checklist, Event.REVIEW_PASS, None, now, checks=(), actor=WORKER
                )
                return 1
            submission.status = State.REJECTED.value
            gate.transition(
                db,
                checklist,
                Event.REVIEW_REJECT,
                None,
                now,
                checks=(),
                data={"feedback": feedback},
                actor=WORKER,
            )
            record_violation(db, checklist.ad_account_id, submission_id)
            return 1


def spec_of(
    checklist: Checklist,
    image: bytes | None,
    *,
    submission_id: int,
    created_at: datetime,
    status: str,
) -> AdSpec:
    """What is sent to Meta for a checklist: derived from it alone (and its image's bytes)."""
    eu = any(c in EU for c in checklist.country_list)
    return AdSpec(
        submission_id=submission_id,
        ad_account_id=checklist.ad_account_id,
        page_id=checklist.page_id,
        message=checklist.message,
        headline=checklist.headline,
        link_url=checklist.link_url,
        countries=checklist.country_list,
        siep=checklist.category not in (None, "NONE"),
        digitally_created_media=checklist.digitally_created_media,
        dsa_payor=checklist.dsa_payor if eu else "",
        dsa_beneficiary=checklist.dsa_beneficiary if eu else "",
        status=status,
        budget_type=BudgetType(checklist.budget_type),
        budget_amount=checklist.budget_amount,
        start_time=checklist.start_time,
        end_time=checklist.end_time,
        placements=tuple(Placement(p) for p in checklist.placements),
        image=image,
        created_at=created_at,
    )


def record_violation(db: Session, ad_account_id: str, submission_id: int) -> None:
    """Count a rejected ad against its account; too many cost the political-ad eligibility."""
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


def _sid(submission: Submission) -> int:
    assert submission.id is not None
    return submission.id
