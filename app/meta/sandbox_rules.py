"""Meta's rules as the sandbox Graph server applies them: data, errors and pure checks.

Nothing here knows HTTP or threads: :mod:`app.meta.sandbox` decodes a request into a
``dict`` of parameters, calls one ``check_*`` function with the objects it holds, and
renders the :class:`GraphError` a rule raises in Meta's error format.

Every refusal is a :class:`Rule` in :data:`RULES`, with the Meta source it comes from (a
documentation URL or an SDK file) and whether that source was read (``verified``) or the
rule is inferred (``believed``); ``docs/meta.md`` lists the same table, and a test keeps the
two equal. Where Meta publishes a subcode (the DSA rules) it is Meta's; the 18920xx subcodes
are the sandbox's own: key on the code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]
from PIL import Image, UnidentifiedImageError

from app.meta.declared import undeclared

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
# Where Meta requires the DSA payor and beneficiary: the EU and its territories with ISO codes
# of their own (Åland, France's outermost regions); Meta's list names no EEA-only country.
DSA_LOCATIONS = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
    " AX GF GP MQ RE YT MF".split()
)
# Placement values Meta lists (v24 removed facebook video_feeds; v26 removed instagram explore).
PUBLISHER_PLATFORMS = frozenset(
    {"facebook", "instagram", "threads", "messenger", "audience_network"}
)
POSITIONS = {
    "facebook_positions": frozenset(
        {"feed", "right_hand_column", "marketplace", "story", "search", "instream_video",
         "facebook_reels", "facebook_reels_overlay", "profile_feed", "notification"}
    ),
    "instagram_positions": frozenset(
        {"stream", "story", "explore_home", "reels", "profile_feed", "ig_search", "profile_reels"}
    ),
}  # fmt: skip
# Text parameters that may look like JSON (a name may start with "["); never decoded.
TEXT_PARAMS = frozenset(
    {"name", "dsa_payor", "dsa_beneficiary", "status", "title", "body", "bytes", "start_time",
     "end_time"}
)  # fmt: skip
_ISO2 = re.compile(r"[A-Z]{2}")
REVIEW_POLICY = "Ads about social issues, elections or politics"
MIN_RUN = timedelta(hours=24)

DOCS = "https://developers.facebook.com/documentation/ads-commerce/marketing-api"
SDK = "facebook_business/adobjects"


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
        countries=DSA_LOCATIONS,
        since=date(2025, 10, 6),
        reference="Regulation (EU) 2024/900 on political advertising (TTPA)",
    ),
)


@dataclass(frozen=True)
class SandboxAccount:
    """An ad account the sandbox knows, with its page and Meta's political-ad authorization.

    ``authorizations`` maps each country the page is authorized in to the "paid for by"
    disclaimers registered there.
    """

    id: str
    name: str
    page_id: str
    currency: str
    min_daily_budget: int
    authorizations: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default_dsa_payor: str | None = None
    default_dsa_beneficiary: str | None = None

    @property
    def page_authorized(self) -> bool:
        """``has_page_authorized_adaccount``: the page authorized the account somewhere."""
        return bool(self.authorizations)

    def as_dict(self) -> dict[str, Any]:
        """The account's Graph fields (and, for ``/__sandbox__/objects``, its authorizations)."""
        return {
            "id": self.id,
            "account_id": self.id.removeprefix("act_"),
            "name": self.name,
            "currency": self.currency,
            "min_daily_budget": self.min_daily_budget,
            "has_page_authorized_adaccount": self.page_authorized,
            "default_dsa_payor": self.default_dsa_payor,
            "default_dsa_beneficiary": self.default_dsa_beneficiary,
            "page_id": self.page_id,
            "authorizations": {c: sorted(d) for c, d in sorted(self.authorizations.items())},
        }


INITIAL_ACCOUNTS = (
    SandboxAccount(
        id="act_1001",
        name="Stadt Musterstadt",
        page_id="2001",
        currency="CHF",
        min_daily_budget=100,
        authorizations={
            "CH": frozenset({"Stadt Musterstadt"}),
            "LI": frozenset({"Stadt Musterstadt"}),
        },
    ),
    SandboxAccount(
        id="act_1002",
        name="Gemeinde Beispielhausen",
        page_id="2002",
        currency="CHF",
        min_daily_budget=100,
    ),
    # A second authorized account (the soak throttles it while act_1001 keeps working);
    # act_1003 is left unknown to Meta, for tests of what Meta alone refuses.
    SandboxAccount(
        id="act_1004",
        name="Gemeinde Beispielwil",
        page_id="2004",
        currency="CHF",
        min_daily_budget=100,
        authorizations={"CH": frozenset({"Gemeinde Beispielwil"})},
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
        blame: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_msg = user_title, user_msg
        self.error_type = error_type
        self.http_status = http_status
        self.transient = transient
        self.blame = blame

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
        if self.blame:
            # Meta sends error_data as a JSON-encoded string.
            error["error_data"] = json.dumps({"blame_field_specs": [[f] for f in self.blame]})
        return {"error": error}


@dataclass(frozen=True)
class Rule:
    """One of Meta's refusals: its code, subcode and user title, and where it comes from."""

    name: str
    code: int
    subcode: int | None
    title: str
    source: str
    verified: bool

    def error(
        self, user_msg: str, message: str = "Invalid parameter", blame: tuple[str, ...] = ()
    ) -> GraphError:
        """The :class:`GraphError` for this rule."""
        return GraphError(
            message,
            code=self.code,
            subcode=self.subcode,
            user_title=self.title,
            user_msg=user_msg,
            blame=blame,
        )


def _rule(
    name: str, subcode: int | None, title: str, source: str, *, verified: bool, code: int = 100
) -> Rule:
    return Rule(name, code, subcode, title, source, verified)


CAMPAIGNS = f"{DOCS}/reference/ad-campaign-group"
ADSETS = "https://developers.facebook.com/docs/graph-api/reference/ad-account/adsets/"
ADS = f"{DOCS}/reference/adgroup"
CREATIVES = f"{DOCS}/reference/ad-creative"
UNDECLARED = _rule(
    "undeclared_parameter", None, "Invalid parameter", f"{SDK}/adaccount.py (param_types)",
    verified=False,
)  # fmt: skip
APPSECRET_PROOF_REQUIRED = _rule(
    "appsecret_proof_required", None, "App Secret Proof Required",
    "https://developers.facebook.com/docs/graph-api/securing-requests", verified=True,
)  # fmt: skip
NAME_REQUIRED = _rule("name_required", None, "Invalid parameter", CAMPAIGNS, verified=False)
INVALID_VALUE = _rule("invalid_value", None, "Invalid parameter", f"{SDK}/", verified=True)
CATEGORY_REQUIRED = _rule(
    "campaign.category_required", 1892001, "Special Ad Categories Required", CAMPAIGNS,
    verified=True,
)  # fmt: skip
CATEGORY_COUNTRY_REQUIRED = _rule(
    "campaign.category_country_required", 1892002, "Special Ad Category Country Required",
    f"{DOCS}/audiences/special-ad-category", verified=True,
)  # fmt: skip
SIEP_STOPPED = _rule(
    "campaign.siep_stopped_in_eu", 1892003,
    "Ads About Social Issues, Elections or Politics Not Allowed",
    "https://about.fb.com/news/2025/07/ending-political-electoral-and-social-issue-advertising-in-the-eu/",
    verified=True,
)  # fmt: skip
BUDGET_SHARING_REQUIRED = _rule(
    "campaign.budget_sharing_required", None, "Budget Sharing Setting Required",
    f"{DOCS}/bidding/guides/adset-budget-sharing", verified=True,
)  # fmt: skip
INVALID_CAMPAIGN = _rule(
    "adset.campaign_unknown", 1892004, "Invalid Campaign", ADSETS, verified=False
)
TARGETING_REQUIRED = _rule(
    "adset.countries_required", 1892005, "Target Countries Required", ADSETS, verified=False
)
DSA_PAYOR_REQUIRED = _rule(
    "adset.dsa_payor_required", 3858079, "No payor provided in DSA regulated region",
    "https://developers.facebook.com/docs/graph-api/reference/adgroup/copies/", verified=True,
)  # fmt: skip
DSA_BENEFICIARY_REQUIRED = _rule(
    "adset.dsa_beneficiary_required", 3858081,
    "No payor/beneficiary provided in DSA regulated location",
    "https://developers.facebook.com/docs/graph-api/reference/adgroup/copies/", verified=True,
)  # fmt: skip
BUDGET_REQUIRED = _rule("adset.budget_required", 1892012, "Budget Required", ADSETS, verified=True)
BUDGET_MINIMUM = _rule(
    "adset.budget_below_minimum", 1892013, "Budget Too Low",
    "https://www.facebook.com/business/help/203183363050448", verified=False,
)  # fmt: skip
END_TIME_REQUIRED = _rule(
    "adset.end_time_required", 1892014, "End Time Required", ADSETS, verified=True
)
SCHEDULE_INVALID = _rule(
    "adset.schedule_invalid", 1892015, "Invalid Schedule", ADSETS, verified=True
)
PLACEMENT_INVALID = _rule(
    "adset.placement_invalid", 1892016, "Invalid Placement",
    f"{DOCS}/audiences/reference/placement-targeting", verified=True,
)  # fmt: skip
PAGE_NOT_ALLOWED = _rule(
    "creative.page_not_linked", 1892008, "Page Not Linked to This Ad Account", CREATIVES,
    verified=False,
)  # fmt: skip
IMAGE_UNKNOWN = _rule(
    "creative.image_unknown", 1892017, "Image Not Found", f"{DOCS}/reference/ad-image",
    verified=False,
)  # fmt: skip
IMAGE_INVALID = _rule(
    "image.not_an_image", 1892018, "Invalid Image", f"{DOCS}/reference/ad-image", verified=False
)
INVALID_ADSET = _rule("ad.adset_unknown", 1892009, "Invalid Ad Set", ADS, verified=False)
INVALID_CREATIVE = _rule("ad.creative_unknown", 1892010, "Invalid Ad Creative", ADS, verified=False)
AUTHORIZATION_MISMATCH = _rule(
    "ad.siep_creative_not_political", 1892011, "Authorization Category Does Not Match",
    CREATIVES, verified=True,
)  # fmt: skip
# Not refusals at creation: what Meta's review disapproves (``review_feedback``).
REVIEW_NOT_AUTHORIZED = _rule(
    "review.page_not_authorized", None, REVIEW_POLICY, f"{DOCS}/reference/ad-account",
    verified=True,
)  # fmt: skip
REVIEW_NO_DISCLAIMER = _rule(
    "review.no_disclaimer", None, REVIEW_POLICY,
    ADS, verified=False,
)  # fmt: skip

RULES: tuple[Rule, ...] = (
    APPSECRET_PROOF_REQUIRED, UNDECLARED, NAME_REQUIRED, INVALID_VALUE, CATEGORY_REQUIRED,
    CATEGORY_COUNTRY_REQUIRED, SIEP_STOPPED, BUDGET_SHARING_REQUIRED, INVALID_CAMPAIGN,
    TARGETING_REQUIRED, DSA_PAYOR_REQUIRED, DSA_BENEFICIARY_REQUIRED, BUDGET_REQUIRED,
    BUDGET_MINIMUM, END_TIME_REQUIRED, SCHEDULE_INVALID, PLACEMENT_INVALID, PAGE_NOT_ALLOWED,
    IMAGE_UNKNOWN, IMAGE_INVALID, INVALID_ADSET, INVALID_CREATIVE, AUTHORIZATION_MISMATCH,
    REVIEW_NOT_AUTHORIZED, REVIEW_NO_DISCLAIMER,
)  # fmt: skip


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


def policy_block_error() -> GraphError:
    """Code 368: the action was blocked for policy reasons (not transient: a person must look)."""
    return GraphError(
        "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        code=368,
        user_title="Action Blocked",
        user_msg="This action was blocked for policy reasons. Check the ad account's status in"
        " Meta's Business Support Home.",
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


STATUS_CHANGE_INVALID = _rule(
    "update.status_invalid", 1892019, "Invalid Status Change",
    f"{DOCS}/best-practices/manage-your-ad-object-status", verified=True,
)  # fmt: skip
RULES = (*RULES, STATUS_CHANGE_INVALID)
STATUS_VALUES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
# The objects whose status ``POST /<id>`` changes, by edge: the SDK class that declares it.
UPDATABLE = {"campaigns": "campaign", "adsets": "adset", "ads": "ad"}


# --- what each call may carry: the SDK's declaration of Meta's API -----------------------

# The SDK method whose declaration covers each create call of the sandbox.
CREATE_METHODS = {
    "campaigns": "create_campaign",
    "adsets": "create_ad_set",
    "adimages": "create_ad_image",
    "adcreatives": "create_ad_creative",
    "ads": "create_ad",
}


@cache
def declared(edge: str) -> Mapping[str, str]:
    """The parameters the SDK declares for creating objects on ``edge`` (``param_types``).

    The request is built and never sent: the SDK keeps the declaration on it.
    """
    # No call is made: a placeholder token only satisfies the session's constructor.
    api = FacebookAdsApi(FacebookSession(access_token="-"), api_version=GRAPH_VERSION)  # noqa: S106
    request = getattr(AdAccount("act_0", api=api), CREATE_METHODS[edge])(pending=True)
    return dict(request._param_checker._type_check_info)


@cache
def declared_update(kind: str) -> Mapping[str, str]:
    """The parameters the SDK declares for updating a ``campaign``, ``adset`` or ``ad``."""
    from facebook_business.adobjects.ad import Ad  # type: ignore[import-untyped]
    from facebook_business.adobjects.adset import AdSet  # type: ignore[import-untyped]
    from facebook_business.adobjects.campaign import Campaign  # type: ignore[import-untyped]

    api = FacebookAdsApi(FacebookSession(access_token="-"), api_version=GRAPH_VERSION)  # noqa: S106
    cls = {"campaign": Campaign, "adset": AdSet, "ad": Ad}[kind]
    request = cls("0", api=api).api_update(pending=True)
    return dict(request._param_checker._type_check_info)


def check_update(kind: str, params: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """Meta's rules for changing an object's status: a declared parameter, a known status;
    an ARCHIVED object can only become DELETED, a DELETED one nothing."""
    extra = undeclared(params, declared_update(kind))
    if extra:
        raise UNDECLARED.error(
            f"The parameter {extra[0]} is not a parameter of this call.",
            f"(#100) Param {extra[0]} is not a valid parameter",
            blame=tuple(extra),
        )
    status = _enum(params, "status", STATUS_VALUES, "")
    current = record.get("status")
    if current == "DELETED" or (current == "ARCHIVED" and status != "DELETED"):
        raise STATUS_CHANGE_INVALID.error(
            f"An object that is {current} cannot become {status}.", blame=("status",)
        )


def check_declared(edge: str, params: Mapping[str, Any]) -> None:
    """Refuse a parameter the SDK does not declare for the call (nested keys included)."""
    extra = undeclared(params, declared(edge))
    if extra:
        raise UNDECLARED.error(
            f"The parameter {extra[0]} is not a parameter of this call.",
            f"(#100) Param {extra[0]} is not a valid parameter",
            blame=tuple(extra),
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
        raise NAME_REQUIRED.error(
            f"The parameter {key} is required.", f"(#100) The parameter {key} is required"
        )
    return value


def _enum(params: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        raise INVALID_VALUE.error(
            f"{key} must be one of: {', '.join(allowed)}.",
            f"(#100) param {key} must be one of {{{', '.join(allowed)}}} - got {value!r}",
        )
    return str(value)


def _countries(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(c, str) and _ISO2.fullmatch(c) for c in value
    ):
        raise INVALID_VALUE.error(
            f"{key} must be a list of ISO 3166-1 alpha-2 country codes.",
            f"(#100) param {key} must be an array of country codes",
        )
    return list(value)


def _amount(params: Mapping[str, Any], key: str) -> int | None:
    """A budget parameter as an integer in minor units (None when absent or zero)."""
    value = params.get(key)
    if value in (None, "", "0", 0):
        return None
    try:
        amount = int(str(value))
    except ValueError:
        amount = -1
    if amount < 0:
        raise INVALID_VALUE.error(f"{key} must be a whole amount in minor units.")
    return amount


def parse_time(value: Any, key: str) -> datetime | None:
    """A Graph time parameter: ISO 8601 with an offset, or a UNIX timestamp; "0" means none."""
    if value in (None, "", "0", 0):
        return None
    text = str(value)
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except (ValueError, OverflowError):
        raise INVALID_VALUE.error(
            f"{key} must be a time such as 2026-03-30T17:17:34+0000 or a UNIX timestamp.",
        ) from None


def is_siep(campaign: Mapping[str, Any]) -> bool:
    """Whether the campaign declares ads about social issues, elections or politics."""
    return SIEP in campaign.get("special_ad_categories", [])


def target_countries(adset: Mapping[str, Any]) -> list[str]:
    """The ad set's ``targeting.geo_locations.countries``."""
    return list(adset["targeting"]["geo_locations"]["countries"])


# --- the create calls ---------------------------------------------------------------------


def check_campaign(params: Mapping[str, Any], today: date) -> None:
    """Meta's rules for ``POST act_<id>/campaigns``."""
    check_declared("campaigns", params)
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
        raise INVALID_VALUE.error(
            "special_ad_categories must list values of: "
            f"{', '.join(sorted(SPECIAL_AD_CATEGORIES))} (NONE alone).",
            "(#100) param special_ad_categories is invalid",
        )
    budget = _amount(params, "daily_budget") or _amount(params, "lifetime_budget")
    if budget is None and params.get("is_adset_budget_sharing_enabled") not in (
        True,
        False,
        "true",
        "false",
    ):
        raise BUDGET_SHARING_REQUIRED.error(
            "Must specify True or False in is_adset_budget_sharing_enabled field if you are not"
            " using campaign budget.",
            blame=("is_adset_budget_sharing_enabled",),
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
    params: Mapping[str, Any],
    campaigns: Mapping[str, Mapping[str, Any]],
    account: SandboxAccount,
    now: datetime,
) -> Mapping[str, Any]:
    """Meta's rules for ``POST act_<id>/adsets``; returns the ad set's campaign.

    ``campaigns`` holds the account's campaigns by id.
    """
    check_declared("adsets", params)
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
    if not isinstance(targeting, dict) or not isinstance(geo, dict) or not geo.get("countries"):
        raise TARGETING_REQUIRED.error(
            "targeting must name the countries to reach in geo_locations.countries.",
            "(#100) targeting.geo_locations.countries is required",
        )
    countries = _countries(geo["countries"], "targeting.geo_locations.countries")
    _check_placements(targeting)
    _check_budget(params, campaign, account, now)
    eu = sorted(set(countries) & DSA_LOCATIONS)
    if eu:
        dsa = (("dsa_payor", DSA_PAYOR_REQUIRED), ("dsa_beneficiary", DSA_BENEFICIARY_REQUIRED))
        for key, rule in dsa:
            value = params.get(key) or getattr(account, f"default_{key}")
            if not (isinstance(value, str) and value.strip()):
                raise rule.error(
                    f"Ads reaching the European Union ({', '.join(eu)}) must name who pays for"
                    " them (dsa_payor) and who benefits from them (dsa_beneficiary).",
                    blame=(key,),
                )
    return campaign


def _check_placements(targeting: Mapping[str, Any]) -> None:
    platforms = targeting.get("publisher_platforms")
    if platforms is not None and (
        not isinstance(platforms, list)
        or not platforms
        or not set(platforms) <= PUBLISHER_PLATFORMS
    ):
        raise PLACEMENT_INVALID.error(
            f"publisher_platforms must list values of: {', '.join(sorted(PUBLISHER_PLATFORMS))}.",
            blame=("targeting.publisher_platforms",),
        )
    for key, allowed in POSITIONS.items():
        positions = targeting.get(key)
        if positions is not None and (
            not isinstance(positions, list) or not positions or not set(positions) <= allowed
        ):
            raise PLACEMENT_INVALID.error(
                f"{key} must list values of: {', '.join(sorted(allowed))}.",
                blame=(f"targeting.{key}",),
            )


def _check_budget(
    params: Mapping[str, Any],
    campaign: Mapping[str, Any],
    account: SandboxAccount,
    now: datetime,
) -> None:
    daily, lifetime = _amount(params, "daily_budget"), _amount(params, "lifetime_budget")
    start = parse_time(params.get("start_time"), "start_time")
    end = parse_time(params.get("end_time"), "end_time")
    campaign_budget = campaign.get("daily_budget") or campaign.get("lifetime_budget")
    if not campaign_budget and (daily is None) == (lifetime is None):
        raise BUDGET_REQUIRED.error(
            "Either daily_budget or lifetime_budget must be greater than 0 (not both).",
            blame=("daily_budget", "lifetime_budget"),
        )
    if lifetime is not None and end is None:
        raise END_TIME_REQUIRED.error(
            "end_time is required when lifetime_budget is specified.", blame=("end_time",)
        )
    begins = start if start is not None and start > now else now
    if end is not None:
        if end <= now:
            raise SCHEDULE_INVALID.error("end_time must be in the future.", blame=("end_time",))
        if end - begins <= MIN_RUN:
            raise SCHEDULE_INVALID.error(
                "An ad set with a budget must run longer than 24 hours (end_time - start_time).",
                blame=("end_time",),
            )
    minimum = account.min_daily_budget
    if lifetime is not None and end is not None:
        minimum *= max(1, math.ceil((end - begins) / timedelta(days=1)))
    amount = daily if daily is not None else lifetime
    if amount is not None and amount < minimum:
        raise BUDGET_MINIMUM.error(
            f"The budget must be at least {minimum} (minor units of {account.currency}).",
            blame=("daily_budget" if daily is not None else "lifetime_budget",),
        )


def check_image(params: Mapping[str, Any]) -> bytes:
    """Meta's rules for ``POST act_<id>/adimages`` (``bytes``): returns the image's bytes."""
    check_declared("adimages", params)
    try:
        data = base64.b64decode(str(params.get("bytes", "")), validate=True)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, SyntaxError):
        raise IMAGE_INVALID.error(
            "bytes must be a base64-encoded image file.", blame=("bytes",)
        ) from None
    return data


def image_hash(data: bytes) -> str:
    """The hash under which an account's image library keeps an image."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_creative(
    params: Mapping[str, Any], account: SandboxAccount, images: frozenset[str]
) -> None:
    """Meta's rules for ``POST act_<id>/adcreatives`` (``images``: the library's hashes)."""
    check_declared("adcreatives", params)
    spec = params.get("object_story_spec")
    if not isinstance(spec, dict) or not spec.get("page_id"):
        raise INVALID_VALUE.error(
            "object_story_spec with a page_id is required.",
            "(#100) object_story_spec[page_id] is required",
        )
    if str(spec["page_id"]) != account.page_id:
        raise PAGE_NOT_ALLOWED.error(
            f"Page {spec['page_id']} is not linked to ad account {account.id}: use page"
            f" {account.page_id}.",
            "(#100) Param object_story_spec[page_id] must be a page you may advertise for",
        )
    link = spec.get("link_data")
    image = link.get("image_hash") if isinstance(link, dict) else None
    if image is not None and image not in images:
        raise IMAGE_UNKNOWN.error(
            f"The image {image} is not in the image library of {account.id}.",
            blame=("object_story_spec.link_data.image_hash",),
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
    check_declared("ads", params)
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
    category = creative.get("authorization_category", "NONE")
    if is_siep(campaigns[adset["campaign_id"]]) and category not in POLITICAL_AUTHORIZATIONS:
        raise AUTHORIZATION_MISMATCH.error(
            "The campaign is about social issues, elections or politics: its ads need a"
            " creative whose authorization_category is POLITICAL or"
            f" POLITICAL_WITH_DIGITALLY_CREATED_MEDIA (this one is {category}).",
        )
    return adset, creative


# --- Meta's review ------------------------------------------------------------------------


def review_feedback(
    account: SandboxAccount, campaign: Mapping[str, Any], adset: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Meta's review of an ad: ``None`` when approved, else its ``ad_review_feedback``.

    A SIEP ad is disapproved when its page is not authorized for SIEP ads in every country
    it targets, or has no "paid for by" disclaimer registered in one of them.
    """
    if not is_siep(campaign):
        return None
    countries = target_countries(adset)
    problems = []
    unauthorized = sorted(c for c in countries if c not in account.authorizations)
    if unauthorized:
        problems.append(
            f"the Page {account.page_id} is not authorized to run ads about social issues,"
            f" elections or politics in {', '.join(unauthorized)}"
        )
    no_disclaimer = sorted(
        c for c in countries if c in account.authorizations and not account.authorizations[c]
    )
    if unauthorized or no_disclaimer:
        problems.append(
            f'the ad account {account.id} has no "Paid for by" disclaimer in'
            f" {', '.join(sorted(set(unauthorized) | set(no_disclaimer)))}"
        )
    if not problems:
        return None
    return {
        "global": {REVIEW_POLICY: "Your ad was rejected because " + " and ".join(problems) + "."}
    }


def graph_time(epoch: float) -> str:
    """A time in Meta's format, e.g. ``2026-01-31T12:00:00+0000``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
