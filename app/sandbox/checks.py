"""Meta's rules for each call, as pure checks: a ``dict`` of parameters and the objects the
sandbox holds in, the :class:`~app.sandbox.errors.GraphError` of a :mod:`~app.sandbox.rules`
rule out. Nothing here knows HTTP or threads: :mod:`app.sandbox.routes` decodes a request,
:mod:`app.sandbox.store` calls one ``check_*`` function and keeps what it allows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from PIL import Image, UnidentifiedImageError

from app.sandbox.accounts import SandboxAccount
from app.sandbox.declared import check_declared, declared_update, undeclared
from app.sandbox.params import country_codes, minor_units, one_of, parse_time, required_text
from app.sandbox.rules import (
    AUTHORIZATION_MISMATCH,
    BUDGET_MINIMUM,
    BUDGET_REQUIRED,
    BUDGET_SHARING_REQUIRED,
    CATEGORY_COUNTRY_REQUIRED,
    CATEGORY_REQUIRED,
    DSA_BENEFICIARY_REQUIRED,
    DSA_PAYOR_REQUIRED,
    END_TIME_REQUIRED,
    IMAGE_INVALID,
    IMAGE_UNKNOWN,
    INVALID_ADSET,
    INVALID_CAMPAIGN,
    INVALID_CREATIVE,
    INVALID_VALUE,
    PAGE_NOT_ALLOWED,
    PLACEMENT_INVALID,
    SCHEDULE_INVALID,
    SIEP_STOPPED,
    STATUS_CHANGE_INVALID,
    TARGETING_REQUIRED,
    UNDECLARED,
)

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
MIN_RUN = timedelta(hours=24)


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

STATUS_VALUES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
# The objects whose status ``POST /<id>`` changes, by edge: the SDK class that declares it.
UPDATABLE = {"campaigns": "campaign", "adsets": "adset", "ads": "ad"}


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
    status = one_of(params, "status", STATUS_VALUES, "")
    current = record.get("status")
    if current == "DELETED" or (current == "ARCHIVED" and status != "DELETED"):
        raise STATUS_CHANGE_INVALID.error(
            f"An object that is {current} cannot become {status}.", blame=("status",)
        )


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
    required_text(params, "name")
    one_of(params, "status", STATUSES, "ACTIVE")
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
    budget = minor_units(params, "daily_budget") or minor_units(params, "lifetime_budget")
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
    listed = country_codes(countries, "special_ad_category_country")
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
    required_text(params, "name")
    one_of(params, "status", STATUSES, "ACTIVE")
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
    countries = country_codes(geo["countries"], "targeting.geo_locations.countries")
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
    daily, lifetime = minor_units(params, "daily_budget"), minor_units(params, "lifetime_budget")
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
    one_of(params, "authorization_category", AUTHORIZATION_CATEGORIES, "NONE")


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
    required_text(params, "name")
    one_of(params, "status", STATUSES, "ACTIVE")
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
