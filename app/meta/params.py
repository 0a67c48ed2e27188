"""What is sent to Meta: one function per object, from the :class:`~app.meta.gateway.AdSpec`
alone (docs/meta.md gives the source of each parameter)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from app.meta.gateway import SIEP, AdSpec
from workflows.delivery import POSITIONS


def _time(moment: datetime) -> str:
    """A time as Meta's examples write it: ISO 8601 with the offset, e.g. +0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


def campaign_params(spec: AdSpec) -> dict[str, Any]:
    """The campaign: its special ad category; the budget sits on the ad set, not shared."""
    params: dict[str, Any] = {
        "name": spec.name("campaign"),
        "objective": "OUTCOME_TRAFFIC",
        "special_ad_categories": [SIEP] if spec.siep else [],
        "status": spec.status,
        # Required since v24.0 when the campaign has no budget of its own.
        "is_adset_budget_sharing_enabled": False,
    }
    if spec.siep:
        params["special_ad_category_country"] = list(spec.countries)
    return params


def adset_params(spec: AdSpec, campaign_id: str) -> dict[str, Any]:
    """The ad set: budget, schedule, and targeting exactly as approved (no audience widening)."""
    targeting: dict[str, Any] = {
        "geo_locations": {"countries": list(spec.countries)},
        "publisher_platforms": [p.value for p in spec.placements],
        # Since v23.0 Meta widens a countries-only audience unless this is 0.
        "targeting_automation": {"advantage_audience": 0},
    }
    for placement in spec.placements:
        key, position = POSITIONS[placement]
        targeting[key] = [position]
    params: dict[str, Any] = {
        "name": spec.name("adset"),
        "campaign_id": campaign_id,
        "status": spec.status,
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "LINK_CLICKS",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        f"{spec.budget_type.value}_budget": spec.budget_amount,
        "targeting": targeting,
    }
    if spec.start_time is not None:
        params["start_time"] = _time(spec.start_time)
    if spec.end_time is not None:
        params["end_time"] = _time(spec.end_time)
    if spec.dsa_payor or spec.dsa_beneficiary:
        params["dsa_payor"] = spec.dsa_payor
        params["dsa_beneficiary"] = spec.dsa_beneficiary
    return params


def image_params(spec: AdSpec) -> dict[str, Any]:
    """The image for the account's image library, as base64 ``bytes``."""
    assert spec.image is not None
    return {"bytes": base64.b64encode(spec.image).decode("ascii")}


def creative_params(spec: AdSpec, image_hash: str | None) -> dict[str, Any]:
    """The creative: the page's link post and Meta's authorization category (creative level)."""
    link_data: dict[str, Any] = {
        "message": spec.message,
        "link": spec.link_url,
        "name": spec.headline,
    }
    if image_hash is not None:
        link_data["image_hash"] = image_hash
    return {
        "name": spec.name("creative"),
        "object_story_spec": {"page_id": spec.page_id, "link_data": link_data},
        "authorization_category": spec.authorization_category,
    }


def ad_params(spec: AdSpec, adset_id: str, creative_id: str) -> dict[str, Any]:
    """The ad: its ad set and creative (authorization_category is the creative's, not its)."""
    return {
        "name": spec.name("ad"),
        "adset_id": adset_id,
        "creative": {"creative_id": creative_id},
        "status": spec.status,
    }


def params_for(spec: AdSpec, kind: str, parents: dict[str, str]) -> dict[str, Any]:
    """The parameters of the create call for ``kind``, given the ids created before it."""
    if kind == "campaign":
        return campaign_params(spec)
    if kind == "adset":
        return adset_params(spec, parents["campaign"])
    if kind == "image":
        return image_params(spec)
    if kind == "creative":
        return creative_params(spec, parents.get("image"))
    return ad_params(spec, parents["adset"], parents["creative"])
