"""The audit log: append-only, hash-chained, written in the transaction it records.

This module is the write side (``record``, ``append``, ``defer``, ``Actor``, ``lock``) and
the envelope; beside it the rest of the engine: ``chain`` (the walk over the rows, also run
by path in child processes), ``verification``, ``integrity`` (checkpoints, verification
runs), ``retention`` (purges), ``export``, ``signing``, ``query`` (the one filter) and
``kinds`` (the catalogue). The auditors' pages and ``flask audit`` are in ``app.auditors``.

Every event is one row. Its hash is the SHA-256 of a canonical JSON envelope
that holds the event's fields, the SHA-256 of its body (``data``), its retention class
and the previous event's hash, so that changing, deleting, inserting or reordering any
row breaks the chain from that row on. The genesis link is 64 zeros. A purge may later
clear the body of an expired event, never the row (``app.audit.retention``): its hash,
link and metadata still verify, and the purge's signed authorization says why the body
is gone. Events from before bodies were hashed apart keep their first envelope, which
holds ``data`` itself (see ``app.audit.chain``).

The envelope is sorted-key, compact JSON. Its fields are plain identifiers
(checked on append) and ``data``, which is stored already canonical; so the
envelope can be rebuilt from the columns by string formatting alone, and
verification hashes a million events without re-serializing any JSON.

Appends are serialized: SQLite write transactions begin IMMEDIATE (see
``app.db``), PostgreSQL takes a transaction-scoped advisory lock. ``record`` only
collects an event in its session; the events are appended when the transaction commits,
so that PostgreSQL's lock is held for the inserts and the commit alone, not for the rest
of a request or of a worker's round (and a transaction never waits for a row lock while
holding it). Triggers created by the migrations refuse every DELETE, and every UPDATE but
a purge's clearing of an expired body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import event, select, text
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col

from app.audit.chain import FORMAT as FORMAT
from app.audit.chain import GENESIS as GENESIS
from app.audit.chain import PURGED as PURGED
from app.audit.chain import body_hash as body_hash
from app.audit.chain import kept_line as kept_line
from app.models import AuditEvent, utcnow

# An arbitrary constant that names the audit log's advisory lock on PostgreSQL.
PG_LOCK_KEY = 0x61646761_7465
ACTOR_TYPES = frozenset({"user", "token", "system", "anonymous"})
_KIND = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a user, an API token (by id, never the token), or the system."""

    type: str
    id: str | None = None


SYSTEM = Actor("system", "adgate")
ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True)
class Pending:
    """An event to append later: a refusal that must outlive the request's rollback."""

    kind: str
    actor: Actor
    subject: tuple[str, str] | None
    data: Mapping[str, Any]
    request_id: str | None
    occurred_at: datetime = field(default_factory=utcnow)
    # ``data`` as canonical JSON, fixed when the event was recorded (later changes to the
    # caller's dict do not reach the log).
    body: str | None = None


class AuditError(ValueError):
    """An event that cannot be recorded as given."""


def canonical_data(data: Mapping[str, Any]) -> str:
    """``data`` as canonical JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def envelope(
    *,
    seq: int,
    occurred_at: datetime,
    actor_type: str,
    actor_id: str | None,
    kind: str,
    subject_type: str | None,
    subject_id: str | None,
    data: str,
    request_id: str | None,
    prev_hash: str,
) -> str:
    """The canonical JSON that an event's hash is taken over.

    Equal to ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` of the
    event for every value that ``append`` admits (a test holds it to that).
    """
    at = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f'{{"actor":{{"id":{_str(actor_id)},"type":"{actor_type}"}},"at":"{at}",'
        f'"data":{data},"kind":"{kind}","prev":"{prev_hash}","request":{_str(request_id)},'
        f'"seq":{seq},"subject":{{"id":{_str(subject_id)},"type":{_str(subject_type)}}}}}'
    )


def _str(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def envelope_v2(
    *,
    seq: int,
    occurred_at: datetime,
    actor_type: str,
    actor_id: str | None,
    kind: str,
    subject_type: str | None,
    subject_id: str | None,
    body_hash: str,
    retention: str,
    request_id: str | None,
    prev_hash: str,
) -> str:
    """The envelope of events appended since bodies are hashed apart (migration 0010):
    ``body`` (the SHA-256 of ``data``) and ``retention`` stand where ``data`` stood.

    Equal to ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` of the event for
    every value that ``append`` admits (a test holds it to that).
    """
    at = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f'{{"actor":{{"id":{_str(actor_id)},"type":"{actor_type}"}},"at":"{at}",'
        f'"body":"{body_hash}","kind":"{kind}","prev":"{prev_hash}",'
        f'"request":{_str(request_id)},"retention":"{retention}","seq":{seq},'
        f'"subject":{{"id":{_str(subject_id)},"type":{_str(subject_type)}}}}}'
    )


def event_hash(event: AuditEvent) -> str:
    """The SHA-256 (hex) of the event's envelope (the second format's)."""
    body = envelope_v2(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        kind=event.kind,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        body_hash=event.body_hash,
        retention=event.retention,
        request_id=event.request_id,
        prev_hash=event.prev_hash,
    )
    return hashlib.sha256(body.encode()).hexdigest()


# The columns the envelope is built from; typed Any because rows mix ints, times and strings.
CHAIN_COLUMNS: tuple[Any, ...] = tuple(
    col(c)
    for c in (
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.actor_type,
        AuditEvent.actor_id,
        AuditEvent.kind,
        AuditEvent.subject_type,
        AuditEvent.subject_id,
        AuditEvent.data,
        AuditEvent.request_id,
        AuditEvent.prev_hash,
        AuditEvent.hash,
        AuditEvent.body_hash,
        AuditEvent.retention,
        AuditEvent.purge_id,
    )
)


def retention_of(kind: str) -> str:
    """The retention class of a kind, from the catalogue (evidence if it is not there)."""
    from app.audit.kinds import lookup  # the catalogue's labels need Flask-Babel

    return lookup(kind).retention


# --- appending ---------------------------------------------------------------


PENDING = "adgate.audit_pending"


def record(
    session: Session,
    kind: str,
    *,
    subject: tuple[str, str | int] | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Record an event in the session's transaction: it is appended when the transaction
    commits, and vanishes if it rolls back. Bad events are refused here, at once."""
    pending = _pending(kind, subject, data, actor)
    _validate(pending)
    _writable(session)
    session.connection()  # in a transaction, so that its end (commit or rollback) takes it
    session.info.setdefault(PENDING, []).append(pending)


def append(
    session: Session,
    kind: str,
    *,
    subject: tuple[str, str | int] | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEvent:
    """Append an event now, taking the lock until the transaction ends: for an event whose
    seq and hash the caller needs at once (a checkpoint)."""
    return _append(session, _pending(kind, subject, data, actor))


def _pending(
    kind: str,
    subject: tuple[str, str | int] | None,
    data: Mapping[str, Any] | None,
    actor: Actor | None,
) -> Pending:
    data = data or {}
    return Pending(
        kind=kind,
        actor=actor or current_actor(),
        subject=_subject(subject),
        data=data,
        request_id=current_request_id(),
        body=canonical_data(data),
    )


@event.listens_for(Session, "before_commit")
def _append_recorded(session: Session) -> None:
    # One lock, one read of the head and one flush for all of a transaction's events.
    pending: list[Pending] = session.info.pop(PENDING, [])
    if pending:
        _append_all(session, pending)


@event.listens_for(Session, "after_transaction_end")
def _forget_recorded(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the session's own transaction ended: commit or rollback
        session.info.pop(PENDING, None)


def defer(
    kind: str,
    *,
    subject: tuple[str, str | int] | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Queue an event that is written when the request ends, even if it is refused.

    For refusals (403, CSRF, 401) and reads: the request's own changes roll back,
    the record of what was refused does not.
    """
    pending = Pending(
        kind=kind,
        actor=actor or current_actor(),
        subject=_subject(subject),
        data=data or {},
        request_id=current_request_id(),
    )
    _validate(pending)
    g.setdefault("audit_deferred", []).append(pending)


def pop_deferred() -> list[Pending]:
    """Take the request's deferred events."""
    events: list[Pending] = g.pop("audit_deferred", [])
    return events


def write(session: Session, events: list[Pending]) -> None:
    """Append deferred events in the session's transaction."""
    if events:
        _append_all(session, events)


def _subject(subject: tuple[str, str | int] | None) -> tuple[str, str] | None:
    return None if subject is None else (subject[0], str(subject[1]))


def _validate(p: Pending) -> None:
    if not _KIND.fullmatch(p.kind):
        raise AuditError(f"bad event kind {p.kind!r}")
    if p.actor.type not in ACTOR_TYPES:
        raise AuditError(f"bad actor type {p.actor.type!r}")
    ids = [p.actor.id, p.request_id] + ([p.subject[1]] if p.subject else [])
    for value in ids:
        if value is not None and not _ID.fullmatch(value):
            raise AuditError(f"bad identifier {value!r}: events carry references, not free text")
    if p.subject is not None and not _NAME.fullmatch(p.subject[0]):
        raise AuditError(f"bad subject type {p.subject[0]!r}")


def lock(session: Session) -> None:
    """Serialize appends: the advisory lock on PostgreSQL, a write transaction on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    else:
        _writable(session)


def _writable(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not bind.get_execution_options().get("adgate_write"):
        # A deferred SQLite transaction could read a stale head and fail to upgrade its lock.
        raise AuditError(
            "audit events on SQLite need a write session (app.db.new_session(write=True))"
        )


def _append(session: Session, p: Pending) -> AuditEvent:
    return _append_all(session, [p])[-1]


def _append_all(session: Session, events: list[Pending]) -> list[AuditEvent]:
    """Append ``events`` in order, each linked to the one before."""
    for p in events:
        _validate(p)
    lock(session)
    last = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    appended = []
    for p in events:
        data = p.body if p.body is not None else canonical_data(p.data)
        event = AuditEvent(
            seq=seq,
            occurred_at=p.occurred_at,
            actor_type=p.actor.type,
            actor_id=p.actor.id,
            kind=p.kind,
            subject_type=p.subject[0] if p.subject else None,
            subject_id=p.subject[1] if p.subject else None,
            data=data,
            body_hash=body_hash(data),
            retention=retention_of(p.kind),
            request_id=p.request_id,
            prev_hash=prev,
            hash="",
        )
        event.hash = event_hash(event)
        appended.append(event)
        seq, prev = seq + 1, event.hash
    session.add_all(appended)
    session.flush()
    return appended


# --- context -----------------------------------------------------------------


def current_actor() -> Actor:
    """The actor of the current request: the API token, the user, or anonymous; else the system."""
    if not has_request_context():
        return SYSTEM
    actor: Actor | None = g.get("audit_actor")
    if actor is not None:
        return actor
    from flask_login import current_user

    if current_user.is_authenticated:
        return Actor("user", str(current_user.id))
    return ANONYMOUS


def current_request_id() -> str | None:
    """The id that ties an event to the request (and the log lines) that caused it."""
    return g.get("request_id") if has_request_context() else None


def client_ref() -> str | None:
    """A keyed HMAC of the client's IP address: linkable across events, not reversible."""
    if not has_request_context() or not request.remote_addr:
        return None
    key = (current_app.config.get("IP_HMAC_KEY") or current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, request.remote_addr.encode(), hashlib.sha256).hexdigest()[:32]
