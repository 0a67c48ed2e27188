"""Crash safety: a worker killed mid-call, and two workers on one PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import Engine, select, text
from sqlmodel import col

from app.audit import verification
from app.db import engine, transaction
from app.meta.gateway import AdStatus
from app.models import Submission
from app.submissions import follow
from app.submissions.worker import Worker, make_gateway
from tests.app.conftest import Cast, Sandbox, queued, queued_many, run, submission_of


def _worker_process(
    app: Flask, sandbox: Sandbox, tmp_path: Path, in_flight: int = 4
) -> subprocess.Popen[bytes]:
    """``flask --app wsgi worker`` as its own process, on the test's database and sandbox."""
    config = app.config
    env = {
        **os.environ,
        "ADGATE_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "ADGATE_DATABASE_URL": config["DATABASE_URL"],
        "ADGATE_SECRET_KEY": config["SECRET_KEY"],
        "ADGATE_IP_HMAC_KEY": config["IP_HMAC_KEY"],
        "ADGATE_TOTP_KEYS": json.dumps(config["TOTP_KEYS"]),
        "ADGATE_META_GRAPH_URL": sandbox.url,
        "ADGATE_WORKER_POLL_SECONDS": "0.1",
        "ADGATE_WORKER_IN_FLIGHT": str(in_flight),
    }
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.Popen(
        [flask, "--app", "wsgi", "worker"], env=env, cwd=Path(__file__).parents[3]
    )


def test_a_worker_killed_between_create_and_record_leaves_no_duplicate(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, tmp_path: Path
) -> None:
    checklist_id = queued(cast)
    # Every POST takes effect at once but is answered after 3 s: the worker is killed while
    # it waits for the campaign's id, so the id never reaches adgate's database.
    sandbox.faults(kind="slow", delay=3, rate=1.0, methods=["POST"])
    process = _worker_process(app, sandbox, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not sandbox.objects()["campaigns"]:
            assert time.monotonic() < deadline, "the worker never created the campaign"
            assert process.poll() is None, "the worker exited early"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    requests.delete(f"{sandbox.url}/__sandbox__/faults", timeout=5).raise_for_status()
    dead = submission_of(app, checklist_id)
    assert dead.status == "sending"
    assert (dead.creating, dead.campaign_id) == ("campaign", None)
    # Its claim expires; a new worker takes the submission over and finds the campaign.
    with app.app_context(), engine().begin() as conn:
        conn.execute(text("UPDATE submission SET lease_until = :t"), {"t": "2000-01-01 00:00:00"})
    run(app, worker)
    done = submission_of(app, checklist_id)
    assert done.status == "submitted"
    objects = sandbox.objects()
    assert [len(objects[k]) for k in ("campaigns", "adsets", "adcreatives", "ads")] == [1, 1, 1, 1]
    assert done.campaign_id == objects["campaigns"][0]["id"]
    assert cast.events("submission.taken_over")


@pytest.mark.dialect("postgresql")
def test_two_workers_never_send_the_same_submission(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    ids = queued_many(cast, 20)
    sandbox.faults(kind="slow", delay=0.05, rate=0.5)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with app.app_context():
                own = Worker(make_gateway(app), name=name)
                for _ in range(400):
                    own.run_once()
                    with transaction(write=False) as db:
                        left = db.scalars(
                            select(Submission).where(
                                col(Submission.status).in_(["queued", "sending"])
                            )
                        ).first()
                    if left is None:
                        return
                    time.sleep(0.01)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    objects = sandbox.objects()
    for kind in ("campaigns", "adsets", "adcreatives", "ads"):
        names = [o["name"] for o in objects[kind]]
        assert len(names) == 20, kind
        assert len(set(names)) == 20, kind
    assert {cast.checklist(i).state for i in ids} == {"submitted"}
    claimed_by = {submission_of(app, i).claimed_by for i in ids}
    assert claimed_by <= {"worker-1", "worker-2"}
    with app.app_context():
        assert verification.verify(engine()).ok


def test_a_worker_whose_claim_was_taken_over_stops(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    with app.app_context():
        submission_id = worker.claim()
    assert submission_id is not None
    with app.app_context(), transaction() as db:
        submission = db.get(Submission, submission_id)
        assert submission is not None
        submission.claimed_by = "a-faster-worker"
        db.add(submission)
    with app.app_context():
        worker.send(submission_id)
    assert sandbox.objects()["campaigns"] == []
    assert submission_of(app, checklist_id).claimed_by == "a-faster-worker"


@pytest.mark.dialect("postgresql")
def test_two_workers_recording_one_review_decide_it_once(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    run(app, worker)
    submission_id = submission_of(app, checklist_id).id
    assert submission_id is not None
    # Worker A read Meta's review and has recorded it, not committed yet; worker B read the
    # same review and records it meanwhile (both poll the submitted ads).
    with app.app_context():
        eng = engine()
    first = eng.connect()
    decided = first.begin()
    first.execute(
        text("UPDATE submission SET status = 'paused', effective_status = 'PAUSED' WHERE id = :id"),
        {"id": submission_id},
    )
    first.execute(
        text("UPDATE checklist SET state = 'paused', version = version + 1 WHERE id = :id"),
        {"id": checklist_id},
    )
    outcome: list[object] = []

    def second() -> None:
        try:
            with app.app_context():
                ad_id = str(submission_of(app, checklist_id).ad_id)
                outcome.append(
                    follow.record_status(submission_id, AdStatus(ad_id, "PAUSED", {}, []))
                )
        except BaseException as exc:  # looked at in the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock(eng):
        assert thread.is_alive(), outcome
        assert time.monotonic() < deadline, "worker B never waited for worker A's rows"
        time.sleep(0.02)
    decided.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome == [0]
    assert cast.events("checklist.meta_approve", checklist_id) == []


def _waiting_for_a_lock(eng: Engine) -> bool:
    """Whether a session of this database waits for a lock (a fresh statistics snapshot)."""
    with eng.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


def test_a_worker_killed_with_several_submissions_in_flight_loses_none_and_sends_none_twice(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, tmp_path: Path
) -> None:
    ids = queued_many(cast, 8)
    # Every POST takes effect at once and is answered after 0.4 s: once the first submission
    # went alone, the worker's threads wait on Meta for several submissions at once.
    sandbox.faults(kind="slow", delay=0.4, rate=1.0, methods=["POST"])
    process = _worker_process(app, sandbox, tmp_path, in_flight=4)
    try:
        deadline = time.monotonic() + 60
        while len(_sending(app)) < 3 or len(sandbox.objects()["campaigns"]) < 3:
            assert time.monotonic() < deadline, "the worker never had several in flight"
            assert process.poll() is None, "the worker exited early"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    requests.delete(f"{sandbox.url}/__sandbox__/faults", timeout=5).raise_for_status()
    dead = _sending(app)
    assert len(dead) >= 2, "the kill found fewer than two submissions in flight"
    # Their claims expire; another worker takes them over and finishes them (looking up by
    # name what the dead one may have created).
    app.config.update(WORKER_LOOKUP_WAIT_SECONDS=0.1)
    with app.app_context(), engine().begin() as conn:
        conn.execute(text("UPDATE submission SET lease_until = :t"), {"t": "2000-01-01 00:00:00"})
    run(app, worker)
    assert {cast.checklist(i).state for i in ids} == {"submitted"}
    objects = sandbox.objects()
    for kind in ("campaigns", "adsets", "adcreatives", "ads"):
        names = [o["name"] for o in objects[kind]]
        assert len(names) == len(ids), (kind, names)
        assert len(set(names)) == len(ids), kind
    recorded = {submission_of(app, i).campaign_id for i in ids}
    assert recorded == {o["id"] for o in objects["campaigns"]}
    assert len(cast.events("submission.taken_over")) == len(dead)
    with app.app_context():
        assert verification.verify(engine()).ok


def _sending(app: Flask) -> list[Submission]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(Submission).where(col(Submission.status) == "sending")))
