"""Verification's fast walk: byte for byte ``audit.envelope``, and the plain walk's verdicts.

The plain walk (SQLAlchemy rows, datetimes, ``audit.envelope`` per event) is kept here as
the reference: on both databases, in one process and in several, ``verification.verify`` must find
the same first bad event for the same reason, and the same count and head.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, make_url, select, text, update
from sqlmodel import col

from app import audit
from app.audit import chain, verification
from app.db import engine, transaction
from app.models import AuditEvent
from tests.app.audit.legacy import write_legacy_log
from tools import synthetic_audit


def _eng(app: Flask) -> Engine:
    with app.app_context():
        return engine()


def reference_verify(eng: Engine) -> verification.VerifyResult:
    """The plain walk over SQLAlchemy rows and ``audit.envelope``/``envelope_v2``.

    What the walk is given (the format change's record, each purge's checked
    authorization) is read as ``verification.verify`` reads it.
    """
    with eng.connect() as conn:
        legacy = verification._legacy(conn)
        purges = verification._purges(conn, verification.Trust())
        rows = conn.execute(select(*audit.CHAIN_COLUMNS).order_by(col(AuditEvent.seq))).all()
    seals = legacy.seals
    heads = {up_to: head for up_to, head, _, _ in seals}
    sealed_to = seals[-1][0] if seals else 0
    kept, kept_digest = 0, hashlib.sha256()
    digest = chain.LegacyDigest()
    attested: set[tuple[int, str]] = set()
    cleared: dict[int, list[int]] = {}
    prev, count, last_seq = audit.GENESIS, 0, 0
    for row in rows:
        seq, at, a_type, a_id, kind, s_type, s_id, data, req, prev_hash, stored = row[:11]
        body, retention, purge = row[11:]
        fields = {"seq": seq, "occurred_at": at, "actor_type": a_type, "actor_id": a_id,
                  "kind": kind, "subject_type": s_type, "subject_id": s_id,
                  "request_id": req, "prev_hash": prev_hash}  # fmt: skip
        second = hashlib.sha256(
            audit.envelope_v2(**fields, body_hash=body, retention=retention).encode()
        ).hexdigest()
        reason = None
        if seq != last_seq + 1 and seq - 1 > sealed_to:
            reason = f"events {last_seq + 1} to {seq - 1} are missing"
        elif seq == last_seq + 1 and prev_hash != prev:
            reason = "prev_hash does not match the previous event's hash"
        elif (
            seq <= legacy.to
            and data is not None
            and hashlib.sha256(audit.envelope(**fields, data=data).encode()).hexdigest() != stored
        ) or (seq > legacy.to and second != stored):
            reason = "hash does not match the event's content"
        elif data is not None and audit.body_hash(data) != body:
            reason = "body_hash does not match the event's content"
        elif data is not None and purge is not None:
            reason = f"the event keeps its content but names purge {purge}"
        elif data is None:
            grant = purges.get(purge) if purge is not None else None
            if purge is None:
                reason = "the event's content is gone, and no purge cleared it"
            elif grant is None:
                reason = f"the event's content was cleared by purge {purge}, which does not exist"
            elif grant.get("problem"):
                reason = f"the event's content was cleared by purge {purge}: {grant['problem']}"
        if reason is None and seq in heads and heads.pop(seq) != stored:
            reason = "the event differs from the seal of a purged segment"
        if reason is not None:
            return verification.VerifyResult(False, count, prev, first_bad_event=seq, reason=reason)
        if seq <= sealed_to:
            kept += 1
            kept_digest.update(audit.kept_line(seq, stored))
        if seq <= legacy.to:
            digest.update(seq, stored, second)
        if kind == audit.PURGED and seq <= legacy.to and data is not None:
            sealed = json.loads(data)
            attested.add((sealed.get("up_to"), sealed.get("head")))
        if purge is not None:
            cleared.setdefault(purge, [0, seq])[0] += 1
        prev, count, last_seq = stored, count + 1, seq
    digest.finish()
    problem = legacy.problem
    if (
        problem is None
        and legacy.to
        and (chain.LegacyDigest.combine(digest.chunks) != legacy.digest)
    ):
        problem = (legacy.to + 1, "the events before the format change differ from the digest "
                   "it recorded")  # fmt: skip
    if problem is None and seals:
        up_to, _, want_kept, want_digest = seals[-1]
        if heads:
            problem = (up_to, f"the head event {min(heads)} of a sealed segment is missing")
        elif (kept, kept_digest.hexdigest()) != (want_kept, want_digest):
            problem = (up_to, "the events kept in the sealed segment differ from its seal")
        elif unattested := [s[0] for s in seals if (s[0], s[1]) not in attested]:
            problem = (up_to, f"the seal up to event {unattested[0]} is not attested in the chain")
    if problem is not None:
        return verification.VerifyResult(False, count, prev, first_bad_event=problem[0],
                                  reason=problem[1])  # fmt: skip
    return verification.VerifyResult(True, count, prev)


# --- the envelope from the stored text ----------------------------------------

_IDS = st.none() | st.text(string.ascii_letters + string.digits + "_.:-", min_size=1, max_size=64)
_NAMES = st.none() | st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
# hypothesis wants naive bounds
_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)),
                               timezone(timedelta(hours=-5, minutes=-30))]),
)  # fmt: skip


def _stored_texts(at: datetime) -> tuple[str, str]:
    """The time as SQLite stores it, and as PostgreSQL's text gives it (trailing zeros cut)."""
    naive = at.astimezone(UTC).replace(tzinfo=None)
    sqlite = naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    postgresql = sqlite.rstrip("0").rstrip(".") if naive.microsecond else sqlite[:19]
    return sqlite, postgresql


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 2**62), at=_TIMES, actor_type=st.sampled_from(sorted(audit.ACTOR_TYPES)),
    actor_id=_IDS, kind=st.from_regex(r"[a-z][a-z0-9_.]{0,63}", fullmatch=True),
    subject_type=_NAMES, subject_id=_IDS, data=st.dictionaries(st.text(), _JSON, max_size=4),
    request_id=_IDS, prev_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
)  # fmt: skip
def test_the_envelope_from_the_stored_text_is_the_envelope(
    seq: int, at: datetime, actor_type: str, actor_id: str | None, kind: str,
    subject_type: str | None, subject_id: str | None, data: dict[str, Any],
    request_id: str | None, prev_hash: str,
) -> None:  # fmt: skip
    fields: dict[str, Any] = {
        "actor_type": actor_type, "actor_id": actor_id, "kind": kind,
        "subject_type": subject_type, "subject_id": subject_id,
        "data": audit.canonical_data(data), "request_id": request_id, "prev_hash": prev_hash,
    }  # fmt: skip
    expected = audit.envelope(seq=seq, occurred_at=at, **fields)
    for stored, padded in zip(_stored_texts(at), (False, True), strict=True):
        time_text = chain.stored_time(stored, padded=padded)
        assert time_text is not None
        assert chain.envelope_text(seq=seq, at=time_text, **fields) == expected
        # The walk's lean loop and its full check agree with it too.
        body = audit.body_hash(fields["data"])
        row = (seq, stored, actor_type, actor_id, kind, subject_type, subject_id,
               fields["data"], request_id, prev_hash,
               hashlib.sha256(expected.encode()).hexdigest(), body, "evidence", None)  # fmt: skip
        for sealed_to in (0, seq):
            walked = chain.walk(
                [[row]], start=(seq - 1, prev_hash), sealed_to=sealed_to, heads={},
                legacy_to=seq, padded_times=padded,
            )  # fmt: skip
            assert walked.bad is None
            assert walked.events == 1
        # The second format, in the walk's lean loop and in its full check.
        fields2 = {k: v for k, v in fields.items() if k != "data"}
        second = audit.envelope_v2(
            seq=seq, occurred_at=at, **fields2, body_hash=body, retention="evidence"
        )
        assert chain.envelope_v2_text(
            seq, time_text, actor_type, actor_id, kind, subject_type, subject_id, body,
            "evidence", request_id, prev_hash,
        ) == second  # fmt: skip
        assert json.loads(second)["body"] == body
        row2 = (*row[:10], hashlib.sha256(second.encode()).hexdigest(), body, "evidence", None)
        for start in ((seq - 1, prev_hash), None):
            walked = chain.walk([[row2]], start=start, sealed_to=0, heads={},
                                      padded_times=padded)  # fmt: skip
            assert walked.bad is None
            assert walked.events == 1


@pytest.mark.parametrize(
    "stored",
    [
        "2026-01-02T03:04:05.000006",  # another separator: sorts differently in a query
        "2026-01-02 03:04:05.6",  # the same instant in another text
        "2026-01-02 03:04:05",
        "2026-01-02 03:04:05.000006Z",
        "",
        "2026-01-02",
    ],
)
def test_sqlite_times_in_another_text_are_not_the_stored_time(stored: str) -> None:
    assert chain.stored_time(stored, padded=False) is None


def test_postgresql_times_get_their_zeros_back() -> None:
    assert chain.stored_time("2026-01-02 03:04:05", padded=True) == ("2026-01-02 03:04:05.000000")
    assert chain.stored_time("2026-01-02 03:04:05.12", padded=True) == (
        "2026-01-02 03:04:05.120000"
    )
    assert chain.stored_time("2026-01-02 03:04:05.", padded=True) is None
    assert chain.stored_time("10000-01-02 03:04:05", padded=True) is None


EDGE_TIMES = [
    datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC),  # microsecond 0
    datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC),  # trailing zeros
    datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 999999, tzinfo=timezone(timedelta(hours=2))),
    datetime(2024, 2, 29, 23, 59, 59, 120, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(1999, 12, 31, 23, 59, 59, 999990, tzinfo=UTC),
]


def test_stored_times_give_the_envelope_on_both_databases(app: Flask) -> None:
    eng = _eng(app)
    with app.app_context(), transaction() as db:
        for at in EDGE_TIMES:
            audit.write(
                db, [audit.Pending("test.time", audit.SYSTEM, None, {"at": str(at)}, None, at)]
            )
    # What the walk reads, row by row, rebuilt into the envelope audit.envelope makes.
    dialect = eng.dialect.name
    with eng.connect() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO'")
        raw = conn.exec_driver_sql(chain.select_sql(dialect), (1, len(EDGE_TIMES))).all()
        orm = conn.execute(select(*audit.CHAIN_COLUMNS).order_by(col(AuditEvent.seq))).all()
    for stored, row in zip(raw, orm, strict=True):
        time_text = chain.stored_time(stored[1], padded=dialect == "postgresql")
        assert time_text is not None, stored[1]
        fast = chain.envelope_v2_text(row[0], time_text, *row[2:7], *row[11:13], *row[8:10])
        keys = [c.key for c in audit.CHAIN_COLUMNS]
        values = dict(zip(keys, row, strict=True))
        del values["data"], values["hash"], values["purge_id"]
        assert fast == audit.envelope_v2(**values)
    for workers in (1, 2):
        result = verification.verify(eng, workers=workers)
        assert result.ok, result
        assert result.events == len(EDGE_TIMES)


# --- the verdicts, in one process and in several ----------------------------


def _log(app: Flask, n: int = 30) -> None:
    with app.app_context():
        for i in range(n):
            with transaction() as db:
                audit.record(
                    db, "test.event", subject=("thing", i), data={"i": i, "text": 'Grüße "x"\n'}
                )


def _writable(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        conn.execute(text("ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_frozen"))
    else:
        for trigger in ("audit_event_no_update", "audit_event_no_delete", "audit_seal_no_update"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))


def _rehash(conn: Connection, seq: int) -> None:
    row = conn.execute(select(AuditEvent).where(col(AuditEvent.seq) == seq)).one()
    event = AuditEvent(**row._mapping)
    conn.execute(update(AuditEvent).where(col(AuditEvent.seq) == seq)
                 .values(hash=audit.event_hash(event)))  # fmt: skip


def _shift_time(conn: Connection, seq: int) -> None:
    at = conn.execute(select(col(AuditEvent.occurred_at)).where(col(AuditEvent.seq) == seq))
    conn.execute(update(AuditEvent).where(col(AuditEvent.seq) == seq)
                 .values(occurred_at=at.scalar_one() + timedelta(microseconds=1)))  # fmt: skip


def _sql(*statements: str) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for statement in statements:
            conn.execute(text(statement))

    return run


def _then(*steps: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for step in steps:
            step(conn)

    return run


# With 30 events and three processes the ranges are 1-10, 11-20 and 21-30: the changes sit
# inside ranges and on their edges.
TAMPERINGS: dict[str, tuple[Callable[[Connection], None], int | None]] = {
    "untouched": (_sql(), None),
    "data changed": (_sql("UPDATE audit_event SET data = '[]' WHERE seq = 3"), 3),
    "changed and rehashed, last of a range": (
        _then(
            _sql("UPDATE audit_event SET kind = 'forged' WHERE seq = 10"), lambda c: _rehash(c, 10)
        ),
        11,
    ),
    "first of a range deleted": (_sql("DELETE FROM audit_event WHERE seq = 11"), 12),
    "last event deleted (a shorter chain)": (_sql("DELETE FROM audit_event WHERE seq = 30"), None),
    "reordered across a range edge": (
        _sql(
            "UPDATE audit_event SET seq = -1 WHERE seq = 20",
            "UPDATE audit_event SET seq = 20 WHERE seq = 21",
            "UPDATE audit_event SET seq = 21 WHERE seq = -1",
        ),
        20,
    ),
    "occurred_at a microsecond later": (lambda c: _shift_time(c, 15), 15),
    "request_id added": (_sql("UPDATE audit_event SET request_id = 'r1' WHERE seq = 5"), 5),
    "subject emptied": (
        _sql("UPDATE audit_event SET subject_type = NULL, subject_id = NULL WHERE seq = 7"),
        7,
    ),
    "actor id made empty": (_sql("UPDATE audit_event SET actor_id = '' WHERE seq = 8"), 8),
    "prev_hash of a range's first event": (
        _sql("UPDATE audit_event SET prev_hash = hash WHERE seq = 21"),
        21,
    ),
    "hash of a range's last event": (
        _sql(f"UPDATE audit_event SET hash = '{'e' * 64}' WHERE seq = 10"),
        10,
    ),
    "an event added at the end, linked to an old one": (
        _sql(
            "INSERT INTO audit_event (seq, occurred_at, actor_type, kind, data, prev_hash, hash,"
            " body_hash, retention)"
            " SELECT 31, occurred_at, actor_type, kind, data, prev_hash, 'x', body_hash,"
            " retention FROM audit_event"
            " WHERE seq = 29"
        ),
        31,
    ),
    "an event slipped in before the first": (
        _sql(
            "INSERT INTO audit_event (seq, occurred_at, actor_type, kind, data, prev_hash, hash,"
            " body_hash, retention)"
            " SELECT 0, occurred_at, actor_type, kind, data, prev_hash, 'y', body_hash,"
            " retention FROM audit_event"
            " WHERE seq = 1"
        ),
        0,
    ),
}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_verdicts_are_the_plain_walks(app: Flask, tampering: str, workers: int) -> None:
    _log(app)
    eng = _eng(app)
    change, first_bad = TAMPERINGS[tampering]
    with eng.begin() as conn:
        _writable(conn)
        change(conn)
    seen: list[int] = []
    result = verification.verify(eng, seen.append, workers=workers)
    assert result == reference_verify(eng)
    assert result.first_bad_event == first_bad, result
    assert result.ok is (first_bad is None)
    if result.ok:
        assert seen == sorted(seen)
        assert seen[-1] == result.events


@pytest.mark.dialect("sqlite")
@pytest.mark.parametrize(
    "change",
    [
        "replace(occurred_at, ' ', 'T')",  # hides the event from a period's first or last hours
        "substr(occurred_at, 1, 19)",
        "occurred_at || 'Z'",
        "20260102",
    ],
)
@pytest.mark.parametrize("workers", [1, 3])
def test_a_time_stored_in_another_text_is_a_change_on_sqlite(
    app: Flask, change: str, workers: int
) -> None:
    """The plain walk parsed the text and missed these; queries compare the text itself."""
    _log(app)
    eng = _eng(app)
    with eng.begin() as conn:
        _writable(conn)
        conn.execute(text(f"UPDATE audit_event SET occurred_at = {change} WHERE seq = 12"))
    result = verification.verify(eng, workers=workers)
    assert not result.ok
    assert result.first_bad_event == 12
    assert result.reason == "hash does not match the event's content"
    assert result.events == 11


# --- sealed segments ---------------------------------------------------------


def _purged(app: Flask) -> int:
    """A log from before migration 0010 with a purged segment, and events after it."""
    legacy = write_legacy_log(app, 60)
    synthetic_audit.events(_eng(app), 3000, checklists=30, users=5, days=900)
    return legacy.sealed_to


SEAL_TAMPERINGS: dict[str, str | None] = {
    "untouched": None,
    "a kept event deleted": (
        "DELETE FROM audit_event WHERE seq = (SELECT max(seq) FROM audit_event"
        " WHERE seq < :s AND kind = 'checklist.created')"
    ),
    "the seal's head deleted": "DELETE FROM audit_event WHERE seq = :s",
    "the seal's digest changed": f"UPDATE audit_seal SET kept_digest = '{'0' * 64}'",
    "the seal's head changed": (
        "UPDATE audit_seal SET head = (SELECT prev_hash FROM audit_event WHERE seq = :s)"
    ),
    "a kept event changed": (
        "UPDATE audit_event SET data = '{}' WHERE seq = (SELECT min(seq) FROM audit_event)"
    ),
}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("tampering", SEAL_TAMPERINGS)
def test_sealed_segments_get_the_plain_walks_verdicts(
    app: Flask, tampering: str, workers: int
) -> None:
    sealed_to = _purged(app)
    eng = _eng(app)
    with eng.begin() as conn:
        _writable(conn)
        statement = SEAL_TAMPERINGS[tampering]
        if statement is not None:
            conn.execute(text(statement), {"s": sealed_to})
    result = verification.verify(eng, workers=workers)
    assert result == reference_verify(eng)
    assert result.ok is (tampering == "untouched"), result


def test_the_first_range_holds_the_whole_sealed_segment() -> None:
    chunk = chain.LEGACY_CHUNK
    # Old-format events are split at the digest's chunks only.
    assert verification._ranges(1, 3 * chunk, 0, 3, 3 * chunk - 10) == [
        (1, chunk), (chunk + 1, 2 * chunk), (2 * chunk + 1, 3 * chunk)
    ]  # fmt: skip
    assert verification._ranges(1, 2 * chunk, 0, 4, 2 * chunk) == [
        (1, chunk), (chunk + 1, 2 * chunk)
    ]  # fmt: skip
    assert verification._ranges(1, 30, 0, 3) == [(1, 10), (11, 20), (21, 30)]
    assert verification._ranges(1, 30, 15, 3) == [(1, 20), (21, 30)]
    assert verification._ranges(1, 30, 30, 3) == [(1, 30)]
    assert verification._ranges(5, 6, 0, 4) == [(5, 5), (6, 6)]
    assert verification._ranges(1, 1, 0, 1) == [(1, 1)]


# --- processes -----------------------------------------------------------------


def test_progress_in_several_processes_rises_to_the_total(app: Flask) -> None:
    synthetic_audit.events(_eng(app), 12_000, checklists=50, users=5, days=30)
    seen: list[int] = []
    result = verification.verify(_eng(app), seen.append, workers=3)
    assert result == reference_verify(_eng(app))
    assert result.ok
    assert len(seen) > 3
    assert seen == sorted(seen)
    assert seen[-1] == result.events == 12_000


@pytest.mark.dialect("postgresql")
def test_every_process_sees_the_chain_as_verification_began(app: Flask) -> None:
    """The child processes share the verifying transaction's snapshot on PostgreSQL."""
    _log(app)
    eng = _eng(app)
    with eng.begin() as conn:
        _writable(conn)
    changed: list[bool] = []

    def change_once(_: int) -> None:
        if not changed:
            with eng.begin() as conn:
                conn.execute(text("UPDATE audit_event SET data = '[]' WHERE seq = 25"))
            changed.append(True)

    assert verification.verify(eng, change_once, workers=3).ok
    assert changed
    assert verification.verify(eng, workers=3).first_bad_event == 25


@pytest.mark.dialect("sqlite")
def test_a_process_that_cannot_read_the_database_is_an_error(app: Flask) -> None:
    _log(app)
    eng = _eng(app)
    assert verification.verify(eng, workers=2).ok  # the pool now holds an open connection
    path = Path(make_url(str(eng.url)).database or "")
    moved = path.with_name("moved.sqlite3")
    path.rename(moved)
    try:
        with pytest.raises(RuntimeError, match="verifying events 16 to 30 failed"):
            verification.verify(eng, workers=2)
    finally:
        moved.rename(path)
    assert verification.verify(eng, workers=2).ok
