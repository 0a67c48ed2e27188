"""The lock files: every line pinned and hashed, in step with pyproject.toml, and installed."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.locks.lockfile import DEV, ROOT, RUNTIME, Locked, read_lock


def by_name(locked: list[Locked]) -> dict[str, list[Locked]]:
    """The lines of a lock per package name (a name has two lines where a marker splits it)."""
    names: dict[str, list[Locked]] = {}
    for line in locked:
        names.setdefault(line.name, []).append(line)
    return names


def declared() -> list[tuple[str, Requirement]]:
    """pyproject.toml's ranges: the service's, the dev extras' and the build's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [
        *(("runtime", Requirement(r)) for r in project["project"]["dependencies"]),
        *(("runtime", Requirement(r)) for r in project["build-system"]["requires"]),
        *(("dev", Requirement(r)) for r in project["project"]["optional-dependencies"]["dev"]),
    ]


@pytest.mark.parametrize("lock", [RUNTIME, DEV], ids=lambda path: path.name)
def test_every_line_is_pinned_and_hashed(lock: Path) -> None:
    """pip's hash-checking mode needs a sha256 on every line (read_lock checks the pins)."""
    locked = read_lock(lock)
    assert len(locked) > 50
    for line in locked:
        assert line.hashes, line.name
        assert all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for h in line.hashes)


def test_the_dev_lock_holds_the_runtime_lock() -> None:
    """Tests run on exactly what the service runs on: same versions, same files.

    (A marker may be wider in the dev lock, where a dev tool needs the package elsewhere too.)
    """
    dev = {(line.name, line.version): line for line in read_lock(DEV)}
    for line in read_lock(RUNTIME):
        key = (line.name, line.version)
        assert key in dev, f"{line.name}=={line.version} is not in {DEV.name}"
        assert set(line.hashes) == set(dev[key].hashes), line.name


def test_the_locks_follow_pyproject() -> None:
    """Each range in pyproject.toml is locked to a version it admits (else: `make lock`)."""
    locks = {"runtime": by_name(read_lock(RUNTIME)), "dev": by_name(read_lock(DEV))}
    for kind, requirement in declared():
        lines = locks[kind].get(canonicalize_name(requirement.name))
        assert lines, f"{requirement} (pyproject.toml) is not in the {kind} lock: run make lock"
        for line in lines:
            assert requirement.specifier.contains(line.version, prereleases=True), (
                f"{line.name}=={line.version} is outside {requirement}: run make lock"
            )


def test_the_environment_is_the_dev_lock() -> None:
    """What the tests import is what the lock names (`make test` installs from it)."""
    wrong = []
    for line in read_lock(DEV):
        if not line.applies():
            continue
        installed = metadata.version(line.name)
        if installed != line.version:
            wrong.append(f"{line.name} {installed} (locked {line.version})")
    assert not wrong, "installed otherwise than locked: " + ", ".join(wrong)
