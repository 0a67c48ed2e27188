"""Meta's ads webhooks: the verification, the signature, and a notification that makes an ad
due for a read (what changed is read from Meta itself)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from app.models import utcnow
from app.submissions.worker import Worker
from tests.app.conftest import Cast, Sandbox, queued, run, submission_of

SECRET = "the-apps-secret"
VERIFY = "a-verify-token-of-this-installation"


@pytest.fixture
def hooks(app: Flask) -> Flask:
    app.config.update(META_APP_SECRET=SECRET, META_WEBHOOK_VERIFY_TOKEN=VERIFY)
    return app


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def notification(ad_id: str, field: str = "with_issues_ad_objects") -> bytes:
    value = {"id": ad_id, "level": "AD", "error_code": "567", "error_summary": "x"}
    entry = {"id": "1001", "time": 1, "changes": [{"field": field, "value": value}]}
    return json.dumps({"object": "ad_account", "entry": [entry]}).encode()


def test_the_verification_echoes_the_challenge_only_with_the_token(
    hooks: Flask, cast: Cast
) -> None:
    client = hooks.test_client()
    hub = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    ok = client.get("/meta/webhooks", query_string=hub)
    assert (ok.status_code, ok.get_data(as_text=True), ok.mimetype) == (
        200,
        "1158201444",
        "text/plain",
    )
    wrong = client.get(
        "/meta/webhooks",
        query_string={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403
    assert cast.events("meta.webhook_refused")
    hooks.config["META_WEBHOOK_VERIFY_TOKEN"] = None
    assert client.get("/meta/webhooks").status_code == 404
    assert client.post("/meta/webhooks", data=b"{}").status_code == 404


def test_only_a_payload_signed_with_the_app_secret_is_taken(
    hooks: Flask, cast: Cast, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    run(hooks, worker)
    submission = submission_of(hooks, checklist_id)
    ad_id = str(submission.ad_id)
    body = notification(ad_id)
    client = hooks.test_client()
    for headers in (
        {},
        signed(body, "another secret"),
        {**signed(body), "X-Hub-Signature-256": "sha1=x"},
    ):
        assert client.post("/meta/webhooks", data=body, headers=headers).status_code == 403
    assert len(cast.events("meta.webhook_refused")) == 3
    assert submission_of(hooks, checklist_id).review_next_at == submission.review_next_at
    # A forged body with a valid signature of another body is refused too.
    forged = notification("999")
    assert client.post("/meta/webhooks", data=forged, headers=signed(body)).status_code == 403

    taken = client.post("/meta/webhooks", data=body, headers=signed(body))
    assert taken.status_code == 200
    assert taken.get_json() == {"received": 1, "ads_due": 1}
    due = submission_of(hooks, checklist_id).review_next_at
    assert due is not None
    assert due <= utcnow()
    [event] = cast.events("meta.webhook")
    assert json.loads(event.data)["ads_due"] == 1


def test_a_signed_body_nested_too_deep_or_with_other_digits_changes_nothing(
    hooks: Flask, cast: Cast
) -> None:
    client = hooks.test_client()
    deep = b"[" * 10_000 + b"]" * 10_000  # the parser recursed and answered 500
    assert client.post("/meta/webhooks", data=deep, headers=signed(deep)).status_code == 400
    other_digits = notification("\u0661\u0662\u0663")  # Arabic-Indic 123: no ad id
    taken = client.post("/meta/webhooks", data=other_digits, headers=signed(other_digits))
    assert taken.get_json() == {"received": 0, "ads_due": 0}


@pytest.fixture
def served(hooks: Flask) -> Iterator[str]:
    """adgate served over HTTP, for the sandbox to deliver its webhooks to."""
    server = make_server("127.0.0.1", 0, hooks, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_webhook_from_the_sandbox_brings_the_news_early(
    hooks: Flask, cast: Cast, sandbox: Sandbox, worker: Worker, served: str
) -> None:
    sandbox.app.config["APP_SECRET"] = SECRET
    sandbox.app.extensions["meta_sandbox_webhooks"].app_secret = SECRET
    subscribed = requests.post(
        f"{sandbox.url}/__sandbox__/webhooks", json={"url": f"{served}/meta/webhooks"}, timeout=5
    )
    assert subscribed.status_code == 201
    checklist_id = queued(cast)
    run(hooks, worker)
    ad_id = str(submission_of(hooks, checklist_id).ad_id)
    # Polling alone would read it an hour from now.
    hooks.config.update(REVIEW_POLL_SECONDS=3600, REVIEW_POLL_MAX_SECONDS=3600)
    with hooks.app_context():
        from app.db import transaction
        from app.models import Submission

        with transaction() as db:
            row = db.get(Submission, submission_of(hooks, checklist_id).id)
            assert row is not None
            row.review_next_at = utcnow() + timedelta(hours=1)
            db.add(row)
    requests.post(
        f"{sandbox.url}/__sandbox__/reviews",
        json={"ad_id": ad_id, "effective_status": "WITH_ISSUES", "feedback": {}},
        timeout=5,
    ).raise_for_status()
    deadline = time.monotonic() + 10
    while not cast.events("meta.webhook"):
        assert time.monotonic() < deadline, "no webhook arrived"
        time.sleep(0.05)
    run(hooks, worker)
    assert cast.checklist(checklist_id).state == "with_issues"
    delivered = requests.get(f"{sandbox.url}/__sandbox__/webhooks", timeout=5).json()["delivered"]
    assert {d["status"] for d in delivered} == {200}
