"""Finding audit events: one filter for the pages, the API, the export and the CLI.

Every filter maps onto an index (subject, actor and kind each with seq; occurred_at with
seq), and pages are keyset pages on seq, newest first, so a page costs the same on a million
events as on a hundred and never loads the table.

A period (since/until) is also narrowed to the range of seq its events lie in, looked up
first (``seq_range``; for a page, when the period lies far back, see ``narrow_by_seq``):
otherwise a database reads seq down from the newest event and tests each event's time, past
every event newer than the period, and past every older one when the period has fewer
matches than a page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, false, func, or_, select
from sqlmodel import Session, col

from app import audit
from app.audit import kinds
from app.models import AuditEvent, Submission, User, utcnow

PAGE_SIZE = 50
EXPORT_BATCH = 2_000


@dataclass(frozen=True)
class Filter:
    """What an auditor asked for; every part optional."""

    checklist: int | None = None
    # "user:5", "token:3", "system", "system:adgate", "anonymous" or an e-mail address
    actor: str | None = None
    # an event kind, or a prefix ending in "*"
    kind: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # seq bounds, for exports of a segment (purge archives)
    up_to_seq: int | None = None

    def describe(self) -> dict[str, Any]:
        """The filter as plain JSON values (for manifests and the audit log)."""
        out: dict[str, Any] = {}
        for name in ("checklist", "actor", "kind", "outcome", "since", "until", "up_to_seq"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class Page:
    """One page of events, newest first, and where the next one starts."""

    events: list[AuditEvent]
    next_after: int | None
    filter: Filter = field(default_factory=Filter)


def statement(db: Session, f: Filter, *, by_seq: bool = True) -> Select[Any]:
    """The SELECT for the filter, unordered (``by_seq``: see ``conditions``)."""
    query = select(AuditEvent)
    for clause in conditions(db, f, by_seq=by_seq):
        query = query.where(clause)
    return query


def conditions(db: Session, f: Filter, *, by_seq: bool = True) -> list[Any]:
    """The WHERE clauses the filter stands for.

    With ``by_seq``, a period adds the range of seq its events lie in (one more query).
    """
    clauses: list[Any] = []
    if f.checklist is not None:
        clauses.append(_about_checklist(db, f.checklist))
    if f.actor is not None:
        clauses.extend(_actor(db, f.actor))
    if f.kind is not None:
        if f.kind.endswith("*"):
            clauses.append(col(AuditEvent.kind).startswith(f.kind[:-1], autoescape=True))
        else:
            clauses.append(col(AuditEvent.kind) == f.kind)
    if f.outcome is not None:
        clauses.append(col(AuditEvent.kind).in_(kinds.with_outcome(f.outcome)))
    if f.since is not None:
        clauses.append(col(AuditEvent.occurred_at) >= f.since)
    if f.until is not None:
        clauses.append(col(AuditEvent.occurred_at) < f.until)
    if f.up_to_seq is not None:
        clauses.append(col(AuditEvent.seq) <= f.up_to_seq)
    if by_seq and (f.since is not None or f.until is not None):
        clauses.append(seq_range(db, f))
    return clauses


def seq_range(db: Session, f: Filter) -> Any:
    """``seq`` between the smallest and the largest seq of the filter's period.

    Read from the index on (occurred_at, seq) alone; ``seq + 0`` keeps the planner from
    taking min(seq) off the primary key instead, walking it from one end. The period's own
    conditions stay: times and seqs rise together only roughly (a refusal is written when
    its request ends), so events of other times may lie within the range.
    """
    seq, at = col(AuditEvent.seq), col(AuditEvent.occurred_at)
    query = select(func.min(seq + 0), func.max(seq + 0))
    if f.since is not None:
        query = query.where(at >= f.since)
    if f.until is not None:
        query = query.where(at < f.until)
    lo, hi = db.execute(query).one()
    return false() if lo is None else seq.between(lo, hi)


def narrow_by_seq(db: Session, f: Filter) -> bool:
    """Whether a page of the filter is found faster by first looking up its period's seqs.

    The lookup reads the period's stretch of the index; a page without it reads seq down
    from the newest event, through everything after the period. So a period is looked up
    when it is no longer than the time since it ended: a month two years ago, not the last
    week (whose page starts among its own events).
    """
    if f.until is None:
        return False
    first: datetime | None = db.scalar(select(func.min(col(AuditEvent.occurred_at))))
    if first is None:
        return False
    start = max(f.since or first, first)
    return f.until - start <= utcnow() - f.until


def _about_checklist(db: Session, checklist_id: int) -> Any:
    """The checklist's own events and those of its submissions (its whole history)."""
    submissions = [
        str(s)
        for s in db.scalars(
            select(col(Submission.id)).where(col(Submission.checklist_id) == checklist_id)
        )
    ]
    own = and_(
        col(AuditEvent.subject_type) == "checklist",
        col(AuditEvent.subject_id) == str(checklist_id),
    )
    if not submissions:
        return own
    return or_(
        own,
        and_(
            col(AuditEvent.subject_type) == "submission",
            col(AuditEvent.subject_id).in_(submissions),
        ),
    )


def resolved(db: Session, f: Filter) -> Filter:
    """The filter with an e-mail address replaced by the account's reference (``user:5``).

    Filters are recorded (audit.read, manifests); the address must not reach the chain,
    where erasing the person could not remove it.
    """
    if f.actor is None or "@" not in f.actor:
        return f
    user_id = db.scalar(select(col(User.id)).where(col(User.email) == f.actor.lower()))
    return replace(f, actor=f"user:{user_id or 0}")


def _actor(db: Session, actor: str) -> list[Any]:
    if "@" in actor:
        return _actor(db, resolved(db, Filter(actor=actor)).actor or "")
    kind, _, ident = actor.partition(":")
    clauses = [col(AuditEvent.actor_type) == kind]
    if ident:
        clauses.append(col(AuditEvent.actor_id) == ident)
    return clauses


def page(db: Session, f: Filter, after: int | None = None, limit: int = PAGE_SIZE) -> Page:
    """Events older than ``after`` (a seq), newest first; keyset, so stable while the log grows."""
    query = statement(db, f, by_seq=narrow_by_seq(db, f))
    if after is not None:
        query = query.where(col(AuditEvent.seq) < after)
    rows = list(db.scalars(query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].seq if more and rows else None, f)


def timeline(db: Session, checklist_id: int) -> Sequence[AuditEvent]:
    """A checklist's whole history, oldest first."""
    query = statement(db, Filter(checklist=checklist_id))
    return db.scalars(query.order_by(col(AuditEvent.seq))).all()


def count(db: Session, f: Filter) -> int:
    """How many events match (for progress bars and manifests)."""
    query = select(func.count()).select_from(AuditEvent)
    for clause in conditions(db, f):
        query = query.where(clause)
    return int(db.execute(query).scalar_one())


def stream(db: Session, f: Filter, batch: int = EXPORT_BATCH) -> Iterator[Row[Any]]:
    """Every matching event as a row of ``audit.CHAIN_COLUMNS``, oldest first.

    Keyset batches of plain rows (no ORM objects), so memory stays constant at any size. A
    period is always narrowed to its seqs: the last batch would otherwise read on to the end.
    """
    after = 0
    base = select(*audit.CHAIN_COLUMNS)
    for clause in conditions(db, f):
        base = base.where(clause)
    seq = col(AuditEvent.seq)
    while True:
        rows = db.execute(base.where(seq > after).order_by(seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]
