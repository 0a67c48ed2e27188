"""`make audit-deps`: the locked versions against published advisories, bounded in time.

pip-audit reads the lock files as they are (hashed, pinned: no resolution, nothing installed)
and asks an advisory service about each package. This wrapper bounds the whole run, prints
the advisories found, and says "advisory service unreachable" when the service cannot be
reached or knows none of the packages (a mirror without PyPI's per-version JSON answers 404
for every one), instead of pip-audit's traceback or its "No known vulnerabilities found"
above a list of packages it skipped.

Exit status: 0 no advisory, 1 advisories found, 2 advisory service unreachable, 3 no
advisory but some packages could not be audited.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The whole run, all lock files together: "within a minute", with room for Python's start.
DEADLINE_SECONDS = 50.0
# One request to the advisory service (pip-audit's socket timeout).
REQUEST_TIMEOUT_SECONDS = 10
UNREACHABLE = "advisory service unreachable"


@dataclass
class Audit:
    """What pip-audit said about one lock file."""

    lock: str
    advisories: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    audited: int = 0


class Unreachable(Exception):
    """The advisory service did not answer, or answered for none of the packages."""


def audit(lock: str, extra: list[str], seconds: float) -> Audit:
    """Run pip-audit on one hashed lock file within `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        command = [
            *(sys.executable, "-m", "pip_audit", "--requirement", lock),
            *("--disable-pip", "--require-hashes", "--progress-spinner", "off"),
            *("--timeout", str(REQUEST_TIMEOUT_SECONDS), "--format", "json"),
            *("--desc", "off", "--output", str(report), *extra),
        ]
        try:
            done = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
                command, capture_output=True, text=True, timeout=seconds, check=False
            )
        except subprocess.TimeoutExpired:
            raise Unreachable(f"no answer within {seconds:.0f} s") from None
        if done.returncode not in (0, 1) or not report.exists():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise Unreachable(lines[-1] if lines else f"pip-audit exited {done.returncode}")
        found = json.loads(report.read_text())
    result = Audit(lock)
    for dependency in found["dependencies"]:
        name, version = dependency["name"], dependency.get("version", "?")
        if "skip_reason" in dependency:
            result.skipped.append((name, version, dependency["skip_reason"]))
            continue
        result.audited += 1
        result.advisories.extend((name, version, vuln) for vuln in dependency["vulns"])
    if result.skipped and not result.audited:
        reason = result.skipped[0][2]
        raise Unreachable(f"it knew none of the {len(result.skipped)} packages ({reason})")
    return result


def main(argv: list[str] | None = None) -> int:
    """Audit each lock file; print the advisories; the exit status tells the outcome."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("locks", nargs="+", help="hashed lock files (requirements*.txt)")
    parser.add_argument("--deadline", type=float, default=DEADLINE_SECONDS)
    args, extra = parser.parse_known_args(argv)
    ends = time.monotonic() + args.deadline
    advisories = skipped = 0
    for lock in args.locks:
        try:
            result = audit(lock, extra, max(ends - time.monotonic(), 1.0))
        except Unreachable as error:
            print(f"{lock}: {UNREACHABLE}: {error}", file=sys.stderr)
            return 2
        print(f"{lock}: {result.audited} packages audited, {len(result.advisories)} advisories")
        for name, version, vuln in result.advisories:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            aliases = ", ".join(vuln.get("aliases") or [])
            print(f"  {name} {version}: {vuln['id']}" + (f" ({aliases})" if aliases else ""))
            print(f"    fixed in: {fixed}")
        for name, version, reason in result.skipped:
            print(f"  not audited: {name} {version}: {reason}")
        advisories += len(result.advisories)
        skipped += len(result.skipped)
    return 1 if advisories else 3 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
