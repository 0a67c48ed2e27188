"""Optimistic concurrency (ETag / If-Match), cursor pagination and per-token rate limits."""

from __future__ import annotations

from flask import Flask

from tests.api.conftest import Api, ApiCast, issue_token


def test_reads_carry_the_version_as_etag(api: ApiCast) -> None:
    created = api.create()
    path = f"/checklists/{created['id']}"
    read = api.manager.get(path)
    assert read.headers["ETag"] == f'"{created["version"]}"'
    assert read.headers["Cache-Control"] == "no-store"  # steps are live: never cached


def test_an_edit_needs_the_current_version(api: ApiCast) -> None:
    created = api.create()
    path = f"/checklists/{created['id']}"
    missing = api.manager.call("PATCH", path, {"title": "New"})
    assert missing.status_code == 428
    assert missing.get_json()["type"] == "urn:adgate:problem:precondition-required"
    etag = api.manager.get(path).headers["ETag"]
    edited = api.manager.call(
        "PATCH", path, {"ad": {"headline": "Neu"}}, headers={"If-Match": etag}
    )
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["ad"]["headline"] == "Neu"
    assert edited.get_json()["ad"]["message"] == created["ad"]["message"]  # untouched
    assert edited.headers["ETag"] != etag
    stale = api.manager.call("PATCH", path, {"title": "Lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["type"] == "urn:adgate:problem:version-conflict"
    assert body["current_version"] == edited.get_json()["version"]
    assert api.manager.get(path).get_json()["title"] == created["title"]
    nulled = api.manager.call(
        "PATCH", path, {"ad": {"headline": None}}, headers={"If-Match": edited.headers["ETag"]}
    )
    assert nulled.status_code == 422


def test_an_edit_voids_classification_and_approval(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    api.ready(checklist_id)
    approved = api.approve(checklist_id)
    assert approved.get_json()["state"] == "approved"
    edited = api.manager.call(
        "PATCH",
        f"/checklists/{checklist_id}",
        {"ad": {"message": "Ganz neuer Text."}},
        headers={"If-Match": approved.headers["ETag"]},
    )
    body = edited.get_json()
    assert body["state"] == "draft"
    assert body["classification"] is None
    assert body["approved_by"] is None


def test_pages_are_stable_while_new_checklists_arrive(api: ApiCast) -> None:
    ids = [api.create(title=f"Ad {i}")["id"] for i in range(5)]
    first = api.manager.get("/checklists?limit=2").get_json()
    assert [c["id"] for c in first["checklists"]] == ids[::-1][:2]
    api.create(title="arrives meanwhile")
    seen = [c["id"] for c in first["checklists"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.manager.get(f"/checklists?limit=2&cursor={cursor}").get_json()
        seen += [c["id"] for c in page["checklists"]]
        cursor = page["next_cursor"]
    assert seen == ids[::-1]  # no duplicate, none skipped
    bad = api.manager.get("/checklists?cursor=bm9wZQ")
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "cursor"


def test_audit_events_are_paged_and_filtered(api: ApiCast) -> None:
    a = api.create(title="A")["id"]
    api.create(title="B")
    events = api.auditor.get(f"/audit/events?checklist={a}").get_json()["events"]
    assert [e["kind"] for e in events] == ["checklist.created"]
    seqs, cursor = [], None
    while True:
        query = "/audit/events?limit=1&kind=checklist.*" + (f"&cursor={cursor}" if cursor else "")
        page = api.auditor.get(query).get_json()
        seqs += [e["seq"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == 2
    by_token = api.auditor.get("/audit/events?actor=token:1&kind=checklist.created").get_json()
    assert {e["actor"]["id"] for e in by_token["events"]} <= {"1"}
    assert api.auditor.get("/audit/events?since=2999-01-01T00:00:00").get_json()["events"] == []


def test_rate_limits_count_per_token_and_answer_429_with_retry_after(
    app: Flask, api: ApiCast
) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    answers = [api.manager.get("/checklists") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
    limited = api.manager.get("/checklists")
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert limited.get_json()["type"] == "urn:adgate:problem:rate-limited"
    assert int(limited.headers["Retry-After"]) > 0
    # Another token of the same person has its own budget.
    other = Api(api.manager.client, issue_token(app, "manager@example.org", ["checklists:read"]))
    assert other.get("/checklists").status_code == 200


def test_if_match_takes_ascii_digits_only(api: ApiCast) -> None:
    created = api.create()
    path = f"/checklists/{created['id']}"
    for value in ("\u00b2", '"\u0663"', 'W/"\uff13"'):  # ², Arabic-Indic 3, full-width 3
        response = api.manager.call("PATCH", path, {"title": "New"}, headers={"If-Match": value})
        assert response.status_code == 422, value
        assert response.get_json()["errors"][0]["field"] == "if-match"
    assert api.manager.get(path).get_json()["title"] == created["title"]


def test_if_match_takes_the_version_quoted_weak_or_bare_and_one_only(api: ApiCast) -> None:
    created = api.create()
    path = f"/checklists/{created['id']}"
    for form in ('"{}"', 'W/"{}"', "{}"):
        version = api.manager.get(path).get_json()["version"]
        value = form.format(version)
        edited = api.manager.call("PATCH", path, {"title": value}, headers={"If-Match": value})
        assert edited.status_code == 200, value
        assert edited.get_json()["title"] == value
    version = api.manager.get(path).get_json()["version"]
    for value in ("*", f'"{version}", "{version + 1}"', '""'):
        response = api.manager.call("PATCH", path, {"title": "New"}, headers={"If-Match": value})
        assert response.status_code == 422, value
        assert response.get_json()["errors"][0]["field"] == "if-match"
