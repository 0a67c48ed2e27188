"""The audit log: append-only, hash-chained, written in the transaction it records.

Every event is one row. Its hash is the SHA-256 of a canonical JSON envelope
that holds the event's fields and the previous event's hash, so that changing,
deleting, inserting or reordering any row breaks the chain from that row on.
The genesis link is 64 zeros. A purge may later delete expired events inside a sealed
segment (``app.audits.retention``); verification then checks what the seal vouches for.

The envelope is sorted-key, compact JSON. Its fields are plain identifiers
(checked on append) and ``data``, which is stored already canonical; so the
envelope can be rebuilt from the columns by string formatting alone, and
verification hashes a million events without re-serializing any JSON.

Appends are serialized: SQLite write transactions begin IMMEDIATE (see
``app.db``), PostgreSQL takes a transaction-scoped advisory lock. A trigger
created by the migration refuses UPDATE, and DELETE outside a sealed segment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, has_request_context, request
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from app.models import AuditEvent, AuditSeal, utcnow

GENESIS = "0" * 64
# An arbitrary constant that names the audit log's advisory lock on PostgreSQL.
PG_LOCK_KEY = 0x61646761_7465
ACTOR_TYPES = frozenset({"user", "token", "system", "anonymous"})
_KIND = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
VERIFY_BATCH = 5_000


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


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain."""

    ok: bool
    events: int
    head: str
    first_bad_event: int | None = None
    reason: str | None = None


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


def event_hash(event: AuditEvent) -> str:
    """The SHA-256 (hex) of the event's envelope."""
    body = envelope(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        kind=event.kind,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        data=event.data,
        request_id=event.request_id,
        prev_hash=event.prev_hash,
    )
    return hashlib.sha256(body.encode()).hexdigest()


# --- appending ---------------------------------------------------------------


def record(
    session: Session,
    kind: str,
    *,
    subject: tuple[str, str | int] | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditEvent:
    """Append an event in the session's transaction; it commits or rolls back with the change."""
    return _append(
        session,
        Pending(
            kind=kind,
            actor=actor or current_actor(),
            subject=_subject(subject),
            data=data or {},
            request_id=current_request_id(),
        ),
    )


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
    for pending in events:
        _append(session, pending)


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
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif bind.dialect.name == "sqlite" and not bind.get_execution_options().get("adgate_write"):
        # A deferred SQLite transaction could read a stale head and fail to upgrade its lock.
        raise AuditError(
            "audit events on SQLite need a write session (app.db.new_session(write=True))"
        )


def _append(session: Session, p: Pending) -> AuditEvent:
    _validate(p)
    lock(session)
    last = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    event = AuditEvent(
        seq=seq,
        occurred_at=p.occurred_at,
        actor_type=p.actor.type,
        actor_id=p.actor.id,
        kind=p.kind,
        subject_type=p.subject[0] if p.subject else None,
        subject_id=p.subject[1] if p.subject else None,
        data=canonical_data(p.data),
        request_id=p.request_id,
        prev_hash=prev,
        hash="",
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event


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


# --- verification ------------------------------------------------------------


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
    )
)
PURGED = "audit.purged"


def kept_line(seq: int, hash_: str) -> bytes:
    """One event's line in a seal's digest of the events it kept."""
    return f"{seq}:{hash_}\n".encode()


def verify(eng: Engine, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Walk the whole chain in constant memory; stop at the first broken link.

    A purged segment (``audit_seal``) may have gaps up to its ``up_to`` event: there the
    link to a deleted predecessor cannot be checked, so every kept event's own hash is,
    and the seal's digest over all kept events must match; the seal's head event must be
    present with the seal's hash, and each seal must be attested by an ``audit.purged``
    event in the chain itself. ``progress`` is called with the events checked so far.
    """
    with eng.connect() as conn:
        seals = conn.execute(
            select(col(AuditSeal.up_to), col(AuditSeal.head), col(AuditSeal.kept),
                   col(AuditSeal.kept_digest)).order_by(col(AuditSeal.up_to))
        ).all()  # fmt: skip
    heads = {up_to: head for up_to, head, _, _ in seals}
    sealed_to = seals[-1][0] if seals else 0
    kept, kept_digest = 0, hashlib.sha256()
    attested: set[tuple[int, str]] = set()
    prev, count, last_seq = GENESIS, 0, 0
    with (
        eng.connect() as conn,
        closing(
            conn.execution_options(stream_results=True, yield_per=VERIFY_BATCH).execute(
                select(*CHAIN_COLUMNS).order_by(col(AuditEvent.seq))
            )
        ) as result,
    ):
        sha256 = hashlib.sha256
        for seq, at, a_type, a_id, kind, s_type, s_id, data, req, prev_hash, stored in result:
            reason = None
            if seq != last_seq + 1 and seq - 1 > sealed_to:
                reason = f"events {last_seq + 1} to {seq - 1} are missing"
            elif seq == last_seq + 1 and prev_hash != prev:
                reason = "prev_hash does not match the previous event's hash"
            else:
                body = envelope(
                    seq=seq,
                    occurred_at=at,
                    actor_type=a_type,
                    actor_id=a_id,
                    kind=kind,
                    subject_type=s_type,
                    subject_id=s_id,
                    data=data,
                    request_id=req,
                    prev_hash=prev_hash,
                )
                if sha256(body.encode()).hexdigest() != stored:
                    reason = "hash does not match the event's content"
                elif seq in heads and heads.pop(seq) != stored:
                    reason = "the event differs from the seal of a purged segment"
            if reason is not None:
                return VerifyResult(False, count, prev, first_bad_event=seq, reason=reason)
            if seq <= sealed_to:
                kept += 1
                kept_digest.update(kept_line(seq, stored))
            if kind == PURGED:
                sealed = json.loads(data)
                attested.add((sealed.get("up_to"), sealed.get("head")))
            prev, count, last_seq = stored, count + 1, seq
            if progress is not None and count % VERIFY_BATCH == 0:
                progress(count)
    if seals:
        up_to, _, want_kept, want_digest = seals[-1]
        reason = None
        if heads:
            reason = f"the head event {min(heads)} of a sealed segment is missing"
        elif (kept, kept_digest.hexdigest()) != (want_kept, want_digest):
            reason = "the events kept in the sealed segment differ from its seal"
        elif unattested := [s[0] for s in seals if (s[0], s[1]) not in attested]:
            reason = f"the seal up to event {unattested[0]} is not attested in the chain"
        if reason is not None:
            return VerifyResult(False, count, prev, first_bad_event=up_to, reason=reason)
    if progress is not None:
        progress(count)
    return VerifyResult(True, count, prev)
