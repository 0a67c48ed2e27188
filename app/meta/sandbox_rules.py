"""Meta's rules as the sandbox Graph server applies them: data, errors and pure checks.

Nothing here knows HTTP or threads: :mod:`app.meta.sandbox` decodes a request into
a ``dict`` of parameters, calls one ``check_*`` function with the objects it holds,
and renders the :class:`GraphError` a check raises in Meta's error format. The codes
and subcodes of every rule are listed in :mod:`app.meta.sandbox`'s docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

GRAPH_VERSION = "v26.0"
SIEP = "ISSUES_ELECTIONS_POLITICS"
SPECIAL_AD_CATEGORIES = frozenset(
    {
        "NONE",
        SIEP,
        "HOUSING",
        "EMPLOYMENT",
        "CREDIT",
        "FINANCIAL_PRODUCTS_SERVICES",
        "ONLINE_GAMBLING_AND_GAMING",
    }
)
AUTHORIZATION_CATEGORIES = ("NONE", "POLITICAL", "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA")
POLITICAL_AUTHORIZATIONS = frozenset(AUTHORIZATION_CATEGORIES[1:])
STATUSES = ("ACTIVE", "PAUSED")
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# Parameters that are text even when they look like JSON (a name may start with "[").
TEXT_PARAMS = frozenset({"name", "dsa_payor", "dsa_beneficiary", "status", "title", "body"})
_ISO2 = re.compile(r"[A-Z]{2}")
REVIEW_POLICY = "Ads about social issues, elections or politics"


@dataclass(frozen=True)
class SiepStop:
    """A jurisdiction where Meta refuses SIEP ads from a date on, with the legal reference."""

    countries: frozenset[str]
    since: date
    reference: str

    def applies(self, countries: list[str], today: date) -> list[str]:
        """The listed countries this stop covers on ``today`` (sorted)."""
        return sorted(set(countries) & self.countries) if today >= self.since else []


SIEP_STOPS = (
    SiepStop(
        countries=EU_MEMBER_STATES,
        since=date(2025, 10, 6),
        reference="Regulation (EU) 2024/900 on political advertising (TTPA)",
    ),
)


@dataclass(frozen=True)
class SandboxAccount:
    """An ad account the sandbox knows, with its page and Meta's political-ad authorization."""

    id: str
    name: str
    page_id: str
    authorized_countries: frozenset[str]
    disclaimer: str | None

    def as_dict(self) -> dict[str, Any]:
        """The account as ``/__sandbox__/objects`` lists it."""
        return {
            "id": self.id,
            "account_id": self.id.removeprefix("act_"),
            "name": self.name,
            "page_id": self.page_id,
            "authorized_countries": sorted(self.authorized_countries),
            "disclaimer": self.disclaimer,
        }


INITIAL_ACCOUNTS = (
    SandboxAccount(
        id="act_1001",
        name="Stadt Musterstadt",
        page_id="2001",
        authorized_countries=frozenset({"CH", "LI"}),
        disclaimer="Stadt Musterstadt",
    ),
    SandboxAccount(
        id="act_1002",
        name="Gemeinde Beispielhausen",
        page_id="2002",
        authorized_countries=frozenset(),
        disclaimer=None,
    ),
)


class GraphError(Exception):
    """An error answered in Meta's format: ``{"error": {...}}`` with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        subcode: int | None = None,
        user_title: str,
        user_msg: str,
        error_type: str = "OAuthException",
        http_status: int = 400,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_msg = user_title, user_msg
        self.error_type = error_type
        self.http_status = http_status
        self.transient = transient

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        """The response body; ``error_subcode`` only when the error has one (as Meta does)."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "error_user_title": self.user_title,
            "error_user_msg": self.user_msg,
            "fbtrace_id": fbtrace_id,
            "is_transient": self.transient,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


@dataclass(frozen=True)
class Rule:
    """One of Meta's refusals: its code, subcode and user title (the message varies)."""

    code: int
    subcode: int | None
    title: str

    def error(self, user_msg: str, message: str = "Invalid parameter") -> GraphError:
        """The :class:`GraphError` for this rule."""
        return GraphError(
            message, code=self.code, subcode=self.subcode, user_title=self.title, user_msg=user_msg
        )


INVALID_PARAMETER = Rule(100, None, "Invalid parameter")
CATEGORY_REQUIRED = Rule(100, 1892001, "Special Ad Categories Required")
CATEGORY_COUNTRY_REQUIRED = Rule(100, 1892002, "Special Ad Category Country Required")
SIEP_STOPPED = Rule(100, 1892003, "Ads About Social Issues, Elections or Politics Not Allowed")
INVALID_CAMPAIGN = Rule(100, 1892004, "Invalid Campaign")
TARGETING_REQUIRED = Rule(100, 1892005, "Target Countries Required")
DSA_REQUIRED = Rule(100, 1892006, "Payor and Beneficiary Required")
SIEP_COUNTRY_MISMATCH = Rule(100, 1892007, "Country Not Declared for This Campaign")
PAGE_NOT_ALLOWED = Rule(100, 1892008, "Page Not Linked to This Ad Account")
INVALID_ADSET = Rule(100, 1892009, "Invalid Ad Set")
INVALID_CREATIVE = Rule(100, 1892010, "Invalid Ad Creative")
AUTHORIZATION_MISMATCH = Rule(100, 1892011, "Authorization Category Does Not Match")


def unsupported_request(method: str, object_id: str) -> GraphError:
    """Meta's answer for an object that does not exist (or that the token may not use)."""
    verb = method.lower()
    return GraphError(
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be"
        " loaded due to missing permissions, or does not support this operation. Please read"
        " the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        code=100,
        subcode=33,
        error_type="GraphMethodException",
        user_title="Object Not Found",
        user_msg=f"The object {object_id} does not exist or you may not use it.",
    )


# Rate limits Meta answers (code: HTTP status, subcode, message, user title).
RATE_LIMITS: dict[int, tuple[int, int | None, str, str]] = {
    4: (403, None, "(#4) Application request limit reached", "Application Request Limit Reached"),
    17: (403, 2446079, "(#17) User request limit reached", "User Request Limit Reached"),
    613: (
        400,
        1487742,
        "(#613) Calls to this api have exceeded the rate limit.",
        "Too Many Calls",
    ),
    80004: (
        400,
        2446079,
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
        " For more info, please refer to"
        " https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        "Too Many Calls to This Ad Account",
    ),
}
SERVER_ERRORS = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
}


def rate_limit_error(code: int) -> GraphError:
    """A transient rate-limit refusal (``code`` in :data:`RATE_LIMITS`)."""
    http_status, subcode, message, title = RATE_LIMITS[code]
    return GraphError(
        message,
        code=code,
        subcode=subcode,
        user_title=title,
        user_msg="Too many calls in a short time. Wait a bit and try again.",
        http_status=http_status,
        transient=True,
    )


def server_error(code: int) -> GraphError:
    """A transient server failure, answered with HTTP 500 (``code`` 1 or 2)."""
    return GraphError(
        SERVER_ERRORS[code],
        code=code,
        user_title="Temporary Error",
        user_msg="Meta could not handle the request. Please retry later.",
        http_status=500,
        transient=True,
    )


def token_error() -> GraphError:
    """The answer to a call without an access token."""
    return GraphError(
        "Invalid OAuth access token - Cannot parse access token",
        code=190,
        user_title="Access Token Missing",
        user_msg="Every call needs an access token (access_token parameter).",
    )


def version_error(version: str) -> GraphError:
    """The answer to a version other than :data:`GRAPH_VERSION`."""
    return GraphError(
        f"(#2635) Graph API version {version} is not available here: call {GRAPH_VERSION}.",
        code=2635,
        user_title="Unsupported API Version",
        user_msg=f"This server speaks Graph API {GRAPH_VERSION} only.",
    )


def unknown_path_error(path: str) -> GraphError:
    """The answer to a path that names no object or edge."""
    return GraphError(
        f"(#2500) Unknown path components: /{path}",
        code=2500,
        user_title="Unknown Path",
        user_msg=f"/{path} is not a Graph API path this server knows.",
    )


def nonexisting_edge_error(edge: str) -> GraphError:
    """The answer to an ad account edge the sandbox does not have."""
    return GraphError(
        f"(#100) Tried accessing nonexisting field ({edge}) on node type (AdAccount)",
        code=100,
        user_title="Invalid parameter",
        user_msg=f"Ad accounts have no edge {edge} here.",
    )


def decode_params(raw: Mapping[str, str]) -> dict[str, Any]:
    """Form or query parameters as the SDK sends them: lists, maps and booleans as JSON text."""
    params: dict[str, Any] = {}
    for key, value in raw.items():
        params[key] = value
        looks_like_json = value.startswith(("[", "{")) or value in ("true", "false")
        if key in TEXT_PARAMS or not looks_like_json:
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            continue
    return params


def _required_text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise INVALID_PARAMETER.error(
            f"The parameter {key} is required.", f"(#100) The parameter {key} is required"
        )
    return value


def _enum(params: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        raise INVALID_PARAMETER.error(
            f"{key} must be one of: {', '.join(allowed)}.",
            f"(#100) param {key} must be one of {{{', '.join(allowed)}}} - got {value!r}",
        )
    return str(value)


def _countries(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(c, str) and _ISO2.fullmatch(c) for c in value
    ):
        raise INVALID_PARAMETER.error(
            f"{key} must be a list of ISO 3166-1 alpha-2 country codes.",
            f"(#100) param {key} must be an array of country codes",
        )
    return list(value)


def is_siep(campaign: Mapping[str, Any]) -> bool:
    """Whether the campaign declares ads about social issues, elections or politics."""
    return SIEP in campaign.get("special_ad_categories", [])


def target_countries(adset: Mapping[str, Any]) -> list[str]:
    """The ad set's ``targeting.geo_locations.countries``."""
    return list(adset["targeting"]["geo_locations"]["countries"])


def check_campaign(params: Mapping[str, Any], today: date) -> None:
    """Meta's rules for ``POST act_<id>/campaigns``."""
    _required_text(params, "name")
    _enum(params, "status", STATUSES, "ACTIVE")
    categories = params.get("special_ad_categories")
    if categories is None:
        raise CATEGORY_REQUIRED.error(
            'Every new campaign must declare special_ad_categories: use [] or ["NONE"]'
            " when no special ad category applies.",
            "(#100) special_ad_categories is required",
        )
    if (
        not isinstance(categories, list)
        or not all(c in SPECIAL_AD_CATEGORIES for c in categories)
        or ("NONE" in categories and len(categories) > 1)
    ):
        raise INVALID_PARAMETER.error(
            "special_ad_categories must list values of: "
            f"{', '.join(sorted(SPECIAL_AD_CATEGORIES))} (NONE alone).",
            "(#100) param special_ad_categories is invalid",
        )
    if SIEP not in categories:
        return
    countries = params.get("special_ad_category_country")
    if not countries:
        raise CATEGORY_COUNTRY_REQUIRED.error(
            "A campaign about social issues, elections or politics must list the countries"
            " where its ads run in special_ad_category_country.",
            "(#100) special_ad_category_country is required for ISSUES_ELECTIONS_POLITICS",
        )
    listed = _countries(countries, "special_ad_category_country")
    for stop in SIEP_STOPS:
        refused = stop.applies(listed, today)
        if refused:
            raise SIEP_STOPPED.error(
                f"Since {stop.since.isoformat()} Meta does not allow ads about social issues,"
                f" elections or politics in {', '.join(refused)} ({stop.reference}).",
            )


def check_adset(
    params: Mapping[str, Any], campaigns: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any]:
    """Meta's rules for ``POST act_<id>/adsets``; returns the ad set's campaign.

    ``campaigns`` holds the account's campaigns by id.
    """
    _required_text(params, "name")
    _enum(params, "status", STATUSES, "ACTIVE")
    campaign = campaigns.get(str(params.get("campaign_id", "")))
    if campaign is None:
        raise INVALID_CAMPAIGN.error(
            "campaign_id must be the id of a campaign of this ad account.",
            "(#100) Param campaign_id must be a valid campaign of this ad account",
        )
    targeting = params.get("targeting")
    geo = targeting.get("geo_locations") if isinstance(targeting, dict) else None
    if not isinstance(geo, dict) or not geo.get("countries"):
        raise TARGETING_REQUIRED.error(
            "targeting must name the countries to reach in geo_locations.countries.",
            "(#100) targeting.geo_locations.countries is required",
        )
    countries = _countries(geo["countries"], "targeting.geo_locations.countries")
    eu = sorted(set(countries) & EU_MEMBER_STATES)
    payor, beneficiary = params.get("dsa_payor"), params.get("dsa_beneficiary")
    if eu and not (
        isinstance(payor, str)
        and payor.strip()
        and isinstance(beneficiary, str)
        and beneficiary.strip()
    ):
        raise DSA_REQUIRED.error(
            f"Ads reaching the European Union ({', '.join(eu)}) must name who pays for them"
            " (dsa_payor) and who benefits from them (dsa_beneficiary).",
            "(#100) dsa_payor and dsa_beneficiary are required for ads targeting the EU",
        )
    if is_siep(campaign):
        declared = set(campaign.get("special_ad_category_country", []))
        undeclared = sorted(set(countries) - declared)
        if undeclared:
            raise SIEP_COUNTRY_MISMATCH.error(
                f"The campaign's special_ad_category_country does not include"
                f" {', '.join(undeclared)}: an ad set of this campaign may only target"
                f" {', '.join(sorted(declared))}.",
            )
    return campaign


def check_creative(params: Mapping[str, Any], account: SandboxAccount) -> None:
    """Meta's rules for ``POST act_<id>/adcreatives``."""
    spec = params.get("object_story_spec")
    if not isinstance(spec, dict) or not spec.get("page_id"):
        raise INVALID_PARAMETER.error(
            "object_story_spec with a page_id is required.",
            "(#100) object_story_spec[page_id] is required",
        )
    if str(spec["page_id"]) != account.page_id:
        raise PAGE_NOT_ALLOWED.error(
            f"Page {spec['page_id']} is not linked to ad account {account.id}: use page"
            f" {account.page_id}.",
            "(#100) Param object_story_spec[page_id] must be a page you may advertise for",
        )
    if "authorization_category" not in params:
        raise INVALID_PARAMETER.error(
            "authorization_category is required (NONE when the ad is not political).",
            "(#100) The parameter authorization_category is required",
        )
    _enum(params, "authorization_category", AUTHORIZATION_CATEGORIES, "NONE")


def check_ad(
    params: Mapping[str, Any],
    adsets: Mapping[str, Mapping[str, Any]],
    creatives: Mapping[str, Mapping[str, Any]],
    campaigns: Mapping[str, Mapping[str, Any]],
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """Meta's rules for ``POST act_<id>/ads``; returns the ad's ad set and creative.

    The mappings hold the account's objects by id.
    """
    _required_text(params, "name")
    _enum(params, "status", STATUSES, "ACTIVE")
    adset = adsets.get(str(params.get("adset_id", "")))
    if adset is None:
        raise INVALID_ADSET.error(
            "adset_id must be the id of an ad set of this ad account.",
            "(#100) Param adset_id must be a valid ad set of this ad account",
        )
    spec = params.get("creative")
    creative = creatives.get(str(spec.get("creative_id", ""))) if isinstance(spec, dict) else None
    if creative is None:
        raise INVALID_CREATIVE.error(
            'creative must be {"creative_id": <id>} with a creative of this ad account.',
            "(#100) Param creative must reference a valid ad creative of this ad account",
        )
    own = params.get("authorization_category")
    if own is not None:
        _enum(params, "authorization_category", AUTHORIZATION_CATEGORIES, "NONE")
    theirs = creative["authorization_category"]
    siep = is_siep(campaigns[adset["campaign_id"]])
    if siep:
        consistent = own in POLITICAL_AUTHORIZATIONS and theirs in POLITICAL_AUTHORIZATIONS
        wanted = "POLITICAL or POLITICAL_WITH_DIGITALLY_CREATED_MEDIA, on the ad and its creative"
    else:
        consistent = own in (None, "NONE") and theirs == "NONE"
        wanted = "NONE (or absent on the ad)"
    if not consistent or (own is not None and own != theirs):
        kind = "about social issues, elections or politics" if siep else "without special category"
        raise AUTHORIZATION_MISMATCH.error(
            f"The campaign is {kind}: authorization_category must be {wanted}, and the same"
            f" on both (ad: {own or 'absent'}, creative: {theirs}).",
        )
    return adset, creative


def review_feedback(
    account: SandboxAccount, campaign: Mapping[str, Any], adset: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Meta's review of an ad: ``None`` when approved, else its ``ad_review_feedback``.

    A SIEP ad is disapproved when its page is not authorized for political ads in
    every country it targets, or when the account has no "paid for by" disclaimer.
    """
    if not is_siep(campaign):
        return None
    problems = []
    unauthorized = sorted(set(target_countries(adset)) - account.authorized_countries)
    if unauthorized:
        problems.append(
            f"the Page {account.page_id} is not authorized to run ads about social issues,"
            f" elections or politics in {', '.join(unauthorized)}"
        )
    if not account.disclaimer:
        problems.append(f'the ad account {account.id} has no "Paid for by" disclaimer')
    if not problems:
        return None
    return {
        "global": {REVIEW_POLICY: "Your ad was rejected because " + " and ".join(problems) + "."}
    }


def graph_time(epoch: float) -> str:
    """A time in Meta's format, e.g. ``2026-01-31T12:00:00+0000``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
