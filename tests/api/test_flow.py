"""A whole checklist through the API alone, from creation to the sandbox, audited all the way."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import transaction
from app.models import AdAccount, AdImage, IdentityVerification
from app.submissions.worker import Worker
from tests.api.conftest import AD, NEW_CHECKLIST, ApiCast
from tests.app.conftest import Sandbox, run
from tests.conftest import png
from tools.sandbox_accounts import register_sandbox_accounts


def test_a_checklist_goes_through_the_api_to_meta(
    app: Flask, api: ApiCast, sandbox: Sandbox, worker: Worker
) -> None:
    created = api.create()
    checklist_id = created["id"]
    assert created["state"] == "draft"
    assert {s["name"]: s["status"] for s in created["steps"]}["classification"] == "failed"

    api.ready(checklist_id)
    approved = api.approve(checklist_id)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["state"] == "approved"
    assert approved.get_json()["approved_by"] == "reviewer@example.org"

    submitted = api.submit(checklist_id)
    assert submitted.status_code == 202, submitted.get_json()
    submission = submitted.get_json()["submission"]
    assert submission["status"] == "queued"
    assert submitted.headers["Location"] == f"/api/v1/submissions/{submission['id']}"

    run(app, worker)
    polled = api.manager.get(f"/submissions/{submission['id']}")
    assert polled.status_code == 200
    body = polled.get_json()
    assert body["status"] == "submitted"
    assert body["meta"]["ad_id"]
    ads = sandbox.objects()["ads"]
    assert [a["id"] for a in ads] == [body["meta"]["ad_id"]]

    events = api.auditor.get(f"/audit/events?checklist={checklist_id}&limit=200").get_json()
    kinds = [e["kind"] for e in reversed(events["events"])]
    for kind in (
        "checklist.created",
        "checklist.edit",
        "checklist.attested",
        "checklist.approve",
        "checklist.submit",
        "checklist.send",
        "checklist.confirm",
    ):
        assert kind in kinds, kinds
    by_api = [e for e in events["events"] if e["actor"]["type"] == "token"]
    assert {e["kind"] for e in by_api} >= {"checklist.created", "checklist.approve"}
    verified = api.auditor.get("/audit/verify").get_json()
    assert verified["ok"] is True


def test_an_unauthorized_page_is_blocked_before_anything_reaches_meta(
    app: Flask, api: ApiCast, sandbox: Sandbox, worker: Worker
) -> None:
    """The CH electoral ad on act_1002 / page 2002 (authorized nowhere at Meta) is refused at
    submit, naming the missing authorization and disclaimer; nothing reaches the sandbox and
    the account keeps its eligibility. The same ad on act_1001 with the disclaimer registered
    there ("Stadt Musterstadt") reaches Meta."""
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1002")
    electoral = {"category": "ELECTORAL"}
    blocked = api.create(
        ad={**AD, "ad_account_id": "act_1002", "page_id": "2002", "paid_for_by": "Gemeinde"}
    )["id"]
    api.ready(blocked)
    api.manager.call("PUT", f"/checklists/{blocked}/classification", electoral)
    steps = {s["name"]: s for s in api.manager.get(f"/checklists/{blocked}").get_json()["steps"]}
    assert steps["standing"]["code"] == "standing.not_authorized"
    assert steps["disclaimer"]["code"] == "disclaimer.not_registered"
    assert "“Gemeinde”" in steps["disclaimer"]["detail"]
    assert api.approve(blocked).status_code == 409  # the reviewer cannot approve it either
    answer = api.submit(blocked)
    assert answer.status_code == 409
    unmet = {e["step"]: e["code"] for e in answer.get_json()["errors"]}
    assert unmet["standing"] == "standing.not_authorized"
    assert unmet["disclaimer"] == "disclaimer.not_registered"
    run(app, worker)
    assert sandbox.objects()["campaigns"] == []
    with app.app_context(), transaction(write=False) as db:
        account = db.get(AdAccount, "act_1002")
        assert account is not None
        assert (account.violations, account.political_eligible) == (0, True)

    sent = api.create()["id"]
    api.manager.call("PUT", f"/checklists/{sent}/classification", electoral)
    api.manager.post(f"/checklists/{sent}/attestations/two-factor")
    assert api.approve(sent).status_code == 200
    assert api.submit(sent, key="key-2").status_code == 202
    run(app, worker)
    assert api.manager.get(f"/checklists/{sent}").get_json()["state"] == "submitted"
    assert len(sandbox.objects()["ads"]) == 1


def test_budget_schedule_placements_and_image_through_the_api(
    app: Flask, api: ApiCast, sandbox: Sandbox, worker: Worker
) -> None:
    # A client that sends none of them gets the documented defaults and reads them back.
    plain = api.create()
    assert plain["ad"]["budget"] == {"type": "daily", "amount": 1000, "currency": "CHF"}
    assert plain["ad"]["schedule"] == {"start_time": None, "end_time": None}
    assert plain["ad"]["placements"] == ["facebook", "instagram"]
    assert plain["ad"]["image"] is None

    uploaded = api.manager.post("/images", {"data": base64.b64encode(png(1200, 628)).decode()})
    assert uploaded.status_code == 201, uploaded.get_json()
    image = uploaded.get_json()
    assert (image["width"], image["height"], image["content_type"]) == (1200, 628, "image/png")
    end = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    ad = {
        **AD,
        "budget": {"type": "lifetime", "amount": 5000},
        "schedule": {"end_time": end.isoformat()},
        "placements": ["facebook"],
        "image": image["id"],
    }
    created = api.create(ad=ad)
    assert created["ad"]["budget"] == {"type": "lifetime", "amount": 5000, "currency": "CHF"}
    assert created["ad"]["schedule"]["end_time"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
    assert created["ad"]["image"]["sha256"] == image["sha256"]
    checklist_id = created["id"]
    api.ready(checklist_id)
    assert api.approve(checklist_id).status_code == 200
    # Changing any of them voids the approval.
    version = api.manager.get(f"/checklists/{checklist_id}").get_json()["version"]
    patched = api.manager.call(
        "PATCH",
        f"/checklists/{checklist_id}",
        {"ad": {"budget": {"amount": 6000}}},
        headers={"If-Match": f'"{version}"'},
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["state"] == "draft"
    assert body["approved_by"] is None
    assert body["ad"]["budget"]["type"] == "lifetime"  # a PATCH keeps what it does not send
    assert body["classification"] is not None  # a budget is not content
    assert api.approve(checklist_id).status_code == 200
    assert api.submit(checklist_id).status_code == 202
    run(app, worker)
    [adset] = sandbox.objects()["adsets"]
    assert adset["params"]["lifetime_budget"] == "6000"
    assert adset["params"]["targeting"]["publisher_platforms"] == ["facebook"]
    [creative] = sandbox.objects()["adcreatives"]
    assert creative["object_story_spec"]["link_data"]["image_hash"]


@pytest.mark.parametrize(
    ("ad", "field", "code"),
    [
        ({"budget": {"type": "lifetime", "amount": 5000}}, "ad.schedule.end_time", "end_missing"),
        ({"budget": {"amount": 0}}, "ad.budget.amount", "greater_than_equal"),
        ({"budget": {"type": "weekly", "amount": 100}}, "ad.budget.type", "enum"),
        ({"placements": []}, "ad.placements", "too_short"),
        ({"placements": ["myspace"]}, "ad.placements.0", "enum"),
        (
            {
                "schedule": {
                    "start_time": "2030-01-02T00:00:00Z",
                    "end_time": "2030-01-01T00:00:00Z",
                }
            },
            "ad.schedule.end_time",
            "end_before_start",
        ),
        ({"image": 424242}, "ad.image", "image_unknown"),
    ],
)
def test_bad_delivery_values_get_an_error_per_field_and_change_nothing(
    app: Flask, api: ApiCast, ad: dict[str, Any], field: str, code: str
) -> None:
    answer = api.manager.post("/checklists", {**NEW_CHECKLIST, "ad": {**AD, **ad}})
    assert answer.status_code == 422, answer.get_json()
    errors = {e["field"]: e["code"] for e in answer.get_json()["errors"]}
    assert errors.get(field) == code, errors
    assert api.manager.get("/checklists").get_json()["checklists"] == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (base64.b64encode(b"GIF89a not really").decode(), "image_type"),
        (base64.b64encode(png(599, 600)).decode(), "image_dimensions"),
        (base64.b64encode(png(2000, 600)).decode(), "image_ratio"),
        ("not base64!", "not_base64"),
    ],
)
def test_an_upload_that_is_not_a_usable_image_is_refused(
    app: Flask, api: ApiCast, data: str, code: str
) -> None:
    answer = api.manager.post("/images", {"data": data})
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["code"] == code
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(AdImage)).all() == []


def test_an_approval_names_the_version_read_and_a_stale_one_approves_nothing(
    app: Flask, api: ApiCast
) -> None:
    checklist_id = api.create()["id"]
    api.ready(checklist_id)
    path = f"/checklists/{checklist_id}/approval"
    read = api.reviewer.get(f"/checklists/{checklist_id}").headers["ETag"]
    # Without If-Match: 428, and the code is not spent.
    code = api.code("reviewer@example.org")
    missing = api.reviewer.post(path, headers={"X-OTP": code})
    assert missing.status_code == 428
    assert missing.get_json()["type"] == "urn:adgate:problem:precondition-required"
    # The owner edits the text and the link after the reviewer read it.
    edited = api.manager.call(
        "PATCH", f"/checklists/{checklist_id}",
        {"ad": {"message": "Ein anderer Text.", "link_url": "https://example.org/x"}},
        headers={"If-Match": read},
    )  # fmt: skip
    assert edited.status_code == 200, edited.get_json()
    api.manager.call("PUT", f"/checklists/{checklist_id}/classification", {"category": "POLITICAL"})
    current = api.reviewer.get(f"/checklists/{checklist_id}").headers["ETag"]
    stale = api.reviewer.post(path, headers={"X-OTP": code, "If-Match": read})
    assert stale.status_code == 409
    assert stale.get_json()["type"] == "urn:adgate:problem:version-conflict"
    assert stale.headers["ETag"] == current
    body = api.reviewer.get(f"/checklists/{checklist_id}").get_json()
    assert (body["state"], body["approved_by"]) == ("draft", None)
    # Read again, approved with the same (unspent) code.
    fresh = api.reviewer.post(path, headers={"X-OTP": code, "If-Match": current})
    assert fresh.status_code == 200, fresh.get_json()
    assert fresh.get_json()["state"] == "approved"


def test_a_refusal_names_the_step_in_words(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    assert api.manager.post(f"/checklists/{checklist_id}/withdrawal").status_code == 200
    again = api.manager.post(f"/checklists/{checklist_id}/withdrawal")
    assert again.status_code == 409
    [state] = [e for e in again.get_json()["errors"] if e["step"] == "state"]
    assert state["code"] == "state.not_allowed"
    assert state["detail"] == (
        "An ad that is withdrawn cannot be withdrawn "
        "(only one that is draft, approved, queued, held for a person)."
    )


def test_the_api_speaks_english_unless_accept_language_asks_for_german(
    app: Flask, api: ApiCast
) -> None:
    """The API renders the pages' catalogue: in English by default, in German when the
    ``Accept-Language`` header asks for it (never after the session's language)."""
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}"
    english = {s["code"]: s["detail"] for s in api.manager.get(path).get_json()["steps"]}
    german = {
        s["code"]: s["detail"]
        for s in api.manager.get(path, headers={"Accept-Language": "de"}).get_json()["steps"]
    }
    assert english["classification.missing"] == "The ad is not classified yet."
    assert german["classification.missing"] == "Die Anzeige ist noch nicht eingestuft."
    assert english.keys() == german.keys()
    assert all(german[code] != english[code] for code in english)
    # A refusal, too: English by default, German on request.
    assert api.manager.post(f"{path}/withdrawal").status_code == 200
    again = api.manager.post(f"{path}/withdrawal")
    auf_deutsch = api.manager.post(
        f"{path}/withdrawal", headers={"Accept-Language": "de-CH, en;q=0.5"}
    )
    assert (again.status_code, auf_deutsch.status_code) == (409, 409)
    [state] = [e for e in again.get_json()["errors"] if e["step"] == "state"]
    [zustand] = [e for e in auf_deutsch.get_json()["errors"] if e["step"] == "state"]
    assert state["detail"].startswith("An ad that is withdrawn cannot be withdrawn")
    assert zustand["code"] == state["code"] == "state.not_allowed"
    assert "zurückgezogen" in zustand["detail"]
    assert zustand["detail"] != state["detail"]


@pytest.mark.parametrize("asked", ["fr-CH, en;q=0.5", "it-CH, de;q=0.8"])
def test_the_api_speaks_french_or_italian_when_accept_language_asks(
    app: Flask, api: ApiCast, asked: str
) -> None:
    """A Swiss browser's French or Italian: the steps and a refusal's problem document in
    that language, the codes the same as in English."""
    language = asked[:2]
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}"
    english = {s["code"]: s["detail"] for s in api.manager.get(path).get_json()["steps"]}
    asked_for = {"Accept-Language": asked}
    translated = {
        s["code"]: s["detail"] for s in api.manager.get(path, headers=asked_for).get_json()["steps"]
    }
    assert translated.keys() == english.keys()
    assert all(translated[code] and translated[code] != english[code] for code in english)
    assert api.manager.post(f"{path}/withdrawal").status_code == 200
    refused = api.manager.post(f"{path}/withdrawal", headers=asked_for)
    assert refused.status_code == 409
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    [state] = [e for e in refused.get_json()["errors"] if e["step"] == "state"]
    assert state["code"] == "state.not_allowed"
    assert not state["detail"].startswith("An ad that is withdrawn")
    if language == "fr":
        assert (
            translated["classification.missing"] == "La publicité n\u2019est pas encore classifiée."
        )
        assert state["detail"].startswith(
            "Une publicité à l\u2019état «\u00a0retirée\u00a0» ne peut pas"
        )


def test_a_send_blocked_by_the_workers_check_reads_as_checks_failed(
    app: Flask, api: ApiCast, worker: Worker
) -> None:
    checklist_id = api.create()["id"]
    api.ready(checklist_id)
    assert api.approve(checklist_id).status_code == 200
    submitted = api.submit(checklist_id)
    assert submitted.status_code == 202
    # The identity is revoked while the ad waits in the queue: the worker's check stops it.
    with app.app_context(), transaction() as db:
        for verification in db.scalars(select(IdentityVerification)):
            verification.revoked_at = datetime.now(UTC)
            db.add(verification)
    with app.app_context():
        worker.run_once()
    checklist = api.manager.get(f"/checklists/{checklist_id}")
    assert checklist.status_code == 200, checklist.get_data(as_text=True)
    error = checklist.get_json()["submission"]["error"]
    assert error["code"] == "checks_failed"
    assert {u["step"] for u in error["unmet"]} == {"identity"}
    submission = api.manager.get(f"/submissions/{submitted.get_json()['submission']['id']}")
    assert submission.status_code == 200, submission.get_data(as_text=True)
    assert submission.get_json()["status"] == "failed"
    assert submission.get_json()["error"]["code"] == "checks_failed"


def test_a_managers_probe_of_anothers_checklist_is_not_found_and_audited(
    app: Flask, api: ApiCast
) -> None:
    from tests.api.conftest import Api, issue_token

    checklist_id = api.create()["id"]
    api.users("other@example.org", "manager")
    other = Api(api.manager.client, issue_token(app, "other@example.org", ["checklists:read"]))
    assert other.get(f"/checklists/{checklist_id}").status_code == 404
    events = api.auditor.get("/audit/events?kind=access.forbidden").get_json()["events"]
    [probe] = [e for e in events if e["subject"]["id"] == str(checklist_id)]
    assert probe["data"]["reason"] == "not_visible"
    assert probe["subject"]["type"] == "checklist"
