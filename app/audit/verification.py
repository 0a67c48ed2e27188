"""Verifying the audit log: the whole chain walked, every purge's authorization checked.

``verify`` reads each purge's signed authorization and the format change's record here,
then walks the chain with ``app.audit.chain``: in this process alone, or, from
``PARALLEL_FROM`` events on, in ranges, the first here and the others in child processes
that run ``app/audit/chain.py`` by its path (``_Children``).
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import Connection, Engine, func, select
from sqlmodel import col

from app.audit import chain, signing
from app.audit.chain import FORMAT, GENESIS
from app.models import AuditEvent, AuditPurge, AuditSeal


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain."""

    ok: bool
    events: int
    head: str
    first_bad_event: int | None = None
    reason: str | None = None


VERIFY_BATCH = chain.BATCH
# Below this many events one process walks the whole chain: a child process costs more to
# start than it saves.
PARALLEL_FROM = 250_000
MAX_WORKERS = 4


@dataclass(frozen=True)
class Trust:
    """What verification trusts about purges: the public keys that may sign them, and the
    retention (days per class) below which no purge may have cleared a body."""

    keys: tuple[Any, ...] = ()  # Ed25519 public keys
    retention_days: Mapping[str, int] | None = None

    @classmethod
    def configured(cls, extra: tuple[Any, ...] = ()) -> Trust:
        """The current app's signing key's public half, its ``AUDIT_PUBLIC_KEY_FILES``
        (earlier keys), and ``extra``; outside an app, ``extra`` alone."""
        if not has_app_context():
            return cls(extra)
        config, folder = current_app.config, Path(current_app.instance_path)
        keys = list(extra)
        if name := config.get("AUDIT_SIGNING_KEY_FILE"):
            signer = signing.load_signer(folder / name)
            if signer is not None:
                keys.append(signer.private.public_key())
        for name in config.get("AUDIT_PUBLIC_KEY_FILES") or ():
            keys.append(signing.load_public((folder / name).read_bytes()))
        return cls(tuple(keys), config.get("AUDIT_RETENTION_DAYS"))


def verify(
    eng: Engine,
    progress: Callable[[int], None] | None = None,
    *,
    workers: int | None = None,
    trust: Trust | None = None,
) -> VerifyResult:
    """Walk the whole chain in constant memory; stop at the first broken link.

    Every event's hash and link are checked, and its body against ``body_hash``. A cleared
    body must have been cleared by a purge whose authorization is signed by a key of
    ``trust`` (default: ``Trust.configured()``) and whose cutoff for the event's retention
    class lies after the event. Old-format events (before the ``audit.format`` event) must
    match the digest that event recorded; gaps are allowed only inside the purged segments
    sealed before it (``audit_seal``), whose digests and attestations are checked as
    before. ``progress`` is called with the events checked so far.

    From ``PARALLEL_FROM`` events on, the chain is walked in ranges by ``workers`` processes
    (default: one per CPU, at most ``MAX_WORKERS``), see ``app.audit.chain``; on PostgreSQL
    they share this transaction's snapshot. The result is the same as one walk's.
    """
    trust = trust if trust is not None else Trust.configured()
    with eng.connect() as conn:
        if eng.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        legacy = _legacy(conn)
        seals = legacy.seals
        sealed_to = seals[-1][0] if seals else 0
        heads = {up_to: head for up_to, head, _, _ in seals}
        purges = _purges(conn, trust)
        lo, hi = conn.execute(
            select(func.min(col(AuditEvent.seq)), func.max(col(AuditEvent.seq)))
        ).one()
        parts = []
        if lo is not None:
            n = workers_for(eng, hi - lo + 1, workers)
            ranges = _ranges(lo, hi, sealed_to, n, legacy.to)
            parts = _walk(conn, ranges, sealed_to, heads, legacy.to, purges, progress)
    whole = chain.join(parts, sealed_to)
    if whole.bad is not None:
        seq, reason = whole.bad
        return VerifyResult(False, whole.events, whole.head, first_bad_event=seq, reason=reason)
    problem = legacy.problem
    legacy_digest = chain.LegacyDigest.combine(whole.legacy) if legacy.to else ""
    if problem is None and legacy_digest != legacy.digest:
        problem = (legacy.to + 1, "the events before the format change differ from the "
                   "digest it recorded")  # fmt: skip
    if problem is None and seals:
        up_to, _, want_kept, want_digest = seals[-1]
        missing = set(heads) - set(whole.heads_seen)
        attested = set(whole.attested)
        if missing:
            problem = (up_to, f"the head event {min(missing)} of a sealed segment is missing")
        elif (whole.kept, whole.kept_digest) != (want_kept, want_digest):
            problem = (up_to, "the events kept in the sealed segment differ from its seal")
        elif unattested := [s[0] for s in seals if (s[0], s[1]) not in attested]:
            problem = (up_to, f"the seal up to event {unattested[0]} is not attested in the chain")
    if problem is None:
        for purge, (count, first) in sorted(whole.cleared.items(), key=lambda p: p[1][1]):
            signed = purges.get(purge, {}).get("cleared")
            if signed is not None and count != signed:
                problem = (first, f"purge {purge} cleared {count} events; its signed "
                           f"authorization says {signed}")  # fmt: skip
                break
    if problem is not None:
        return VerifyResult(False, whole.events, whole.head, first_bad_event=problem[0],
                            reason=problem[1])  # fmt: skip
    if progress is not None:
        progress(whole.events)
    return VerifyResult(True, whole.events, whole.head)


@dataclass(frozen=True)
class Legacy:
    """What the ``audit.format`` event says of the events before it (none: every event is
    of the second format)."""

    to: int = 0
    digest: str = ""
    # (up_to, head, kept, kept_digest) of each seal of the old format, oldest first
    seals: list[tuple[int, str, int, str]] = field(default_factory=list)
    problem: tuple[int, str] | None = None


def _legacy(conn: Connection) -> Legacy:
    """The first ``audit.format`` event's record, checked against ``audit_seal``."""
    row = conn.execute(
        select(col(AuditEvent.seq), col(AuditEvent.data))
        .where(col(AuditEvent.kind) == FORMAT)
        .order_by(col(AuditEvent.seq))
        .limit(1)
    ).first()
    rows = conn.execute(
        select(col(AuditSeal.up_to), col(AuditSeal.head), col(AuditSeal.kept),
               col(AuditSeal.kept_digest)).order_by(col(AuditSeal.up_to))
    ).all()  # fmt: skip
    table = [(int(u), str(h), int(k), str(d)) for u, h, k, d in rows]
    if row is None:
        if table:
            return Legacy(problem=(table[0][0], "a seal exists, but no format change lists it"))
        return Legacy()
    seq, data = row
    try:
        record = json.loads(data)
        seals = [(int(s["up_to"]), str(s["head"]), int(s["kept"]), str(s["kept_digest"]))
                 for s in record["seals"]]  # fmt: skip
        legacy = Legacy(int(record["legacy_to"]), str(record["legacy_digest"]), seals)
    except (TypeError, ValueError, KeyError):
        return Legacy(seq - 1, problem=(seq, "the format change's record is unreadable"))
    if legacy.to != seq - 1:
        return Legacy(seq - 1, problem=(seq, "the format change is not where it says it is"))
    if table != seals:
        return Legacy(legacy.to, legacy.digest, seals,
                      (seq, "the seals differ from those the format change recorded"))  # fmt: skip
    return legacy


def _purges(conn: Connection, trust: Trust) -> dict[int, dict[str, Any]]:
    """Each purge's authorization as the walk needs it: cutoffs in the stored time's text,
    the number of bodies it says it cleared, or the problem that voids it."""
    keys = {signing.key_id(k): k for k in trust.keys}
    grants: dict[int, dict[str, Any]] = {}
    rows = conn.execute(
        select(col(AuditPurge.id), col(AuditPurge.statement), col(AuditPurge.key_id),
               col(AuditPurge.signature))
    ).all()  # fmt: skip
    for purge_id, statement, key_id, signature in rows:
        grants[purge_id] = grant = _grant(purge_id, statement, key_id, signature, keys, trust)
        if grant.get("problem"):
            grant.pop("cutoffs", None)
    return grants


def _grant(
    purge_id: int,
    statement: str,
    key_id: str | None,
    signature: str | None,
    keys: dict[str, Any],
    trust: Trust,
) -> dict[str, Any]:
    try:
        signed = json.loads(statement)
        at = datetime.strptime(signed["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        days = {str(c): int(d) for c, d in signed["retention_days"].items()}
        cutoffs = {str(c): str(t) for c, t in signed["cutoffs"].items()}
        cleared = sum(int(n) for n in signed["cleared"].values())
    except (TypeError, ValueError, KeyError, AttributeError):
        return {"problem": "its authorization is unreadable"}
    grant: dict[str, Any] = {"cleared": cleared, "cutoffs": {}}
    if signed.get("purge") != purge_id:
        return {**grant, "problem": "its authorization is another purge's"}
    if signature is None or key_id is None:
        return {**grant, "problem": "its authorization is not signed"}
    public = keys.get(key_id)
    if public is None:
        return {**grant, "problem": f"its authorization is signed by key {key_id}, which is "
                "not trusted"}  # fmt: skip
    block = {"algorithm": signing.ALGORITHM, "key_id": key_id, "value": signature}
    if (problem := signing.check({**signed, "signature": block}, public)) is not None:
        return {**grant, "problem": f"its authorization: {problem}"}
    for retention, cutoff in cutoffs.items():
        kept = days.get(retention)
        wanted = (trust.retention_days or {}).get(retention)
        if kept is None or cutoff > (at - timedelta(days=kept)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"):
            return {**grant, "problem": f"its cutoff for {retention} is later than its "
                    "retention allows"}  # fmt: skip
        if wanted is not None and kept < int(wanted):
            return {**grant, "problem": f"it kept {retention} for {kept} days, fewer than "
                    f"the {int(wanted)} configured"}  # fmt: skip
        # As the walk reads times: 'YYYY-MM-DD HH:MM:SS.ffffff'.
        grant["cutoffs"][retention] = f"{cutoff[:10]} {cutoff[11:26]}"
    return grant


def workers_for(eng: Engine, span: int, asked: int | None = None) -> int:
    """How many processes walk a chain of ``span`` seqs: ``asked``, else one per CPU if long."""
    if _child_connect(eng) is None or not Path(sys.executable).name.startswith("python"):
        return 1  # e.g. SQLite in memory, or an embedding server that is not the interpreter
    if asked is not None:
        return max(1, asked)
    return default_workers() if span >= PARALLEL_FROM else 1


def default_workers() -> int:
    """One process per CPU this process may run on, at most ``MAX_WORKERS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS))


def _ranges(lo: int, hi: int, sealed_to: int, n: int, legacy_to: int = 0) -> list[tuple[int, int]]:
    """``n`` ranges of seq from ``lo`` to ``hi``; the first holds the whole sealed segment.

    The seal's digest is one SHA-256 over every event it kept, in order, so one walk must
    see them all; a chunk of the old format's digest, too, lies in one range.
    """
    bounds = [lo + (hi - lo + 1) * k // n for k in range(n)] + [hi + 1]
    chunk = chain.LEGACY_CHUNK
    bounds = [b if b > legacy_to or k == 0 else max(lo, 1 + (b - 1) // chunk * chunk)
              for k, b in enumerate(bounds)]  # fmt: skip
    ranges = [(a, b - 1) for a, b in itertools.pairwise(bounds) if a < b]
    while len(ranges) > 1 and ranges[1][0] <= sealed_to:
        ranges[:2] = [(ranges[0][0], ranges[1][1])]
    return ranges


def _child_connect(eng: Engine) -> dict[str, Any] | None:
    """How a child process opens this database (None: it cannot, e.g. SQLite in memory)."""
    if eng.dialect.name == "sqlite":
        database = eng.url.database
        if not database or database == ":memory:" or eng.url.query:
            return None
        return {"uri": Path(database).resolve().as_uri() + "?mode=ro"}
    if eng.dialect.name == "postgresql" and eng.dialect.driver == "psycopg":
        _, params = eng.dialect.create_connect_args(eng.url)
        return {k: v for k, v in params.items() if isinstance(v, str | int)}
    return None


def _walk(
    conn: Connection,
    ranges: list[tuple[int, int]],
    sealed_to: int,
    heads: dict[int, str],
    legacy_to: int,
    purges: dict[int, dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> list[chain.Walk]:
    """Walk the first range here and the others in child processes; the walks in order."""
    dialect = conn.dialect.name
    snapshot = None
    if len(ranges) > 1 and dialect == "postgresql":
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    children = _Children()
    try:
        for lo, hi in ranges[1:]:
            children.start(
                {"dialect": dialect, "connect": _child_connect(conn.engine), "snapshot": snapshot,
                 "lo": lo, "hi": hi, "sealed_to": sealed_to, "heads": {}, "start": None,
                 "legacy_to": legacy_to, "purges": purges}
            )  # fmt: skip
        own = 0

        def step(events: int) -> None:
            nonlocal own
            own = events
            children.poll(0)
            if progress is not None:
                progress(own + children.events())

        job = {
            "lo": ranges[0][0], "hi": ranges[0][1], "sealed_to": sealed_to,
            "heads": heads, "start": (0, GENESIS), "legacy_to": legacy_to, "purges": purges,
        }  # fmt: skip
        driver: Any = conn.connection.driver_connection
        walk = chain.walk_sqlite if dialect == "sqlite" else chain.walk_postgresql
        first = walk(driver, job, step)
        if first.bad is not None:
            return [first]  # the first bad event is in the first range: the rest cannot matter
        while not children.done():
            children.poll(None)
            if progress is not None:
                progress(own + children.events())
        return [first, *children.results()]
    finally:
        children.stop()


class _Children:
    """Child processes walking ranges of the chain, each reporting progress lines then JSON.

    Not ``concurrent.futures.ProcessPoolExecutor``: its workers either fork this process,
    which runs verification in a thread of the web server (forking a threaded process can
    copy a lock another thread holds), or start fresh and import the walk by its module name,
    ``app.audit.chain``, which imports the ``app`` package first: 3.5 to 5 seconds per
    process against 0.1 for ``python -P app/audit/chain.py`` (December 2026, this machine).
    A pool would also need a manager process to carry the progress the page shows.
    """

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.selector = selectors.DefaultSelector()
        self.buffers: list[bytes] = []
        self.latest: list[int] = []
        self.walks: list[chain.Walk | None] = []
        self.errors: list[bytes] = []

    def start(self, job: dict[str, Any]) -> None:
        """Start a child on ``job`` (``stop`` ends it, whatever happens next)."""
        # The script by path, not ``-m``: importing the app package would cost seconds.
        proc = subprocess.Popen(  # noqa: S603 (our interpreter and our own module)
            [sys.executable, "-P", chain.__file__],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        n = len(self.procs)
        self.procs.append(proc)
        self.jobs.append(job)
        self.buffers.append(b"")
        self.latest.append(0)
        self.walks.append(None)
        self.errors.append(b"")
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.selector.register(proc.stdout, selectors.EVENT_READ, (n, "out"))
        self.selector.register(proc.stderr, selectors.EVENT_READ, (n, "err"))
        with proc.stdin:
            proc.stdin.write(json.dumps(job).encode())

    def poll(self, timeout: float | None) -> None:
        """Read what the children have written (wait up to ``timeout``; None: until some)."""
        if not self.selector.get_map():
            return
        for key, _ in self.selector.select(timeout):
            n, stream = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self.selector.unregister(key.fileobj)
                continue
            if stream == "err":
                self.errors[n] = (self.errors[n] + chunk)[-4000:]
                continue
            *lines, self.buffers[n] = (self.buffers[n] + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"{"):
                    self.walks[n] = chain.Walk.from_json(line.decode())
                elif line:
                    self.latest[n] = int(line)

    def done(self) -> bool:
        return not self.selector.get_map()

    def events(self) -> int:
        """Events the children have checked so far."""
        return sum(self.latest)

    def results(self) -> list[chain.Walk]:
        """Each child's walk, in order; a child that failed raises."""
        walks = []
        for n, proc in enumerate(self.procs):
            proc.wait()
            walk = self.walks[n]
            if proc.returncode != 0 or walk is None:
                job = self.jobs[n]
                detail = self.errors[n].decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(
                    f"verifying events {job['lo']} to {job['hi']} failed "
                    f"(exit {proc.returncode}): {detail[0] if detail else 'no output'}"
                )
            walks.append(walk)
        return walks

    def stop(self) -> None:
        """End the children that still run (after an error or an early result)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.selector.close()
