"""Periods far back in the log: narrowed to their seqs first, with exactly the same results.

Every query of a period is checked against the events picked out in Python from the whole
table, with and without the seq range, on both databases: pages followed to their end,
counts and the export's stream, for periods inside the log, on its edges, empty ones, and
times that do not rise with seq.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col

from app import audit
from app.audit import query
from app.db import transaction
from app.models import AuditEvent, utcnow

DAY = timedelta(days=1)
MIDNIGHT = datetime.combine(utcnow().date(), datetime.min.time(), UTC)
START = MIDNIGHT - 100 * DAY


def _times() -> list[datetime]:
    """Two events a day for 100 days, some on the stroke of midnight, some written late."""
    times = []
    for day in range(100):
        times += [START + day * DAY + timedelta(hours=9), START + day * DAY + timedelta(hours=17)]
        if day % 10 == 0:
            times.append(START + day * DAY)  # exactly at the start of a day
            times.append(START + day * DAY - timedelta(microseconds=1))  # just before it
        if day % 7 == 3:
            times.append(START + day * DAY + timedelta(hours=1))  # earlier than the one before
    return times


@pytest.fixture
def log(app: Flask) -> list[AuditEvent]:
    """The events above (kinds and actors alternating), then every event of the table."""
    with app.app_context(), transaction() as db:
        audit.write(
            db,
            [
                audit.Pending(
                    "test.even" if i % 2 == 0 else "test.odd",
                    audit.Actor("user", str(i % 3 + 1)),
                    ("thing", str(i)),
                    {"i": i},
                    None,
                    at,
                )
                for i, at in enumerate(_times())
            ],
        )
        return list(db.scalars(select(AuditEvent).order_by(col(AuditEvent.seq))))


def _expected(events: list[AuditEvent], f: query.Filter) -> list[int]:
    """The filter applied in Python, newest first."""
    return [
        e.seq
        for e in reversed(events)
        if (f.since is None or e.occurred_at >= f.since)
        and (f.until is None or e.occurred_at < f.until)
        and (f.kind is None or e.kind == f.kind)
        and (f.actor is None or f"{e.actor_type}:{e.actor_id}" == f.actor)
    ]


PERIODS = {
    "a month far back": (START + 10 * DAY, START + 40 * DAY),
    "one day": (START + 50 * DAY, START + 51 * DAY),
    "up to a day's start": (None, START + 30 * DAY),
    "from a day's start": (START + 60 * DAY, None),
    "the last days": (MIDNIGHT - 5 * DAY, None),
    "before the first event": (START - 30 * DAY, START - 20 * DAY),
    "after the last event": (MIDNIGHT + DAY, MIDNIGHT + 2 * DAY),
    "empty (since = until)": (START + 20 * DAY, START + 20 * DAY),
    "reversed": (START + 40 * DAY, START + 20 * DAY),
    "one microsecond": (START + 30 * DAY - timedelta(microseconds=1), START + 30 * DAY),
    "the whole log and more": (START - DAY, MIDNIGHT + DAY),
    "a late event's hour": (START + 3 * DAY, START + 3 * DAY + timedelta(hours=2)),
}


@pytest.mark.parametrize(
    "extra", [query.Filter(), query.Filter(kind="test.odd"), query.Filter(actor="user:2")]
)
@pytest.mark.parametrize("period", PERIODS)
def test_a_period_finds_the_same_events_with_and_without_its_seqs(
    app: Flask, log: list[AuditEvent], period: str, extra: query.Filter
) -> None:
    since, until = PERIODS[period]
    f = replace(extra, since=since, until=until)
    expected = _expected(log, f)
    with app.app_context(), transaction(write=False) as db:
        newest_first = col(AuditEvent.seq).desc()
        for by_seq in (False, True):
            found = db.scalars(query.statement(db, f, by_seq=by_seq).order_by(newest_first))
            assert [e.seq for e in found] == expected
        pages, after = [], None
        while True:
            page = query.page(db, f, after=after, limit=7)
            pages += [e.seq for e in page.events]
            if page.next_after is None:
                break
            after = page.next_after
        assert pages == expected
        assert query.count(db, f) == len(expected)
        assert [row[0] for row in query.stream(db, f, batch=5)] == expected[::-1]
        export_snapshot = query.Filter(since=since, until=until, up_to_seq=log[len(log) // 2].seq)
        assert [row[0] for row in query.stream(db, export_snapshot)] == [
            s for s in _expected(log, export_snapshot)[::-1] if s <= log[len(log) // 2].seq
        ]


def test_only_a_period_far_back_is_looked_up_first(app: Flask, log: list[AuditEvent]) -> None:
    with app.app_context(), transaction(write=False) as db:
        assert query.narrow_by_seq(db, query.Filter(since=START + DAY, until=START + 31 * DAY))
        assert query.narrow_by_seq(db, query.Filter(until=START + 10 * DAY))
        assert query.narrow_by_seq(db, query.Filter(since=START + 50 * DAY, until=START))
        assert not query.narrow_by_seq(db, query.Filter(since=MIDNIGHT - 7 * DAY))
        assert not query.narrow_by_seq(
            db, query.Filter(since=MIDNIGHT - 7 * DAY, until=MIDNIGHT - DAY)
        )
        assert not query.narrow_by_seq(db, query.Filter(since=START + 30 * DAY))
        assert not query.narrow_by_seq(db, query.Filter(until=MIDNIGHT + DAY))
        assert not query.narrow_by_seq(db, query.Filter(kind="test.odd"))


def test_the_events_page_of_a_month_far_back(
    app: Flask, log: list[AuditEvent], auditor: FlaskClient
) -> None:
    since, until = (START + 10 * DAY).date(), (START + 39 * DAY).date()  # until is inclusive
    expected = _expected(log, query.Filter(since=START + 10 * DAY, until=START + 40 * DAY))
    html = auditor.get(f"/audit/?since={since}&until={until}").get_data(as_text=True)
    seqs = [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]
    assert seqs == expected[: query.PAGE_SIZE]
    assert len(expected) > query.PAGE_SIZE
