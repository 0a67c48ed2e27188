"""The Meta gateway's interface: what the worker asks of Meta, and what comes back.

The ad as it goes to Meta (:class:`AdSpec`), the names adgate gives its objects there, what
Meta answers (:class:`AdStatus`, :class:`Named`, :class:`Usage`, :class:`AccountReading`)
and its refusals (:class:`MetaError`). :class:`Gateway` is implemented on the real
facebook-business SDK in :mod:`app.meta.sdk`; :mod:`app.meta.params` builds what each call
sends. docs/meta.md names the source of every parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from workflows.delivery import BudgetType, Placement

SIEP = "ISSUES_ELECTIONS_POLITICS"
# Meta's rate limits (docs/meta.md): throttling, not a fault of the call.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# Errors that a later attempt may not meet: rate limits and temporary faults. Code 368
# (blocked for policy reasons) is not among them: a person must look.
TRANSIENT_CODES = frozenset({1, 2, 341, *RATE_LIMIT_CODES})
POLICY_BLOCK = 368
# What the worker creates, in order: the image only when the ad has one.
KINDS = ("campaign", "adset", "image", "creative", "ad")
# How far back before its submission a look-up by name reads (an object of a submission is
# never older than it; the margin covers a difference between adgate's clock and Meta's).
FIND_HORIZON = timedelta(hours=1)
# adgate-<installation>-<submission>-<kind>
NAME = re.compile(r"adgate-([0-9a-f]{8})-(\d+)-(campaign|adset|creative|ad)")
# The fields read to follow an ad at Meta.
AD_STATUS_FIELDS = ("effective_status", "ad_review_feedback", "issues_info")
# Graph reads many objects by id in one call; adgate asks for at most this many at once.
IDS_PER_READ = 50


@dataclass(frozen=True)
class AdSpec:
    """Exactly what goes to Meta for one submission (derived from the approved checklist)."""

    submission_id: int
    ad_account_id: str
    page_id: str
    message: str
    headline: str
    link_url: str
    countries: tuple[str, ...]
    siep: bool
    digitally_created_media: bool = False
    dsa_payor: str = ""
    dsa_beneficiary: str = ""
    status: str = "PAUSED"
    budget_type: BudgetType = BudgetType.DAILY
    budget_amount: int = 1000
    start_time: datetime | None = None
    end_time: datetime | None = None
    placements: tuple[Placement, ...] = (Placement.FACEBOOK, Placement.INSTAGRAM)
    image: bytes | None = field(default=None, repr=False)
    # When the submission was made: a look-up by name reads no further back than this.
    created_at: datetime | None = None
    # This installation's name (``Installation.name``), in every object's name.
    installation: str = "00000000"

    def name(self, kind: str) -> str:
        """The object's name: the installation and the submission, to be found again by it."""
        return object_name(self.installation, self.submission_id, kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The objects this ad needs at Meta, in the order they are created."""
        return tuple(k for k in KINDS if k != "image" or self.image is not None)

    @property
    def authorization_category(self) -> str:
        if not self.siep:
            return "NONE"
        return (
            "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA"
            if self.digitally_created_media
            else "POLITICAL"
        )


def object_name(installation: str, submission_id: int, kind: str) -> str:
    """``adgate-<installation>-<submission>-<kind>``."""
    return f"adgate-{installation}-{submission_id}-{kind}"


@dataclass(frozen=True)
class AdStatus:
    """An ad as Meta reports it: its effective_status, review feedback and delivery issues."""

    ad_id: str
    effective_status: str
    feedback: dict[str, Any]
    issues: list[dict[str, Any]]


@dataclass(frozen=True)
class Named:
    """An object of an ad account found by its name."""

    kind: str
    id: str
    name: str
    created_time: datetime | None


@dataclass(frozen=True)
class Usage:
    """What Meta's usage headers said of one ad account (or of the app)."""

    # None: not throttled; else the moment Meta estimates access comes back.
    regain_at: datetime | None
    report: Mapping[str, Any]

    @property
    def percent(self) -> float:
        """The largest share of the budget used, in percent (of ``call_count``,
        ``total_cputime`` and ``total_time``, over every use case)."""
        entries = self.report.get("use_cases", [self.report])
        return max(
            (
                _number(entry.get(key))
                for entry in (entries if isinstance(entries, list) else [])
                if isinstance(entry, Mapping)
                for key in ("call_count", "total_cputime", "total_time")
            ),
            default=0.0,
        )


@dataclass(frozen=True)
class AccountReading:
    """What Meta answers about an ad account (``GET act_<id>``)."""

    page_authorized: bool | None
    currency: str | None
    min_daily_budget: int | None


class MetaError(Exception):
    """An error answered by Meta (or the network on the way); safe to log and to audit."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        user_title: str | None = None,
        user_message: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        transient: bool = False,
        ambiguous: bool = False,
        blame_fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_message = user_title, user_message
        self.fbtrace_id, self.http_status = fbtrace_id, http_status
        self.transient = transient
        # The call may or may not have taken effect (timeout, dropped connection).
        self.ambiguous = ambiguous
        # The fields Meta blames (error_data.blame_field_specs), dotted.
        self.blame_fields = list(blame_fields)

    @property
    def rate_limited(self) -> bool:
        """Meta throttles: wait as it says, without spending an attempt."""
        return self.code in RATE_LIMIT_CODES

    @property
    def policy_block(self) -> bool:
        """Code 368: blocked for policy reasons; hours or days, a person must look."""
        return self.code == POLICY_BLOCK

    @property
    def not_found(self) -> bool:
        """The object does not exist (any more), or the token may not use it."""
        return self.code == 100 and self.subcode == 33

    def as_dict(self) -> dict[str, Any]:
        """The fields recorded for the ad manager and the auditor."""
        return {
            "code": self.code,
            "subcode": self.subcode,
            "message": self.message,
            "user_title": self.user_title,
            "user_message": self.user_message,
            "fbtrace_id": self.fbtrace_id,
            "http_status": self.http_status,
            "transient": self.transient,
            "blame_fields": self.blame_fields,
        }


class Gateway(Protocol):
    """What adgate asks of Meta."""

    def validate(self, spec: AdSpec) -> None:
        """Run Meta's validation of the campaign and creative without creating anything."""

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        """Create one object (``KINDS``) and return its id; ``parents`` holds earlier ids."""

    def find(self, spec: AdSpec, kind: str) -> list[Named]:
        """The objects of ``kind`` named for this submission that Meta holds, oldest first."""

    def delete(self, kind: str, object_id: str) -> None:
        """Delete an object at Meta (one already gone counts as deleted)."""

    def set_status(self, kind: str, object_id: str, status: str) -> None:
        """Set a campaign's, ad set's or ad's status (ACTIVE, PAUSED)."""

    def read_ads(self, ad_ids: Sequence[str]) -> dict[str, AdStatus]:
        """The status of many ads, read in as few calls as Meta allows."""

    def list_named(self, ad_account_id: str, kind: str) -> list[Named]:
        """Every object of ``kind`` in the account whose name adgate gives."""

    def read_account(self, ad_account_id: str) -> AccountReading:
        """What Meta says of an ad account: its page's authorization, currency, minimum budget."""

    def take_usage(self) -> dict[str, Usage]:
        """What Meta's usage headers said since last asked, by ad account ("app": the app)."""


def usage_from_headers(headers: Mapping[str, str], now: datetime) -> dict[str, Usage]:
    """Meta's usage headers as throttles: by ad account (``act_…``) and for the app.

    ``X-Business-Use-Case-Usage`` is JSON keyed by the business object (the ad account's
    number) with a list of use cases, each with ``estimated_time_to_regain_access`` in
    minutes; ``X-App-Usage`` gives percentages for the app. A use case at 100 % without
    an estimate is treated as throttled for ``DEFAULT_BLOCK``.
    """
    found: dict[str, Usage] = {}
    raw = headers.get("x-business-use-case-usage")
    if raw:
        try:
            cases = json.loads(raw)
        except ValueError:
            cases = {}
        for key, entries in cases.items() if isinstance(cases, dict) else ():
            if not isinstance(entries, list):
                continue
            account = key if str(key).startswith("act_") else f"act_{key}"
            waits = [_wait(e) for e in entries if isinstance(e, dict)]
            longest = max((w for w in waits if w is not None), default=None)
            regain = now + longest if longest is not None else None
            found[account] = Usage(regain, {"use_cases": entries})
    app_raw = headers.get("x-app-usage")
    if app_raw:
        try:
            report = json.loads(app_raw)
        except ValueError:
            report = {}
        if isinstance(report, dict):
            full = any(_number(v) >= 100 for v in report.values())
            found["app"] = Usage(now + DEFAULT_BLOCK if full else None, report)
    return found


# How long a use case at 100 % without Meta's estimate is waited out (the development tier's
# block: docs/meta.md).
DEFAULT_BLOCK = timedelta(seconds=300)


def _wait(entry: Mapping[str, Any]) -> timedelta | None:
    minutes = _number(entry.get("estimated_time_to_regain_access"))
    if minutes > 0:
        return timedelta(minutes=minutes)
    if max(_number(entry.get(k)) for k in ("call_count", "total_cputime", "total_time")) >= 100:
        return DEFAULT_BLOCK
    return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
