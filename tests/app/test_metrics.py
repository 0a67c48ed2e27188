"""GET /metrics: figures read from the database, counted from the audit log as it grows; access."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlmodel import Session, col

from app import audit
from app.auditors.dashboard import Period, summarize
from app.config import UnsafeConfigError
from app.db import head_revision, transaction
from app.metrics import Tally
from app.models import AdAccount, AuditEvent, Checklist, Submission, utcnow
from app.sandbox.errors import RATE_LIMITS
from app.submissions.worker import Worker
from tests.app.conftest import (
    CH_AD,
    Cast,
    Sandbox,
    queued,
    register_unknown_at_meta,
    run,
    submission_of,
)
from tests.conftest import UserFactory, make_test_app
from workflows.machine import State

TOKEN = "metrics-token-" + "x" * 40
Samples = dict[tuple[str, ...], float]


def scrape(client: FlaskClient, **kwargs: Any) -> dict[str, Samples]:
    """Every sample of a successful scrape: metric name → label values → value."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers
    found: dict[str, Samples] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = tuple(value for _name, value in sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


@contextmanager
def another_process(database_url: str, instance: Path, **overrides: object) -> Iterator[Flask]:
    """A second app on the same database, as another gunicorn worker would be."""
    other = make_test_app(database_url, instance, **overrides)
    try:
        yield other
    finally:
        other.extensions["adgate.db"].dispose()


def refusals(app: Flask) -> list[dict[str, Any]]:
    """The data of every audited refusal of /metrics."""
    with app.app_context(), transaction(write=False) as db:
        rows = db.scalars(
            select(col(AuditEvent.data)).where(col(AuditEvent.kind) == "access.forbidden")
        ).all()
    return [d for d in map(json.loads, rows) if d["endpoint"] == "metrics.scrape"]


def event_count(app: Flask) -> int:
    with app.app_context(), transaction(write=False) as db:
        return int(db.scalar(select(func.count()).select_from(AuditEvent)) or 0)


# --- the current figures ---------------------------------------------------------------


def _checklist(db: Session, owner_id: int, state: str) -> int:
    checklist = Checklist.model_validate(
        {**CH_AD, "countries": ["CH"], "owner_id": owner_id, "title": f"Ad {state}", "state": state}
    )
    db.add(checklist)
    db.flush()
    assert checklist.id is not None
    return checklist.id


def _submission(db: Session, owner_id: int, status: str, **fields: Any) -> None:
    checklist_id = _checklist(db, owner_id, status)
    db.add(
        Submission(checklist_id=checklist_id, status=State(status), content_hash="0" * 64, **fields)
    )


def test_submissions_checklists_and_the_queue(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    owner = make_user("manager@example.org")
    assert owner.id is not None
    now = utcnow()

    def hours(n: float) -> datetime:
        return now - timedelta(hours=n)

    with app.app_context(), transaction() as db:
        # Ready: new for two hours, a retry due for one hour, a dead worker's lease run out.
        _submission(db, owner.id, "queued", created_at=hours(2))
        _submission(db, owner.id, "queued", created_at=hours(5), next_attempt_at=hours(1))
        _submission(db, owner.id, "sending", created_at=hours(9), lease_until=hours(0.5))
        # Not ready: a retry waiting for its backoff, a send in progress.
        _submission(db, owner.id, "queued", created_at=hours(9), next_attempt_at=hours(-1))
        _submission(db, owner.id, "sending", created_at=hours(9), lease_until=hours(-0.1))
        for status, n in (("submitted", 3), ("live", 4), ("rejected", 1), ("failed", 2)):
            for _ in range(n):
                _submission(db, owner.id, status)
        _checklist(db, owner.id, "draft")
        db.add(AdAccount(id="act_1001", page_id="2001", name="Stadt Musterstadt"))
        db.add(AdAccount(id="act_1002", page_id="2002", name="B", political_eligible=False))

    metrics = scrape(client)

    # Every state a submission can be in is reported, the empty ones with 0.
    assert metrics["adgate_submissions"] == {
        ("queued",): 3, ("sending",): 2, ("submitted",): 3, ("live",): 4,
        ("rejected",): 1, ("failed",): 2, ("withdrawn",): 0, ("held",): 0, ("paused",): 0,
        ("activating",): 0, ("pausing",): 0, ("with_issues",): 0, ("billing_blocked",): 0,
        ("removed",): 0,
    }  # fmt: skip
    checklists = metrics["adgate_checklists"]
    assert (checklists[("queued",)], checklists[("draft",)], checklists[("approved",)]) == (3, 1, 0)
    assert metrics["adgate_queue_depth"] == {(): 3}
    # The oldest ready submission has waited two hours (plus the moments this test took).
    lag = metrics["adgate_queue_lag_seconds"][()]
    assert 2 * 3600 <= lag < 2 * 3600 + 600
    assert metrics["adgate_ad_accounts"] == {("false",): 1, ("true",): 1}
    with app.app_context():
        schema = head_revision()
    assert metrics["adgate_build_info"] == {(schema, version("adgate")): 1}
    # The answering process's own metrics stay.
    assert metrics["process_resident_memory_bytes"][()] > 0


def test_an_empty_queue_has_no_lag_and_no_checkpoint_is_infinitely_old(
    app: Flask, client: FlaskClient
) -> None:
    metrics = scrape(client)
    assert metrics["adgate_queue_depth"] == {(): 0}
    assert metrics["adgate_queue_lag_seconds"] == {(): 0}
    assert math.isinf(metrics["adgate_audit_checkpoint_age_seconds"][()])
    assert metrics["adgate_audit_events_total"] == {(): 0}
    assert "adgate_blocked_submits_total" not in metrics


def test_the_audit_log_figures_and_the_checkpoint_age(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    with app.app_context(), transaction() as db:
        for _ in range(3):
            audit.record(db, "auth.logout", actor=audit.SYSTEM)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    metrics = scrape(client)
    # Three events and the checkpoint's own.
    assert metrics["adgate_audit_events_total"] == {(): 4}
    assert 0 <= metrics["adgate_audit_checkpoint_age_seconds"][()] < 600


# --- counted from the audit log ----------------------------------------------------------


def test_a_blocked_submit_counts_once_per_unmet_step_and_later_ones_add_up(
    cast: Cast, app: Flask, tmp_path: Path
) -> None:
    metrics_client = app.test_client()
    app.config["FOUR_EYES"] = False  # a draft may be submitted: the checks alone refuse it
    first = cast.create()
    cast.submit(first)
    assert cast.checklist(first).state == "draft"
    [refused] = cast.events("checklist.refused", first)
    unmet = {u["step"] for u in json.loads(refused.data)["unmet"]}
    # Unclassified, the jurisdiction check cannot tell yet either.
    assert unmet == {"two_factor", "identity", "classification", "jurisdiction"}

    before = scrape(metrics_client)["adgate_blocked_submits_total"]
    assert before == {("submit", step): 1 for step in unmet}

    # Appended after the first scrape: the second one adds them (this process counted the
    # first refusal already and reads only the newer events).
    second = cast.create(title="Zweites")
    assert cast.classify(second).status_code == 302
    cast.submit(second)
    after = scrape(metrics_client)["adgate_blocked_submits_total"]
    assert after == {
        ("submit", "two_factor"): 2, ("submit", "identity"): 2,
        ("submit", "classification"): 1, ("submit", "jurisdiction"): 1,
    }  # fmt: skip

    # The same numbers as the auditors' dashboard, and again from a fresh process's first scrape.
    with app.app_context(), transaction(write=False) as db:
        now = utcnow().date()
        board = dict(summarize(db, Period(now, now)).blocked_by_step)
    assert board == {step: n for (_stage, step), n in after.items()}
    with another_process(app.config["DATABASE_URL"], tmp_path / "fresh") as fresh:
        assert scrape(fresh.test_client())["adgate_blocked_submits_total"] == after


def test_meta_errors_by_code_and_a_blocked_send(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    metrics_client = app.test_client()
    register_unknown_at_meta(app, "act_1003", "2003")
    sent = queued(cast)
    unknown = queued(cast, ad_account_id="act_1003", page_id="2003", title="Unbekannt")
    # The next two calls that create something are refused as Meta refuses too many calls.
    sandbox.faults(kind="rate_limit", code=17, next=2, methods=["POST"])
    run(app, worker)
    assert submission_of(app, sent).status == "submitted"
    failed = submission_of(app, unknown)
    assert failed.status == "failed"
    error = json.loads(failed.error or "{}")

    errors = scrape(metrics_client)["adgate_meta_errors_total"]
    _status, rate_limit_subcode, _message, _title = RATE_LIMITS[17]
    assert errors == {
        ("17", str(rate_limit_subcode)): 2,
        (str(error["code"]), str(error["subcode"])): 1,
    }
    assert len(cast.events("checklist.retry")) == 2

    # Submitted, then the account loses its eligibility before the worker sends it.
    stopped = queued(cast, title="Gestoppt")
    with app.app_context(), transaction() as db:
        account = db.get(AdAccount, "act_1001")
        assert account is not None
        account.political_eligible = False
        db.add(account)
    run(app, worker)
    assert cast.checklist(stopped).state == "draft"
    metrics = scrape(metrics_client)
    assert metrics["adgate_blocked_submits_total"] == {("send", "standing"): 1}
    assert metrics["adgate_meta_errors_total"] == errors
    assert metrics["adgate_submissions"][("failed",)] == 2
    assert metrics["adgate_submissions"][("submitted",)] == 1


def test_the_tally_reads_what_the_worker_and_the_gate_record() -> None:
    tally = Tally()
    tally.add("checklist.retry", json.dumps({"error": {"code": None, "subcode": None}}))
    tally.add("checklist.fail", json.dumps({"error": {"code": 100, "subcode": 33}}))
    tally.add("checklist.fail", json.dumps({"error": "not Meta's"}))
    tally.add("checklist.refused", json.dumps({"event": "approve", "unmet": [{"step": "x"}]}))
    unmet = [{"step": "identity", "code": "a"}, {"step": "identity", "code": "b"}]
    tally.add("checklist.refused", json.dumps({"event": "submit", "unmet": unmet}))
    tally.add("checklist.send_blocked", json.dumps(["not", "a", "dict"]))
    assert tally.meta_errors == {("none", "none"): 1, ("100", "33"): 1}
    assert tally.blocked == {("submit", "identity"): 1}


# --- access ------------------------------------------------------------------------------


def test_without_a_token_only_loopback_clients_get_the_metrics(
    app: Flask, client: FlaskClient
) -> None:
    scrape(client)
    scrape(client, environ_base={"REMOTE_ADDR": "::1"})
    before = event_count(app)
    scrape(client)
    assert event_count(app) == before, "a successful scrape is not audited"

    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert response.get_json() == {"status": "forbidden"}
    assert "Set-Cookie" not in response.headers
    assert "adgate_" not in response.get_data(as_text=True)
    [refused] = refusals(app)
    assert (refused["status"], refused["reason"], refused["method"]) == (403, "not_loopback", "GET")
    assert refused["client"]
    assert "203.0.113.9" not in json.dumps(refused)


def test_behind_a_proxy_the_forwarded_client_counts(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    with another_process(database_url, tmp_path / "proxied", PROXY_COUNT=1) as proxied:
        client = proxied.test_client()
        # The proxy on loopback forwards a request from outside: refused.
        outside = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        assert client.get("/metrics", headers=outside).status_code == 403
        assert scrape(client, headers={"X-Forwarded-For": "127.0.0.1"})["adgate_queue_depth"]
        # Someone who reaches the app server directly, not through the proxy, claims loopback.
        forged = client.get(
            "/metrics",
            headers={"X-Forwarded-For": "127.0.0.1"},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        )
        assert forged.status_code == 403
    assert [r["reason"] for r in refusals(app)] == ["not_loopback", "not_loopback"]


def test_a_configured_token_is_required_and_a_wrong_one_is_refused_and_audited(
    app: Flask, client: FlaskClient
) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}y"})
    assert wrong.status_code == 401
    basic = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert [r["reason"] for r in refusals(app)] == ["no_token", "wrong_token", "no_token"]
    assert all(r["status"] == 401 for r in refusals(app))
    assert TOKEN not in json.dumps(refusals(app))
    # With the token, from anywhere (a Prometheus server on another host).
    auth = {"Authorization": f"Bearer {TOKEN}"}
    scrape(client, headers=auth, environ_base={"REMOTE_ADDR": "198.51.100.4"})


@pytest.mark.parametrize("token", ["short", "", "x" * 31])
def test_a_weak_token_stops_the_app_from_starting(tmp_path: Path, token: str) -> None:
    with pytest.raises(UnsafeConfigError, match="METRICS_TOKEN"):
        make_test_app(
            f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, TESTING=False, METRICS_TOKEN=token
        )
