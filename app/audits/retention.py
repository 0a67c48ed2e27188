"""Retention: delete events past their class's retention without breaking verification.

A purge runs in one transaction that holds the audit log's append lock. It appends a
checkpoint, seals the chain up to that checkpoint (``audit_seal``: its head, and a digest
over every event it keeps), deletes the expired events (the database trigger admits
deletes inside a sealed segment only), and appends an ``audit.purged`` event that attests
the seal inside the chain. ``audit.verify`` then accepts the gaps the seal vouches for and
nothing else. With an archive folder, the deleted events are first exported there (JSON
Lines with a manifest), for installations whose records office keeps them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, not_, select, update
from sqlmodel import Session, col

from app import audit
from app.audits import export, kinds, query, signing
from app.audits.integrity import take_checkpoint
from app.models import AuditEvent, AuditSeal


@dataclass
class PurgeReport:
    """What a purge did (or would do, when dry)."""

    cutoffs: dict[str, str]
    deleted: dict[str, int] = field(default_factory=dict)
    sealed_up_to: int | None = None
    archive: Path | None = None

    @property
    def total(self) -> int:
        """Events deleted in all classes."""
        return sum(self.deleted.values())


def _class_clause(retention: str) -> Any:
    if retention == kinds.EVIDENCE:
        others = [k for c in kinds.CLASSES if c != kinds.EVIDENCE for k in kinds.in_class(c)]
        return not_(col(AuditEvent.kind).in_(others))
    return col(AuditEvent.kind).in_(kinds.in_class(retention))


def expired(
    retention_days: dict[str, int], now: datetime, up_to: int | None
) -> tuple[Any, dict[str, str]]:
    """The WHERE clause for events past retention (up to seq ``up_to``) and the cutoffs."""
    clauses, cutoffs = [], {}
    for retention, days in sorted(retention_days.items()):
        if retention == kinds.INTEGRITY or retention not in kinds.CLASSES:
            continue
        cutoff = now - timedelta(days=int(days))
        cutoffs[retention] = export.timestamp(cutoff)
        clauses.append(_class_clause(retention) & (col(AuditEvent.occurred_at) < cutoff))
    if not clauses:
        return None, cutoffs
    where = clauses[0]
    for clause in clauses[1:]:
        where = where | clause
    if up_to is not None:
        where = where & (col(AuditEvent.seq) < up_to)
    return where, cutoffs


def purge(
    db: Session,
    retention_days: dict[str, int],
    now: datetime,
    *,
    sign: signing.Signer | None = None,
    archive_dir: Path | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete expired events inside a new sealed segment (in the caller's transaction)."""
    where, cutoffs = expired(retention_days, now, None)
    report = PurgeReport(cutoffs)
    if where is None:
        return report
    counts = _counts(db, where)
    if dry_run or not counts:
        report.deleted = counts
        return report
    checkpoint = take_checkpoint(db, now, sign)
    where, _ = expired(retention_days, now, checkpoint.seq)
    if archive_dir is not None:
        report.archive = _archive(db, where, archive_dir, now, sign)
    seal = AuditSeal(
        up_to=checkpoint.seq, head=checkpoint.head, sealed_at=now, deleted=0, kept=0,
        kept_digest="",
    )  # fmt: skip
    db.add(seal)
    db.flush()
    for retention in sorted(counts):
        clause = _class_clause(retention) & where
        result = db.execute(delete(AuditEvent).where(clause))
        report.deleted[retention] = int(getattr(result, "rowcount", 0) or 0)
    kept, digest = _kept(db, checkpoint.seq)
    db.execute(
        update(AuditSeal)
        .where(col(AuditSeal.up_to) == checkpoint.seq)
        .values(deleted=report.total, kept=kept, kept_digest=digest)
    )
    audit.record(
        db,
        audit.PURGED,
        data={
            "up_to": checkpoint.seq,
            "head": checkpoint.head,
            "kept": kept,
            "kept_digest": digest,
            "deleted": report.deleted,
            "cutoffs": cutoffs,
            "archive_sha256": _archive_digest(report.archive),
        },
        actor=audit.SYSTEM,
    )
    report.sealed_up_to = checkpoint.seq
    return report


def _counts(db: Session, where: Any) -> dict[str, int]:
    counts = {}
    for retention in kinds.CLASSES:
        if retention == kinds.INTEGRITY:
            continue
        n = db.scalar(
            select(func.count()).select_from(AuditEvent).where(_class_clause(retention) & where)
        )
        if n:
            counts[retention] = int(n)
    return counts


def _kept(db: Session, up_to: int) -> tuple[int, str]:
    digest, kept, after = hashlib.sha256(), 0, 0
    seq, hash_ = col(AuditEvent.seq), col(AuditEvent.hash)
    while True:
        rows = db.execute(
            select(seq, hash_).where(seq > after, seq <= up_to).order_by(seq).limit(10_000)
        ).all()
        if not rows:
            return kept, digest.hexdigest()
        for s, h in rows:
            digest.update(audit.kept_line(s, h))
        kept += len(rows)
        after = rows[-1][0]


def _archive(
    db: Session, where: Any, folder: Path, now: datetime, sign: signing.Signer | None
) -> Path:
    """Export the events about to be deleted (JSON Lines and manifest) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"adgate-audit-purged-{now.strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    path = folder / name
    rows = db.execute(
        select(*audit.CHAIN_COLUMNS).where(where).order_by(col(AuditEvent.seq))
        .execution_options(yield_per=query.EXPORT_BATCH)
    )  # fmt: skip
    digest, size, count = hashlib.sha256(), 0, 0
    with path.open("xb") as out:
        for chunk in export.encode_rows(rows, "jsonl"):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            count += 1
    manifest = export.build_manifest(
        file_name=name,
        fmt="jsonl",
        filters={"purged": True},
        written=(count, size, digest.hexdigest()),
        head=None,
        exported_at=now,
        exported_by="system:adgate",
        signer=sign,
    )
    Path(f"{path}.manifest.json").write_bytes(export.manifest_bytes(manifest))
    return path


def _archive_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    return str(manifest["sha256"])
