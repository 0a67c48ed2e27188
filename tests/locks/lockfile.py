"""Reads the lock files (requirements.txt, requirements-dev.txt) that `make lock` writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"


@dataclass(frozen=True)
class Locked:
    """One pinned line: the name, the exact version, where it applies and its hashes."""

    name: NormalizedName
    version: str
    requirement: Requirement
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        """Whether this Python on this platform installs the line (its marker, if any)."""
        marker = self.requirement.marker
        return marker is None or marker.evaluate()


def read_lock(path: Path) -> list[Locked]:
    """Every requirement of a hashed lock file, in the file's order."""
    logical = path.read_text().replace("\\\n", " ").splitlines()
    locked = []
    for line in logical:
        text = "" if line.lstrip().startswith("#") else line.strip()
        if not text:
            continue
        spec, *options = text.split(" --hash=")
        requirement = Requirement(spec.strip())
        pins = [s for s in requirement.specifier if s.operator == "=="]
        assert len(requirement.specifier) == 1, f"not one version: {text[:80]}"
        assert len(pins) == 1, f"not pinned: {text[:80]}"
        hashes = tuple(option.strip() for option in options)
        locked.append(
            Locked(canonicalize_name(requirement.name), pins[0].version, requirement, hashes)
        )
    return locked
