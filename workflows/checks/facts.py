"""What the checks look at, as plain values: the ad, its classification, the people's
verifications, the ad account's standing, the approval, and the time (``CheckContext``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from workflows import policy
from workflows.delivery import ALL_PLACEMENTS, Budget, Placement, Schedule
from workflows.policy import AdKind


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


# What a classification judges: what the ad says and shows, and who says it (Meta counts
# ads made by or on behalf of a candidate or party as political: the page and its ad
# account). Where the ad runs, how it is delivered and its disclaimer texts are not judged:
# a change of them leaves the classification standing (it still voids an approval, which
# covers everything sent: ``content_hash``).
CLASSIFIED_CONTENT = ("page_id", "ad_account_id", "message", "headline", "link_url", "image_sha256")


def voids_classification(before: Ad, after: Ad) -> bool:
    """Whether changing the ad from ``before`` to ``after`` voids its classification."""
    return any(getattr(before, f) != getattr(after, f) for f in CLASSIFIED_CONTENT)


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
