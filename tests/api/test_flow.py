"""A whole checklist through the API alone, from creation to the sandbox, audited all the way."""

from __future__ import annotations

from flask import Flask

from app.meta.worker import Worker
from tests.api.conftest import ApiCast
from tests.app.conftest import Sandbox, run


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
