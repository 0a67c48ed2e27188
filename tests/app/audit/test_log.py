"""The audit log: chain, canonical form, tamper detection, append-only trigger, serialization."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app import audit
from app.audit import verification
from app.db import engine, new_session, transaction
from app.models import AuditEvent


def _append(app: Flask, n: int, kind: str = "test.event") -> None:
    with app.app_context():
        for i in range(n):
            with transaction() as db:
                audit.record(db, kind, subject=("thing", i), data={"i": i, "text": 'Grüße "x"\n'})


def _eng(app: Flask) -> Engine:
    with app.app_context():
        return engine()


def _drop_trigger(eng: Engine) -> None:
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_chain_links_each_event_to_the_previous(app: Flask) -> None:
    _append(app, 3)
    with app.app_context(), transaction(write=False) as db:
        events = db.scalars(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    result = verification.verify(_eng(app))
    assert result.ok
    assert result.events == 3
    assert result.head == events[2].hash


def test_envelope_is_the_canonical_json_of_the_event() -> None:
    data = {"b": [1, 2.5, None, True], "a": {"z": 'ä\u2028"\\'}, "c": "x"}
    at = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
    body = audit.envelope(
        seq=7,
        occurred_at=at,
        actor_type="user",
        actor_id="12",
        kind="auth.login",
        subject_type=None,
        subject_id=None,
        data=audit.canonical_data(data),
        request_id="abc123",
        prev_hash="f" * 64,
    )
    expected = {
        "actor": {"id": "12", "type": "user"},
        "at": "2026-01-02T03:04:05.006789Z",
        "data": data,
        "kind": "auth.login",
        "prev": "f" * 64,
        "request": "abc123",
        "seq": 7,
        "subject": {"id": None, "type": None},
    }
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body == canonical


def test_second_envelope_is_the_canonical_json_of_the_event() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
    body = audit.envelope_v2(
        seq=7, occurred_at=at, actor_type="user", actor_id="12", kind="auth.login",
        subject_type="user", subject_id="12", body_hash="b" * 64, retention="security",
        request_id=None, prev_hash="f" * 64,
    )  # fmt: skip
    expected = {
        "actor": {"id": "12", "type": "user"},
        "at": "2026-01-02T03:04:05.006789Z",
        "body": "b" * 64,
        "kind": "auth.login",
        "prev": "f" * 64,
        "request": None,
        "retention": "security",
        "seq": 7,
        "subject": {"id": "12", "type": "user"},
    }
    assert body == json.dumps(expected, sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize(
    ("kind", "subject", "actor"),
    [
        ("Bad Kind", None, None),
        ("ok.kind", ("user", "someone@example.org"), None),
        ("ok.kind", ("user", 'x"y'), None),
        ("ok.kind", None, audit.Actor("robot", "1")),
    ],
)
def test_free_text_cannot_enter_the_envelope(
    app: Flask, kind: str, subject: tuple[str, str] | None, actor: audit.Actor | None
) -> None:
    with app.app_context(), transaction() as db, pytest.raises(audit.AuditError):
        audit.record(db, kind, subject=subject, actor=actor)
    assert verification.verify(_eng(app)).events == 0


@pytest.mark.dialect("sqlite")
def test_sqlite_refuses_appends_from_a_read_transaction(app: Flask) -> None:
    with app.app_context():
        db = new_session(write=False)
        with pytest.raises(audit.AuditError):
            audit.record(db, "test.event")
        db.close()


def test_update_and_delete_are_refused_by_the_database(app: Flask) -> None:
    _append(app, 2)
    eng = _eng(app)
    for statement in (
        "UPDATE audit_event SET kind = 'forged' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), eng.begin() as conn:
            conn.execute(text(statement))
    assert verification.verify(eng).events == 2


@pytest.mark.dialect("postgresql")
def test_truncate_is_refused_on_postgresql(app: Flask) -> None:
    eng = _eng(app)
    _append(app, 1)
    with pytest.raises(DBAPIError, match="append-only"), eng.begin() as conn:
        conn.execute(text("TRUNCATE audit_event"))


def _forge_hash(conn: Connection, seq: int) -> None:
    row = conn.execute(select(AuditEvent).where(col(AuditEvent.seq) == seq)).one()
    event = AuditEvent(**row._mapping)
    conn.execute(
        text("UPDATE audit_event SET hash = :h WHERE seq = :s"),
        {"h": audit.event_hash(event), "s": seq},
    )


TAMPERINGS = {
    # A field changed: that event's hash no longer matches its content.
    "changed": (["UPDATE audit_event SET data = '[]' WHERE seq = 3"], 3),
    # Changed, and its hash recomputed: the next event's link breaks.
    "changed_and_rehashed": (
        ["UPDATE audit_event SET kind = 'forged' WHERE seq = 3", "REHASH 3"],
        4,
    ),
    # A row deleted: the sequence jumps at the event after it.
    "deleted": (["DELETE FROM audit_event WHERE seq = 3"], 4),
    # Two rows' contents swapped (reordered): the first of them no longer links.
    "reordered": (
        [
            "UPDATE audit_event SET seq = -1 WHERE seq = 3",
            "UPDATE audit_event SET seq = 3 WHERE seq = 4",
            "UPDATE audit_event SET seq = 4 WHERE seq = -1",
        ],
        3,
    ),
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_verify_names_the_first_broken_event(
    app: Flask, runner: FlaskCliRunner, tampering: str
) -> None:
    _append(app, 5)
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0
    assert ok.output.startswith("ok 5 events head=")
    eng = _eng(app)
    _drop_trigger(eng)
    statements, first_bad = TAMPERINGS[tampering]
    with eng.begin() as conn:
        for statement in statements:
            if statement.startswith("REHASH"):
                _forge_hash(conn, int(statement.split()[1]))
            else:
                conn.execute(text(statement))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"broken at event {first_bad}:" in result.output
    assert verification.verify(eng).first_bad_event == first_bad


def test_inserted_event_is_detected(app: Flask) -> None:
    _append(app, 3)
    eng = _eng(app)
    with eng.begin() as conn:
        # An event slipped in at the end but linked to event 2, not to the head.
        conn.execute(
            text(
                "INSERT INTO audit_event"
                " (seq, occurred_at, actor_type, kind, data, prev_hash, hash, body_hash,"
                " retention) SELECT 4, occurred_at, actor_type, kind, data, prev_hash, :h,"
                " body_hash, retention FROM audit_event"
                " WHERE seq = 3"
            ),
            {"h": hashlib.sha256(b"x").hexdigest()},
        )
    result = verification.verify(eng)
    assert not result.ok
    assert result.first_bad_event == 4


def test_concurrent_appends_keep_one_unbroken_chain(app: Flask) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _append(app, 10, kind="test.concurrent")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verification.verify(_eng(app))
    assert result.ok
    assert result.events == 40


def test_rolled_back_change_leaves_no_event(app: Flask) -> None:
    with app.app_context():

        def change_that_fails() -> None:
            with transaction() as db:
                audit.record(db, "test.event")
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError):
            change_that_fails()
        assert verification.verify(engine()).events == 0


@pytest.mark.dialect("postgresql")
def test_a_transaction_that_recorded_an_event_does_not_hold_the_append_lock(app: Flask) -> None:
    """Events are appended at commit: a long transaction (a request rendering its answer, a
    worker's round) does not make every other writer wait for the audit log's lock."""
    _append(app, 1)
    with app.app_context():
        slow = new_session(write=True)
        try:
            audit.record(slow, "test.slow", data={"step": 1})
            slow.flush()
            with transaction() as quick:
                quick.execute(text("SET LOCAL lock_timeout = '2s'"))
                audit.record(quick, "test.quick")
            slow.commit()
        finally:
            slow.close()
        with transaction(write=False) as db:
            kinds = list(db.scalars(select(col(AuditEvent.kind)).order_by(col(AuditEvent.seq))))
    assert kinds == ["test.event", "test.quick", "test.slow"]
    assert verification.verify(_eng(app)).ok


def test_recorded_events_go_with_a_rollback_and_keep_their_data_as_recorded(app: Flask) -> None:
    with app.app_context():
        db = new_session(write=True)
        try:
            audit.record(db, "test.lost")
            db.flush()
            db.rollback()
            db.commit()  # nothing left to append
        finally:
            db.close()
        data = {"n": 1}
        with transaction() as db:
            audit.record(db, "test.kept", data=data)
            data["n"] = 2  # after recording: not what happened
        with transaction(write=False) as db:
            events = db.scalars(select(AuditEvent)).all()
    assert [(e.kind, json.loads(e.data)) for e in events] == [("test.kept", {"n": 1})]


def test_a_bad_event_is_refused_when_recorded_not_at_commit(app: Flask) -> None:
    with app.app_context(), transaction() as db:
        with pytest.raises(audit.AuditError):
            audit.record(db, "Bad Kind")
        with pytest.raises(ValueError, match="Out of range float"):
            audit.record(db, "test.nan", data={"x": float("nan")})
