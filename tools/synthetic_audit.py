"""Synthetic audit events for measuring: a realistic mix, chained exactly like real ones.

``events`` appends to the log through the same envelope and lock as ``audit.record``, in
batches of plain INSERTs (the ORM would dominate the time). The benchmarks fill their
databases with it (``bench/audit_generate.py``, ``bench/audit_log.py``), and the tests a
log long enough to be walked in ranges. Never on a production log: appended events cannot
be removed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlmodel import col

from app import audit
from app.db import new_session
from app.models import AuditEvent, utcnow

BATCH = 5_000
STEPS = ("two_factor", "identity", "classification", "disclaimer", "approval", "standing")
# (weight, kind, subject type, data maker)
_Maker = Callable[[random.Random, int], dict[str, Any]]


def _refused(rng: random.Random, _: int) -> dict[str, Any]:
    unmet = rng.sample(STEPS, rng.randint(1, 3))
    return {"event": "submit", "state": "draft",
            "unmet": [{"step": s, "code": f"{s}.missing"} for s in unmet]}  # fmt: skip


MIX: tuple[tuple[int, str, str | None, _Maker], ...] = (
    (
        20,
        "auth.login",
        "user",
        lambda r, _: {"client": f"{r.getrandbits(128):032x}", "second_factor": "totp"},
    ),
    (10, "audit.read", None, lambda r, _: {"view": "events", "count": 50}),
    (12, "checklist.created", "checklist", lambda r, _: {"version": 1, "countries": ["CH"]}),
    (15, "checklist.edit", "checklist", lambda r, _: {"from": "draft", "to": "draft"}),
    (8, "checklist.refused", "checklist", _refused),
    (
        8,
        "checklist.approve",
        "checklist",
        lambda r, _: {
            "from": "draft",
            "to": "approved",
            "content_hash": f"{r.getrandbits(256):064x}",
        },
    ),
    (8, "checklist.submit", "checklist", lambda r, _: {"from": "approved", "to": "queued"}),
    (7, "checklist.confirm", "checklist", lambda r, _: {"from": "sending", "to": "submitted"}),
    (6, "checklist.meta_approve", "checklist", lambda r, _: {"from": "submitted", "to": "paused"}),
    (
        1,
        "checklist.review_reject",
        "checklist",
        lambda r, _: {"from": "submitted", "to": "rejected"},
    ),
    (3, "auth.login_failed", "user", lambda r, _: {"reason": "bad_password", "client": None}),
    (2, "access.forbidden", None, lambda r, _: {"endpoint": "admin.users", "method": "GET"}),
)


def events(
    eng: Engine,
    count: int,
    *,
    checklists: int,
    users: int,
    days: int,
    progress: Callable[[int], None] | None = None,
    seed: int = 7,
) -> int:
    """Append ``count`` events spread over the last ``days`` days; returns the number made."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    weights = [m[0] for m in MIX]
    retention = {m[1]: audit.retention_of(m[1]) for m in MIX}
    made = 0
    end = utcnow()
    start = end - timedelta(days=days)
    step = (end - start) / max(count, 1)
    while made < count:
        n = min(BATCH, count - made)
        with new_session(write=True, eng=eng) as db, db.begin():
            audit.lock(db)
            last = db.execute(
                select(col(AuditEvent.seq), col(AuditEvent.hash))
                .order_by(col(AuditEvent.seq).desc())
                .limit(1)
            ).first()
            seq, prev = (last[0], last[1]) if last else (0, audit.GENESIS)
            rows = []
            for i in range(n):
                _, kind, subject_type, maker = rng.choices(MIX, weights)[0]
                seq += 1
                at = start + step * (made + i)
                actor_id = str(rng.randint(1, users))
                subject_id = (
                    str(rng.randint(1, checklists)) if subject_type == "checklist"
                    else actor_id if subject_type == "user" else None
                )  # fmt: skip
                data = audit.canonical_data(maker(rng, seq))
                row: dict[str, Any] = {
                    "seq": seq, "occurred_at": at, "actor_type": "user", "actor_id": actor_id,
                    "kind": kind, "subject_type": subject_type, "subject_id": subject_id,
                    "body_hash": audit.body_hash(data), "retention": retention[kind],
                    "request_id": f"gen-{seq}", "prev_hash": prev,
                }  # fmt: skip
                body = audit.envelope_v2(**row)
                prev = row["hash"] = hashlib.sha256(body.encode()).hexdigest()
                row["data"] = data
                rows.append(row)
            db.execute(insert(AuditEvent), rows)
        made += n
        if progress is not None:
            progress(n)
    return made


def analyze(eng: Engine) -> None:
    """Refresh the planner's statistics after a bulk load (PostgreSQL and SQLite)."""
    with eng.begin() as conn:
        conn.execute(text("ANALYZE"))
