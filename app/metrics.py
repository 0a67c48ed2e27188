"""Prometheus metrics at ``GET /metrics``, read from the database when Prometheus asks.

Several gunicorn workers on several app servers answer scrapes, so no figure here is a
counter kept in one process: each is derived from the shared database at scrape time
(a custom collector), and every process answers the same numbers. Only the process
metrics of prometheus_client's default collectors (memory, CPU, open files, GC) describe
the process that happened to answer.

A scrape stays cheap at millions of audit events. The current figures (submissions,
checklists, the queue, the newest event and checkpoint) are indexed lookups. The figures
counted from the audit log (blocked submits, Meta's errors) are counted incrementally:
each process remembers the newest event it has counted and reads, through the kind index,
only the events of those kinds appended since. Appends are serialized (``app.audit``) and
commit in ``seq`` order, so no event below the newest one seen can still appear later.
The first scrape in a process reads every event of those kinds, once.

Access: with ``METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>``;
without it only loopback clients get an answer (behind a proxy: a client the proxy reports
as loopback, over a connection that itself comes from loopback). Refusals are audited like
every refusal; successful scrapes are not (every 15 s they would queue behind the append lock).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from sqlalchemy import Engine, and_, func, or_, select
from sqlmodel import Session, col
from werkzeug.wrappers import Response

from app import audit, config, db, readiness
from app.audit.kinds import CHECKLIST_REFUSED, SEND_BLOCKED
from app.auth.access import public
from app.meta import throttle
from app.models import (
    AdAccount,
    AuditCheckpoint,
    AuditEvent,
    Checklist,
    OutboxMail,
    Submission,
    utcnow,
)
from workflows.machine import State

bp = Blueprint("metrics", __name__)
EXTENSION = "adgate.metrics"

# Every state a submission can be in, reported even when none is (an alert needs the zero).
SUBMISSION_STATES = tuple(s.value for s in State if s not in (State.DRAFT, State.APPROVED))
# The worker's failed attempts: a retry (transient error, attempts left) or the final failure.
# Both carry Meta's error as the worker recorded it (app.submissions.worker: _failed_attempt).
META_ERROR_KINDS = ("checklist.retry", "checklist.fail")
COUNTED_KINDS = (CHECKLIST_REFUSED, SEND_BLOCKED, *META_ERROR_KINDS)
# The label of an absent code or subcode: no answer from Meta (timeout, dropped connection).
NONE = "none"
BATCH = 1_000
AUTH_REALM = 'Bearer realm="adgate metrics"'


# --- what the audit log adds up to ---------------------------------------------------


@dataclass
class Tally:
    """The audit-log counts of one process, over the events up to ``seq`` (whose hash is kept)."""

    seq: int = 0
    hash: str | None = None
    # (stage, step) → blocked submits or sends that had the step unmet, once per blocked event
    blocked: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (code, subcode) → failed attempts at Meta, transient ones included
    meta_errors: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, kind: str, raw: str | None) -> None:
        """Count one event of ``COUNTED_KINDS``."""
        data = json.loads(raw) if raw is not None else None  # None: cleared by a purge
        if not isinstance(data, dict):
            return
        if kind == CHECKLIST_REFUSED:
            # As on the auditors' dashboard: a refused submit, not a refused approval or edit.
            if data.get("event") == "submit":
                self.blocked.update(("submit", step) for step in _steps(data.get("unmet")))
        elif kind == SEND_BLOCKED:
            # Submitted, then stopped by the worker's last check before Meta.
            self.blocked.update(("send", step) for step in _steps(data.get("blocked")))
        elif isinstance(error := data.get("error"), dict):
            self.meta_errors[_label(error.get("code")), _label(error.get("subcode"))] += 1

    def copy(self) -> Tally:
        """An independent copy."""
        return Tally(self.seq, self.hash, Counter(self.blocked), Counter(self.meta_errors))


def _steps(unmet: Any) -> set[str]:
    """The distinct steps of a refusal: a step listed twice still counts once."""
    if not isinstance(unmet, list):
        return set()
    return {str(u.get("step", "")) for u in unmet if isinstance(u, dict)}


def _label(value: Any) -> str:
    return NONE if value is None else str(value)


class AuditTally:
    """This process's running tally of the audit log, brought up to date at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()

    def update(self, session: Session) -> tuple[Tally, int]:
        """Count the events appended since the last scrape; returns the tally and the newest seq."""
        head = session.execute(
            select(col(AuditEvent.seq), col(AuditEvent.hash))
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        ).first()
        newest, newest_hash = (int(head[0]), str(head[1])) if head else (0, None)
        # One scrape at a time per process: two threads must not count the same events twice.
        with self._lock:
            # Counted on a copy: a scrape that fails halfway must not leave half its events counted.
            tally = self._tally.copy()
            if newest < tally.seq or self._replaced(session, tally):
                # A restored or another database: what was counted no longer exists.
                tally = Tally()
            if newest > tally.seq:
                query = (
                    select(col(AuditEvent.kind), col(AuditEvent.data))
                    .where(
                        col(AuditEvent.kind).in_(COUNTED_KINDS),
                        col(AuditEvent.seq) > tally.seq,
                        col(AuditEvent.seq) <= newest,
                    )
                    .execution_options(yield_per=BATCH)
                )
                with closing(session.execute(query)) as rows:
                    for kind, raw in rows:
                        tally.add(kind, raw)
                tally.seq, tally.hash = newest, newest_hash
            self._tally = tally  # never changed again: the next scrape counts on a copy
            return tally, newest

    @staticmethod
    def _replaced(session: Session, tally: Tally) -> bool:
        """Whether the event counted last now has another hash (a purge may delete it: fine)."""
        if tally.seq == 0:
            return False
        stored = session.scalar(
            select(col(AuditEvent.hash)).where(col(AuditEvent.seq) == tally.seq)
        )
        return stored is not None and stored != tally.hash


# --- the collector -------------------------------------------------------------------


class DatabaseCollector:
    """adgate's own metrics, read from the database at every scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tally = AuditTally()
        self._build: dict[str, str] | None = None

    def collect(self) -> Iterator[Metric]:
        """The figures of this moment (the registry calls this once per scrape)."""
        started = time.perf_counter()
        now = utcnow()
        with db.new_session(write=False, eng=self.engine) as session:
            submissions = _count_by(session, col(Submission.status))
            checklists = _count_by(session, col(Checklist.state))
            depth, oldest = _ready(session, now)
            tally, newest = self.tally.update(session)
            checkpoint = session.scalar(
                select(col(AuditCheckpoint.taken_at))
                .order_by(col(AuditCheckpoint.seq).desc())
                .limit(1)
            )
            accounts = _count_by(session, col(AdAccount.political_eligible))
            unsent, unsent_since = session.execute(
                select(func.count(), func.min(col(OutboxMail.created_at))).where(
                    col(OutboxMail.sent_at).is_(None), col(OutboxMail.dropped).is_(None)
                )
            ).one()
            throttled = throttle.throttled_accounts(session, now)

        yield _gauge(
            "adgate_submissions",
            "Submissions by state.",
            "state",
            {s: submissions.get(s, 0) for s in (*SUBMISSION_STATES, *sorted(submissions))},
        )
        yield _gauge(
            "adgate_checklists",
            "Checklists (ads) by lifecycle state.",
            "state",
            {s.value: checklists.get(s.value, 0) for s in State} | checklists,
        )
        yield GaugeMetricFamily(
            "adgate_queue_depth",
            "Submissions ready to send now: queued and due, or sending under a lease that ran out.",
            value=depth,
        )
        yield GaugeMetricFamily(
            "adgate_queue_lag_seconds",
            "How long the oldest ready submission has been ready (0 when none is).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        )
        blocked = CounterMetricFamily(
            "adgate_blocked_submits",
            "Blocked submits by unmet step: a submit refused by the checks (stage submit) or "
            "stopped by the worker's check before sending (stage send) counts once per unmet step.",
            labels=["stage", "step"],
        )
        for (stage, step), n in sorted(tally.blocked.items()):
            blocked.add_metric([stage, step], n)
        yield blocked
        errors = CounterMetricFamily(
            "adgate_meta_errors",
            "Failed attempts at Meta by Meta's error code and subcode, retried transient errors "
            'included; code "none": no answer (timeout, dropped connection).',
            labels=["code", "subcode"],
        )
        for (code, subcode), n in sorted(tally.meta_errors.items()):
            errors.add_metric([code, subcode], n)
        yield errors
        yield CounterMetricFamily(
            "adgate_audit_events",
            "Events ever appended to the audit log (the newest seq; a purge does not lower it).",
            value=newest,
        )
        yield GaugeMetricFamily(
            "adgate_audit_checkpoint_age_seconds",
            "Time since the newest audit checkpoint (+Inf when there is none yet).",
            value=(now - checkpoint).total_seconds() if checkpoint is not None else float("inf"),
        )
        yield _gauge(
            "adgate_ad_accounts",
            "Registered ad accounts by political-ad eligibility.",
            "eligible",
            {"true": accounts.get(True, 0), "false": accounts.get(False, 0)},
        )
        yield _gauge(
            "adgate_meta_throttled_seconds",
            "Seconds until Meta lets adgate call an ad account again (only throttled accounts).",
            "ad_account",
            {a: (until - now).total_seconds() for a, until in sorted(throttled.items())},
        )
        yield GaugeMetricFamily(
            "adgate_mail_unsent", "Notification mails queued and not sent yet.", value=unsent
        )
        yield GaugeMetricFamily(
            "adgate_mail_oldest_unsent_seconds",
            "How long the oldest unsent notification mail has waited (0 when none waits): it "
            "grows while the mail server refuses or cannot be reached.",
            value=(now - unsent_since).total_seconds() if unsent_since is not None else 0.0,
        )
        yield InfoMetricFamily("adgate_build", "The running code.", value=self._build_info())
        yield GaugeMetricFamily(
            "adgate_metrics_collect_seconds",
            "Time this scrape spent reading the database.",
            value=time.perf_counter() - started,
        )

    def _build_info(self) -> dict[str, str]:
        if self._build is None:
            code = readiness.loaded()
            self._build = {"version": code.version, "schema": code.schema or ""}
        return self._build


def _count_by(session: Session, column: Any) -> dict[Any, int]:
    """Rows per value of an indexed column (or of a small table)."""
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {value: int(n) for value, n in rows}


def _ready(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """How many submissions a worker would claim now, and since when the oldest has been ready.

    The worker's own condition (``Worker.claim``): queued and due, or sending under a
    lease that ran out. A retry is ready from its ``next_attempt_at``, a new submission
    from its creation, an abandoned one from the end of its lease.
    """
    queued = session.execute(
        select(
            func.count(),
            func.min(func.coalesce(col(Submission.next_attempt_at), col(Submission.created_at))),
        ).where(
            col(Submission.status) == State.QUEUED,
            or_(col(Submission.next_attempt_at).is_(None), col(Submission.next_attempt_at) <= now),
        )
    ).one()
    abandoned = session.execute(
        select(func.count(), func.min(col(Submission.lease_until))).where(
            and_(col(Submission.status) == State.SENDING, col(Submission.lease_until) < now)
        )
    ).one()
    oldest = [t for t in (queued[1], abandoned[1]) if t is not None]
    return int(queued[0]) + int(abandoned[0]), min(oldest) if oldest else None


def _gauge(name: str, documentation: str, label: str, values: Mapping[Any, int | float]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, n in values.items():
        family.add_metric([str(value)], n)
    return family


# --- the endpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """The app's registry: the process collectors and adgate's database collector."""

    registry: CollectorRegistry
    collector: DatabaseCollector


def init_app(app: Flask) -> None:
    """Check the token setting, build the registry, register the endpoint."""
    token = app.config.get("METRICS_TOKEN")
    if token is not None and not app.config.get("TESTING"):
        text = str(token)
        if len(text) < config.MIN_SECRET_LENGTH or text.lower() in config.WELL_KNOWN_SECRETS:
            raise config.UnsafeConfigError(
                f"METRICS_TOKEN must be at least {config.MIN_SECRET_LENGTH} random characters; "
                "unset it to allow only loopback scrapes."
            )
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    collector = DatabaseCollector(app.extensions["adgate.db"])
    registry.register(collector)
    app.extensions[EXTENSION] = Metrics(registry, collector)
    app.register_blueprint(bp)


@bp.get("/metrics")
@public  # not behind a login: the view admits a bearer token, or loopback without one
def scrape() -> Response | tuple[Response, int, dict[str, str]]:
    """The metrics in Prometheus's text format (OpenMetrics when asked for)."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    metrics: Metrics = current_app.extensions[EXTENSION]
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(metrics.registry), content_type=content_type)


def _refusal() -> tuple[Response, int, dict[str, str]] | None:
    token = current_app.config.get("METRICS_TOKEN")
    if token is not None:
        presented = _bearer()
        if presented is not None and hmac.compare_digest(presented.encode(), str(token).encode()):
            return None
        return _refuse(401, "unauthorized", "wrong_token" if presented else "no_token")
    # The client as the app sees it (behind a proxy: as the proxy reports it), and the peer
    # that connected: an app server reached directly, not through the proxy, could otherwise
    # be told "X-Forwarded-For: 127.0.0.1" by anyone.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    if _loopback(request.remote_addr) and (peer is None or _loopback(peer)):
        return None
    return _refuse(403, "forbidden", "not_loopback")


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:  # a unix socket without a proxy in front, or no address at all
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refuse(code: int, status: str, reason: str) -> tuple[Response, int, dict[str, str]]:
    """A refusal, audited; answered like /healthz (JSON, no page, so no session cookie)."""
    audit.defer(
        "access.forbidden",
        data={
            "endpoint": request.endpoint,
            "method": request.method,
            "status": code,
            "reason": reason,
            "client": audit.client_ref(),
        },
    )
    headers = {"WWW-Authenticate": AUTH_REALM} if code == 401 else {}
    return jsonify(status=status), code, headers
