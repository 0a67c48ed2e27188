"""The API takes ids and codes, never a fact adgate cannot stand behind: an ad account not
registered, a page not the account's, a country adgate has no rules for (each a 422 naming
every problem at once, nothing stored); "Schweiz" is no country code."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import AD, NEW_CHECKLIST, ApiCast


def _errors(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.get_json()
    return [(e["field"], e["code"]) for e in response.get_json()["errors"]]


def test_an_unregistered_ad_account_or_another_page_is_refused(api: ApiCast) -> None:
    unknown = {**NEW_CHECKLIST, "ad": {**AD, "ad_account_id": "act_9999"}}
    assert _errors(api.manager.post("/checklists", unknown)) == [
        ("ad.ad_account_id", "ad_account_unknown")
    ]
    other_page = {**NEW_CHECKLIST, "ad": {**AD, "page_id": "2002"}}
    response = api.manager.post("/checklists", other_page)
    assert _errors(response) == [("ad.page_id", "page_mismatch")]
    assert "registered for page 2001" in response.get_json()["errors"][0]["detail"]
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_every_problem_the_model_cannot_know_is_named_at_once(api: ApiCast) -> None:
    bad = {
        **NEW_CHECKLIST,
        "ad": {
            **AD,
            "ad_account_id": "act_9999",
            "countries": ["CH", "US", "XX"],
            "budget": {"type": "lifetime", "amount": 1000},
        },
    }
    assert _errors(api.manager.post("/checklists", bad)) == [
        ("ad.countries", "country_unsupported"),
        ("ad.countries", "country_invalid"),
        ("ad.schedule.end_time", "end_missing"),
        ("ad.ad_account_id", "ad_account_unknown"),
    ]


def test_schweiz_is_refused_and_a_country_without_rules_too(api: ApiCast) -> None:
    for countries in (["Schweiz"], ["Sc"], ["SC"]):
        response = api.manager.post(
            "/checklists", {**NEW_CHECKLIST, "ad": {**AD, "countries": countries}}
        )
        assert response.status_code == 422, countries
    created = api.create(ad={**AD, "countries": ["ch", "LI"]})
    assert created["ad"]["countries"] == ["CH", "LI"]


def test_a_patch_to_an_unregistered_account_changes_nothing(api: ApiCast) -> None:
    created = api.create()
    path = f"/checklists/{created['id']}"
    response = api.manager.call(
        "PATCH", path, {"ad": {"ad_account_id": "act_9999", "countries": ["SC"]}},
        headers={"If-Match": f'"{created["version"]}"'},
    )  # fmt: skip
    assert _errors(response) == [
        ("ad.countries", "country_unsupported"),
        ("ad.ad_account_id", "ad_account_unknown"),
    ]
    after = api.manager.get(path).get_json()
    assert (after["version"], after["ad"]["ad_account_id"]) == (created["version"], "act_1001")


def test_an_identity_of_any_iso_country_is_recorded_by_its_code_only(api: ApiCast) -> None:
    def verify(country: str) -> int:
        body = {"user": "manager@example.org", "document_type": "passport",
                "issuing_country": country, "expires_on": "2031-01-01"}  # fmt: skip
        return api.reviewer.post("/identity-verifications", body).status_code

    assert verify("Schweiz") == 422
    assert verify("XX") == 422
    assert verify("CH") == 201
