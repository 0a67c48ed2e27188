"""What a check answers: its status, the provenance of what it relied on, a stable code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A check's outcome now."""

    PASSED = "passed"
    FAILED = "failed"  # the ad manager has something to do
    PENDING = "pending"  # waiting for someone else (a reviewer)


class Provenance(StrEnum):
    """What a check relied on: adgate itself, a reviewer's look at evidence, a declaration."""

    SYSTEM = "system"
    VERIFIED = "verified"
    ATTESTED = "attested"


@dataclass(frozen=True)
class CheckResult:
    """One step of the checklist as evaluated now."""

    name: str
    status: Status
    code: str
    detail: str
    provenance: Provenance
    # The values in ``detail``, so that a translation can be filled in by code.
    params: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED


def result(
    name: str, status: Status, code: str, detail: str, prov: Provenance, **params: str
) -> CheckResult:
    """The result of check ``name``; its code is ``<name>.<code>``."""
    return CheckResult(name, status, f"{name}.{code}", detail, prov, params)
