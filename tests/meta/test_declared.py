"""Every call adgate makes carries only what the pinned SDK declares for it.

The SDK's type checker lets an undeclared key through silently, so the sandbox agreeing with
the gateway proves nothing here. The reference is facebook-business itself: each create
method's ``param_types`` and, for the nested objects the SDK types, the object class's
``_field_types``. This test reads both straight from the SDK (it does not use
``app.meta.declared``), for calls built from many kinds of ads, so an SDK upgrade that
drops or renames a parameter fails here first.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.adobjects.adcreativelinkdata import (  # type: ignore[import-untyped]
    AdCreativeLinkData,
)
from facebook_business.adobjects.adcreativeobjectstoryspec import (  # type: ignore[import-untyped]
    AdCreativeObjectStorySpec,
)
from facebook_business.adobjects.targeting import Targeting  # type: ignore[import-untyped]
from facebook_business.adobjects.targetingautomation import (  # type: ignore[import-untyped]
    TargetingAutomation,
)
from facebook_business.adobjects.targetinggeolocation import (  # type: ignore[import-untyped]
    TargetingGeoLocation,
)
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]

from app.meta.gateway import AdSpec, MetaError
from app.meta.params import params_for
from app.meta.sdk import CREATE_METHODS, SdkGateway, send_checked
from tests.conftest import png
from tests.sandbox.conftest import RunningSandbox
from workflows.delivery import BudgetType, Placement

# The nested objects whose keys the SDK declares, by where they sit in a call.
NESTED: dict[str, Any] = {
    "targeting": Targeting,
    "targeting.geo_locations": TargetingGeoLocation,
    "targeting.targeting_automation": TargetingAutomation,
    "object_story_spec": AdCreativeObjectStorySpec,
    "object_story_spec.link_data": AdCreativeLinkData,
}
PARENTS = {"campaign": "1", "adset": "2", "image": "abc", "creative": "3"}
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def sdk_declaration(kind: str) -> Mapping[str, str]:
    """``param_types`` of the SDK method that creates ``kind`` (read off a built request)."""
    api = FacebookAdsApi(FacebookSession(access_token="unused"), api_version="v26.0")
    request = getattr(AdAccount("act_1", api=api), CREATE_METHODS[kind])(pending=True)
    declared: Mapping[str, str] = request._param_checker._type_check_info
    return declared


def beyond(params: Mapping[str, Any], declared: Mapping[str, str], at: str = "") -> list[str]:
    """The keys of ``params`` the SDK does not declare, nested objects included."""
    found = []
    for key, value in params.items():
        where = f"{at}{key}"
        known = declared if not at else NESTED[at.rstrip(".")]._field_types
        if key not in known:
            found.append(where)
        elif where in NESTED and isinstance(value, Mapping):
            found += beyond(value, {}, where + ".")
    return found


def specs() -> list[AdSpec]:
    """Ads of every shape the gateway builds calls for."""
    shapes = itertools.product(
        (True, False),  # SIEP
        (False, True),  # digitally created media
        (BudgetType.DAILY, BudgetType.LIFETIME),
        ((Placement.FACEBOOK, Placement.INSTAGRAM), (Placement.FACEBOOK,), (Placement.INSTAGRAM,)),
        (None, NOW + timedelta(days=1)),  # start
        (None, png(600, 600)),  # image
        (("CH",), ("CH", "LI"), ("DE",)),
    )
    built = []
    for siep, digital, budget, placements, start, image, countries in shapes:
        eu = "DE" in countries
        built.append(
            AdSpec(
                submission_id=7,
                ad_account_id="act_1001",
                page_id="2001",
                message="Abstimmung",
                headline="Ja",
                link_url="https://www.musterstadt.ch",
                countries=countries,
                siep=siep,
                digitally_created_media=digital,
                dsa_payor="Stadt" if eu else "",
                dsa_beneficiary="Stadt" if eu else "",
                budget_type=budget,
                budget_amount=5000,
                start_time=start,
                end_time=NOW + timedelta(days=9) if budget is BudgetType.LIFETIME else None,
                placements=placements,
                image=image,
            )
        )
    return built


@pytest.mark.parametrize("kind", list(CREATE_METHODS))
def test_every_parameter_of_every_call_is_declared_by_the_sdk(kind: str) -> None:
    declared = sdk_declaration(kind)
    seen: set[str] = set()
    for spec in specs():
        if kind not in spec.kinds:
            continue
        params = params_for(spec, kind, PARENTS)
        assert beyond(params, declared) == [], spec
        seen |= set(params)
    assert seen  # the test looked at something
    if kind == "campaign":
        assert "is_adset_budget_sharing_enabled" in seen
    if kind == "ad":
        assert "authorization_category" not in seen


def test_the_sdk_declares_authorization_category_on_the_creative_only() -> None:
    assert "authorization_category" in sdk_declaration("creative")
    assert "authorization_category" not in sdk_declaration("ad")
    assert sdk_declaration("campaign")["is_adset_budget_sharing_enabled"] == "bool"
    assert "advantage_audience" in TargetingAutomation._field_types


def test_the_sdk_lets_an_undeclared_parameter_through_but_the_gateway_does_not(
    sandbox: RunningSandbox,
) -> None:
    api = FacebookAdsApi(FacebookSession(access_token="t"), api_version="v26.0")
    pending = AdAccount("act_1001", api=api).create_ad(
        params={"name": "x", "authorization_category": "POLITICAL"}, pending=True
    )
    # Strict mode checks types of what it knows; the unknown key is kept as given.
    assert pending.get_params()["authorization_category"] == "POLITICAL"

    gateway = SdkGateway(access_token="t", graph_url=sandbox.url, api_version="v26.0", timeout=5)
    spec = specs()[0]
    request = gateway.pending_create(spec, "campaign", {**params_for(spec, "campaign", {}), "x": 1})
    with pytest.raises(MetaError, match="not declared"):
        send_checked(request)
    held = requests.get(f"{sandbox.url}/__sandbox__/objects", timeout=5).json()
    assert held["campaigns"] == []
