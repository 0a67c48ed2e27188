"""Checkpoints of the chain and verification runs with progress.

A checkpoint appends an ``audit.checkpoint`` event and records that event's hash with the
count and time, signed when a key is configured. Its head is an event that is never purged,
so an exported checkpoint can be checked against the chain years later: a chain rewritten
after it (even consistently, by someone with database access) no longer has that hash.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from app import audit
from app.audit import signing, verification
from app.audit.export import timestamp
from app.db import new_session
from app.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditSeal,
    AuditVerification,
    RunStatus,
    utcnow,
)

CHECKPOINT = "audit.checkpoint"
CHECKPOINTS_FORMAT = "adgate-audit-checkpoints/1"
# A run whose process stopped writing progress for this long is shown as interrupted.
STALE_AFTER = timedelta(seconds=60)


def signer(app: Flask | None = None) -> signing.Signer | None:
    """The configured signing key, if any (a path relative to the instance folder)."""
    app = app or current_app
    name = app.config.get("AUDIT_SIGNING_KEY_FILE")
    return signing.load_signer(Path(app.instance_path) / name) if name else None


def statement(cp: AuditCheckpoint) -> dict[str, Any]:
    """What a checkpoint asserts, as signed and exported."""
    return {
        "seq": cp.seq,
        "head": cp.head,
        "events": cp.events,
        "taken_at": timestamp(cp.taken_at),
    }


def take_checkpoint(db: Session, now: datetime, sign: signing.Signer | None) -> AuditCheckpoint:
    """Append a checkpoint event and record its hash (in the caller's transaction)."""
    previous = db.scalar(select(func.max(col(AuditCheckpoint.seq))))
    event = audit.append(db, CHECKPOINT, data={"previous": previous}, actor=audit.SYSTEM)
    events = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
    cp = AuditCheckpoint(seq=event.seq, head=event.hash, events=events, taken_at=now)
    if sign is not None:
        block = sign.sign(statement(cp))
        cp.key_id, cp.signature = block["key_id"], block["value"]
    db.add(cp)
    db.flush()
    return cp


def checkpoint_due(db: Session, now: datetime, every: timedelta) -> bool:
    """Whether the newest checkpoint is older than ``every`` (or there is none)."""
    newest = db.scalar(select(func.max(col(AuditCheckpoint.taken_at))))
    return newest is None or newest <= now - every


def export_checkpoints(
    rows: Iterable[AuditCheckpoint], sign: signing.Signer | None
) -> dict[str, Any]:
    """The checkpoints as a document to keep away from the server."""
    items = []
    for cp in rows:
        item = statement(cp)
        if cp.signature is not None:
            item["signature"] = {
                "algorithm": signing.ALGORITHM, "key_id": cp.key_id, "value": cp.signature
            }  # fmt: skip
        items.append(item)
    doc: dict[str, Any] = {"format": CHECKPOINTS_FORMAT, "checkpoints": items}
    if sign is not None:
        doc["public_key"] = signing.public_pem(sign.private.public_key())
    return doc


@dataclass(frozen=True)
class CheckpointFinding:
    """The outcome for one exported checkpoint."""

    seq: int
    ok: bool
    detail: str


def check_checkpoints(
    eng: Engine, doc: dict[str, Any], keys: Sequence[Any] = ()
) -> tuple[list[CheckpointFinding], verification.VerifyResult]:
    """Each exported checkpoint against the chain as it is now, and the chain itself.

    A checkpoint holds when its signature is valid for one of ``keys`` (Ed25519 public
    keys; none: not checked), its event still has its hash, every event up to it is still
    there (but in segments purged before the format change), and the log holds as many
    events up to it as the checkpoint counted (unless such a purge came after it).
    """
    if doc.get("format") != CHECKPOINTS_FORMAT:
        raise ValueError(f"not a checkpoint file ({CHECKPOINTS_FORMAT})")
    by_id = {signing.key_id(k): k for k in keys}
    findings = []
    seq_ = col(AuditEvent.seq)
    with new_session(write=False, eng=eng) as db:
        seals = list(db.scalars(select(col(AuditSeal.up_to)).order_by(col(AuditSeal.up_to))))
        sealed_to = seals[-1] if seals else 0
        in_seals = sealed_to - (
            db.scalar(select(func.count()).select_from(AuditEvent).where(seq_ <= sealed_to)) or 0
        )
        for item in doc.get("checkpoints", []):
            seq, head, counted = int(item["seq"]), str(item["head"]), int(item["events"])
            problem = _signature(item, by_id) if by_id else None
            stored = db.scalar(select(col(AuditEvent.hash)).where(seq_ == seq))
            present = (
                db.scalar(select(func.count()).select_from(AuditEvent).where(seq_ <= seq)) or 0
            )
            allowed = in_seals if seq > sealed_to else seq - present
            missing = seq - present - allowed
            purged_after = any(up_to >= seq for up_to in seals)
            if problem is not None:
                findings.append(CheckpointFinding(seq, False, f"signature: {problem}"))
            elif stored is None:
                findings.append(CheckpointFinding(seq, False, "the checkpoint's event is gone"))
            elif stored != head:
                findings.append(
                    CheckpointFinding(seq, False, "the chain was rewritten: the hash differs")
                )
            elif missing > 0:
                findings.append(
                    CheckpointFinding(seq, False, f"{missing} events up to it are missing")
                )
            elif present != counted and not (purged_after and present < counted):
                findings.append(
                    CheckpointFinding(
                        seq, False, f"it counted {counted} events up to it; there are {present}"
                    )
                )
            else:
                signed = "signed" if by_id else "signature not checked"
                findings.append(CheckpointFinding(seq, True, f"head and count match ({signed})"))
    return findings, verification.verify(eng, trust=verification.Trust.configured(tuple(keys)))


def _signature(item: dict[str, Any], keys: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's signature, given the keys trusted (by id)."""
    signature = item.get("signature")
    key = keys.get(str(signature.get("key_id"))) if isinstance(signature, dict) else None
    if key is None:
        return signing.check(item, next(iter(keys.values())))
    return signing.check(item, key)


# --- verification runs -------------------------------------------------------


def run_status(run: AuditVerification, now: datetime) -> RunStatus:
    """Where the run stands; a running one whose process died is interrupted."""
    if run.status == RunStatus.RUNNING and run.heartbeat_at < now - STALE_AFTER:
        return RunStatus.INTERRUPTED
    return run.status


def start_run(db: Session, user_id: int | None, now: datetime) -> AuditVerification:
    """Record a new run (once it is committed, ``run_in_background`` starts it)."""
    total = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
    run = AuditVerification(
        started_by=user_id, started_at=now, heartbeat_at=now, status=RunStatus.RUNNING, total=total
    )
    db.add(run)
    db.flush()
    return run


def run_in_background(app: Flask, run_id: int) -> threading.Thread:
    """Verify in a thread of this process, writing progress to the run's row."""
    thread = threading.Thread(
        target=execute_run, args=(app, run_id), name=f"audit-verify-{run_id}", daemon=True
    )
    thread.start()
    return thread


def execute_run(app: Flask, run_id: int) -> None:
    """Verify the chain and write progress and the outcome (also audited) to the run."""
    with app.app_context():
        eng = app.extensions["adgate.db"]

        def progress(checked: int) -> None:
            with new_session(write=True, eng=eng) as db, db.begin():
                db.execute(
                    update(AuditVerification)
                    .where(col(AuditVerification.id) == run_id)
                    .values(checked=checked, heartbeat_at=utcnow())
                )

        try:
            result = verification.verify(eng, progress=progress)
        except Exception:
            stopped = verification.VerifyResult(False, 0, "", reason="stopped by an error")
            _finish(eng, run_id, stopped)
            raise
        _finish(eng, run_id, result)


def _finish(eng: Engine, run_id: int, result: verification.VerifyResult) -> None:
    with new_session(write=True, eng=eng) as db, db.begin():
        run = db.get(AuditVerification, run_id)
        assert run is not None
        status = (
            RunStatus.OK
            if result.ok
            else (RunStatus.BROKEN if result.head else RunStatus.INTERRUPTED)
        )
        run.status, run.head = status, result.head or None
        run.first_bad_event, run.reason = result.first_bad_event, result.reason
        run.checked = max(run.checked, result.events)
        run.finished_at = run.heartbeat_at = utcnow()
        db.add(run)
        actor = audit.Actor("user", str(run.started_by)) if run.started_by else audit.SYSTEM
        audit.record(
            db,
            "audit.verified",
            data={
                "ok": status is RunStatus.OK,
                "events": run.checked,
                "via": "pages",
                "run": run_id,
            },
            actor=actor,
        )
