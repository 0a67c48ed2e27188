"""The checks of the authorization checklist: one function each, from plain values to a result.

Each check returns a ``CheckResult`` (``result``) with a status, a stable ``code`` (for machines
and translations), a plain English ``detail`` for logs (what people read, on the pages and in
the API, is the text of its code in ``app/checklists/steps.py``, filled with ``params``) and the
``provenance`` of what it relied on: ``system`` (adgate checked it itself),
``verified`` (a reviewer checked evidence) or ``attested`` (the ad manager declared it).

What they look at is in ``facts`` (the ``CheckContext``, and the content hash an approval
covers); the checks about people in ``people``, those about the ad in ``ad``; this module
lists them in the checklist's order.
"""

from __future__ import annotations

from collections.abc import Callable

from workflows.checks.ad import budget, classification, disclaimer, jurisdiction, standing
from workflows.checks.facts import (
    DOCUMENT_TYPES,
    SOCIAL_ISSUES,
    Ad,
    Approval,
    Category,
    CheckContext,
    Classification,
    IdentityVerification,
    Standing,
    content_hash,
    voids_classification,
)
from workflows.checks.people import approval, identity, two_factor
from workflows.checks.result import CheckResult, Provenance, Status

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "DOCUMENT_TYPES",
    "SOCIAL_ISSUES",
    "Ad",
    "Approval",
    "Category",
    "Check",
    "CheckContext",
    "CheckResult",
    "Classification",
    "IdentityVerification",
    "Provenance",
    "Standing",
    "Status",
    "approval",
    "budget",
    "classification",
    "content_hash",
    "disclaimer",
    "evaluate_all",
    "identity",
    "jurisdiction",
    "moot",
    "refused",
    "standing",
    "two_factor",
    "voids_classification",
]

Check = Callable[[CheckContext], CheckResult]
CHECKS: tuple[tuple[str, Check], ...] = (
    ("two_factor", two_factor),
    ("identity", identity),
    ("classification", classification),
    ("disclaimer", disclaimer),
    ("jurisdiction", jurisdiction),
    ("standing", standing),
    ("budget", budget),
    ("approval", approval),
)
CHECK_NAMES = tuple(name for name, _ in CHECKS)


def evaluate_all(ctx: CheckContext) -> tuple[CheckResult, ...]:
    """Every check, in checklist order: all failures, never only the first."""
    return tuple(check(ctx) for _, check in CHECKS)


# What a refusal leaves standing: the refusal itself, and the classification it rests on.
STILL_RELEVANT_WHEN_REFUSED = frozenset({"jurisdiction", "classification"})


def refused(results: tuple[CheckResult, ...]) -> CheckResult | None:
    """The jurisdiction's refusal of the ad, or None when no target country refuses it."""
    return next((r for r in results if r.code == "jurisdiction.refused"), None)


def moot(results: tuple[CheckResult, ...]) -> frozenset[str]:
    """The steps that no longer matter because a target country refuses the ad: whatever is
    done about them, the ad cannot run there (only removing those countries helps)."""
    if refused(results) is None:
        return frozenset()
    return frozenset(
        r.name for r in results if not r.passed and r.name not in STILL_RELEVANT_WHEN_REFUSED
    )
