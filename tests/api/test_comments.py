"""The review conversation through the API: comments, change requests, and who may write."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import OutboxMail, User
from tests.api.conftest import Api, ApiCast, issue_token
from tests.app.invite import mail_on
from tests.conftest import UserFactory

PROBLEM = "urn:adgate:problem:"
REASON = "Der Absender fehlt im Text."


def _approved(api: ApiCast) -> int:
    checklist_id: int = api.create()["id"]
    api.ready(checklist_id)
    assert api.approve(checklist_id).status_code == 200
    return checklist_id


def _events(api: ApiCast, kind: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.auditor.get(f"/audit/events?kind={kind}").get_json()[
        "events"
    ]
    return events


def test_owner_reviewer_and_admin_comment_and_every_reader_sees_the_thread(
    api: ApiCast,
) -> None:
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}/comments"
    etag = api.manager.get(f"/checklists/{checklist_id}").headers["ETag"]
    written = api.manager.post(path, {"body": "  Passt das Datum?\n"})
    assert written.status_code == 201, written.get_json()
    body = written.get_json()
    assert set(body) == {"id", "author", "kind", "body", "created_at"}
    assert (body["author"], body["kind"], body["body"]) == (
        "manager@example.org",
        "comment",
        "Passt das Datum?",
    )
    assert api.reviewer.post(path, {"body": "Ja."}).status_code == 201
    assert api.admin.post(path, {"body": "Notiert."}).status_code == 201
    read = api.auditor.get(f"/checklists/{checklist_id}")
    assert [(c["author"], c["kind"], c["body"]) for c in read.get_json()["comments"]] == [
        ("manager@example.org", "comment", "Passt das Datum?"),
        ("reviewer@example.org", "comment", "Ja."),
        ("admin@example.org", "comment", "Notiert."),
    ]
    # A comment changes nothing of the ad: the version read still holds.
    assert read.headers["ETag"] == etag
    events = _events(api, "checklist.commented")
    assert [e["subject"] for e in events] == [{"type": "checklist", "id": str(checklist_id)}] * 3
    assert {e["data"]["kind"] for e in events} == {"comment"}
    assert len({e["data"]["author"] for e in events}) == 3


def test_an_auditor_cannot_comment_and_another_manager_does_not_find_the_checklist(
    api: ApiCast, app: Flask, make_user: UserFactory
) -> None:
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}/comments"
    auditor = api.auditor.post(path, {"body": "Looks fine."})
    assert (auditor.status_code, auditor.get_json()["type"]) == (
        403,
        f"{PROBLEM}insufficient-scope",
    )
    make_user("other@example.org", "manager")
    other = Api(app.test_client(), issue_token(app, "other@example.org", ["checklists:write"]))
    refused = other.post(path, {"body": "Mine now."})
    assert (refused.status_code, refused.get_json()["type"]) == (404, f"{PROBLEM}not-found")
    assert api.manager.get(f"/checklists/{checklist_id}").get_json()["comments"] == []


@pytest.mark.parametrize(
    ("role", "scope", "needed"),
    [
        ("manager", "checklists:read", "checklists:write"),
        ("reviewer", "checklists:read", "approvals:write"),
        ("reviewer", "identity:write", "approvals:write"),
    ],
)
def test_a_comment_needs_the_write_scope_of_the_authors_role(
    api: ApiCast, app: Flask, role: str, scope: str, needed: str
) -> None:
    checklist_id = api.create()["id"]
    token = Api(app.test_client(), issue_token(app, f"{role}@example.org", [scope]))
    refused = token.post(f"/checklists/{checklist_id}/comments", {"body": "Hallo"})
    assert refused.status_code == 403
    assert refused.get_json()["type"] == f"{PROBLEM}insufficient-scope"
    assert f'scope="{needed}"' in refused.headers["WWW-Authenticate"]


def test_the_openapi_document_names_each_roles_scope(api: ApiCast) -> None:
    document = api.auditor.client.get("/api/v1/openapi.json").get_json()
    comment = document["paths"]["/api/v1/checklists/{checklist_id}/comments"]["post"]
    assert comment["x-adgate-scope"] == "checklists:write"
    assert comment["x-adgate-scope-by-role"] == {"reviewer": "approvals:write"}
    assert "`approvals:write` for a reviewer" in comment["description"]
    change = document["paths"]["/api/v1/checklists/{checklist_id}/change-requests"]["post"]
    assert change["x-adgate-scope"] == "approvals:write"
    assert "x-adgate-scope-by-role" not in change
    schema = document["components"]["schemas"]["CommentOut"]
    assert set(schema["properties"]) == {"id", "author", "kind", "body", "created_at"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"body": ""}, "string_too_short"),
        ({"body": "   \n "}, "value_error"),
        ({"body": "x" * 4001}, "string_too_long"),
        ({"body": "Bitte\x1bändern"}, "control_character"),
        ({"body": "Bitte \u202eändern"}, "invisible_character"),
        ({}, "missing"),
        ({"body": "Hallo", "author": "admin@example.org"}, "extra_forbidden"),
        ({"body": 5}, "string_type"),
    ],
)
def test_a_comment_that_is_empty_oversized_or_hides_characters_is_refused(
    api: ApiCast, body: dict[str, Any], code: str
) -> None:
    checklist_id = api.create()["id"]
    refused = api.reviewer.post(f"/checklists/{checklist_id}/comments", body)
    assert refused.status_code == 422, refused.get_json()
    problem = refused.get_json()
    assert problem["type"] == f"{PROBLEM}validation-failed"
    assert [e["code"] for e in problem["errors"]] == [code]
    assert api.reviewer.get(f"/checklists/{checklist_id}").get_json()["comments"] == []


def test_a_nul_in_a_comment_is_refused_before_anything_reads_it(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    refused = api.reviewer.post(f"/checklists/{checklist_id}/comments", {"body": "a\x00b"})
    assert (refused.status_code, refused.get_json()["type"]) == (400, f"{PROBLEM}bad-request")


def test_a_retried_comment_is_written_once(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}/comments"
    key = {"Idempotency-Key": "comment-1"}
    first = api.reviewer.post(path, {"body": "Einmal."}, headers=key)
    again = api.reviewer.post(path, {"body": "Einmal."}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    other = api.reviewer.post(path, {"body": "Zweimal?"}, headers=key)
    assert other.status_code == 422
    assert other.get_json()["type"] == f"{PROBLEM}idempotency-key-reused"
    assert len(api.reviewer.get(f"/checklists/{checklist_id}").get_json()["comments"]) == 1


# --- change requests ----------------------------------------------------------------------


def test_a_reviewer_sends_an_approved_ad_back_with_a_reason(api: ApiCast) -> None:
    checklist_id = _approved(api)
    mail_on(api.app)  # a mail server configured: the owner is told (the outbox)
    read = api.reviewer.get(f"/checklists/{checklist_id}")
    sent = api.reviewer.post(
        f"/checklists/{checklist_id}/change-requests",
        {"comment": REASON},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert sent.status_code == 200, sent.get_json()
    body = sent.get_json()
    assert (body["state"], body["approved_by"], body["approved_at"]) == ("draft", None, None)
    assert body["version"] == read.get_json()["version"] + 1
    assert sent.headers["ETag"] == f'"{body["version"]}"'
    [entry] = body["comments"]
    assert (entry["author"], entry["kind"], entry["body"]) == (
        "reviewer@example.org",
        "change_request",
        REASON,
    )
    steps = {s["name"]: s["status"] for s in body["steps"]}
    assert steps["approval"] != "passed"
    [event] = _events(api, "checklist.request_changes")
    assert event["subject"] == {"type": "checklist", "id": str(checklist_id)}
    assert (event["data"]["reason"], event["data"]["voided"]) == (REASON, ["approval"])
    assert (event["data"]["from"], event["data"]["to"]) == ("approved", "draft")
    with api.app.app_context(), transaction(write=False) as db:
        mails = db.scalars(
            select(OutboxMail).where(col(OutboxMail.kind) == "changes_requested")
        ).all()
        owner = db.scalars(select(User).where(col(User.email) == "manager@example.org")).one()
    assert [(m.recipient_id, REASON in m.body) for m in mails] == [(owner.id, True)]
    # The owner edits again without asking anyone: the ad is a draft.
    edited = api.manager.call(
        "PATCH",
        f"/checklists/{checklist_id}",
        {"ad": {"message": "Stadt Musterstadt: Abstimmung am 8. März."}},
        headers={"If-Match": sent.headers["ETag"]},
    )
    assert edited.status_code == 200, edited.get_json()


def test_neither_the_owner_nor_an_admin_nor_an_auditor_requests_changes(
    api: ApiCast,
) -> None:
    checklist_id = _approved(api)
    for caller in (api.manager, api.admin, api.auditor):
        refused = caller.post(f"/checklists/{checklist_id}/change-requests", {"comment": "No."})
        assert refused.status_code == 403
        assert refused.get_json()["type"] == f"{PROBLEM}insufficient-scope"
    assert api.manager.get(f"/checklists/{checklist_id}").get_json()["state"] == "approved"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"comment": ""}, "string_too_short"),
        ({"comment": "  "}, "value_error"),
        ({"comment": "x" * 4001}, "string_too_long"),
        ({"comment": "Bitte\x07ändern"}, "control_character"),
        ({}, "missing"),
        ({"body": REASON}, "missing"),
    ],
)
def test_a_change_request_needs_a_reason_that_fits(
    api: ApiCast, body: dict[str, Any], code: str
) -> None:
    checklist_id = _approved(api)
    refused = api.reviewer.post(f"/checklists/{checklist_id}/change-requests", body)
    assert refused.status_code == 422, refused.get_json()
    assert code in [e["code"] for e in refused.get_json()["errors"]]
    after = api.reviewer.get(f"/checklists/{checklist_id}").get_json()
    assert (after["state"], after["comments"]) == ("approved", [])


def test_a_submitted_ad_is_not_sent_back(api: ApiCast) -> None:
    checklist_id = _approved(api)
    assert api.submit(checklist_id).status_code == 202
    refused = api.reviewer.post(f"/checklists/{checklist_id}/change-requests", {"comment": REASON})
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["type"] == f"{PROBLEM}transition-refused"
    assert [e["step"] for e in problem["errors"]] == ["state"]
    assert "cannot be sent back for changes" in problem["errors"][0]["detail"]
    after = api.reviewer.get(f"/checklists/{checklist_id}").get_json()
    assert (after["state"], after["comments"]) == ("queued", [])


def test_an_edit_and_a_change_request_racing_for_one_version(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    path = f"/checklists/{checklist_id}"
    read_by_reviewer = api.reviewer.get(path).headers["ETag"]
    read_by_owner = api.manager.get(path).headers["ETag"]
    # The owner saves first: the reviewer's request about the version read is refused.
    edited = api.manager.call(
        "PATCH", path, {"ad": {"headline": "Neues Schulhaus"}}, headers={"If-Match": read_by_owner}
    )
    assert edited.status_code == 200
    stale = api.reviewer.post(
        f"{path}/change-requests", {"comment": REASON}, headers={"If-Match": read_by_reviewer}
    )
    assert stale.status_code == 409
    assert stale.get_json()["type"] == f"{PROBLEM}version-conflict"
    assert stale.headers["ETag"] == edited.headers["ETag"]
    assert api.reviewer.get(path).get_json()["comments"] == []
    # The reviewer reads again and sends it back: now the owner's next save of the version
    # read before is the one refused, and the owner sees why.
    sent = api.reviewer.post(
        f"{path}/change-requests", {"comment": REASON}, headers={"If-Match": edited.headers["ETag"]}
    )
    assert sent.status_code == 200
    late = api.manager.call(
        "PATCH",
        path,
        {"ad": {"headline": "Noch neuer"}},
        headers={"If-Match": edited.headers["ETag"]},
    )
    assert late.status_code == 409
    assert api.manager.get(path).get_json()["comments"][-1]["body"] == REASON


def test_a_change_request_without_if_match_applies_to_the_ad_as_it_is(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    sent = api.reviewer.post(f"/checklists/{checklist_id}/change-requests", {"comment": REASON})
    assert sent.status_code == 200
    bad = api.reviewer.post(
        f"/checklists/{checklist_id}/change-requests",
        {"comment": REASON},
        headers={"If-Match": '"one"'},
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "if-match"


def test_a_retried_change_request_is_made_once(api: ApiCast) -> None:
    checklist_id = _approved(api)
    path = f"/checklists/{checklist_id}/change-requests"
    key = {"Idempotency-Key": "send-back-1"}
    first = api.reviewer.post(path, {"comment": REASON}, headers=key)
    again = api.reviewer.post(path, {"comment": REASON}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.reviewer.get(f"/checklists/{checklist_id}").get_json()["comments"]) == 1
    assert len(_events(api, "checklist.request_changes")) == 1
