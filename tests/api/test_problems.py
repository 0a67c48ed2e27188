"""Errors under /api/v1 are RFC 9457 problem documents with stable types."""

from __future__ import annotations

from flask import Flask

from app.api.problems import TYPES
from tests.api.conftest import NEW_CHECKLIST, ApiCast


def _problem(response: object, status: int, name: str) -> dict[str, object]:
    assert response.status_code == status, response.get_json()  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.get_json()  # type: ignore[attr-defined]
    assert body["type"] == f"urn:adgate:problem:{name}"
    assert body["status"] == status
    assert body["title"] == TYPES[name][1]
    assert body["detail"]
    return body


def test_validation_lists_every_bad_field_and_changes_nothing(api: ApiCast) -> None:
    bad = {
        "title": "",
        "ad": {
            **NEW_CHECKLIST["ad"],
            "countries": ["Schweiz"],
            "link_url": "ftp://x",
            "page_id": "abc",
            "surprise": 1,
        },
    }
    body = _problem(api.manager.post("/checklists", bad), 422, "validation-failed")
    fields = {e["field"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"title", "ad.countries.0", "ad.link_url", "ad.page_id", "ad.surprise"}
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_rules_the_model_cannot_know_are_field_errors_too(api: ApiCast) -> None:
    unknown_country = {**NEW_CHECKLIST, "ad": {**NEW_CHECKLIST["ad"], "countries": ["XX"]}}
    body = _problem(api.manager.post("/checklists", unknown_country), 422, "validation-failed")
    assert body["errors"] == [
        {"field": "ad.countries", "code": "country_invalid", "detail": body["errors"][0]["detail"]}  # type: ignore[index]
    ]


def test_control_characters_are_refused_not_stored(api: ApiCast) -> None:
    body = {**NEW_CHECKLIST, "title": "bell\x07byte"}
    problem = _problem(api.manager.post("/checklists", body), 422, "validation-failed")
    assert [e["field"] for e in problem["errors"]] == ["title"]  # type: ignore[attr-defined]
    # A NUL is refused before any model sees it, still naming the field.
    body = {**NEW_CHECKLIST, "title": "nul\x00byte"}
    problem = _problem(api.manager.post("/checklists", body), 400, "bad-request")
    assert [e["field"] for e in problem["errors"]] == ["title"]  # type: ignore[attr-defined]
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_malformed_json_and_other_media_types(api: ApiCast) -> None:
    broken = api.manager.call(
        "POST", "/checklists", data="{not json", headers={"Content-Type": "application/json"}
    )
    _problem(broken, 400, "invalid-json")
    form = api.manager.call(
        "POST",
        "/checklists",
        data="title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _problem(form, 415, "unsupported-media-type")


def test_unknown_paths_and_methods(api: ApiCast) -> None:
    _problem(api.manager.get("/nothing-here"), 404, "not-found")
    _problem(api.manager.get("/checklists/999999"), 404, "not-found")
    _problem(api.manager.get("/checklists/99999999999999999999"), 404, "not-found")
    wrong = api.manager.call("DELETE", "/checklists")
    _problem(wrong, 405, "method-not-allowed")
    assert "GET" in wrong.headers["Allow"]


def test_a_blocked_submit_lists_every_unmet_step(app: Flask, api: ApiCast) -> None:
    checklist = api.create()
    response = api.submit(checklist["id"])
    body = _problem(response, 409, "checklist-blocked")
    steps = {e["step"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert {"two_factor", "identity", "classification", "approval"} <= steps
    assert all(e["code"] and e["detail"] for e in body["errors"])  # type: ignore[attr-defined]
    again = api.manager.get(f"/checklists/{checklist['id']}").get_json()
    assert again["state"] == "draft"
    assert again["submission"] is None
    kinds = [e["kind"] for e in api.auditor.get("/audit/events").get_json()["events"]]
    assert "checklist.refused" in kinds
    refused = api.auditor.get("/audit/events?outcome=refused").get_json()["events"]
    assert refused
    assert {e["kind"] for e in refused} == {"checklist.refused"}
    assert api.auditor.get("/audit/events?outcome=maybe").status_code == 422


def test_other_people_and_roles(api: ApiCast, app: Flask) -> None:
    checklist = api.create()
    # A reviewer cannot create, an auditor cannot approve: their tokens lack the scope.
    _problem(api.reviewer.post("/checklists", NEW_CHECKLIST), 403, "insufficient-scope")
    _problem(
        api.auditor.post(f"/checklists/{checklist['id']}/approval", headers={"X-OTP": "123456"}),
        403,
        "insufficient-scope",
    )
    # An admin may withdraw, not classify; a second manager does not see the first one's ad.
    _problem(
        api.admin.call(
            "PUT", f"/checklists/{checklist['id']}/classification", {"category": "NONE"}
        ),
        403,
        "forbidden",
    )
    api.users("other@example.org", "manager")
    from tests.api.conftest import Api, issue_token

    other = Api(api.manager.client, issue_token(app, "other@example.org", ["checklists:read"]))
    _problem(other.get(f"/checklists/{checklist['id']}"), 404, "not-found")


def test_a_reviewer_approves_only_with_a_valid_code_once(api: ApiCast) -> None:
    checklist = api.create()
    api.ready(checklist["id"])
    path = f"/checklists/{checklist['id']}/approval"
    read = {"If-Match": api.reviewer.get(f"/checklists/{checklist['id']}").headers["ETag"]}
    _problem(api.reviewer.post(path, headers=read), 403, "otp-required")
    _problem(api.reviewer.post(path, headers={**read, "X-OTP": "000000"}), 403, "otp-invalid")
    code = api.code("reviewer@example.org")
    assert api.reviewer.post(path, headers={**read, "X-OTP": code}).status_code == 200
    # Approving again with the same code: the code is spent (and the state moved on).
    read = {"If-Match": api.reviewer.get(f"/checklists/{checklist['id']}").headers["ETag"]}
    _problem(api.reviewer.post(path, headers={**read, "X-OTP": code}), 403, "otp-invalid")
    kinds = [e["kind"] for e in api.auditor.get("/audit/events?kind=auth.*").get_json()["events"]]
    assert "auth.code_failed" in kinds


def test_reused_codes_lock_the_reviewer_and_the_api_says_so(api: ApiCast) -> None:
    first, second = api.create(), api.create()
    api.ready(first["id"])
    api.ready(second["id"])
    code = api.code("reviewer@example.org")
    read = {"If-Match": api.reviewer.get(f"/checklists/{first['id']}").headers["ETag"]}
    approved = api.reviewer.post(
        f"/checklists/{first['id']}/approval", headers={**read, "X-OTP": code}
    )
    assert approved.status_code == 200
    # The spent code, again and again, on the next checklist.
    path = f"/checklists/{second['id']}/approval"
    read = {"If-Match": api.reviewer.get(f"/checklists/{second['id']}").headers["ETag"]}
    names = []
    for _ in range(6):
        answer = api.reviewer.post(path, headers={**read, "X-OTP": code})
        names.append(answer.get_json()["type"].removeprefix("urn:adgate:problem:"))
    max_failures = api.app.config["LOGIN_MAX_FAILURES"]
    assert names[: max_failures - 1] == ["otp-invalid"] * (max_failures - 1)
    assert names[max_failures - 1 :] == ["otp-locked"] * (len(names) - max_failures + 1)
    # Even a fresh code is refused while locked, and the answer says until when.
    locked = api.reviewer.post(path, headers={**read, "X-OTP": api.code("reviewer@example.org")})
    body = _problem(locked, 403, "otp-locked")
    assert int(locked.headers["Retry-After"]) == body["retry_after"]
    assert isinstance(body["retry_after"], int)
    assert body["retry_after"] > 0
    assert str(body["locked_until"]).endswith("Z")
    assert f"until {body['locked_until']}" in str(body["detail"])


def test_the_documented_states_are_the_machines(api: ApiCast) -> None:
    from workflows.checks import Category
    from workflows.machine import State

    schemas = api.auditor.get("/openapi.json").get_json()["components"]["schemas"]
    checklist_state = schemas["ChecklistOut"]["properties"]["state"]["$ref"].rsplit("/", 1)[1]
    assert schemas[checklist_state]["enum"] == [s.value for s in State]
    submission_status = schemas["SubmissionOut"]["properties"]["status"]["enum"]
    assert submission_status == [s.value for s in State if s not in (State.DRAFT, State.APPROVED)]
    assert schemas["Category"]["enum"] == [c.value for c in Category]
