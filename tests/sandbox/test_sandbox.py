"""The Meta sandbox, driven by the real facebook-business SDK over HTTP on loopback.

Every Graph call goes through ``FacebookAdsApi(FacebookSession(...))`` with the
session's ``GRAPH`` set to the sandbox, exactly as the gateway does (never
``FacebookAdsApi.init()``); the SDK's strict mode is on.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from facebook_business import apiconfig  # type: ignore[import-untyped]
from facebook_business.adobjects.ad import Ad  # type: ignore[import-untyped]
from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.adobjects.adset import AdSet  # type: ignore[import-untyped]
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]
from facebook_business.exceptions import FacebookRequestError  # type: ignore[import-untyped]

from app.sandbox.server import create_sandbox_app, redact
from app.sandbox.usage import Budget
from tests.conftest import png
from tests.sandbox.conftest import RunningSandbox, StartSandbox

apiconfig.ads_api_config["STRICT_MODE"] = True

TOKEN = "sandbox-token"
SIEP = "ISSUES_ELECTIONS_POLITICS"
ROOT = Path(__file__).resolve().parents[2]

MakeApi = Callable[..., Any]


@pytest.fixture
def make_api() -> Iterator[MakeApi]:
    """Build SDK clients for a sandbox; their HTTP sessions close after the test."""
    sessions: list[Any] = []

    def make(
        url: str, *, token: str | None = TOKEN, timeout: float = 5, version: str = "v26.0"
    ) -> Any:
        session = FacebookSession(access_token=token, timeout=timeout)
        session.GRAPH = url
        sessions.append(session)
        return FacebookAdsApi(session, api_version=version)

    yield make
    for session in sessions:
        session.requests.close()


@pytest.fixture
def api(sandbox: RunningSandbox, make_api: MakeApi) -> Any:
    """An SDK client for the sandbox."""
    return make_api(sandbox.url)


def account(api: Any, act: str = "act_1001") -> Any:
    """The SDK's AdAccount bound to ``api``."""
    return AdAccount(act, api=api)


def objects(sandbox: RunningSandbox) -> dict[str, Any]:
    """``GET /__sandbox__/objects``."""
    response = requests.get(f"{sandbox.url}/__sandbox__/objects", timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def add_fault(sandbox: RunningSandbox, **fault: Any) -> dict[str, Any]:
    """``POST /__sandbox__/faults``."""
    response = requests.post(f"{sandbox.url}/__sandbox__/faults", json=fault, timeout=5)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["fault"]
    return created


def campaign_params(name: str = "c", countries: list[str] | None = None) -> dict[str, Any]:
    """A campaign: SIEP for ``countries``, or none when ``countries`` is None."""
    params: dict[str, Any] = {
        "name": name,
        "objective": "OUTCOME_TRAFFIC",
        "special_ad_categories": [SIEP] if countries else [],
        "status": "PAUSED",
        "is_adset_budget_sharing_enabled": False,
    }
    if countries:
        params["special_ad_category_country"] = countries
    return params


def adset_params(campaign_id: str, countries: list[str], **extra: Any) -> dict[str, Any]:
    """An ad set of ``campaign_id`` targeting ``countries`` (an ``extra`` of None: left out)."""
    params = {
        "name": "s",
        "campaign_id": campaign_id,
        "status": "PAUSED",
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "LINK_CLICKS",
        "daily_budget": 1000,
        "targeting": {"geo_locations": {"countries": countries}},
        **extra,
    }
    return {k: v for k, v in params.items() if v is not None}


def creative_params(page_id: str = "2001", category: str | None = "POLITICAL") -> dict[str, Any]:
    """A link ad creative for ``page_id``."""
    params: dict[str, Any] = {
        "name": "cr",
        "object_story_spec": {
            "page_id": page_id,
            "link_data": {"message": "Abstimmung", "link": "https://example.ch", "name": "Ja"},
        },
    }
    if category is not None:
        params["authorization_category"] = category
    return params


def ad_params(adset_id: str, creative_id: str) -> dict[str, Any]:
    """An ad of ``adset_id`` showing ``creative_id``."""
    return {
        "name": "ad",
        "adset_id": adset_id,
        "creative": {"creative_id": creative_id},
        "status": "PAUSED",
    }


def political_ad(api: Any, act: str = "act_1001", page_id: str = "2001") -> dict[str, str]:
    """Campaign, ad set, creative and ad of a CH political ad; their ids."""
    acc = account(api, act)
    campaign = acc.create_campaign(params=campaign_params(countries=["CH"]))["id"]
    adset = acc.create_ad_set(params=adset_params(campaign, ["CH"]))["id"]
    creative = acc.create_ad_creative(params=creative_params(page_id))["id"]
    ad = acc.create_ad(params=ad_params(adset, creative))["id"]
    return {"campaign": campaign, "adset": adset, "creative": creative, "ad": ad}


def refused(call: Callable[[], Any]) -> FacebookRequestError:
    """The FacebookRequestError ``call`` raises."""
    with pytest.raises(FacebookRequestError) as info:
        call()
    return info.value


# -- objects at every level ----------------------------------------------------


def test_political_ad_is_created_at_every_level(sandbox: RunningSandbox, api: Any) -> None:
    ids = political_ad(api)

    held = objects(sandbox)
    (campaign,) = held["campaigns"]
    assert campaign["id"] == ids["campaign"]
    assert campaign["special_ad_categories"] == [SIEP]
    assert campaign["special_ad_category_country"] == ["CH"]
    assert campaign["status"] == "PAUSED"
    assert campaign["account_id"] == "1001"
    assert campaign["created_time"].endswith("+0000")
    assert campaign["params"]["is_adset_budget_sharing_enabled"] is False
    (adset,) = held["adsets"]
    assert adset["campaign_id"] == ids["campaign"]
    assert adset["targeting"] == {"geo_locations": {"countries": ["CH"]}}
    assert adset["daily_budget"] == "1000"
    # What the call carried, as received.
    assert adset["params"]["targeting"] == {"geo_locations": {"countries": ["CH"]}}
    (creative,) = held["adcreatives"]
    assert creative["object_story_spec"]["page_id"] == "2001"
    assert creative["authorization_category"] == "POLITICAL"
    (ad,) = held["ads"]
    assert ad["adset_id"] == ids["adset"]
    assert ad["campaign_id"] == ids["campaign"]
    assert ad["creative"] == {"creative_id": ids["creative"]}
    assert "authorization_category" not in ad
    assert ad["effective_status"] == "PENDING_REVIEW"
    assert "access_token" not in json.dumps(held)

    read = Ad(ids["ad"], api=api).api_get(fields=["name", "status", "creative", "adset_id"])
    assert read["status"] == "PAUSED"
    assert read["creative"]["id"] == ids["creative"]
    assert read["adset_id"] == ids["adset"]


def test_non_political_ad_declares_no_category(sandbox: RunningSandbox, api: Any) -> None:
    acc = account(api)
    campaign = acc.create_campaign(params=campaign_params())["id"]
    adset = acc.create_ad_set(
        params=adset_params(campaign, ["DE", "AT"], dsa_payor="Stadt", dsa_beneficiary="Stadt")
    )["id"]
    creative = acc.create_ad_creative(params=creative_params(category="NONE"))["id"]
    acc.create_ad(params=ad_params(adset, creative))

    held = objects(sandbox)
    assert held["campaigns"][0]["special_ad_categories"] == []
    assert "special_ad_category_country" not in held["campaigns"][0]
    assert held["adsets"][0]["dsa_payor"] == "Stadt"
    assert held["adcreatives"][0]["authorization_category"] == "NONE"
    assert "authorization_category" not in held["ads"][0]


def test_none_category_is_accepted(api: Any) -> None:
    campaign = account(api).create_campaign(
        params={**campaign_params(), "special_ad_categories": ["NONE"]}
    )
    assert campaign["id"]


def test_validate_only_runs_the_rules_and_creates_nothing(
    sandbox: RunningSandbox, api: Any
) -> None:
    acc = account(api)
    checked = acc.create_campaign(
        params={**campaign_params(countries=["CH"]), "execution_options": ["validate_only"]}
    )
    assert checked.get("id") is None
    checked = acc.create_ad_creative(
        params={**creative_params(), "execution_options": ["validate_only"]}
    )
    assert checked.get("id") is None
    error = refused(
        lambda: acc.create_campaign(
            params={**campaign_params(countries=["FR"]), "execution_options": ["validate_only"]}
        )
    )
    assert error.api_error_subcode() == 1892003
    held = objects(sandbox)
    assert held["campaigns"] == held["adcreatives"] == []


def test_an_ad_set_without_advantage_audience_gets_it_as_meta_does(api: Any) -> None:
    acc = account(api)
    campaign = acc.create_campaign(params=campaign_params(countries=["CH"]))["id"]
    widened = acc.create_ad_set(params=adset_params(campaign, ["CH"]))["id"]
    exact = acc.create_ad_set(
        params=adset_params(
            campaign,
            ["CH"],
            targeting={
                "geo_locations": {"countries": ["CH"]},
                "targeting_automation": {"advantage_audience": 0},
            },
        )
    )["id"]

    def audience(adset_id: str) -> Any:
        read = AdSet(adset_id, api=api).api_get(fields=["targeting"])
        return read["targeting"]["targeting_automation"]["advantage_audience"]

    assert (audience(widened), audience(exact)) == (1, 0)


def test_an_image_is_uploaded_once_and_referenced_by_its_hash(
    sandbox: RunningSandbox, api: Any
) -> None:
    acc = account(api)
    data = png(1200, 628)
    first = acc.create_ad_image(params={"bytes": base64.b64encode(data).decode()})
    again = acc.create_ad_image(params={"bytes": base64.b64encode(data).decode()})
    assert first["hash"] == again["hash"]
    with_image = creative_params()
    with_image["object_story_spec"]["link_data"]["image_hash"] = first["hash"]
    assert acc.create_ad_creative(params=with_image)["id"]
    assert len(objects(sandbox)["adimages"]) == 1
    # Another account's library does not hold it; a non-image is refused.
    other = creative_params(page_id="2002")
    other["object_story_spec"]["link_data"]["image_hash"] = first["hash"]
    error = refused(lambda: account(api, "act_1002").create_ad_creative(params=other))
    assert error.api_error_subcode() == 1892017
    error = refused(
        lambda: acc.create_ad_image(params={"bytes": base64.b64encode(b"GIF? no").decode()})
    )
    assert error.api_error_subcode() == 1892018


def test_an_account_answers_metas_fields(api: Any) -> None:
    fields = ["has_page_authorized_adaccount", "currency", "min_daily_budget"]
    authorized = account(api).api_get(fields=fields)
    assert (authorized["has_page_authorized_adaccount"], authorized["currency"]) == (True, "CHF")
    assert authorized["min_daily_budget"] == 100
    assert account(api, "act_1002").api_get(fields=fields)["has_page_authorized_adaccount"] is False


# -- Meta's rules --------------------------------------------------------------


@pytest.fixture
def parents(api: Any) -> dict[str, str]:
    """Objects to build on: a CH-LI SIEP campaign and a plain one, ad sets and creatives."""
    acc = account(api)
    siep = acc.create_campaign(params=campaign_params(countries=["CH", "LI"]))["id"]
    plain = acc.create_campaign(params=campaign_params())["id"]
    return {
        "siep": siep,
        "plain": plain,
        "siep_adset": acc.create_ad_set(params=adset_params(siep, ["CH"]))["id"],
        "plain_adset": acc.create_ad_set(params=adset_params(plain, ["CH"]))["id"],
        "political": acc.create_ad_creative(params=creative_params())["id"],
        "digital": acc.create_ad_creative(
            params=creative_params(category="POLITICAL_WITH_DIGITALLY_CREATED_MEDIA")
        )["id"],
        "none": acc.create_ad_creative(params=creative_params(category="NONE"))["id"],
        "other_campaign": account(api, "act_1002").create_campaign(params=campaign_params())["id"],
    }


Refusal = Callable[[Any, dict[str, str]], Any]

IN_A_WEEK = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S%z")
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S%z")

RULES: list[tuple[str, Refusal, int | None]] = [
    (
        "campaign without special_ad_categories",
        lambda acc, p: acc.create_campaign(
            params={"name": "c", "status": "PAUSED", "is_adset_budget_sharing_enabled": False}
        ),
        1892001,
    ),
    (
        "campaign with NONE and another category",
        lambda acc, p: acc.create_campaign(
            params={**campaign_params(), "special_ad_categories": ["NONE", "HOUSING"]}
        ),
        None,
    ),
    (
        "campaign without a name",
        lambda acc, p: acc.create_campaign(
            params={"special_ad_categories": [], "is_adset_budget_sharing_enabled": False}
        ),
        None,
    ),
    (
        "campaign without budget and without the budget-sharing flag (v24)",
        lambda acc, p: acc.create_campaign(
            params={
                k: v for k, v in campaign_params().items() if k != "is_adset_budget_sharing_enabled"
            }
        ),
        None,
    ),
    (
        "SIEP campaign without countries",
        lambda acc, p: acc.create_campaign(
            params={**campaign_params(), "special_ad_categories": [SIEP]}
        ),
        1892002,
    ),
    (
        "SIEP campaign in an EU member state",
        lambda acc, p: acc.create_campaign(params=campaign_params(countries=["CH", "AT"])),
        1892003,
    ),
    (
        "SIEP campaign in an EU outermost region",
        lambda acc, p: acc.create_campaign(params=campaign_params(countries=["RE"])),
        1892003,
    ),
    (
        "campaign with a parameter the SDK does not declare",
        lambda acc, p: acc.create_campaign(params={**campaign_params(), "paid_for_by": "Stadt"}),
        None,
    ),
    (
        "ad set of another account's campaign",
        lambda acc, p: acc.create_ad_set(params=adset_params(p["other_campaign"], ["CH"])),
        1892004,
    ),
    (
        "ad set without target countries",
        lambda acc, p: acc.create_ad_set(
            params={**adset_params(p["plain"], ["CH"]), "targeting": {"geo_locations": {}}}
        ),
        1892005,
    ),
    (
        "ad set reaching the EU without a payor",
        lambda acc, p: acc.create_ad_set(params=adset_params(p["plain"], ["CH", "DE"])),
        3858079,
    ),
    (
        "ad set reaching the EU with a payor but no beneficiary",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(p["plain"], ["FR"], dsa_payor="Stadt", dsa_beneficiary=" ")
        ),
        3858081,
    ),
    (
        "ad set reaching Réunion without a payor",
        lambda acc, p: acc.create_ad_set(params=adset_params(p["plain"], ["RE"])),
        3858079,
    ),
    (
        "ad set without a budget",
        lambda acc, p: acc.create_ad_set(
            params={
                k: v for k, v in adset_params(p["plain"], ["CH"]).items() if k != "daily_budget"
            }
        ),
        1892012,
    ),
    (
        "ad set with a daily and a lifetime budget",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(p["plain"], ["CH"], lifetime_budget=5000, end_time=IN_A_WEEK)
        ),
        1892012,
    ),
    (
        "ad set below the account's minimum daily budget",
        lambda acc, p: acc.create_ad_set(params=adset_params(p["plain"], ["CH"], daily_budget=99)),
        1892013,
    ),
    (
        "ad set whose lifetime budget is below the minimum for its days",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(
                p["plain"], ["CH"], daily_budget=None, lifetime_budget=600, end_time=IN_A_WEEK
            )
        ),
        1892013,
    ),
    (
        "ad set with a lifetime budget and no end time",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(p["plain"], ["CH"], daily_budget=None, lifetime_budget=5000)
        ),
        1892014,
    ),
    (
        "ad set ending in the past",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(p["plain"], ["CH"], end_time=YESTERDAY)
        ),
        1892015,
    ),
    (
        "ad set running 24 hours or less",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(p["plain"], ["CH"], end_time=TOMORROW)
        ),
        1892015,
    ),
    (
        "ad set with an unknown placement",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(
                p["plain"],
                ["CH"],
                targeting={
                    "geo_locations": {"countries": ["CH"]},
                    "publisher_platforms": ["facebook", "myspace"],
                },
            )
        ),
        1892016,
    ),
    (
        "ad set with a targeting key the SDK does not declare",
        lambda acc, p: acc.create_ad_set(
            params=adset_params(
                p["plain"], ["CH"], targeting={"geo_locations": {"countries": ["CH"]}, "x": 1}
            )
        ),
        None,
    ),
    (
        "creative for another account's page",
        lambda acc, p: acc.create_ad_creative(params=creative_params(page_id="2002")),
        1892008,
    ),
    (
        "creative with an image the account does not hold",
        lambda acc, p: acc.create_ad_creative(
            params={
                **creative_params(),
                "object_story_spec": {
                    "page_id": "2001",
                    "link_data": {"link": "https://example.ch", "image_hash": "0" * 32},
                },
            }
        ),
        1892017,
    ),
    (
        "ad of an unknown ad set",
        lambda acc, p: acc.create_ad(params=ad_params("999", p["political"])),
        1892009,
    ),
    (
        "ad with an unknown creative",
        lambda acc, p: acc.create_ad(params=ad_params(p["siep_adset"], "999")),
        1892010,
    ),
    (
        "SIEP ad whose creative is NONE",
        lambda acc, p: acc.create_ad(params=ad_params(p["siep_adset"], p["none"])),
        1892011,
    ),
    (
        "ad with authorization_category, which the SDK declares on the creative only",
        lambda acc, p: acc.create_ad(
            params={
                **ad_params(p["siep_adset"], p["political"]),
                "authorization_category": "POLITICAL",
            }
        ),
        None,
    ),
]


@pytest.mark.parametrize(("call", "subcode"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_rule_is_refused_in_metas_format(
    sandbox: RunningSandbox, api: Any, parents: dict[str, str], call: Refusal, subcode: int | None
) -> None:
    before = objects(sandbox)

    error = refused(lambda: call(account(api), parents))

    assert error.http_status() == 400
    assert error.api_error_code() == 100
    assert error.api_error_subcode() == subcode
    assert error.api_transient_error() is False
    body = error.body()["error"]
    assert body["type"] == "OAuthException"
    assert body["error_user_title"]
    assert body["error_user_msg"]
    assert len(body["fbtrace_id"]) >= 16
    assert objects(sandbox) == before


def test_rule_accepts_the_consistent_variants(api: Any, parents: dict[str, str]) -> None:
    acc = account(api)
    acc.create_ad(params=ad_params(parents["siep_adset"], parents["political"]))
    acc.create_ad(params=ad_params(parents["siep_adset"], parents["digital"]))
    acc.create_ad(params=ad_params(parents["plain_adset"], parents["none"]))
    acc.create_ad_set(params=adset_params(parents["siep"], ["LI", "CH"]))
    acc.create_ad_set(
        params=adset_params(
            parents["plain"], ["CH"], daily_budget=None, lifetime_budget=700, end_time=IN_A_WEEK
        )
    )
    acc.create_ad_set(
        params=adset_params(
            parents["plain"],
            ["CH"],
            start_time=TOMORROW,
            end_time=IN_A_WEEK,
            targeting={
                "geo_locations": {"countries": ["CH"]},
                "publisher_platforms": ["facebook", "instagram"],
                "facebook_positions": ["feed"],
                "instagram_positions": ["stream"],
                "targeting_automation": {"advantage_audience": 0},
            },
        )
    )


def test_each_refusal_has_its_own_trace_id(api: Any) -> None:
    def call() -> Any:
        return account(api).create_campaign(params={"name": "c"})

    first, second = refused(call), refused(call)
    assert first.body()["error"]["fbtrace_id"] != second.body()["error"]["fbtrace_id"]


def test_unknown_account_is_refused(api: Any) -> None:
    error = refused(lambda: account(api, "act_9999").create_campaign(params=campaign_params()))
    assert (error.api_error_code(), error.api_error_subcode()) == (100, 33)
    assert error.api_error_type() == "GraphMethodException"
    assert "act_9999" in error.api_error_message()
    error = refused(lambda: Ad("4242", api=api).api_get(fields=["name"]))
    assert (error.api_error_code(), error.api_error_subcode()) == (100, 33)


@pytest.mark.parametrize("token", [None, ""])
def test_call_without_token_is_refused(
    sandbox: RunningSandbox, make_api: MakeApi, token: str | None
) -> None:
    api = make_api(sandbox.url, token=token)
    error = refused(lambda: account(api).create_campaign(params=campaign_params()))
    assert error.api_error_code() == 190
    assert error.api_error_type() == "OAuthException"
    assert objects(sandbox)["campaigns"] == []


def test_other_version_is_refused(sandbox: RunningSandbox, make_api: MakeApi) -> None:
    api = make_api(sandbox.url, version="v25.0")
    error = refused(lambda: account(api).create_campaign(params=campaign_params()))
    assert (error.http_status(), error.api_error_code()) == (400, 2635)
    response = requests.get(f"{sandbox.url}/favicon.ico", timeout=5)
    assert (response.status_code, response.json()["error"]["code"]) == (400, 2500)


# -- reading -------------------------------------------------------------------


def test_name_filter_finds_an_object_across_pages(api: Any) -> None:
    acc = account(api)
    for i in range(5):
        acc.create_campaign(params=campaign_params(name=f"adgate-{i}-campaign"))
    acc.create_campaign(params=campaign_params(name="Other"))

    def names(operator: str, value: str, limit: int = 25) -> list[str]:
        found = acc.get_campaigns(
            fields=["name"],
            params={
                "filtering": [{"field": "name", "operator": operator, "value": value}],
                "limit": limit,
            },
        )
        return [c["name"] for c in found]

    assert names("EQUAL", "adgate-3-campaign") == ["adgate-3-campaign"]
    assert names("EQUAL", "adgate-3") == []
    assert names("CONTAIN", "ADGATE", limit=2) == [f"adgate-{i}-campaign" for i in range(4, -1, -1)]
    assert len(list(acc.get_campaigns(fields=["name"], params={"limit": 4}))) == 6


def test_listing_answers_the_requested_fields(sandbox: RunningSandbox) -> None:
    params = {"access_token": TOKEN, "fields": "name,nonexistent", "limit": "1"}
    url = f"{sandbox.url}/v26.0/act_1002/campaigns"
    assert requests.get(url, params=params, timeout=5).json() == {"data": []}
    form = {
        "access_token": TOKEN,
        "special_ad_categories": "[]",
        "is_adset_budget_sharing_enabled": "false",
    }
    requests.post(url, data={**form, "name": "a"}, timeout=5)
    requests.post(url, data={**form, "name": "b"}, timeout=5)
    page = requests.get(url, params=params, timeout=5).json()
    assert [set(item) for item in page["data"]] == [{"id", "name"}]
    assert TOKEN not in page["paging"]["next"]
    bad = requests.get(
        url, params={**params, "filtering": '[{"field":"id","operator":"IN"}]'}, timeout=5
    )
    assert bad.json()["error"]["code"] == 100


# -- review --------------------------------------------------------------------


def reviewed(ad: Any, fields: list[str], timeout: float = 5) -> Any:
    """The ad once its review is decided (polled as the worker does)."""
    deadline = time.monotonic() + timeout
    while True:
        read = ad.api_get(fields=["effective_status", *fields])
        if read["effective_status"] != "PENDING_REVIEW" or time.monotonic() > deadline:
            return read
        time.sleep(0.05)


def test_ad_is_approved_after_the_review_delay(
    start_sandbox: StartSandbox, make_api: MakeApi
) -> None:
    api = make_api(start_sandbox(review_delay=0.5).url)
    ad = Ad(political_ad(api)["ad"], api=api)
    created = time.monotonic()
    pending = ad.api_get(fields=["effective_status", "ad_review_feedback"])
    assert pending["effective_status"] == "PENDING_REVIEW"
    approved = reviewed(ad, ["ad_review_feedback", "status"])
    assert time.monotonic() - created >= 0.4
    assert approved["effective_status"] == "PAUSED"
    assert "ad_review_feedback" not in approved


def test_political_ad_of_an_unauthorized_page_is_disapproved(
    sandbox: RunningSandbox, api: Any
) -> None:
    ad = Ad(political_ad(api, "act_1002", "2002")["ad"], api=api)
    rejected = reviewed(ad, ["ad_review_feedback"])
    assert rejected["effective_status"] == "DISAPPROVED"
    (text,) = rejected["ad_review_feedback"]["global"].values()
    assert "not authorized" in text
    assert "CH" in text
    assert "disclaimer" in text
    assert objects(sandbox)["ads"][0]["effective_status"] == "DISAPPROVED"


def test_review_hook_reviews_at_once(start_sandbox: StartSandbox, make_api: MakeApi) -> None:
    sandbox = start_sandbox(review_delay=60)
    api = make_api(sandbox.url)
    first, second = political_ad(api)["ad"], political_ad(api, "act_1002", "2002")["ad"]
    hook = f"{sandbox.url}/__sandbox__/review"

    answer = requests.post(hook, json={"ad_id": second}, timeout=5).json()
    assert answer == {"reviewed": [{"id": second, "effective_status": "DISAPPROVED"}]}
    assert Ad(first, api=api).api_get(fields=["effective_status"])["effective_status"] == (
        "PENDING_REVIEW"
    )
    answer = requests.post(hook, timeout=5).json()
    assert answer == {"reviewed": [{"id": first, "effective_status": "PAUSED"}]}
    assert requests.post(hook, json={"ad_id": "1"}, timeout=5).status_code == 404


# -- faults --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "http_status", "subcode"),
    [(4, 403, None), (17, 403, 2446079), (613, 400, 1487742), (80004, 400, 2446079)],
)
def test_rate_limit_is_transient_and_creates_nothing(
    sandbox: RunningSandbox, api: Any, code: int, http_status: int, subcode: int | None
) -> None:
    add_fault(sandbox, kind="rate_limit", code=code, next=1)

    error = refused(lambda: account(api).create_campaign(params=campaign_params()))

    assert (error.api_error_code(), error.http_status()) == (code, http_status)
    assert error.api_error_subcode() == subcode
    assert error.api_transient_error() is True
    assert error.body()["error"]["fbtrace_id"]
    assert objects(sandbox)["campaigns"] == []
    account(api).create_campaign(params=campaign_params())
    assert len(objects(sandbox)["campaigns"]) == 1


@pytest.mark.parametrize("code", [1, 2])
def test_server_error_answers_500(sandbox: RunningSandbox, api: Any, code: int) -> None:
    add_fault(sandbox, kind="server_error", code=code, next=1)
    error = refused(lambda: account(api).create_campaign(params=campaign_params()))
    assert (error.http_status(), error.api_error_code()) == (500, code)
    assert error.api_transient_error() is True
    assert objects(sandbox)["campaigns"] == []


def test_slow_answer_times_out_but_the_object_exists(
    sandbox: RunningSandbox, make_api: MakeApi
) -> None:
    add_fault(sandbox, kind="slow", delay=0.6, next=1)
    impatient = make_api(sandbox.url, timeout=0.2)

    with pytest.raises(requests.exceptions.Timeout):
        account(impatient).create_campaign(params=campaign_params(name="adgate-1-campaign"))

    assert [c["name"] for c in objects(sandbox)["campaigns"]] == ["adgate-1-campaign"]


def test_slow_answer_arrives_after_the_delay(sandbox: RunningSandbox, api: Any) -> None:
    add_fault(sandbox, kind="slow", delay=0.3, next=1)
    started = time.monotonic()
    assert account(api).create_campaign(params=campaign_params())["id"]
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_after_the_object_is_created(sandbox: RunningSandbox, api: Any) -> None:
    add_fault(sandbox, kind="drop", next=1, methods=["POST"])

    with pytest.raises(requests.exceptions.ConnectionError):
        account(api).create_campaign(params=campaign_params(name="adgate-2-campaign"))

    found = account(api).get_campaigns(
        fields=["name"],
        params={
            "filtering": [{"field": "name", "operator": "EQUAL", "value": "adgate-2-campaign"}]
        },
    )
    assert [c["name"] for c in found] == ["adgate-2-campaign"]
    assert len(objects(sandbox)["campaigns"]) == 1


def test_next_n_affects_exactly_n_calls_of_its_methods(sandbox: RunningSandbox, api: Any) -> None:
    add_fault(sandbox, kind="rate_limit", code=80004, next=3, methods=["POST"])
    acc = account(api)

    outcomes = []
    for i in range(5):
        acc.get_campaigns(fields=["name"])  # a GET: not in the fault's scope, not counted
        try:
            acc.create_campaign(params=campaign_params(name=f"c{i}"))
            outcomes.append("created")
        except FacebookRequestError as error:
            outcomes.append(str(error.api_error_code()))

    assert outcomes == ["80004", "80004", "80004", "created", "created"]
    assert sandbox.state.faults() == []


def test_rate_applies_roughly_with_a_seed(sandbox: RunningSandbox, api: Any) -> None:
    add_fault(sandbox, kind="server_error", rate=0.3)
    acc = account(api)
    failures = 0
    for _ in range(200):
        try:
            acc.api_get(fields=["name"])
        except FacebookRequestError:
            failures += 1
    assert 40 <= failures <= 80


def test_faults_are_listed_cleared_and_spare_the_control_api(sandbox: RunningSandbox) -> None:
    faults = f"{sandbox.url}/__sandbox__/faults"
    add_fault(sandbox, kind="server_error", rate=1.0)
    add_fault(sandbox, kind="slow", delay=5, next=2, methods=["GET"])
    listed = requests.get(faults, timeout=5).json()["faults"]
    assert [(f["kind"], f["remaining"], f["methods"]) for f in listed] == [
        ("server_error", None, None),
        ("slow", 2, ["GET"]),
    ]
    assert requests.get(faults, timeout=5).json()["faults"] == listed
    assert requests.delete(faults, timeout=5).json() == {"faults": []}
    graph = requests.get(f"{sandbox.url}/v26.0/act_1001", params={"access_token": TOKEN}, timeout=5)
    assert graph.json() == {"id": "act_1001"}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "flood", "next": 1},
        {"kind": "rate_limit", "code": 100, "next": 1},
        {"kind": "server_error", "code": 17, "next": 1},
        {"kind": "drop"},
        {"kind": "drop", "rate": 1.5},
        {"kind": "drop", "next": 0},
        {"kind": "slow", "next": 1},
        {"kind": "drop", "next": 1, "delay": 1},
        {"kind": "drop", "next": 1, "methods": ["PATCH"]},
        {"kind": "drop", "next": 1, "typo": True},
        ["drop"],
    ],
)
def test_malformed_fault_is_refused(sandbox: RunningSandbox, fault: Any) -> None:
    response = requests.post(f"{sandbox.url}/__sandbox__/faults", json=fault, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]
    assert requests.get(f"{sandbox.url}/__sandbox__/faults", timeout=5).json() == {"faults": []}


# -- state, threads, logs, command ---------------------------------------------


def test_state_file_survives_a_restart(
    start_sandbox: StartSandbox, make_api: MakeApi, tmp_path: Path
) -> None:
    state_file = tmp_path / "sandbox.json"
    first = start_sandbox(state_file=state_file)
    ids = political_ad(make_api(first.url))
    first.stop()
    assert TOKEN not in state_file.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["sandbox.json"]

    second = start_sandbox(state_file=state_file)
    api = make_api(second.url)
    held = objects(second)
    assert [a["id"] for a in held["ads"]] == [ids["ad"]]
    assert Ad(ids["ad"], api=api).api_get(fields=["name"])["name"] == "ad"
    new = account(api).create_campaign(params=campaign_params())["id"]
    assert int(new) > int(ids["ad"])


@pytest.mark.parametrize("content", ["{", "[]", '{"version": 1}', '{"version": 2}'])
def test_foreign_state_file_is_refused(tmp_path: Path, content: str) -> None:
    state_file = tmp_path / "sandbox.json"
    state_file.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="not a Meta sandbox state file"):
        create_sandbox_app(state_file=state_file)


def test_reset_keeps_the_accounts(sandbox: RunningSandbox, api: Any) -> None:
    political_ad(api)
    add_fault(sandbox, kind="drop", rate=0.5)
    assert requests.post(f"{sandbox.url}/__sandbox__/reset", timeout=5).ok
    held = objects(sandbox)
    assert held["campaigns"] == held["adsets"] == held["adcreatives"] == held["ads"] == []
    assert [a["id"] for a in held["accounts"]] == ["act_1001", "act_1002", "act_1004"]
    first, second, third = held["accounts"]
    assert first["authorizations"] == {"CH": ["Stadt Musterstadt"], "LI": ["Stadt Musterstadt"]}
    assert (first["currency"], first["has_page_authorized_adaccount"]) == ("CHF", True)
    assert (second["authorizations"], second["has_page_authorized_adaccount"]) == ({}, False)
    assert third["authorizations"] == {"CH": ["Gemeinde Beispielwil"]}


def test_concurrent_creates_get_distinct_ids(sandbox: RunningSandbox, make_api: MakeApi) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        campaign = account(make_api(sandbox.url)).create_campaign(params=campaign_params(f"c{i}"))
        with lock:
            ids.append(campaign["id"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 16
    assert len(objects(sandbox)["campaigns"]) == 16


def test_access_token_never_reaches_the_log(
    sandbox: RunningSandbox, api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    political_ad(api)
    refused(lambda: account(api).create_campaign(params={"name": "x"}))
    list(account(api).get_campaigns(fields=["name"]))
    requests.get(f"{sandbox.url}/v26.0/act_1001?access_token={TOKEN}&fields=name", timeout=5)

    assert "POST /v26.0/act_1001/campaigns HTTP/1.1" in caplog.text
    assert "GET /v26.0/act_1001 HTTP/1.1" in caplog.text
    assert TOKEN not in caplog.text
    assert "access_token" not in caplog.text


def test_redact_removes_tokens_from_any_line() -> None:
    line = 'code 400, message Bad request syntax ("GET /v26.0/x?access_token=secret&a=1 HTTP/1.1")'
    assert "secret" not in redact(line)
    assert "secret" not in redact("GET /x?ACCESS%5FTOKEN=secret")


def test_command_serves_until_interrupted(tmp_path: Path) -> None:
    script = "from app.sandbox.server import meta_sandbox_command; meta_sandbox_command()"
    args = ["--port", "0", "--review-delay", "0", "--state-file", str(tmp_path / "s.json")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Meta sandbox: Graph API v26.0 at http://127.0.0.1:")
        url = line.split()[-1]
        response = requests.get(f"{url}/__sandbox__/objects", timeout=5)
        assert response.json()["accounts"][0]["id"] == "act_1001"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


def test_with_an_app_secret_every_call_needs_the_proof(
    start_sandbox: StartSandbox, make_api: MakeApi
) -> None:
    sandbox = start_sandbox(app_secret="s3cret-of-the-app")
    without = make_api(sandbox.url)
    error = refused(lambda: account(without).api_get(fields=["currency"]))
    assert (error.api_error_code(), error.body()["error"]["error_user_title"]) == (
        100,
        "App Secret Proof Required",
    )
    session = FacebookSession(access_token=TOKEN, app_secret="s3cret-of-the-app", timeout=5)
    session.GRAPH = sandbox.url
    with_proof = FacebookAdsApi(session, api_version="v26.0")
    assert account(with_proof).api_get(fields=["currency"])["currency"] == "CHF"
    wrong = FacebookSession(access_token=TOKEN, app_secret="another secret", timeout=5)
    wrong.GRAPH = sandbox.url
    error = refused(lambda: account(FacebookAdsApi(wrong, api_version="v26.0")).api_get())
    assert error.api_error_code() == 100


def test_without_a_tier_nothing_is_reported_as_spent() -> None:
    # What is never refused is not reported as used up either: a client reading 100 % would
    # pause an account that no limit blocks. With a tier, the same calls count.
    heavy = {"act_1001": 100_000}
    for tier, limited in ((None, False), ("standard", True)):
        budget = Budget(tier)
        budget.count(heavy, 1000.0)
        assert (budget.admit(["act_1001"], 1000.5) is not None) is limited, tier
        case = json.loads(budget.headers(["act_1001"], 1000.5)["X-Business-Use-Case-Usage"])
        assert (case["1001"][0]["call_count"] == 100) is limited, tier
