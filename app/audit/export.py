"""Exports of the audit log: CSV or JSON Lines of any filter, streamed, with a manifest.

The manifest names the filter, the count, the chain's head when the export began (the
export stops there, so it is a consistent snapshot), the file's fields, size and SHA-256, and
is signed when a signing key is configured. Each line carries the event's own fields, its
``prev_hash``, ``hash``, ``body_hash`` and retention class (and the purge that cleared its
body, if one did), so a changed line is found by recomputing the line's hash as well as
by the file's digest (``app.auditors.evidence``).

An export for a person (the auditors' pages) also names each actor (``actor``: the e-mail
address the pages show, not part of any hash) and writes CSV as a spreadsheet of their
language opens it: UTF-8 with a byte order mark, and a semicolon where the decimal separator
is a comma (German Excel would read a comma-separated file as one column). The manifest
records the delimiter and the mark.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import select
from sqlmodel import Session, col

from app.audit import query, signing
from app.models import AuditEvent

FORMAT = "adgate-audit-export/1"
FIELDS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "kind",
    "subject_type",
    "subject_id",
    "data",
    "request_id",
    "prev_hash",
    "hash",
    "body_hash",
    "retention",
    "purge_id",
)
# Who did it, in words (an e-mail address, "adgate (system)"), after actor_id in files for people.
ACTOR = "actor"
NAMED_FIELDS = (*FIELDS[:4], ACTOR, *FIELDS[4:])
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/jsonl"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
BOM = "\ufeff"

# Names an actor from its (actor_type, actor_id) as the reader of the export may see it.
ActorNames = Callable[[str, str | None], str]


@dataclass(frozen=True)
class CsvStyle:
    """How the CSV is written: the machine default (comma, no mark) or a locale's."""

    delimiter: str = ","
    bom: bool = False

    @classmethod
    def for_locale(cls, decimal_symbol: str) -> CsvStyle:
        """A spreadsheet's style where the decimal separator is ``decimal_symbol``."""
        return cls(delimiter=";" if decimal_symbol == "," else ",", bom=True)

    def describe(self) -> dict[str, Any]:
        return {"delimiter": self.delimiter, "bom": self.bom}


def timestamp(at: datetime) -> str:
    """A time exactly as the hash envelope writes it."""
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def head(db: Session) -> tuple[int, str] | None:
    """The newest event's seq and hash (None for an empty log)."""
    row = db.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def encode_rows(
    rows: Iterable[Any],
    fmt: str,
    style: CsvStyle = CsvStyle(),
    names: ActorNames | None = None,
) -> Iterator[bytes]:
    """The file's lines, one bytes chunk per event (CSV starts with a header line, after the
    byte order mark if ``style`` asks for one); ``names`` adds the ``actor`` field."""
    fields = NAMED_FIELDS if names else FIELDS
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=style.delimiter, lineterminator="\n")
        writer.writerow(fields)
        yield ((BOM if style.bom else "") + buffer.getvalue()).encode()
        for row in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(_values(row, names))
            yield buffer.getvalue().encode()
    elif fmt == "jsonl":
        for row in rows:
            values = dict(zip(fields, _values(row, names), strict=True))
            if values["data"] is not None:  # None: a purge cleared the body
                values["data"] = json.loads(values["data"])
            yield (json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    else:
        raise ValueError(f"unknown export format {fmt!r}")


def _values(row: Any, names: ActorNames | None = None) -> list[Any]:
    seq, at, actor_type, actor_id, *rest = row
    named = [names(actor_type, actor_id)] if names else []
    return [seq, timestamp(at), actor_type, actor_id, *named, *rest]


@dataclass
class Export:
    """One export in progress: iterate ``chunks()``, then read ``manifest``."""

    db: Session
    filter: query.Filter
    fmt: str
    file_name: str
    exported_by: str
    signer: signing.Signer | None = None
    progress: Callable[[int], None] | None = None
    style: CsvStyle = CsvStyle()
    names: ActorNames | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.fmt not in MEDIA_TYPES:
            raise ValueError(f"unknown export format {self.fmt!r}")
        self.started_at = datetime.now(UTC)
        self.head = head(self.db)
        up_to = self.head[0] if self.head else 0
        if self.filter.up_to_seq is not None:
            up_to = min(up_to, self.filter.up_to_seq)
        self.snapshot = query.Filter(**{**self.filter.__dict__, "up_to_seq": up_to})

    def chunks(self) -> Iterator[bytes]:
        """The file, streamed; the manifest is complete once this is exhausted."""
        digest, size = hashlib.sha256(), 0
        rows = self._counted(query.stream(self.db, self.snapshot))
        for chunk in encode_rows(rows, self.fmt, self.style, self.names):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        self.manifest = self._manifest(self.count, size, digest.hexdigest())

    def _counted(self, rows: Iterator[Any]) -> Iterator[Any]:
        for row in rows:
            self.count += 1
            if self.progress is not None and self.count % query.EXPORT_BATCH == 0:
                self.progress(query.EXPORT_BATCH)
            yield row
        if self.progress is not None:
            self.progress(self.count % query.EXPORT_BATCH)

    def _manifest(self, count: int, size: int, sha256: str) -> dict[str, Any]:
        return build_manifest(
            file_name=self.file_name,
            fmt=self.fmt,
            filters=self.filter.describe(),
            written=(count, size, sha256),
            head=self.head,
            exported_at=self.started_at,
            exported_by=self.exported_by,
            signer=self.signer,
            fields=NAMED_FIELDS if self.names else FIELDS,
            style=self.style if self.fmt == "csv" else None,
        )


def build_manifest(
    *,
    file_name: str,
    fmt: str,
    filters: dict[str, Any],
    written: tuple[int, int, str],
    head: tuple[int, str] | None,
    exported_at: datetime,
    exported_by: str,
    signer: signing.Signer | None,
    fields: tuple[str, ...] = FIELDS,
    style: CsvStyle | None = None,
) -> dict[str, Any]:
    """The manifest of a written file: ``written`` is (events, bytes, SHA-256)."""
    count, size, sha256 = written
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "file": file_name,
        "media_type": MEDIA_TYPES[fmt],
        "fields": list(fields),
        "filters": filters,
        "count": count,
        "bytes": size,
        "sha256": sha256,
        "chain_head": {"seq": head[0], "hash": head[1]} if head else None,
        "exported_at": timestamp(exported_at),
        "exported_by": exported_by,
    }
    if style is not None:
        manifest["csv"] = style.describe()
    if signer is not None:
        manifest["signature"] = signer.sign(manifest)
    return manifest


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as a file: indented JSON, sorted keys."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class _Sink(io.RawIOBase):
    """A write-only stream that hands what ZipFile writes to a generator."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zipped(export: Export) -> Iterator[bytes]:
    """The export and its manifest as one ZIP, streamed (no temporary file, constant memory)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(export.file_name, "w") as member:
            for chunk in export.chunks():
                member.write(chunk)
                if len(sink.parts) > 0:
                    yield sink.take()
        archive.writestr("manifest.json", manifest_bytes(export.manifest))
    yield sink.take()


def write_files(export: Export, out: IO[bytes]) -> dict[str, Any]:
    """Write the export to ``out``; returns the manifest (the caller stores it beside)."""
    for chunk in export.chunks():
        out.write(chunk)
    return export.manifest
