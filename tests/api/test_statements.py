"""What a request costs the database, counted (statements and transactions, never times):
the checklist read and the blocked submit stay as lean as they were made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlmodel import col

from app.db import engine, transaction
from app.models import AuditEvent
from tests.api.conftest import ApiCast

# Transaction control is not work: SQLite's BEGIN (emitted by app.db) and savepoints.
_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    commits: int = 0

    def of(self, verb: str) -> list[str]:
        return [s for s in self.statements if s.startswith(verb)]


@contextmanager
def counting(app: Flask) -> Iterator[Counted]:
    """Every statement and transaction of the app's engine while the block runs."""
    with app.app_context():
        eng = engine()
    counted = Counted()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        sql = sql.lstrip()
        if not sql.upper().startswith(_CONTROL):
            counted.statements.append(sql)

    def begin(_conn: Any) -> None:
        counted.transactions += 1

    def commit(_conn: Any) -> None:
        counted.commits += 1

    listeners = (("before_cursor_execute", statement), ("begin", begin), ("commit", commit))
    for name, fn in listeners:
        event.listen(eng, name, fn)
    try:
        yield counted
    finally:
        for name, fn in listeners:
            event.remove(eng, name, fn)


def test_reading_a_checklist_takes_six_statements(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    api.ready(checklist_id)
    api.reviewer.get(f"/checklists/{checklist_id}")  # warm: the first request of a process
    with counting(api.app) as counted:
        response = api.manager.get(f"/checklists/{checklist_id}")
    assert response.status_code == 200
    # The token with its owner; the checklist with its owner and ad account; the latest
    # submission; the owner's identities; the page's authorizations with the registered
    # disclaimers; the comments. Nothing written: the token's use is recorded once a minute.
    assert len(counted.statements) == 6, counted.statements
    assert counted.of("SELECT") == counted.statements
    assert counted.transactions == 1


def test_a_reviewer_reads_anothers_checklist_with_the_same_statements(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    api.reviewer.get(f"/checklists/{checklist_id}")
    with counting(api.app) as counted:
        response = api.reviewer.get(f"/checklists/{checklist_id}")
    assert response.status_code == 200
    assert len(counted.statements) == 6, counted.statements  # the owner came with the checklist


def test_a_blocked_submit_is_one_transaction_with_its_refusal_and_answer(
    app: Flask, api: ApiCast
) -> None:
    checklist_id = api.create()["id"]
    with app.app_context(), transaction(write=False) as db:
        before = db.scalars(select(col(AuditEvent.seq)).order_by(col(AuditEvent.seq))).all()
    with counting(app) as counted:
        first = api.submit(checklist_id, "blocked-once")
    assert first.status_code == 409
    assert first.get_json()["type"] == "urn:adgate:problem:checklist-blocked"
    # Claim the key, evaluate, append the refusal, store the answer: one transaction.
    assert (counted.transactions, counted.commits) == (1, 1)
    assert len(counted.of("INSERT INTO audit_event")) == 1
    assert len(counted.of("INSERT INTO idempotency_key")) == 1
    assert len(counted.of("UPDATE idempotency_key")) == 1
    assert len(counted.statements) <= 12, counted.statements
    with app.app_context(), transaction(write=False) as db:
        new = db.scalars(select(AuditEvent).where(col(AuditEvent.seq).not_in(before))).all()
    assert [e.kind for e in new] == ["checklist.refused"]
    assert new[0].subject_id == str(checklist_id)
    assert json.loads(new[0].data)["event"] == "submit"
    # The answer is replayed from what that transaction stored, and nothing is appended.
    with counting(app) as again:
        second = api.submit(checklist_id, "blocked-once")
    assert second.status_code == 409
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert again.of("INSERT INTO audit_event") == []
    verify = api.auditor.get("/audit/verify")
    assert verify.get_json()["ok"] is True
