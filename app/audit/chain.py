"""Walking the audit chain fast: the checks ``app.audit.verification.verify`` makes on every event.

One file of over 500 lines on purpose: child processes run it by its path, and a sibling
module could only be imported through the ``app`` package, whose import costs seconds
(see the last paragraph).

Rows come straight from the database driver as plain tuples, the time as the text SQLite
stores (PostgreSQL formats it the same way, see ``select_sql``), and the envelope is
rebuilt from that text by string formatting alone; tests hold ``envelope_text`` to
``audit.envelope``, the one definition of the canonical form.

Two envelope formats live in one chain. Events from before the log kept bodies apart
(migration 0010) hash their ``data`` itself (``envelope_text``); every later event hashes
``body_hash``, the SHA-256 of its ``data``, with its retention class (``envelope_v2_text``),
so that a purge can clear an expired body and the event's hash, link and metadata still
verify. The ``audit.format`` event that the migration appended marks where the old format
ends and holds a digest over every old event's seq, hash and second-format hash
(``LegacyDigest``): an old event whose body is cleared later is vouched for by that digest.

A long log is walked in ranges of seq, one per CPU: each event's check needs only its own
row and its predecessor's hash, so a range can be walked without the ones before it, and
``join`` then checks each range's first link against the hash the range before it ended
on. This process walks the first range itself; the others run in child processes started
as ``python -P app/audit/chain.py`` (by path: not as ``app.audit.chain``, which would run
``app/audit/__init__.py`` first) with their job on stdin (connection settings included, so
none shows in a process list). The module therefore imports nothing from ``app`` and only
the standard library and the driver, so that a child starts in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

GENESIS = "0" * 64
PURGED = "audit.purged"
FORMAT = "audit.format"
INTEGRITY = "integrity"
# Old events per digest chunk: a range of the walk holds whole chunks, so ranges can be
# walked apart and the digest still covers every old event in order.
LEGACY_CHUNK = 65_536
# Rows per fetch; progress is reported after each.
BATCH = 5_000

_COLUMNS = (
    "seq, {at}, actor_type, actor_id, kind, subject_type, subject_id, data, request_id,"
    " prev_hash, hash, body_hash, retention, purge_id"
    " FROM audit_event WHERE seq BETWEEN {lo} AND {hi} ORDER BY seq"
)
# SQLite keeps the naive UTC time as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's format, with
# all six digits of microseconds). PostgreSQL's text of a timestamp (DateStyle ISO, set by
# the walk) is the same but for trailing zeros of the fraction, which the walk puts back:
# cheaper on the server than to_char().
_AT = {
    "sqlite": "occurred_at",
    "postgresql": "(occurred_at AT TIME ZONE 'UTC')::text",
}
_PARAM = {"sqlite": "?", "postgresql": "%s"}


def select_sql(dialect: str) -> str:
    """The SELECT of a range of events (two parameters: lo and hi), oldest first."""
    p = _PARAM[dialect]
    return "SELECT " + _COLUMNS.format(at=_AT[dialect], lo=p, hi=p)


def kept_line(seq: int, hash_: str) -> bytes:
    """One event's line in a seal's digest of the events it kept."""
    return f"{seq}:{hash_}\n".encode()


def envelope_text(
    seq: int,
    at: str,
    actor_type: str,
    actor_id: str | None,
    kind: str,
    subject_type: str | None,
    subject_id: str | None,
    data: str,
    request_id: str | None,
    prev_hash: str,
) -> str:
    """The envelope from a row as stored, ``at`` being 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.

    The caller has checked that ``at[10]`` is the space: the 'T' put in its place must not
    make a changed separator look like the original.
    """
    return (
        f'{{"actor":{{"id":{"null" if actor_id is None else _Q + actor_id + _Q},'
        f'"type":"{actor_type}"}},"at":"{at[:10]}T{at[11:]}Z","data":{data},"kind":"{kind}",'
        f'"prev":"{prev_hash}","request":{"null" if request_id is None else _Q + request_id + _Q},'
        f'"seq":{seq},"subject":{{"id":{"null" if subject_id is None else _Q + subject_id + _Q},'
        f'"type":{"null" if subject_type is None else _Q + subject_type + _Q}}}}}'
    )


_Q = '"'


def envelope_v2_text(
    seq: int,
    at: str,
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
    """The second format's envelope: ``body`` (the SHA-256 of ``data``) and ``retention``
    in place of ``data``, so that clearing an expired body leaves the hash checkable."""
    return (
        f'{{"actor":{{"id":{"null" if actor_id is None else _Q + actor_id + _Q},'
        f'"type":"{actor_type}"}},"at":"{at[:10]}T{at[11:]}Z","body":"{body_hash}",'
        f'"kind":"{kind}","prev":"{prev_hash}",'
        f'"request":{"null" if request_id is None else _Q + request_id + _Q},'
        f'"retention":"{retention}","seq":{seq},'
        f'"subject":{{"id":{"null" if subject_id is None else _Q + subject_id + _Q},'
        f'"type":{"null" if subject_type is None else _Q + subject_type + _Q}}}}}'
    )


def body_hash(data: str) -> str:
    """The SHA-256 (hex) of an event's stored ``data`` text."""
    return hashlib.sha256(data.encode()).hexdigest()


class LegacyDigest:
    """The digest over old-format events that the ``audit.format`` event records.

    One SHA-256 per chunk of ``LEGACY_CHUNK`` seqs over ``"seq:hash:hash2\n"`` of each
    event present, ``hash2`` being the hash of its second-format envelope; the whole is
    the SHA-256 over ``"chunk:digest\n"`` of the chunks in order.
    """

    def __init__(self) -> None:
        self.chunks: dict[int, str] = {}
        self._chunk: int | None = None
        self._hash = hashlib.sha256()

    def update(self, seq: int, hash_: str, hash2: str) -> None:
        """Add the next old event (in seq order)."""
        chunk = (seq - 1) // LEGACY_CHUNK
        if chunk != self._chunk:
            self.finish()
            self._chunk, self._hash = chunk, hashlib.sha256()
        self._hash.update(f"{seq}:{hash_}:{hash2}\n".encode())

    def finish(self) -> None:
        """Close the chunk being written."""
        if self._chunk is not None:
            self.chunks[self._chunk] = self._hash.hexdigest()
            self._chunk = None

    @staticmethod
    def combine(chunks: dict[int, str]) -> str:
        """The whole digest from every chunk's."""
        whole = hashlib.sha256()
        for chunk in sorted(chunks):
            whole.update(f"{chunk}:{chunks[chunk]}\n".encode())
        return whole.hexdigest()


@dataclass
class Walk:
    """What walking a range of the chain found.

    ``events`` were found good, the last of them being ``last_seq`` with hash ``head``;
    ``bad`` is the first event that is not, with the reason. ``first`` is the range's
    first event (seq and prev_hash), whose link ``join`` checks.
    """

    first: tuple[int, str] | None = None
    events: int = 0
    last_seq: int = 0
    head: str = ""
    bad: tuple[int, str] | None = None
    kept: int = 0
    kept_digest: str = field(default_factory=lambda: hashlib.sha256().hexdigest())
    # (up_to, head) of every seal an audit.purged event in the range attests
    attested: list[tuple[int, str]] = field(default_factory=list)
    # the seal heads met in the range (each matched its seal)
    heads_seen: list[int] = field(default_factory=list)
    # the legacy digest's chunks (chunk -> SHA-256) of the old events in the range
    legacy: dict[int, str] = field(default_factory=dict)
    # purge id -> [bodies it cleared in the range, the first such event's seq]
    cleared: dict[int, list[int]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Walk:
        raw = json.loads(text)
        return cls(
            first=tuple(raw["first"]) if raw["first"] else None,
            events=raw["events"],
            last_seq=raw["last_seq"],
            head=raw["head"],
            bad=tuple(raw["bad"]) if raw["bad"] else None,
            kept=raw["kept"],
            kept_digest=raw["kept_digest"],
            attested=[(int(u), str(h)) for u, h in raw["attested"]],
            heads_seen=[int(s) for s in raw["heads_seen"]],
            legacy={int(c): str(d) for c, d in raw["legacy"].items()},
            cleared={int(p): [int(n), int(s)] for p, (n, s) in raw["cleared"].items()},
        )


def walk(
    batches: Iterable[Sequence[Sequence[Any]]],
    *,
    start: tuple[int, str] | None,
    sealed_to: int,
    heads: dict[int, str],
    legacy_to: int = 0,
    purges: dict[int, dict[str, Any]] | None = None,
    padded_times: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Walk:
    """Check a range of events in seq order; stop at the first that is not good.

    ``start`` is the seq and hash of the event before the range (``(0, GENESIS)`` for the
    whole chain), or None when the range's first link is left to ``join``. Events up to
    ``sealed_to`` lie in a purged segment of the old format: gaps are allowed there, each
    kept event counts into the seal's digest, and the seal heads in ``heads`` must have
    their seal's hash. Events up to ``legacy_to`` are of the old format. ``purges`` maps a
    purge's id to its checked authorization: ``cutoffs`` (retention class -> the stored
    time text before which it could clear a body) or ``problem`` (why it authorizes
    nothing). ``padded_times``: the database drops the time's trailing zeros (PostgreSQL).
    """
    state = _Walker(start, sealed_to, heads, legacy_to, purges or {}, padded_times)
    w = state.walk
    sha256 = hashlib.sha256
    v2 = envelope_v2_text
    for batch in batches:
        if not batch:
            continue
        if w.first is None:
            state.begin(batch[0])
        rows = iter(batch)
        if isinstance(batch[0][0], int) and batch[0][0] > legacy_to:
            # The common case, kept lean: a contiguous, linked run of events with their
            # bodies. Any other event (or a value of the wrong type) goes to ``state.step``.
            last_seq, prev = state.last_seq, state.prev
            while True:
                nxt = last_seq + 1
                row: Sequence[Any] | None = None
                try:
                    for row in rows:
                        (seq, at, a_type, a_id, kind, s_type, s_id, data, req, prev_hash, stored,
                         body, retention, purge) = row  # fmt: skip
                        if (
                            seq != nxt
                            or prev_hash != prev
                            or data is None
                            or purge is not None
                            or len(at) != 26
                            or at[10] != " "
                            or sha256(data.encode()).hexdigest() != body
                        ):
                            break
                        envelope = v2(
                            seq, at, a_type, a_id, kind, s_type, s_id, body, retention, req,
                            prev_hash,
                        )  # fmt: skip
                        if sha256(envelope.encode()).hexdigest() != stored:
                            break
                        prev, nxt = stored, seq + 1
                    else:
                        row = None
                except (TypeError, ValueError, AttributeError):
                    pass  # ``row`` holds a value of the wrong type: ``state.step`` says which
                w.events += nxt - 1 - last_seq
                state.last_seq, state.prev = nxt - 1, prev
                if row is None or not state.step(row):
                    break
                last_seq, prev = state.last_seq, state.prev
        else:
            for row in rows:
                if not state.step(row):
                    break
        w.last_seq, w.head = state.last_seq, state.prev if w.events else ""
        if w.bad is not None:
            break
        if progress is not None:
            progress(w.events)
    w.kept_digest = state.kept.hexdigest()
    state.legacy.finish()
    w.legacy = state.legacy.chunks
    return w


class _Walker:
    """A walk's state, and the full check of one event (``walk`` inlines the usual case)."""

    def __init__(
        self,
        start: tuple[int, str] | None,
        sealed_to: int,
        heads: dict[int, str],
        legacy_to: int,
        purges: dict[int, dict[str, Any]],
        padded: bool,
    ) -> None:
        self.walk = Walk()
        self.known = start is not None
        self.last_seq, self.prev = start if start is not None else (0, "")
        self.sealed_to = sealed_to
        self.heads = dict(heads)
        self.legacy_to = legacy_to
        self.purges = purges
        self.padded = padded
        self.kept = hashlib.sha256()
        self.legacy = LegacyDigest()
        self.hash2 = ""

    def begin(self, row: Sequence[Any]) -> None:
        """Note the range's first event; with no known predecessor, its link is ``join``'s."""
        self.walk.first = (row[0], row[9])
        if not self.known and isinstance(row[0], int):
            self.last_seq, self.prev = row[0] - 1, row[9]

    def step(self, row: Sequence[Any]) -> bool:
        """Check one event; False (and ``walk.bad``) if it is not good."""
        try:
            reason = self._problem(row)
        except (TypeError, ValueError, AttributeError, IndexError):
            reason = "a column holds a value of the wrong type"
        if reason is not None:
            seq = row[0] if isinstance(row[0], int) else self.last_seq + 1
            self.walk.bad = (seq, reason)
            return False
        seq, kind, data, stored, purge = row[0], row[4], row[7], row[10], row[13]
        if seq <= self.sealed_to:
            self.walk.kept += 1
            self.kept.update(kept_line(seq, stored))
        if seq <= self.legacy_to:
            self.legacy.update(seq, stored, self.hash2)
        if seq in self.heads:
            del self.heads[seq]
            self.walk.heads_seen.append(seq)
        if kind == PURGED and seq <= self.legacy_to and data is not None:
            sealed = json.loads(data)
            self.walk.attested.append((sealed.get("up_to"), sealed.get("head")))
        if purge is not None:
            tally = self.walk.cleared.setdefault(purge, [0, seq])
            tally[0] += 1
        self.last_seq, self.prev = seq, stored
        self.walk.events += 1
        return True

    def _problem(self, row: Sequence[Any]) -> str | None:
        """Why the event is not good (None if it is), as verification says it."""
        (seq, at, a_type, a_id, kind, s_type, s_id, data, req, prev_hash, stored, body,
         retention, purge) = row  # fmt: skip
        last_seq, prev = self.last_seq, self.prev
        if not isinstance(seq, int):
            return "the event's seq is not a whole number"
        if seq != last_seq + 1 and seq - 1 > self.sealed_to:
            return f"events {last_seq + 1} to {seq - 1} are missing"
        if seq == last_seq + 1 and prev_hash != prev:
            return "prev_hash does not match the previous event's hash"
        text = stored_time(at, padded=self.padded)
        if text is None:
            text = f"not a time: {at!r}"  # no envelope has this, so no hash can match
        hash2 = hashlib.sha256(
            envelope_v2_text(
                seq, text, a_type, a_id, kind, s_type, s_id, body, retention, req, prev_hash
            ).encode()
        ).hexdigest()
        if seq <= self.legacy_to:
            # An old event: its own hash covers ``data``; once cleared, the format event's
            # digest over its second-format hash vouches for it (checked after the walk).
            self.hash2 = hash2
            if data is not None:
                old = envelope_text(
                    seq, text, a_type, a_id, kind, s_type, s_id, data, req, prev_hash
                )
                if hashlib.sha256(old.encode()).hexdigest() != stored:
                    return "hash does not match the event's content"
        elif hash2 != stored:
            return "hash does not match the event's content"
        if data is not None:
            if body_hash(data) != body:
                return "body_hash does not match the event's content"
            if purge is not None:
                return f"the event keeps its content but names purge {purge}"
        elif (problem := self._cleared(text, retention, purge)) is not None:
            return problem
        if seq in self.heads and self.heads[seq] != stored:
            return "the event differs from the seal of a purged segment"
        return None

    def _cleared(self, at: str, retention: str, purge: int | None) -> str | None:
        """Why a cleared body was not cleared by a purge entitled to clear it (or None)."""
        if purge is None:
            return "the event's content is gone, and no purge cleared it"
        granted = self.purges.get(purge)
        if granted is None:
            return f"the event's content was cleared by purge {purge}, which does not exist"
        if granted.get("problem"):
            return f"the event's content was cleared by purge {purge}: {granted['problem']}"
        cutoff = granted["cutoffs"].get(retention)
        if retention == INTEGRITY or cutoff is None:
            return f"purge {purge} may not clear events of the retention class {retention!r}"
        if not at < cutoff:
            return f"the event's content was cleared by purge {purge} before its retention ended"
        return None


def stored_time(at: Any, *, padded: bool) -> str | None:
    """The stored time as 'YYYY-MM-DD HH:MM:SS.ffffff', or None if it is not one.

    ``padded``: put back the trailing zeros of the fraction that PostgreSQL's text drops.
    """
    if not isinstance(at, str):
        return None
    if padded and len(at) == 19:
        at += ".000000"
    elif padded and 20 < len(at) < 26:
        at = at.ljust(26, "0")
    return at if len(at) == 26 and at[10] == " " else None


def join(parts: Sequence[Walk], sealed_to: int) -> Walk:
    """The walks of consecutive ranges (the first from the genesis link) as one walk.

    Each range's first link is checked against the hash the range before it ended on, with
    the same rules as within a range; the first bad event in seq order wins.
    """
    whole = Walk(last_seq=0, head=GENESIS)
    digests = []
    for n, part in enumerate(parts):
        if part.first is None:
            continue
        seq, prev_hash = part.first
        if n > 0 and whole.bad is None:
            if seq != whole.last_seq + 1 and seq - 1 > sealed_to:
                whole.bad = (seq, f"events {whole.last_seq + 1} to {seq - 1} are missing")
            elif seq == whole.last_seq + 1 and prev_hash != whole.head:
                whole.bad = (seq, "prev_hash does not match the previous event's hash")
        if whole.bad is not None:
            break
        whole.events += part.events
        if part.events:
            whole.last_seq, whole.head = part.last_seq, part.head
        whole.kept += part.kept
        digests.append((part.kept, part.kept_digest))
        whole.attested += part.attested
        whole.heads_seen += part.heads_seen
        whole.legacy.update(part.legacy)
        for purge, (count, first) in part.cleared.items():
            tally = whole.cleared.setdefault(purge, [0, first])
            tally[0] += count
        if part.bad is not None:
            whole.bad = part.bad
            break
    # Only the first range reaches into a sealed segment (see ``verification._ranges``).
    kept_in = [d for k, d in digests if k]
    whole.kept_digest = kept_in[0] if kept_in else Walk().kept_digest
    return whole


# --- reading the rows ----------------------------------------------------------


def batches(cursor: Any) -> Iterator[list[Any]]:
    """The cursor's rows, ``BATCH`` at a time."""
    while rows := cursor.fetchmany(BATCH):
        yield rows


def walk_sqlite(
    conn: sqlite3.Connection, job: dict[str, Any], progress: Callable[[int], None] | None
) -> Walk:
    """Walk the job's range over an open SQLite connection."""
    cursor = conn.execute(select_sql("sqlite"), (job["lo"], job["hi"]))
    try:
        return _walk_job(batches(cursor), job, False, progress)
    finally:
        cursor.close()


def walk_postgresql(conn: Any, job: dict[str, Any], progress: Callable[[int], None] | None) -> Walk:
    """Walk the job's range over a psycopg connection, in its open transaction.

    With libpq 17 or later the rows stream in chunks: the server keeps sending while this
    process hashes. Before, a server-side cursor fetches them batch by batch. Either way
    memory stays constant.
    """
    from psycopg import pq

    conn.execute("SET LOCAL DateStyle = 'ISO'")
    query, params = select_sql("postgresql"), (job["lo"], job["hi"])
    if pq.version() >= 170000:
        with conn.cursor() as cursor:
            rows = cursor.stream(query, params, size=BATCH)
            return _walk_job(iter(lambda: list(islice(rows, BATCH)), []), job, True, progress)
    with conn.cursor(name="audit_chain_walk") as cursor:
        cursor.execute(query, params)
        return _walk_job(batches(cursor), job, True, progress)


def _walk_job(
    rows: Iterable[list[Any]],
    job: dict[str, Any],
    padded_times: bool,
    progress: Callable[[int], None] | None,
) -> Walk:
    start = job.get("start")
    return walk(
        rows,
        start=(start[0], start[1]) if start else None,
        sealed_to=job["sealed_to"],
        heads={int(s): h for s, h in job["heads"].items()},
        legacy_to=job.get("legacy_to", 0),
        purges={int(p): grant for p, grant in job.get("purges", {}).items()},
        padded_times=padded_times,
        progress=progress,
    )


def main() -> int:
    """A child process: read the job on stdin, print progress lines, then the walk as JSON."""
    job = json.load(sys.stdin)

    def progress(events: int) -> None:
        print(events, flush=True)

    if job["dialect"] == "sqlite":
        conn = sqlite3.connect(job["connect"]["uri"], uri=True, timeout=15)
        try:
            result = walk_sqlite(conn, job, progress)
        finally:
            conn.close()
    else:
        import psycopg
        from psycopg import sql

        with psycopg.connect(**job["connect"]) as pg:
            pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            pg.read_only = True
            if job.get("snapshot"):
                # The verifying process's snapshot: every range sees the same chain.
                pg.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(job["snapshot"]))
            result = walk_postgresql(pg, job, progress)
            pg.rollback()
    print(result.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
