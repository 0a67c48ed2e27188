"""An audit log as installations kept it before migration 0010, for the migration's tests.

The database is taken down to revision 0009, events are written with the first envelope
(``data`` in the hash), and a purge of that time is played: a seal row, the expired
events deleted inside it (0006's trigger admits that), and an ``audit.purged`` event that
attests the seal. Then the database goes back up to the newest revision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Connection, text

from app import audit
from app.db import engine
from app.models import utcnow

# (kind, subject type): a security, a read, an evidence and an integrity kind in turn.
KINDS = (
    ("auth.login", "user"),
    ("audit.read", None),
    ("checklist.created", "checklist"),
    ("checklist.edit", "checklist"),
)


@dataclass(frozen=True)
class LegacyLog:
    """What was written: the last seq, the seal's ``up_to`` (0: none) and deleted seqs."""

    last: int
    sealed_to: int
    deleted: tuple[int, ...]


def _insert(conn: Connection, seq: int, kind: str, subject: str | None, data: str,
            at_days_ago: float, prev: str) -> str:  # fmt: skip
    at = utcnow() - timedelta(days=at_days_ago)
    row: dict[str, Any] = {
        "seq": seq, "occurred_at": at, "actor_type": "user", "actor_id": "1", "kind": kind,
        "subject_type": subject, "subject_id": "7" if subject else None, "data": data,
        "request_id": f"old-{seq}", "prev_hash": prev,
    }  # fmt: skip
    row["hash"] = hashlib.sha256(audit.envelope(**row).encode()).hexdigest()
    stored = {**row, "occurred_at": at if conn.dialect.name == "postgresql" else
              at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")}  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO audit_event (seq, occurred_at, actor_type, actor_id, kind,"
            " subject_type, subject_id, data, request_id, prev_hash, hash) VALUES (:seq,"
            " :occurred_at, :actor_type, :actor_id, :kind, :subject_type, :subject_id, :data,"
            " :request_id, :prev_hash, :hash)"
        ),
        stored,
    )
    return str(row["hash"])


def write_legacy_log(app: Flask, events: int = 40, *, seal: bool = True) -> LegacyLog:
    """Write ``events`` old-format events at revision 0009, two years old down to a day;
    with ``seal``, a purge of that time deletes the reads among the oldest quarter."""
    runner = app.test_cli_runner()
    down = runner.invoke(args=["db", "downgrade", "0009"])
    assert down.exit_code == 0, down.output
    with app.app_context():
        eng = engine()
    prev, hashes = audit.GENESIS, {}
    with eng.begin() as conn:
        for seq in range(1, events + 1):
            kind, subject = KINDS[seq % len(KINDS)]
            days = 730 * (events - seq) / events + 1
            prev = hashes[seq] = _insert(
                conn, seq, kind, subject, audit.canonical_data({"n": seq}), days, prev
            )
    sealed_to, deleted = 0, tuple[int, ...]()
    if seal:
        # As the purge of that time did: a checkpoint event heads the seal.
        sealed_to = events + 1
        with eng.begin() as conn:
            prev = hashes[sealed_to] = _insert(
                conn, sealed_to, "audit.checkpoint", None, '{"previous":null}', 1, prev
            )
            deleted = tuple(
                s for s in range(1, events // 4) if KINDS[s % len(KINDS)][0] == "audit.read"
            )
            kept = [s for s in range(1, sealed_to + 1) if s not in deleted]
            digest = hashlib.sha256()
            for s in kept:
                digest.update(audit.kept_line(s, hashes[s]))
            conn.execute(
                text(
                    "INSERT INTO audit_seal (up_to, head, sealed_at, deleted, kept, kept_digest)"
                    " VALUES (:u, :h, :at, :d, :k, :kd)"
                ),
                {"u": sealed_to, "h": hashes[sealed_to], "at": utcnow() if
                 conn.dialect.name == "postgresql" else "2026-01-01 00:00:00.000000",
                 "d": len(deleted), "k": len(kept), "kd": digest.hexdigest()},
            )  # fmt: skip
            for s in deleted:
                conn.execute(text("DELETE FROM audit_event WHERE seq = :s"), {"s": s})
            attest = audit.canonical_data(
                {"up_to": sealed_to, "head": hashes[sealed_to], "kept": len(kept),
                 "kept_digest": digest.hexdigest(), "deleted": {"reads": len(deleted)}}
            )  # fmt: skip
            _insert(conn, sealed_to + 1, audit.PURGED, None, attest, 1, prev)
    up = runner.invoke(args=["db", "upgrade"])
    assert up.exit_code == 0, up.output
    last = sealed_to + 1 if seal else events
    return LegacyLog(last, sealed_to, deleted)
