"""The checks of the authorization checklist: one function each, from plain values to a result.

Each check returns a ``CheckResult`` with a status, a stable ``code`` (for machines and
translations), a plain English ``detail`` for logs (what people read, on the pages and in
the API, is the text of its code in ``app/checklists/steps.py``, filled with ``params``) and the
``provenance`` of what it relied on: ``system`` (adgate checked it itself),
``verified`` (a reviewer checked evidence) or ``attested`` (the ad manager declared it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from workflows import delivery, policy
from workflows.delivery import ALL_PLACEMENTS, Budget, Placement, Schedule
from workflows.policy import AdKind


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


class Category(StrEnum):
    """The classification of an ad; the first three are SIEP ads at Meta."""

    POLITICAL = "POLITICAL"
    ELECTORAL = "ELECTORAL"
    SOCIAL_ISSUE = "SOCIAL_ISSUE"
    NONE = "NONE"

    @property
    def is_siep(self) -> bool:
        return self is not Category.NONE


# Meta's social-issue topics.
SOCIAL_ISSUES = (
    "civil_and_social_rights",
    "crime",
    "economy",
    "education",
    "environmental_politics",
    "guns",
    "health",
    "immigration",
    "political_values_and_governance",
    "security_and_foreign_policy",
)
DOCUMENT_TYPES = ("passport", "id_card", "residence_permit")


@dataclass(frozen=True)
class Ad:
    """What the ad says and where it runs (the content that an approval covers)."""

    page_id: str
    ad_account_id: str
    message: str
    headline: str
    link_url: str
    countries: tuple[str, ...]
    paid_for_by: str = ""
    dsa_payor: str = ""
    dsa_beneficiary: str = ""
    budget: Budget = field(default_factory=Budget)
    schedule: Schedule = field(default_factory=Schedule)
    placements: tuple[Placement, ...] = ALL_PLACEMENTS
    # SHA-256 of the image's bytes, or None for an ad without an image of its own.
    image_sha256: str | None = None

    def __post_init__(self) -> None:
        for country in self.countries:
            policy.check_country(country)


@dataclass(frozen=True)
class Classification:
    """The ad manager's classification, and what the suggester and a reviewer said of it."""

    category: Category
    social_issues: tuple[str, ...] = ()
    digitally_created_media: bool = False
    justification: str | None = None
    # The suggester found the text political while the category is NONE.
    flagged: bool = False
    signed_off_by: int | None = None


@dataclass(frozen=True)
class IdentityVerification:
    """A reviewer saw an identity document (never its number or image)."""

    document_type: str
    issuing_country: str
    expires_on: date
    verified_by: int
    revoked: bool = False


@dataclass(frozen=True)
class Standing:
    """The ad account as adgate knows it, with Meta's authorization of its page.

    ``authorized`` holds the countries for which an admin recorded (verified) that Meta
    authorized the page for SIEP ads; ``disclaimers`` the "paid for by" texts registered
    at Meta per country. ``meta_page_authorized`` is what Meta itself answered when last
    asked (``has_page_authorized_adaccount``), None when never asked.
    """

    registered: bool
    page_id: str | None = None
    political_eligible: bool = True
    violations: int = 0
    currency: str | None = None
    authorized: frozenset[str] = frozenset()
    disclaimers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    meta_page_authorized: bool | None = None
    meta_min_daily_budget: int | None = None


@dataclass(frozen=True)
class Approval:
    """A reviewer's four-eyes approval of one exact content."""

    reviewer_id: int
    content_hash: str


@dataclass(frozen=True)
class CheckContext:
    """Everything the checks look at, as plain values, including the time."""

    now: datetime
    owner_id: int
    ad: Ad
    owner_totp_enabled: bool
    facebook_2fa_attested: bool
    identities: tuple[IdentityVerification, ...] = ()
    classification: Classification | None = None
    standing: Standing = field(default_factory=lambda: Standing(registered=False))
    approval: Approval | None = None
    four_eyes: bool = True
    # The content hash the submission recorded when the owner submitted: the worker's check
    # before sending compares it with what it is about to send (None: not sending).
    submitted_hash: str | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.ad, self.classification, self.standing.currency)

    @property
    def kind(self) -> AdKind | None:
        """SIEP or not, once classified."""
        if self.classification is None:
            return None
        return AdKind.SIEP if self.classification.category.is_siep else AdKind.OTHER


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


def content_hash(ad: Ad, classification: Classification | None, currency: str | None = None) -> str:
    """SHA-256 of what will be sent to Meta: the ad and what its classification decides, and
    the currency its budget is in (the reviewer approved an amount of money)."""
    sent = {
        "ad": {
            "page_id": ad.page_id,
            "ad_account_id": ad.ad_account_id,
            "message": ad.message,
            "headline": ad.headline,
            "link_url": ad.link_url,
            "countries": sorted(ad.countries),
            "paid_for_by": ad.paid_for_by,
            "dsa_payor": ad.dsa_payor,
            "dsa_beneficiary": ad.dsa_beneficiary,
            "budget": {"type": ad.budget.type.value, "amount": ad.budget.amount},
            "schedule": {
                "start": _instant(ad.schedule.start),
                "end": _instant(ad.schedule.end),
            },
            "placements": sorted(p.value for p in ad.placements),
            "image_sha256": ad.image_sha256,
        },
        "currency": currency,
        "category": classification.category.value if classification else None,
        "digitally_created_media": bool(classification and classification.digitally_created_media),
    }
    canonical = json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _instant(moment: datetime | None) -> int | None:
    """A time as whole seconds since the epoch: the same instant hashes the same in any zone."""
    return None if moment is None else int(moment.timestamp())


def _result(
    name: str, status: Status, code: str, detail: str, prov: Provenance, **params: str
) -> CheckResult:
    return CheckResult(name, status, f"{name}.{code}", detail, prov, params)


def two_factor(ctx: CheckContext) -> CheckResult:
    """adgate's own TOTP is on (system) and 2FA on the Facebook account is attested."""
    if not ctx.owner_totp_enabled:
        return _result(
            "two_factor",
            Status.FAILED,
            "adgate_totp_off",
            "The owner has no two-factor authentication in adgate; set it up on the Security page.",
            Provenance.SYSTEM,
        )
    if not ctx.facebook_2fa_attested:
        return _result(
            "two_factor",
            Status.FAILED,
            "facebook_not_attested",
            "Confirm that two-factor authentication is on for the Facebook account used for ads.",
            Provenance.ATTESTED,
        )
    return _result(
        "two_factor",
        Status.PASSED,
        "ok",
        "Two-factor authentication is on in adgate and attested for Facebook.",
        Provenance.ATTESTED,
    )


def identity(ctx: CheckContext) -> CheckResult:
    """An unexpired verification by another person, issued by every country the ad targets."""
    today = ctx.now.date()
    valid = [
        v
        for v in ctx.identities
        if not v.revoked and v.verified_by != ctx.owner_id and v.expires_on >= today
    ]
    covered = {v.issuing_country for v in valid}
    missing = sorted(set(ctx.ad.countries) - covered)
    if not ctx.ad.countries:
        return _result(
            "identity",
            Status.FAILED,
            "no_countries",
            "The ad has no target country, so no identity document can match it.",
            Provenance.VERIFIED,
        )
    if missing:
        expired = sorted(
            {v.issuing_country for v in ctx.identities if not v.revoked and v.expires_on < today}
            & set(missing)
        )
        if expired:
            return _result(
                "identity",
                Status.FAILED,
                "expired",
                f"The identity verification for {', '.join(expired)} has expired; "
                "a reviewer must verify a valid document.",
                Provenance.VERIFIED,
                countries=", ".join(expired),
            )
        return _result(
            "identity",
            Status.PENDING,
            "missing",
            f"A reviewer must verify an identity document issued by {', '.join(missing)}.",
            Provenance.VERIFIED,
            countries=", ".join(missing),
        )
    return _result(
        "identity",
        Status.PASSED,
        "ok",
        f"Identity verified for {', '.join(sorted(covered & set(ctx.ad.countries)))}.",
        Provenance.VERIFIED,
        countries=", ".join(sorted(covered & set(ctx.ad.countries))),
    )


def classification(ctx: CheckContext) -> CheckResult:
    """Classified; social issues name topics; a flagged NONE is justified and signed off."""
    c = ctx.classification
    if c is None:
        return _result(
            "classification",
            Status.FAILED,
            "missing",
            "Classify the ad: political, electoral, social issue, or none of these.",
            Provenance.ATTESTED,
        )
    if c.category is Category.SOCIAL_ISSUE and not c.social_issues:
        return _result(
            "classification",
            Status.FAILED,
            "topics_missing",
            "A social-issue ad must name at least one of Meta's social-issue topics.",
            Provenance.ATTESTED,
        )
    if c.category is Category.NONE and c.flagged:
        if not (c.justification or "").strip():
            return _result(
                "classification",
                Status.FAILED,
                "justification_missing",
                "adgate's suggester finds this text political: justify the classification NONE.",
                Provenance.ATTESTED,
            )
        if c.signed_off_by is None or c.signed_off_by == ctx.owner_id:
            return _result(
                "classification",
                Status.PENDING,
                "sign_off_pending",
                "A reviewer must sign off the justification for classifying this ad as NONE.",
                Provenance.VERIFIED,
            )
        return _result(
            "classification",
            Status.PASSED,
            "ok",
            "Classified NONE, justified and signed off by a reviewer.",
            Provenance.VERIFIED,
        )
    return _result(
        "classification",
        Status.PASSED,
        "ok",
        f"Classified {c.category.value}.",
        Provenance.ATTESTED,
        category=c.category.value,
    )


def disclaimer(ctx: CheckContext) -> CheckResult:
    """A SIEP ad (or one not yet classified) says who paid, in a text registered at Meta for its
    ad account in every target country; an EU ad names payor and beneficiary."""
    missing, codes = [], []
    siep = ctx.kind is not AdKind.OTHER
    paid_for_by = ctx.ad.paid_for_by.strip()
    if siep and not paid_for_by:
        missing.append("the 'paid for by' text")
        codes.append("paid_for_by")
    today = ctx.now.date()
    if any(policy.needs_dsa_fields(c, today) for c in ctx.ad.countries) and not (
        ctx.ad.dsa_payor.strip() and ctx.ad.dsa_beneficiary.strip()
    ):
        missing.append("the DSA payor and beneficiary (the ad targets the EU)")
        codes.append("dsa")
    if missing:
        return _result(
            "disclaimer",
            Status.FAILED,
            "missing",
            f"Enter {' and '.join(missing)}.",
            Provenance.ATTESTED,
            missing=",".join(codes),
        )
    if not siep:
        return _result(
            "disclaimer",
            Status.PASSED,
            "not_required",
            "A non-political ad needs no disclaimer.",
            Provenance.ATTESTED,
        )
    registered = ctx.standing.disclaimers
    unmatched = sorted(c for c in ctx.ad.countries if paid_for_by not in registered.get(c, ()))
    if unmatched:
        texts = sorted({t for c in unmatched for t in registered.get(c, ())})
        shown = "; ".join(f"“{t}”" for t in texts) or "none"
        return _result(
            "disclaimer",
            Status.FAILED,
            "not_registered",
            f"“{paid_for_by}” is not a disclaimer registered at Meta for "
            f"{ctx.ad.ad_account_id} in {', '.join(unmatched)} (registered there: {shown}).",
            Provenance.VERIFIED,
            text=paid_for_by,
            countries=", ".join(unmatched),
            registered=shown,
        )
    return _result(
        "disclaimer",
        Status.PASSED,
        "ok",
        f"“{paid_for_by}” is registered at Meta for every target country.",
        Provenance.VERIFIED,
        text=paid_for_by,
    )


def jurisdiction(ctx: CheckContext) -> CheckResult:
    """No target country refuses this kind of ad today (see workflows.policy)."""
    kind = ctx.kind
    if kind is None:
        return _result(
            "jurisdiction",
            Status.PENDING,
            "unclassified",
            "The rules of the target countries depend on the classification.",
            Provenance.SYSTEM,
        )
    if not ctx.ad.countries:
        return _result(
            "jurisdiction",
            Status.FAILED,
            "no_countries",
            "Choose at least one target country.",
            Provenance.SYSTEM,
        )
    today = ctx.now.date()
    refused, unknown, refused_rules = [], [], []
    for country in sorted(ctx.ad.countries):
        rule = policy.rule_for(country, kind, today)
        if rule is None:
            unknown.append(country)
        elif not rule.allowed:
            refused.append(f"{country} refuses since {rule.since.isoformat()} ({rule.reference})")
            refused_rules.append((country, rule))
    if refused:
        return _result(
            "jurisdiction",
            Status.FAILED,
            "refused",
            f"This {kind.value.upper()} ad cannot run: " + "; ".join(refused) + ".",
            Provenance.SYSTEM,
            countries=", ".join(c for c, _ in refused_rules),
            since=", ".join(sorted({r.since.isoformat() for _, r in refused_rules})),
            reference="; ".join(sorted({r.reference for _, r in refused_rules})),
        )
    if unknown:
        return _result(
            "jurisdiction",
            Status.FAILED,
            "unknown_country",
            f"adgate has no rules for {', '.join(unknown)}; such ads are not sent.",
            Provenance.SYSTEM,
            countries=", ".join(unknown),
        )
    return _result(
        "jurisdiction",
        Status.PASSED,
        "ok",
        f"Allowed in {', '.join(sorted(ctx.ad.countries))}.",
        Provenance.SYSTEM,
        countries=", ".join(sorted(ctx.ad.countries)),
    )


def standing(ctx: CheckContext) -> CheckResult:
    """The ad account is registered for this page, has not lost its political-ad eligibility,
    and (for a SIEP ad) its page is authorized at Meta in every target country."""
    s = ctx.standing
    if not s.registered:
        return _result(
            "standing",
            Status.FAILED,
            "unknown_ad_account",
            f"The ad account {ctx.ad.ad_account_id} is not registered in adgate; ask an admin.",
            Provenance.SYSTEM,
            ad_account=ctx.ad.ad_account_id,
        )
    if s.page_id is not None and s.page_id != ctx.ad.page_id:
        return _result(
            "standing",
            Status.FAILED,
            "page_mismatch",
            f"The ad account {ctx.ad.ad_account_id} is registered for page {s.page_id}, "
            f"not {ctx.ad.page_id}.",
            Provenance.SYSTEM,
            ad_account=ctx.ad.ad_account_id,
            registered_page=s.page_id,
            page=ctx.ad.page_id,
        )
    if ctx.kind is AdKind.OTHER:
        return _result(
            "standing",
            Status.PASSED,
            "ok",
            "The ad account is in good standing.",
            Provenance.SYSTEM,
        )
    if not s.political_eligible:
        return _result(
            "standing",
            Status.FAILED,
            "not_eligible",
            f"The ad account lost its eligibility for political ads after {s.violations} "
            "violation(s); an admin must restore it.",
            Provenance.SYSTEM,
            violations=str(s.violations),
        )
    unauthorized = sorted(set(ctx.ad.countries) - s.authorized)
    if unauthorized:
        return _result(
            "standing",
            Status.FAILED,
            "not_authorized",
            f"Page {ctx.ad.page_id} is not recorded as authorized at Meta for ads about social "
            f"issues, elections or politics in {', '.join(unauthorized)}.",
            Provenance.VERIFIED,
            page=ctx.ad.page_id,
            countries=", ".join(unauthorized),
        )
    if s.meta_page_authorized is False:
        return _result(
            "standing",
            Status.FAILED,
            "meta_not_authorized",
            f"Meta answers that page {ctx.ad.page_id} has not authorized {ctx.ad.ad_account_id} "
            "for ads about social issues, elections or politics.",
            Provenance.SYSTEM,
            page=ctx.ad.page_id,
            ad_account=ctx.ad.ad_account_id,
        )
    return _result(
        "standing",
        Status.PASSED,
        "authorized",
        f"In good standing; page {ctx.ad.page_id} is authorized at Meta in "
        f"{', '.join(sorted(ctx.ad.countries))}.",
        Provenance.VERIFIED,
        page=ctx.ad.page_id,
        countries=", ".join(sorted(ctx.ad.countries)),
    )


def budget(ctx: CheckContext) -> CheckResult:
    """Budget, schedule and placements are what Meta takes for the ad account's currency now."""
    ad = ctx.ad
    found = delivery.problems(
        ad.budget,
        ad.schedule,
        ad.placements,
        ctx.standing.currency,
        ctx.now,
        ctx.standing.meta_min_daily_budget,
    )
    if found:
        first = found[0]
        return _result(
            "budget",
            Status.FAILED,
            first.code,
            " ".join(p.detail for p in found),
            Provenance.SYSTEM,
            **dict(first.params),
        )
    currency = delivery.CURRENCIES[ctx.standing.currency or ""]
    return _result(
        "budget",
        Status.PASSED,
        "ok",
        f"{ad.budget.type.value.capitalize()} budget of "
        f"{delivery.format_amount(ad.budget.amount, currency)} {currency.code}.",
        Provenance.SYSTEM,
        type=ad.budget.type.value,
        amount=delivery.format_amount(ad.budget.amount, currency),
        currency=currency.code,
    )


def approval(ctx: CheckContext) -> CheckResult:
    """Four-eyes: another person, a reviewer, approved exactly this content; and what the
    worker sends is what was submitted."""
    if ctx.submitted_hash is not None and ctx.submitted_hash != ctx.content_hash:
        return _result(
            "approval",
            Status.FAILED,
            "not_submitted",
            "What would be sent differs from what was approved and submitted.",
            Provenance.SYSTEM,
        )
    if not ctx.four_eyes:
        return _result(
            "approval",
            Status.PASSED,
            "not_required",
            "Four-eyes approval is turned off for this installation.",
            Provenance.SYSTEM,
        )
    a = ctx.approval
    if a is None:
        return _result(
            "approval",
            Status.PENDING,
            "missing",
            "A reviewer must approve this ad.",
            Provenance.VERIFIED,
        )
    if a.reviewer_id == ctx.owner_id:
        return _result(
            "approval",
            Status.FAILED,
            "self_approved",
            "The owner cannot approve their own ad.",
            Provenance.VERIFIED,
        )
    if a.content_hash != ctx.content_hash:
        return _result(
            "approval",
            Status.PENDING,
            "stale",
            "The ad changed after it was approved; a reviewer must approve it again.",
            Provenance.VERIFIED,
        )
    return _result("approval", Status.PASSED, "ok", "Approved by a reviewer.", Provenance.VERIFIED)


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
