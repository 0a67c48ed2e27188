"""Retention: clear the bodies of events past their class's retention; never a row.

A purge runs in one transaction that holds the audit log's append lock. It writes its
authorization, signed with the audit key: its id and time, each class's retention in
days and the cutoff that follows from it, and how many bodies it clears
(``audit_purge``); the cutoffs also go into ``audit_purge_cutoff``, which the database's
trigger reads: it lets an UPDATE set ``data`` to NULL (and ``purge_id``) on an event of
a class older than that class's cutoff, and refuses every other change. Each event's
hash covers the SHA-256 of its body, not the body, so the chain still verifies; and
``verification.verify`` checks every cleared body against a purge signed by a trusted key.
An ``audit.purged`` event then names the purge and its signature in the chain itself.

With an archive folder, the bodies to be cleared are first exported there (JSON Lines
with a manifest), for installations whose records office keeps them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlmodel import Session, col

from app import audit
from app.audit import export, kinds, query, signing
from app.models import AuditEvent, AuditPurge, AuditPurgeCutoff

STATEMENT_FORMAT = "adgate-audit-purge/1"


class PurgeError(ValueError):
    """A purge that cannot run as asked (nothing was changed)."""


@dataclass
class PurgeReport:
    """What a purge did (or would do, when dry)."""

    cutoffs: dict[str, str]
    cleared: dict[str, int] = field(default_factory=dict)
    purge_id: int | None = None
    archive: Path | None = None

    @property
    def total(self) -> int:
        """Bodies cleared in all classes."""
        return sum(self.cleared.values())


def _expired(retention: str, cutoff: datetime) -> Any:
    return (
        (col(AuditEvent.retention) == retention)
        & (col(AuditEvent.occurred_at) < cutoff)
        & col(AuditEvent.data).is_not(None)
    )


def cutoffs(retention_days: dict[str, int], now: datetime) -> dict[str, datetime]:
    """Each purgeable class's cutoff: bodies older than it are past retention."""
    return {
        retention: now - timedelta(days=int(days))
        for retention, days in sorted(retention_days.items())
        if retention != kinds.INTEGRITY and retention in kinds.CLASSES
    }


def purge(
    db: Session,
    retention_days: dict[str, int],
    now: datetime,
    *,
    sign: signing.Signer | None = None,
    archive_dir: Path | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Clear the bodies of expired events (in the caller's transaction), authorized by a
    statement signed with ``sign``; without a key only a dry run is possible."""
    if sign is None and not dry_run:
        raise PurgeError(
            "a purge needs the audit signing key (AUDIT_SIGNING_KEY_FILE): verification "
            "accepts a cleared body only under a signed purge; see 'flask audit keygen'"
        )
    limits = cutoffs(retention_days, now)
    report = PurgeReport({r: export.timestamp(c) for r, c in limits.items()})
    if not limits:
        return report
    audit.lock(db)
    counts = {}
    for retention, cutoff in limits.items():
        expired = _expired(retention, cutoff)
        n = db.scalar(select(func.count()).select_from(AuditEvent).where(expired))
        if n:
            counts[retention] = int(n)
    report.cleared = counts
    if dry_run or not counts:
        return report
    assert sign is not None
    purge_id = (db.scalar(select(func.max(col(AuditPurge.id)))) or 0) + 1
    if archive_dir is not None:
        report.archive = _archive(db, limits, counts, archive_dir, now, sign)
    days = {r: int(retention_days[r]) for r in counts}
    statement = {
        "format": STATEMENT_FORMAT,
        "purge": purge_id,
        "at": export.timestamp(now),
        "retention_days": days,
        "cutoffs": {r: report.cutoffs[r] for r in counts},
        "cleared": counts,
        "archive_sha256": _archive_digest(report.archive),
    }
    block = sign.sign(statement)
    db.add(
        AuditPurge(
            id=purge_id,
            purged_at=now,
            statement=audit.canonical_data(statement),
            key_id=block["key_id"],
            signature=block["value"],
        )
    )
    db.flush()
    for retention in counts:
        db.add(AuditPurgeCutoff(purge_id=purge_id, retention=retention, cutoff=limits[retention]))
    db.flush()
    for retention, want in counts.items():
        result = db.execute(
            update(AuditEvent)
            .where(_expired(retention, limits[retention]))
            .values(data=None, purge_id=purge_id)
            .execution_options(synchronize_session=False)
        )
        done = int(getattr(result, "rowcount", 0) or 0)
        if done != want:  # the signed count must be the truth: roll back rather than lie
            raise PurgeError(f"{retention}: {done} bodies to clear, {want} counted and signed")
    audit.record(
        db,
        audit.PURGED,
        data={
            "purge": purge_id,
            "cleared": counts,
            "cutoffs": statement["cutoffs"],
            "retention_days": days,
            "key_id": block["key_id"],
            "signature": block["value"],
            "archive_sha256": statement["archive_sha256"],
        },
        actor=audit.SYSTEM,
    )
    report.purge_id = purge_id
    return report


def _archive(
    db: Session,
    limits: dict[str, datetime],
    counts: dict[str, int],
    folder: Path,
    now: datetime,
    sign: signing.Signer,
) -> Path:
    """Export the events whose bodies are about to be cleared (JSON Lines and manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"adgate-audit-purged-{now.strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    path = folder / name
    where = or_(*(_expired(retention, limits[retention]) for retention in counts))
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
