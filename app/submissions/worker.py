"""The submission worker: claims queued submissions, checks them again, sends them to Meta once,
and then follows what Meta does with them (``app.submissions.follow``), removes what must go
(``app.submissions.cleanup``) and obeys Meta's throttling (``app.meta.throttle``).

Crash safety:
- Claims are short transactions: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write
  lock on SQLite. A claim is a lease; a dead worker's lease expires and another takes over.
  One process sends up to WORKER_IN_FLIGHT claimed submissions at once, each in a thread of
  its own with the same transactions as alone (``send_ready``).
- No transaction is open during a call to Meta. Before each create the worker records
  which object it is creating; after a crash or an ambiguous failure (timeout, dropped
  connection) it looks that object up by name (installation and submission) before
  creating it again — more than once, with waits, because Meta keeps creating after a
  client gave up and its reads lag behind its writes — and every id is recorded the
  moment it comes back. When it does create again, it lists the name right after: of
  duplicates the oldest stays, the others are deleted. (A first create cannot have a twin,
  so it costs no listing; reconciliation catches whatever shows up later still.)
- Rate limits wait as long as Meta says, without spending an attempt; other transient
  errors retry with exponential backoff and jitter, up to the attempts allowed; code 368
  holds the submission for a person; permanent errors fail it with Meta's code, subcode,
  message, fbtrace_id and blamed fields. Whatever a failed, blocked or withdrawn
  submission left at Meta is removed.
- The owner is told (``app.notifications``) when Meta holds a submission or throttles it
  for NOTIFY_THROTTLE_MINUTES or more; the mails of the outbox go out at the end of every
  round (``app.notifications.outbox``), and a daily pass tells of expiring identities.

Longer than 500 lines on purpose: sending is one sequence of short transactions around each
call to Meta (claim, intent, call, record, confirm, retry or fail), and its crash safety is
checked best where the whole sequence reads as one class.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from app import audit, notifications
from app.admin import ad_accounts as ad_account_service
from app.audit import integrity
from app.checklists import gate
from app.config import refuse_meta_unready
from app.db import is_sqlite, transaction
from app.meta import throttle
from app.meta.gateway import KINDS, AdSpec, Gateway, MetaError, Named
from app.meta.sdk import SdkGateway
from app.models import (
    OBJECT_COLUMNS,
    AdAccount,
    AdImage,
    Checklist,
    Installation,
    Submission,
    utcnow,
)
from app.notifications import outbox
from app.submissions import WORKER, cleanup, follow
from workflows.checks import evaluate_all
from workflows.delivery import Placement
from workflows.machine import Event, State
from workflows.policy import needs_dsa_fields

log = logging.getLogger(__name__)
CHECKPOINT_CHECK_SECONDS = 60.0
# How long what Meta said of an account's rate budget is taken as still true.
USAGE_FRESH = timedelta(seconds=60)


def make_gateway(app: Flask) -> SdkGateway:
    """The gateway the configuration asks for (the sandbox's Graph server, or Meta's).

    Raises ``UnsafeConfigError`` when live mode lacks a setting: only the processes that
    call Meta need them.
    """
    config = app.config
    refuse_meta_unready(config)
    return SdkGateway(
        access_token=config["META_ACCESS_TOKEN"],
        graph_url=config["META_GRAPH_URL"],
        api_version=config["META_API_VERSION"],
        timeout=float(config["META_TIMEOUT_SECONDS"]),
        app_secret=config["META_APP_SECRET"],
        proxy=config["META_PROXY"],
        ca_bundle=config["META_CA_BUNDLE"],
    )


ID_COLUMNS = OBJECT_COLUMNS


def installation_name(db: Session) -> str:
    """This installation's name (made by the migration), in every object's name at Meta."""
    installation = db.get(Installation, 1)
    assert installation is not None, "the database has no installation row: flask db upgrade"
    return installation.name


@dataclass(frozen=True)
class Sending:
    """What a claimed submission sends, read in its claim's transaction: ``send`` needs no
    transaction of its own to read it again."""

    spec: AdSpec
    ids: dict[str, str | None]
    creating: str | None
    lookups: int


class LostClaim(Exception):
    """Another worker took the submission over (this one was too slow): stop touching it."""


class Throttled(Exception):
    """Meta began throttling the ad account while this submission was being sent."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"the ad account is throttled until {until.isoformat()}")
        self.until = until


class LookAgain(Exception):
    """An object whose create may have taken effect is not visible yet: look again later."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"no {kind} named for the submission yet")
        self.kind = kind


@dataclass
class Worker:
    """One worker process (several may run against one PostgreSQL)."""

    gateway: Gateway
    name: str = f"{socket.gethostname()}:{os.getpid()}"
    # What Meta's usage headers last said, per ad account ("app": the app): percent, when.
    usage_seen: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    # What the last claims read for ``send``, by submission (each taken once).
    claimed: dict[int, Sending] = field(default_factory=dict)
    # The installation's name never changes once the migration made it.
    installation: str | None = None
    # The submissions this process's threads are sending now (see ``send_ready``).
    in_flight: set[int] = field(default_factory=set)
    # Until when Meta throttles an ad account, as this process learnt it while sending: the
    # other threads make no further call for it.
    throttled: dict[str, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the loop ---------------------------------------------------------------

    def run_once(self) -> int:
        """Send what is ready, then follow Meta (status changes, removals, reviews, questions
        about ad accounts); returns the work done."""
        done = self.send_ready()
        done += follow.change_statuses(self)
        done += cleanup.clean_up(self)
        done += follow.poll_reviews(self)
        done += self.check_accounts()
        # Mails last: those this round's events queued go out in the same round.
        return done + outbox.send_due(self.name)

    def send_ready(self) -> int:
        """Claim and send until nothing is ready, up to WORKER_IN_FLIGHT submissions at a time.

        The calls to Meta wait on the network, so a few threads keep several submissions in
        flight. Each claim is its own transaction in this thread; each submission is sent by
        one thread with the same short transactions around each call as alone, so a crash
        leaves every one of them where one worker alone would (claimed, with its intent
        recorded), and another worker takes them over when their leases expire.
        """
        most = max(1, int(current_app.config["WORKER_IN_FLIGHT"]))
        if most == 1:
            done = 0
            while (submission_id := self.claim()) is not None:
                self.send(submission_id)
                done += 1
            return done
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def send(submission_id: int) -> None:
            try:
                with app.app_context():
                    self.send(submission_id)
            finally:
                with self.lock:
                    self.in_flight.discard(submission_id)

        # The first submission goes alone, and after any throttle the rest of the round
        # does: an account Meta throttles gets one call, not one per thread.
        width, done = 1, 0
        running: set[Future[None]] = set()
        with ThreadPoolExecutor(most, thread_name_prefix="send") as pool:
            try:
                while True:
                    if self._throttled_now():
                        width = 1
                    while len(running) >= width:
                        finished, running = wait(running, return_when=FIRST_COMPLETED)
                        for future in finished:
                            future.result()
                        width = 1 if self._throttled_now() else most
                    submission_id = self.claim()
                    if submission_id is None:
                        break
                    with self.lock:
                        self.in_flight.add(submission_id)
                    running.add(pool.submit(send, submission_id))
                    done += 1
            finally:
                for future in as_completed(running):
                    future.result()
        return done

    def _throttled_now(self) -> bool:
        now = utcnow()
        with self.lock:
            return any(until > now for until in self.throttled.values())

    def _check_throttle(self, ad_account_id: str) -> None:
        """Raise Throttled if another thread learnt that Meta throttles the account."""
        with self.lock:
            until = self.throttled.get(ad_account_id)
        if until is not None and until > utcnow():
            raise Throttled(until)

    def _learnt_throttle(self, ad_account_id: str, until: datetime) -> None:
        with self.lock:
            self.throttled[ad_account_id] = until

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; between rounds wait a moment for new work."""
        interval = float(current_app.config["WORKER_POLL_SECONDS"])
        next_housekeeping = next_daily = 0.0
        while not stop.is_set():
            try:
                self.run_once()
                # A checkpoint is due once a day, a reconciliation once an hour: looking once
                # a minute is plenty.
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + CHECKPOINT_CHECK_SECONDS
                    self.checkpoint_if_due()
                    cleanup.reconcile_if_due(self)
                if time.monotonic() >= next_daily:
                    next_daily = time.monotonic() + 24 * 3600
                    self.daily()
            except Exception:  # one bad round must not stop the worker; it is logged
                log.exception("worker round failed")
            stop.wait(interval)

    def daily(self) -> None:
        """Once a day (and at start): tell of identity verifications about to expire (each
        once, however many workers run this) and delete mails kept long enough."""
        now = utcnow()
        with transaction() as db:
            notifications.identity_expiring(db, now.date())
        outbox.purge_sent(now)

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

    # -- Meta's usage -----------------------------------------------------------

    def record_usage(self) -> None:
        """Keep the throttles Meta's answers since the last time announced (no write else)."""
        now = utcnow()
        seen = self.gateway.take_usage()
        for key, reported in seen.items():
            self.usage_seen[key] = (reported.percent, now)
        usage = throttle.throttling(seen, now)
        if not usage:
            return
        with transaction() as db:
            started = throttle.record(db, usage, utcnow(), WORKER)
        for account_id, until in started.items():
            self._learnt_throttle(account_id, until)
            log.warning("Meta throttles %s until %s", account_id, until.isoformat())

    def busy_accounts(self) -> set[str]:
        """The ad accounts (and "app") whose rate budget Meta lately said is used to
        META_USAGE_YIELD_PERCENT or more: reads that can wait, wait. A reading older than
        USAGE_FRESH is not trusted; the next read brings a new one."""
        limit = float(current_app.config["META_USAGE_YIELD_PERCENT"])
        fresh = utcnow() - USAGE_FRESH
        seen = list(self.usage_seen.items())  # threads add to it while sending
        return {k for k, (used, at) in seen if used >= limit and at >= fresh}

    # -- claiming ---------------------------------------------------------------

    def claim(self) -> int | None:
        """Take the next ready submission (or one whose claim expired) and move it to sending.

        Submissions of an ad account that Meta throttles are left where they are. The checks
        run again here, right before the first call to Meta: if one no longer passes, the
        checklist goes back to draft with the reasons (and whatever an earlier attempt left
        at Meta is removed).
        """
        with transaction() as db:
            claimed = self._claim(db, utcnow())
        if claimed is None:
            return None
        submission_id, sending = claimed
        if sending is not None:  # kept only once the claim is committed
            self.claimed[submission_id] = sending
        return submission_id

    def _claim(self, db: Session, now: datetime) -> tuple[int, Sending | None] | None:
        lease = timedelta(seconds=float(current_app.config["WORKER_LEASE_SECONDS"]))
        if throttle.app_throttled_until(db, now) is not None:
            return None
        query = (
            select(Submission)
            .join(Checklist, col(Checklist.id) == col(Submission.checklist_id))
            .outerjoin(AdAccount, col(AdAccount.id) == col(Checklist.ad_account_id))
            .where(
                or_(
                    and_(
                        col(Submission.status) == State.QUEUED,
                        or_(
                            col(Submission.next_attempt_at).is_(None),
                            col(Submission.next_attempt_at) <= now,
                        ),
                    ),
                    and_(
                        col(Submission.status) == State.SENDING,
                        col(Submission.lease_until) < now,
                    ),
                ),
                throttle.account_free(now),
            )
            .order_by(col(Submission.id))
            .limit(1)
        )
        with self.lock:
            sending_here = sorted(self.in_flight)
        if sending_here:
            # What this process's threads are sending, even with an expired lease, is theirs:
            # under one worker name a submission must never be sent twice at once.
            query = query.where(col(Submission.id).not_in(sending_here))
        sqlite = is_sqlite(db.get_bind().engine)
        if not sqlite:
            query = query.with_for_update(of=Submission, skip_locked=True)
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
        if submission.status == State.QUEUED:
            if not self._start(db, submission, checklist, now):
                return _sid(submission), None  # handled: blocked, nothing to send
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
        log.info(
            "submission %s claimed by %s (attempt %d)",
            submission.id,
            self.name,
            submission.attempts,
        )
        return _sid(submission), self._sending(db, submission)

    def _start(
        self, db: Session, submission: Submission, checklist: Checklist, now: datetime
    ) -> bool:
        # Every check again, and what is about to be sent against what was submitted.
        context = gate.context_for(db, checklist, now, submitted_hash=submission.content_hash)
        checks = evaluate_all(context)
        outcome = gate.transition(
            db, checklist, Event.SEND, None, now, checks=checks, actor=WORKER, submission=submission
        )
        if outcome.blocked:
            submission.error = json.dumps(
                {"code": "checks_failed", "unmet": [u.__dict__ for u in outcome.blocked]}
            )
            cleanup.mark_if_needed(db, submission, "blocked", WORKER)
            db.add(submission)
            log.info(
                "submission %s stopped before sending: %s unmet",
                submission.id,
                ", ".join(sorted({u.step for u in outcome.blocked})),
            )
            return False
        return True

    # -- sending ----------------------------------------------------------------

    def send(self, submission_id: int) -> None:
        """Create the objects not created yet, then confirm; no transaction open meanwhile."""
        sending = self.claimed.pop(submission_id, None)
        if sending is None:  # not claimed by this worker's claim() just before
            with transaction(write=False) as db:
                submission = db.get(Submission, submission_id)
                if submission is None or submission.status != State.SENDING:
                    return
                sending = self._sending(db, submission)
        try:
            self._send(submission_id, sending.spec, dict(sending.ids), sending.creating,
                       sending.lookups)  # fmt: skip
        except LostClaim as lost:
            log.warning("%s; this worker stops sending it", lost)
        finally:
            self.record_usage()

    def _send(
        self,
        submission_id: int,
        spec: AdSpec,
        ids: dict[str, str | None],
        creating: str | None,
        lookups: int,
    ) -> None:
        # ``creating``: what an earlier attempt may have created (look it up before creating
        # it again); ``marked``: what the database says is being created. Each id is recorded
        # the moment it comes back, in one transaction with the next object's intent (the
        # last one with the confirmation): one commit per object instead of two.
        marked = creating
        last: tuple[str, str] | None = None
        log.info("submission %s: sending to Meta (%s)", submission_id, ", ".join(spec.kinds))
        most = int(current_app.config["WORKER_LOOKUPS"])
        try:
            self._check_throttle(spec.ad_account_id)
            if not any(ids.values()) and creating is None:
                self.gateway.validate(spec)
            for kind in spec.kinds:
                if ids[kind]:
                    continue
                self._check_throttle(spec.ad_account_id)
                found = None
                if creating == kind and kind != "image":
                    named = self.gateway.find(spec, kind)
                    if named:
                        found = self._keep_oldest(submission_id, spec, kind, named)
                    elif lookups < most:
                        raise LookAgain(kind)
                if found is None:
                    if marked != kind:
                        self._mark_creating(submission_id, kind)
                    parents = {k: v for k, v in ids.items() if v is not None}
                    found = self.gateway.create(spec, kind, parents)
                    if creating == kind and kind != "image":
                        # Created again after look-ups found nothing: the earlier create may
                        # show up now. (A first create has no twin: no listing, no calls.)
                        found = self._keep_oldest(
                            submission_id, spec, kind, self.gateway.find(spec, kind), found
                        )
                ids[kind] = found
                following = next((k for k in spec.kinds if not ids[k]), None)
                if following is None:
                    last = (kind, found)
                    break
                self._record_id(submission_id, kind, found, following)
                creating, marked = None, following
        except LookAgain as again:
            self._look_again(submission_id, again.kind)
            return
        except Throttled as throttled:
            self._wait_for_throttle(submission_id, throttled.until)
            return
        except MetaError as error:
            self._failed_attempt(submission_id, spec.ad_account_id, error)
            return
        self._confirm(submission_id, last)

    def _keep_oldest(
        self,
        submission_id: int,
        spec: AdSpec,
        kind: str,
        named: list[Named],
        created: str | None = None,
    ) -> str:
        """Of the objects with the submission's name for ``kind`` (and the one just created,
        which Meta may not list yet), keep the oldest and delete the others."""
        ids = [n.id for n in named]
        if created is not None and created not in ids:
            ids.append(created)  # not visible yet: the newest
        keep, extra = ids[0], ids[1:]
        for object_id in extra:
            self.gateway.delete(kind, object_id)
        if extra:
            with transaction() as db:
                audit.record(
                    db,
                    "submission.duplicates_removed",
                    subject=("submission", submission_id),
                    data={"kind": kind, "kept": keep, "deleted": extra, "name": spec.name(kind)},
                    actor=WORKER,
                )
        return keep

    def spec(self, db: Session, submission: Submission) -> AdSpec:
        """What is sent for ``submission``."""
        checklist = db.get(Checklist, submission.checklist_id)
        assert checklist is not None
        image = db.get(AdImage, checklist.image_id) if checklist.image_id is not None else None
        if self.installation is None:
            self.installation = installation_name(db)
        return spec_of(
            checklist,
            image.data if image is not None else None,
            submission_id=_sid(submission),
            created_at=submission.created_at,
            status=current_app.config["META_AD_STATUS"],
            installation=self.installation,
        )

    def _sending(self, db: Session, submission: Submission) -> Sending:
        spec = self.spec(db, submission)
        ids = {kind: getattr(submission, ID_COLUMNS[kind]) for kind in spec.kinds}
        return Sending(spec, ids, submission.creating, submission.lookups)

    def _mark_creating(self, submission_id: int, kind: str) -> None:
        with transaction() as db:
            submission = self.held(db, submission_id)
            submission.creating = kind
            self._renew(submission)
            db.add(submission)

    def _record_id(self, submission_id: int, kind: str, object_id: str, following: str) -> None:
        """Record a new object's id and, before its create call, the object created next."""
        with transaction() as db:
            submission = self.held(db, submission_id)
            self._store_id(db, submission, kind, object_id)
            submission.creating = following
            db.add(submission)

    def _store_id(self, db: Session, submission: Submission, kind: str, object_id: str) -> None:
        setattr(submission, ID_COLUMNS[kind], object_id)
        submission.creating = None
        submission.lookups = 0
        self._renew(submission)
        db.add(submission)
        audit.record(
            db,
            "submission.object_created",
            subject=("submission", _sid(submission)),
            data={"kind": kind, "id": object_id},
            actor=WORKER,
        )
        log.info("submission %s: %s %s created at Meta", submission.id, kind, object_id)

    def held(self, db: Session, submission_id: int) -> Submission:
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
            submission = self.held(db, submission_id)
            if last is not None:
                self._store_id(db, submission, *last)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            ids = {ID_COLUMNS[k]: getattr(submission, ID_COLUMNS[k]) for k in KINDS}
            gate.transition(
                db, checklist, Event.CONFIRM, None, now, checks=(), data=ids, actor=WORKER,
                submission=submission,
            )  # fmt: skip
            submission.sent_at = now
            submission.lease_until = None
            submission.error = None
            submission.effective_status = "PENDING_REVIEW"
            submission.review_next_at = now + follow.first_read(current_app.config)
            submission.updated_at = now
            db.add(submission)
        log.info("submission %s sent: Meta reviews ad %s", submission_id, ids.get("ad_id"))

    def _look_again(self, submission_id: int, kind: str) -> None:
        """Meta may still be creating what a lost answer was about: wait, then look again
        (the attempt is not spent: nothing failed)."""
        now = utcnow()
        wait = float(current_app.config["WORKER_LOOKUP_WAIT_SECONDS"])
        with transaction() as db:
            submission = self.held(db, submission_id)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            submission.lookups += 1
            delay = wait * 2 ** (submission.lookups - 1)
            submission.attempts -= 1
            submission.next_attempt_at = now + timedelta(seconds=delay)
            submission.lease_until = None
            gate.transition(
                db,
                checklist,
                Event.RETRY,
                None,
                now,
                checks=(),
                attempts_left=1,
                data={"submission": submission_id, "looking_up": kind,
                      "lookup": submission.lookups, "retry_in_seconds": delay},
                actor=WORKER,
                submission=submission,
            )  # fmt: skip
        log.info("submission %s: looking %s up at Meta again in %.0f s", submission_id, kind, delay)

    def _wait_for_throttle(self, submission_id: int, until: datetime) -> None:
        """Meta throttles the account since this send began (another thread learnt it): the
        submission waits with the account, without a call and without spending the attempt."""
        now = utcnow()
        with transaction() as db:
            submission = self.held(db, submission_id)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            submission.attempts -= 1
            submission.next_attempt_at = until
            submission.lease_until = None
            submission.updated_at = now
            gate.transition(
                db, checklist, Event.RETRY, None, now, checks=(), attempts_left=1,
                data={"submission": submission_id, "throttled_until": until.isoformat()},
                actor=WORKER, submission=submission,
            )  # fmt: skip

    def _failed_attempt(self, submission_id: int, ad_account_id: str, error: MetaError) -> None:
        now = utcnow()
        config = current_app.config
        self.record_usage()
        with transaction() as db:
            submission = self.held(db, submission_id)
            checklist = db.get(Checklist, submission.checklist_id)
            assert checklist is not None
            left = int(config["WORKER_MAX_ATTEMPTS"]) - submission.attempts
            submission.error = json.dumps(error.as_dict())
            submission.lease_until = None
            submission.updated_at = now
            data: dict[str, Any] = {
                "submission": submission_id,
                "error": error.as_dict(),
                "attempt": submission.attempts,
            }
            if error.rate_limited:
                # Meta throttles: wait as it says (else back off); the attempt is not spent,
                # and every call for the account waits with this one.
                until = throttle.throttle_for(
                    db, error, ad_account_id, now, WORKER, self._backoff(submission.attempts)
                )
                self._learnt_throttle(ad_account_id, until)
                submission.attempts -= 1
                submission.next_attempt_at = until
                data["throttled_until"] = until.isoformat()
                outcome = f"throttled until {until.isoformat()}"
                if until - now >= timedelta(minutes=float(config["NOTIFY_THROTTLE_MINUTES"])):
                    notifications.needs_person(
                        db, checklist, "throttled", submission_id=submission_id, until=until
                    )
                gate.transition(
                    db, checklist, Event.RETRY, None, now, checks=(),
                    attempts_left=max(left + 1, 1), data=data, actor=WORKER, submission=submission,
                )  # fmt: skip
            elif error.policy_block:
                gate.transition(
                    db, checklist, Event.PARK, None, now, checks=(), data=data, actor=WORKER,
                    submission=submission,
                )  # fmt: skip
                notifications.needs_person(db, checklist, "blocked", submission_id=submission_id)
                outcome = "blocked by Meta for policy reasons: a person must look"
            elif error.transient and left > 0:
                delay = self._backoff(submission.attempts).total_seconds()
                if error.ambiguous:
                    # Meta may still be creating it: the first look-up waits at least this.
                    delay = max(delay, float(config["WORKER_LOOKUP_WAIT_SECONDS"]))
                submission.next_attempt_at = now + timedelta(seconds=delay)
                outcome = f"retry in {delay:.0f} s ({left} attempts left)"
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
                    submission=submission,
                )
            else:
                gate.transition(
                    db, checklist, Event.FAIL, None, now, checks=(), data=data, actor=WORKER,
                    submission=submission,
                )  # fmt: skip
                cleanup.mark_if_needed(db, submission, "failed", WORKER)
                outcome = "failed"
            db.add(submission)
        # Meta's code and message, never the request (its URL carries the token).
        log.info(
            "submission %s: Meta error %s/%s: %s; %s",
            submission_id,
            error.code if error.code is not None else "none",
            error.subcode if error.subcode is not None else "-",
            error.message,
            outcome,
        )

    def _backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter: workers retrying after one outage do not come
        back in step."""
        config = current_app.config
        base = float(config["WORKER_BACKOFF_BASE_SECONDS"])
        delay = min(base * 2 ** max(attempts - 1, 0), float(config["WORKER_BACKOFF_MAX_SECONDS"]))
        return timedelta(seconds=random.uniform(delay / 2, delay))  # noqa: S311 (not security)

    # -- ad accounts ----------------------------------------------------------------

    def check_accounts(self) -> int:
        """Ask Meta about the ad accounts an admin asked about; returns how many answered."""
        now = utcnow()
        with transaction(write=False) as db:
            throttled = throttle.throttled_accounts(db, now)
            due = [a for a in ad_account_service.meta_checks_due(db) if a not in throttled]
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
            finally:
                self.record_usage()
            with transaction() as db:
                account = db.get(AdAccount, account_id)
                assert account is not None
                ad_account_service.record_meta_reading(db, account, reading, utcnow())
            answered += 1
        return answered


def spec_of(
    checklist: Checklist,
    image: bytes | None,
    *,
    submission_id: int,
    created_at: datetime,
    status: str,
    installation: str = "00000000",
) -> AdSpec:
    """What is sent to Meta for a checklist: derived from it alone (and its image's bytes)."""
    # Meta's rules as workflows states them: SIEP by the category, the DSA's fields where
    # the policy in force on the day of submission asks for them.
    dsa = any(needs_dsa_fields(c, created_at.date()) for c in checklist.countries)
    category = checklist.category
    return AdSpec(
        submission_id=submission_id,
        ad_account_id=checklist.ad_account_id,
        page_id=checklist.page_id,
        message=checklist.message,
        headline=checklist.headline,
        link_url=checklist.link_url,
        countries=tuple(checklist.countries),
        siep=category is not None and category.is_siep,
        digitally_created_media=checklist.digitally_created_media,
        dsa_payor=checklist.dsa_payor if dsa else "",
        dsa_beneficiary=checklist.dsa_beneficiary if dsa else "",
        status=status,
        budget_type=checklist.budget_type,
        budget_amount=checklist.budget_amount,
        start_time=checklist.start_time,
        end_time=checklist.end_time,
        placements=tuple(Placement(p) for p in checklist.placements),
        image=image,
        created_at=created_at,
        installation=installation,
    )


def _sid(submission: Submission) -> int:
    assert submission.id is not None
    return submission.id
