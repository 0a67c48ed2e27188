"""Idempotency-Key: a retried request is answered, not executed again, also under races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import select, update
from werkzeug.serving import make_server

from app.db import transaction
from app.models import IdempotencyKey, Submission, utcnow
from app.submissions.worker import Worker
from tests.api.conftest import NEW_CHECKLIST, ApiCast
from tests.app.conftest import Sandbox, run


def _approved(api: ApiCast) -> int:
    checklist_id: int = api.create()["id"]
    api.ready(checklist_id)
    assert api.approve(checklist_id).status_code == 200
    return checklist_id


def _submissions(app: Flask) -> list[Submission]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(Submission)))


def test_submit_needs_a_key(api: ApiCast) -> None:
    checklist_id = _approved(api)
    response = api.manager.post(f"/checklists/{checklist_id}/submit")
    assert response.status_code == 400
    assert response.get_json()["type"] == "urn:adgate:problem:idempotency-key-required"
    assert api.manager.get(f"/checklists/{checklist_id}").get_json()["state"] == "approved"


def test_the_same_key_replays_the_first_answer(app: Flask, api: ApiCast) -> None:
    checklist_id = _approved(api)
    first = api.submit(checklist_id, "retry-me")
    second = api.submit(checklist_id, "retry-me")
    assert first.status_code == second.status_code == 202
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert len(_submissions(app)) == 1
    # A new key is a new request: the checklist is queued already, so it is refused.
    third = api.submit(checklist_id, "another")
    assert third.status_code == 409


def test_another_request_with_the_same_key_is_422(api: ApiCast) -> None:
    checklist_id = _approved(api)
    other = api.create(title="Another ad")["id"]
    assert api.submit(checklist_id, "k").status_code == 202
    response = api.submit(other, "k")
    assert response.status_code == 422
    assert response.get_json()["type"] == "urn:adgate:problem:idempotency-key-reused"
    assert api.manager.get(f"/checklists/{other}").get_json()["state"] == "draft"
    # On create the key is optional and means the same.
    created = api.manager.post("/checklists", NEW_CHECKLIST, headers={"Idempotency-Key": "c"})
    replay = api.manager.post("/checklists", NEW_CHECKLIST, headers={"Idempotency-Key": "c"})
    assert created.status_code == replay.status_code == 201
    assert created.get_json()["id"] == replay.get_json()["id"]
    changed = api.manager.post(
        "/checklists", {**NEW_CHECKLIST, "title": "other"}, headers={"Idempotency-Key": "c"}
    )
    assert changed.status_code == 422


def test_a_blocked_answer_is_replayed_too(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    first = api.submit(checklist_id, "blocked")
    second = api.submit(checklist_id, "blocked")
    assert first.status_code == second.status_code == 409
    assert second.get_json() == first.get_json()
    assert second.mimetype == "application/problem+json"


def test_a_key_in_progress_is_409_until_its_lock_runs_out(app: Flask, api: ApiCast) -> None:
    checklist_id = _approved(api)
    first = api.submit(checklist_id, "busy")
    assert first.status_code == 202
    with app.app_context(), transaction() as db:  # as if that request were still running
        db.execute(
            update(IdempotencyKey).values(
                status_code=None, response_body=None, locked_until=utcnow() + timedelta(seconds=30)
            )
        )
    busy = api.submit(checklist_id, "busy")
    assert busy.status_code == 409
    assert busy.get_json()["type"] == "urn:adgate:problem:idempotency-in-progress"
    assert busy.headers["Retry-After"]
    with app.app_context(), transaction() as db:  # ... and then died: the key is taken over
        db.execute(update(IdempotencyKey).values(locked_until=utcnow() - timedelta(seconds=1)))
    taken_over = api.submit(checklist_id, "busy")
    assert taken_over.status_code == 409  # executed again: the checklist is queued already
    assert taken_over.get_json()["type"] == "urn:adgate:problem:checklist-blocked"
    assert len(_submissions(app)) == 1


def test_keys_are_kept_a_day_and_then_forgotten(app: Flask, api: ApiCast) -> None:
    checklist_id = _approved(api)
    assert api.submit(checklist_id, "day").status_code == 202
    with app.app_context(), transaction(write=False) as db:
        row = db.scalars(select(IdempotencyKey)).one()
    assert row.expires_at - row.created_at >= timedelta(hours=24)
    with app.app_context(), transaction() as db:
        db.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (
        api.manager.post(
            "/checklists", NEW_CHECKLIST, headers={"Idempotency-Key": "other"}
        ).status_code
        == 201
    )
    with app.app_context(), transaction(write=False) as db:
        assert [k.key for k in db.scalars(select(IdempotencyKey))] == ["other"]


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback (true concurrency)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_twenty_concurrent_submits_with_one_key_make_one_submission_and_one_ad(
    app: Flask, api: ApiCast, served: str, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = _approved(api)
    barrier = threading.Barrier(20)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        response = requests.post(
            f"{served}/checklists/{checklist_id}/submit",
            headers={"Authorization": f"Bearer {api.manager.token}", "Idempotency-Key": "race"},
            timeout=60,
        )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    statuses = sorted(r.status_code for r in answers)
    assert len(answers) == 20
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r.json() for r in answers if r.status_code == 202]
    assert accepted
    assert all(a == accepted[0] for a in accepted)  # every 202 is the same answer
    for r in answers:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:adgate:problem:idempotency-in-progress"
    assert len(_submissions(app)) == 1
    run(app, worker)
    objects = sandbox.objects()
    assert [len(objects[k]) for k in ("campaigns", "adsets", "adcreatives", "ads")] == [1, 1, 1, 1]
