"""docs/sbom.cdx.json, written by `make sbom`, lists exactly the runtime lock."""

from __future__ import annotations

import json
import tomllib
from typing import Any

from packaging.utils import canonicalize_name

from tests.locks.lockfile import ROOT, RUNTIME, read_lock

SBOM = ROOT / "docs" / "sbom.cdx.json"


def sbom() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SBOM.read_text())
    return document


def test_the_sbom_lists_the_runtime_lock() -> None:
    """Same names and versions in both (regenerate with `make sbom` after `make lock`)."""
    listed = {(canonicalize_name(c["name"]), c["version"]) for c in sbom()["components"]}
    locked = {(line.name, line.version) for line in read_lock(RUNTIME)}
    assert listed - locked == set(), "in the SBOM, not in the lock: run make sbom"
    assert locked - listed == set(), "in the lock, not in the SBOM: run make sbom"


def test_the_sbom_describes_adgate_reproducibly() -> None:
    """CycloneDX JSON about this project, without the time or serial number of a run."""
    document = sbom()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert document["bomFormat"] == "CycloneDX"
    root = document["metadata"]["component"]
    assert (root["name"], root["version"]) == (project["name"], project["version"])
    assert "serialNumber" not in document
    assert "timestamp" not in document["metadata"]
    purls = {c["purl"] for c in document["components"]}
    assert all(purl.startswith("pkg:pypi/") for purl in purls)
