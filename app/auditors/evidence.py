"""Checking exports offline: the file against its manifest, every line against its hash.

Needs no database: ``flask --app wsgi audit check-export FILE`` (or ``python -m
app.auditors.evidence FILE``) on any machine with adgate installed. FILE is the ZIP from the
pages, or a file from ``flask audit export`` with ``FILE.manifest.json`` beside it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from app.audit import body_hash, canonical_data, envelope, envelope_v2, signing
from app.audit.export import BOM, FIELDS, FORMAT, TIME_FORMAT

MAX_PROBLEMS = 20


@dataclass
class ExportCheck:
    """The outcome: ok when there are no problems."""

    manifest: dict[str, Any]
    events: int = 0
    problems: list[str] = field(default_factory=list)
    signature: str = "not checked"

    @property
    def ok(self) -> bool:
        """Whether the export is complete and unaltered as far as it can be checked."""
        return not self.problems

    def add(self, problem: str) -> None:
        """Note a problem (the first few are kept)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def check_export(path: Path, public_pem: bytes | None = None) -> ExportCheck:
    """Check an export (ZIP, or file + ``.manifest.json``) completely."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            manifest = _load_manifest(archive.read("manifest.json"))
            with archive.open(str(manifest.get("file", ""))) as member:
                return _check(member, manifest, public_pem)
    manifest_path = Path(f"{path}.manifest.json")
    if not manifest_path.exists():
        raise ValueError(f"no manifest: expected {manifest_path}")
    with path.open("rb") as data:
        return _check(data, _load_manifest(manifest_path.read_bytes()), public_pem)


def _load_manifest(raw: bytes) -> dict[str, Any]:
    manifest = json.loads(raw)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"not an adgate export manifest ({FORMAT})")
    return manifest


def _check(data: IO[bytes], manifest: dict[str, Any], public_pem: bytes | None) -> ExportCheck:
    report = ExportCheck(manifest)
    if public_pem is not None:
        problem = signing.check(manifest, signing.load_public(public_pem))
        report.signature = problem or "valid"
        if problem is not None:
            report.add(f"manifest signature: {problem}")
    digest, size = hashlib.sha256(), 0
    fmt = "csv" if manifest.get("media_type") == "text/csv" else "jsonl"
    previous: tuple[int, str] | None = None
    for number, (raw, event) in enumerate(_events(data, fmt, manifest), start=1):
        digest.update(raw)
        size += len(raw)
        if event is None:
            continue
        report.events += 1
        problem = _check_event(event)
        linked = previous is not None and int(event["seq"]) == previous[0] + 1
        if problem is None and linked and previous and event["prev_hash"] != previous[1]:
            problem = "does not link to the line before it"
        if problem is not None:
            report.add(f"line {number} (event {event.get('seq')}): {problem}")
        previous = (int(event["seq"]), str(event["hash"])) if problem is None else None
    if digest.hexdigest() != manifest.get("sha256"):
        report.add("the file's SHA-256 differs from the manifest: it was changed")
    if size != manifest.get("bytes"):
        report.add(f"the file has {size} bytes, the manifest says {manifest.get('bytes')}")
    if report.events != manifest.get("count"):
        report.add(
            f"the file has {report.events} events, the manifest says {manifest.get('count')}"
        )
    return report


def _events(
    data: IO[bytes], fmt: str, manifest: dict[str, Any]
) -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    """Each raw line with its event (None for the CSV header or an unreadable line).

    The CSV's fields and delimiter are the manifest's (an export for a person names the
    actors and may use semicolons); older manifests have neither, and mean commas.
    """
    fields = tuple(manifest.get("fields") or FIELDS)
    style = manifest.get("csv") or {}
    delimiter = str(style.get("delimiter") or ",")
    first = True
    for raw in data:
        text = raw.decode("utf-8", errors="replace")
        if fmt == "csv":
            if first:
                first = False
                yield raw, None
                continue
            row = next(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=delimiter), [])
            # Exports made before bodies were hashed apart have the first eleven fields.
            if len(row) not in (len(fields), len(FIELDS) - 3):
                yield raw, {"seq": None, "broken": "not a CSV line of the export"}
                continue
            names = fields if len(row) == len(fields) else FIELDS
            values: dict[str, Any] = dict(zip(names, row, strict=False))
            for name in ("actor_id", "subject_type", "subject_id", "request_id", "data"):
                values[name] = values[name] or None
            yield raw, values
        else:
            try:
                values = json.loads(text)
                if values["data"] is not None:  # None: a purge cleared the body
                    values["data"] = canonical_data(values["data"])
            except (ValueError, KeyError, TypeError):
                yield raw, {"seq": None, "broken": "not a JSON line of the export"}
                continue
            yield raw, values


def _check_event(event: dict[str, Any]) -> str | None:
    """Why a line's hash does not hold (None if it does, or cannot be checked offline).

    A line with ``body_hash`` is first checked in the second format; an event from before
    that format (its hash covers ``data`` itself) in the first. An old event whose body a
    purge cleared cannot be rehashed without the body: only its link is checked, and the
    signed manifest vouches for the file.
    """
    if "broken" in event:
        return str(event["broken"])
    try:
        fields: dict[str, Any] = {
            "seq": int(event["seq"]),
            "occurred_at": datetime.strptime(event["occurred_at"], TIME_FORMAT).replace(tzinfo=UTC),
            "actor_type": event["actor_type"],
            "actor_id": event["actor_id"],
            "kind": event["kind"],
            "subject_type": event["subject_type"],
            "subject_id": event["subject_id"],
            "request_id": event["request_id"],
            "prev_hash": event["prev_hash"],
        }
        data, body, retention = event["data"], event.get("body_hash"), event.get("retention")
        bodies = []
        if body is not None:
            bodies.append(envelope_v2(**fields, body_hash=body, retention=str(retention)))
        if data is not None:
            bodies.append(envelope(**fields, data=data))
    except (KeyError, ValueError, TypeError):
        return "a field is missing or malformed"
    if data is not None and body is not None and body_hash(data) != body:
        return "its content does not match its body_hash: the line was changed"
    hashes = {hashlib.sha256(b.encode()).hexdigest() for b in bodies}
    if event.get("hash") not in hashes and (data is not None or body is None):
        return "its content does not match its hash: the line was changed"
    return None


def main(argv: list[str]) -> int:
    """``python -m app.auditors.evidence FILE [PUBLIC_KEY.pem]``: exit 0 when it is intact."""
    if not argv or len(argv) > 2:
        print("usage: python -m app.auditors.evidence EXPORT [PUBLIC_KEY.pem]", file=sys.stderr)
        return 2
    public = Path(argv[1]).read_bytes() if len(argv) == 2 else None
    report = check_export(Path(argv[0]), public)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(
        f"{'ok' if report.ok else 'FAILED'}: {report.events} events, signature {report.signature}"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
