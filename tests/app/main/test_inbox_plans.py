"""The navigation's count on every page must not scan: each statement of each role's inbox,
explained by PostgreSQL with sequential scans priced out, reads the tables that grow through
an index (a plan test: no time is measured)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlmodel import Session

from app.main import inbox
from app.models import (
    AuditCheckpoint,
    AuditVerification,
    Checklist,
    Comment,
    LoginSession,
    RunStatus,
    User,
    utcnow,
)
from app.reviews import conversation, requests
from tests.app.main.test_inbox import _classified, _draft, db, people  # noqa: F401  (fixtures)

# Tables that grow with use; the others hold one row per person or ad account.
GROWING = frozenset(
    {
        "checklist",
        "comment",
        "login_session",
        "audit_event",
        "audit_verification",
        "audit_checkpoint",
        "identity_request",
        "identity_verification",
        "submission",
    }
)
_KEY_RANGE = re.compile(r"^\(id [<>]=? [^)]*\)$")
ROLES = ("owner", "reviewer", "auditor", "admin")


def captured(session: Session, person: User) -> list[tuple[str, Any]]:
    """The statements (and their parameters) that counting ``person``'s inbox sends."""
    found: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_args: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            found.append((sql, params))

    eng = session.get_bind()
    event.listen(eng, "before_cursor_execute", keep)
    try:
        inbox.inbox(session, person, utcnow())
    finally:
        event.remove(eng, "before_cursor_execute", keep)
    return found


def scans(plan: dict[str, Any], parent: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
    """Every node of a plan that reads a table, with its parent's node type."""
    if "Relation Name" in plan:
        yield plan, parent or ""
    for child in plan.get("Plans", []):
        yield from scans(child, plan["Node Type"])


def unindexed(plan: dict[str, Any], partial: set[str]) -> list[str]:
    """The reads of growing tables that no index condition bounds (a Limit over an ordered
    index, as for max(), reads a row, not the table; a partial index holds only its rows)."""
    bad = []
    for node, parent in scans(plan):
        if node["Relation Name"] not in GROWING:
            continue
        bounded = (
            "Index Cond" in node
            or "Recheck Cond" in node
            or parent == "Limit"
            or node.get("Index Name") in partial
        )
        # An open range on the key alone reads the table's newer rows, all of them when
        # nothing matches (an anti join that finds no answer). audit_verification's range
        # starts at the last intact run: bounded by design, the runs since then.
        tail = bool(_KEY_RANGE.match(node.get("Index Cond", ""))) and (
            node["Relation Name"] != "audit_verification"
        )
        if node["Node Type"] == "Seq Scan" or not bounded or tail:
            bad.append(f"{node['Node Type']} on {node['Relation Name']}")
    return bad


@pytest.mark.dialect("postgresql")
def test_every_statement_of_every_inbox_reads_growing_tables_through_an_index(
    db: Session,  # noqa: F811
    people: dict[str, User],  # noqa: F811
) -> None:
    owner, reviewer = people["owner"], people["reviewer"]
    now = utcnow()
    for n in range(4):
        draft = _draft(db, owner, countries="CH,LI", title=f"draft {n}")
        _classified(db, draft, owner)
        conversation.request_changes(db, draft, reviewer, "Bitte kürzen.", now)
    requests.ask(db, owner, "LI", now)
    for person in people.values():
        for _ in range(2):
            db.add(
                LoginSession(
                    id_hash=uuid.uuid4().hex, user_id=person.id or 0, created_at=now, expires_at=now
                )
            )
    db.add(AuditVerification(status=RunStatus.BROKEN, started_at=now, heartbeat_at=now))
    # Others' conversations: what a count must not read through.
    others = [_draft(db, people["other"], title=f"other {n}") for n in range(3)]
    db.execute(
        insert(Comment),
        [
            {
                "checklist_id": others[n % 3].id,
                "author_id": reviewer.id,
                "kind": ("comment", "change_request")[n % 2],
                "body": "…",
                "checklist_version": 1,
                "created_at": now,
            }
            for n in range(600)
        ],
    )
    # Others' ads and a year of checkpoints, so that the planner sees tables worth an index.
    table = Checklist.__table__  # type: ignore[attr-defined]
    columns = ", ".join(c.name for c in table.columns if c.name != "id")
    db.execute(
        text(
            f"INSERT INTO checklist ({columns}) SELECT {columns} FROM checklist "
            "CROSS JOIN generate_series(1, 100) WHERE owner_id = :other"
        ),
        {"other": people["other"].id},
    )
    db.execute(
        insert(AuditCheckpoint),
        [
            {"seq": n + 1, "head": "0" * 64, "events": n + 1, "taken_at": now - timedelta(days=n)}
            for n in range(365)
        ],
    )
    db.flush()
    partial = set(
        db.scalars(
            text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indpred IS NOT NULL"
            )
        )
    )
    db.execute(text("ANALYZE"))
    db.execute(text("SET LOCAL enable_seqscan = off"))

    problems: dict[str, list[str]] = {}
    for role in ROLES:
        statements = captured(db, people[role])
        for sql, params in statements:
            [[plan]] = db.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).one()
            if isinstance(plan, str):
                plan = json.loads(plan)[0]
            if found := unindexed(plan["Plan"], partial):
                problems.setdefault(role, []).append(f"{found}: {sql.split(chr(10))[0][:90]}")
    assert problems == {}, json.dumps(problems, indent=1)
