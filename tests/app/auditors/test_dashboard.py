"""The auditors' dashboard: the counts for a period, its charts, bad periods, access, the read."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import lazy_gettext
from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import col

from app import audit
from app.admin.ad_accounts import add as add_ad_account
from app.auditors import charts
from app.auditors.charts import bar_chart
from app.db import transaction
from app.models import AdAccount, AuditEvent, utcnow
from tests.app.conftest import Cast, signed_in
from tests.conftest import UserFactory, english_client

SVG = "{http://www.w3.org/2000/svg}"
MARCH = "since=2025-03-01&until=2025-03-31"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _append(
    app: Flask, kind: str, at: str, subject: tuple[str, str], data: dict[str, Any] | None = None
) -> None:
    """An event as the worker or a request would have appended it at ``at`` (UTC)."""
    pending = audit.Pending(kind, audit.SYSTEM, subject, data or {}, None, occurred_at=_at(at))
    with app.app_context(), transaction() as db:
        audit.write(db, [pending])


def _refused(event: str, *unmet: tuple[str, str]) -> dict[str, Any]:
    return {
        "event": event,
        "state": "draft",
        "unmet": [{"step": step, "code": code} for step, code in unmet],
    }


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).where(col(AuditEvent.kind) == kind)
        return list(db.scalars(query.order_by(col(AuditEvent.seq))))


def _section(html: str, section: str) -> str:
    match = re.search(rf'<section[^>]* id="{section}".*?</section>', html, re.S)
    assert match, f"no section {section}"
    return match.group(0)


def _table(html: str, section: str, key: str) -> dict[str, int]:
    """A numbers table as {data-<key>: the number in its last cell}."""
    rows = re.findall(
        rf'<tr data-{key}="([^"]+)"[^>]*>.*?<td class="text-end">(\d+)</td></tr>',
        _section(html, section),
        re.S,
    )
    return {name: int(n) for name, n in rows}


def _parse(svg: str) -> ElementTree.Element:
    """The chart as XML: parsing it proves it well-formed (no label broke out of its element)."""
    return ElementTree.fromstring(svg)  # noqa: S314 (adgate's own markup, not untrusted input)


def _svg(html: str, section: str) -> ElementTree.Element:
    match = re.search(r"<svg .*?</svg>", _section(html, section), re.S)
    assert match, f"no chart in {section}"
    return _parse(match.group(0))


@pytest.fixture
def march(app: Flask) -> None:
    """A known month of events, with some just outside it on either side."""
    with app.app_context(), transaction() as db:
        add_ad_account(db, "act_1001", "2001", "Stadt <Muster> & Co", utcnow())
        add_ad_account(db, "act_1002", "2002", "Kanton", utcnow())
        lost = db.get(AdAccount, "act_1001")
        assert lost is not None
        lost.political_eligible = False
    checklist = ("checklist", "1")
    for kind, times in {
        "checklist.submit": ["2025-03-01T00:00:00", "2025-03-10T12:00:00", "2025-03-31T23:59:59"],
        "checklist.confirm": ["2025-03-11T08:00:00", "2025-03-12T08:00:00"],
        "checklist.meta_approve": ["2025-03-12T09:00:00"],
        "checklist.review_reject": ["2025-03-13T09:00:00"],
        "checklist.fail": ["2025-03-14T09:00:00"],
        "checklist.withdraw": ["2025-03-15T09:00:00"],
    }.items():
        for at in times:
            _append(app, kind, at, checklist, {"from": "x", "to": "y"})
    for at in ("2025-02-28T23:59:59", "2025-04-01T00:00:00"):  # either side of March
        _append(app, "checklist.submit", at, checklist, {"from": "x", "to": "y"})
        _append(app, "checklist.refused", at, checklist, _refused("submit", ("two_factor", "t")))
        _append(app, "ad_account.violation", at, ("ad_account", "act_1002"))
    # Three blocked submits: two refused, one stopped by the worker's check before sending.
    _append(
        app,
        "checklist.refused",
        "2025-03-02T10:00:00",
        checklist,
        _refused(
            "submit",
            ("two_factor", "two_factor.adgate_totp_off"),
            ("identity", "identity.missing"),
            ("approval", "approval.missing"),
        ),
    )
    _append(
        app,
        "checklist.refused",
        "2025-03-03T10:00:00",
        checklist,
        # the same step twice: one blocked submit for the step, two failing checks
        _refused("submit", ("identity", "identity.missing"), ("identity", "identity.expired")),
    )
    _append(
        app,
        "checklist.send_blocked",
        "2025-03-04T10:00:00",
        checklist,
        {
            "from": "queued",
            "to": "draft",
            "blocked": [
                {"step": "standing", "code": "standing.not_eligible", "detail": "…"},
                {"step": "identity", "code": "identity.missing", "detail": "…"},
            ],
        },
    )
    # Not a submit: its check counts among the failing checks, not among blocked submits.
    _append(
        app,
        "checklist.refused",
        "2025-03-05T10:00:00",
        checklist,
        _refused("approve", ("classification", "classification.missing")),
    )
    for at in ("2025-03-13T09:00:00", "2025-03-20T09:00:00"):
        _append(app, "ad_account.violation", at, ("ad_account", "act_1001"))
    _append(app, "ad_account.violation", "2025-03-21T09:00:00", ("ad_account", "act_1002"))


# --- the page ----------------------------------------------------------------


@pytest.mark.usefixtures("march")
def test_counts_a_period_and_nothing_outside_it(auditor: FlaskClient) -> None:
    response = auditor.get(f"/audit/dashboard?{MARCH}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2025-03-01 to 2025-03-31 (UTC)" in html
    assert _table(html, "outcomes", "kind") == {
        "checklist.submit": 3,
        "checklist.confirm": 2,
        "checklist.meta_approve": 1,
        "checklist.meta_deliver": 0,
        "checklist.meta_issues": 0,
        "checklist.review_reject": 1,
        "checklist.fail": 1,
        "checklist.withdraw": 1,
    }
    assert "Blocked submits in all: 3." in html
    # identity was unmet in all three blocked submits, twice in one of them: counted 3, not 4
    assert _table(html, "blocked", "step") == {
        "identity": 3,
        "two_factor": 1,
        "approval": 1,
        "standing": 1,
    }
    checks = re.findall(
        r'<tr data-step="(\w+)" data-code="([\w.]+)">.*?<td class="text-end">(\d+)</td>',
        _section(html, "checks"),
    )
    assert checks[0] == ("identity", "identity.missing", "3")
    assert sorted(checks[1:]) == [
        ("approval", "approval.missing", "1"),
        ("classification", "classification.missing", "1"),
        ("identity", "identity.expired", "1"),
        ("standing", "standing.not_eligible", "1"),
        ("two_factor", "two_factor.adgate_totp_off", "1"),
    ]
    assert "every refused or blocked step (4)" in html
    assert _table(html, "violations", "account") == {"act_1001": 2, "act_1002": 1}
    violations = _section(html, "violations")
    assert "not eligible" in violations
    assert "Stadt &lt;Muster&gt; &amp; Co" in violations
    assert "<Muster>" not in html
    # The checklist page's own names for the steps.
    assert "Four-eyes approval" in html
    assert "Identity verified" in html


@pytest.mark.usefixtures("march")
def test_every_count_is_drawn_as_an_accessible_chart(auditor: FlaskClient) -> None:
    html = auditor.get(f"/audit/dashboard?{MARCH}").get_data(as_text=True)
    assert "style=" not in html
    assert "<style" not in html
    for section, bars in (("outcomes", 8), ("blocked", 4), ("checks", 6), ("violations", 2)):
        svg = _svg(html, section)
        assert svg.get("role") == "img"
        title = svg.find(f"{SVG}title")
        assert title is not None
        assert title.text
        assert svg.get("aria-labelledby") == title.get("id")
        assert len(svg.findall(f".//{SVG}rect")) == bars
        values = [t.text for t in svg.iter(f"{SVG}text") if "bar-value" in (t.get("class") or "")]
        assert len(values) == bars
    widths = {
        r.get("width") for r in _svg(html, "blocked").iter(f"{SVG}rect") if r.get("class") == "bar"
    }
    assert widths == {str(charts.BAR_AREA), str(round(charts.BAR_AREA / 3))}
    labels = [t.text for t in _svg(html, "violations").iter(f"{SVG}text")]
    assert "Stadt <Muster> & Co (act_1001)" in labels  # parsed back from &lt;…&gt;


def test_an_empty_period_says_so(auditor: FlaskClient) -> None:
    html = auditor.get("/audit/dashboard?since=2001-01-01&until=2001-01-31").get_data(as_text=True)
    assert "<svg" not in html
    assert "Submissions by outcome: nothing in this period." in html
    assert set(_table(html, "outcomes", "kind").values()) == {0}


def test_real_blocked_submit_is_counted_per_unmet_step(
    app: Flask, cast: Cast, auditor: FlaskClient
) -> None:
    checklist = cast.create()
    assert cast.submit(checklist).status_code == 302  # refused: back to the checklist
    [refusal] = cast.events("checklist.refused")
    unmet = {u["step"] for u in json.loads(refusal.data)["unmet"]}
    assert len(unmet) > 1
    html = auditor.get("/audit/dashboard").get_data(as_text=True)
    assert "Blocked submits in all: 1." in html
    assert _table(html, "blocked", "step") == dict.fromkeys(unmet, 1)


def test_defaults_to_the_last_30_days_and_the_read_is_audited(
    app: Flask, auditor: FlaskClient
) -> None:
    today = utcnow().date()
    html = auditor.get("/audit/dashboard").get_data(as_text=True)
    first = today - timedelta(days=29)
    assert f"{first.isoformat()} to {today.isoformat()} (UTC)" in html
    assert f'value="{first.isoformat()}"' in html
    assert f'value="{today.isoformat()}"' in html
    [read] = _events(app, "audit.read")
    assert json.loads(read.data) == {
        "view": "dashboard",
        "since": f"{first.isoformat()}T00:00:00+00:00",
        "until": f"{(today + timedelta(days=1)).isoformat()}T00:00:00+00:00",
    }
    assert read.actor_type == "user"


def test_a_ten_year_period_is_the_longest(auditor: FlaskClient) -> None:
    assert auditor.get("/audit/dashboard?since=2000-01-01&until=2009-12-31").status_code == 200
    assert auditor.get("/audit/dashboard?since=2000-01-01&until=2010-01-01").status_code == 400


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2026-13-01", "Not a valid date value."),
        ("until=yesterday", "Not a valid date value."),
        ("since=2026-05-02&until=2026-05-01", "The end lies before the start."),
        (f"since={utcnow().date() + timedelta(days=3)}", "The end lies before the start."),
        ("since=2000-01-01&until=2012-06-30", "Choose a period of at most 10 years."),
        ("since=9999-01-01&until=9999-12-31", "Choose an earlier end."),
    ],
)
def test_a_bad_period_is_a_clear_400_and_counts_nothing(
    app: Flask, auditor: FlaskClient, query: str, message: str
) -> None:
    response = auditor.get(f"/audit/dashboard?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "invalid-feedback" in html
    assert "Choose a valid period: nothing was counted." in html
    assert "<svg" not in html
    assert "<section" not in html
    assert 'id="period"' not in html
    assert _events(app, "audit.read") == []  # not even the read of a refused period


def test_only_auditors_may_open_it(app: Flask, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    manager = signed_in(app, make_user, "manager@example.org")
    response = manager.get("/audit/dashboard")
    assert response.status_code == 403
    assert "Submissions by outcome" not in response.get_data(as_text=True)
    assert _events(app, "audit.read") == []
    anonymous = english_client(app).get("/audit/dashboard")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login")


def test_the_tab_leads_there(auditor: FlaskClient) -> None:
    html = auditor.get("/audit/").get_data(as_text=True)
    assert 'href="/audit/dashboard">Dashboard</a>' in html


# --- the chart builder -------------------------------------------------------


def test_no_data_is_a_sentence_not_an_empty_drawing() -> None:
    for rows in ([], [("a", 0), ("b", 0)]):
        chart = bar_chart("Outcomes", rows, "chart-x")
        assert isinstance(chart, Markup)
        assert "<svg" not in chart
        assert chart == Markup(
            '<p class="bar-chart chart-x bar-chart-empty">Outcomes: nothing in this period.</p>'
        )


def test_bars_scale_to_the_largest_value_with_the_value_at_the_end() -> None:
    svg = _parse(bar_chart("T", [("a", 10), ("b", 5), ("c", 0)], "chart-x"))
    assert svg.get("class") == "bar-chart chart-x"
    bars = svg.findall(f".//{SVG}rect")
    assert [int(b.get("width") or -1) for b in bars] == [charts.BAR_AREA, charts.BAR_AREA // 2, 0]
    values = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "bar-value"]
    assert [v.text for v in values] == ["10", "5", "0"]
    ends = [int(b.get("width") or 0) + 6 for b in bars]
    assert [int(v.get("x") or 0) for v in values] == ends
    assert int(svg.get("height") or 0) == 3 * charts.ROW_HEIGHT + 2 * charts.PAD
    # Each label on its own line above its bar, so that a phone need not shrink the text.
    labels = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "bar-label"]
    for label, bar in zip(labels, bars, strict=True):
        assert int(label.get("y") or 0) < int(bar.get("y") or 0)
    assert int(svg.get("width") or 0) == charts.WIDTH <= 400


def test_a_small_value_stays_visible_and_a_long_label_is_cut() -> None:
    label = "A label far longer than the space in front of the bars"
    svg = _parse(bar_chart("T", [("big", 100_000), (label, 1)], "c"))
    assert [b.get("width") for b in svg.findall(f".//{SVG}rect")] == [str(charts.BAR_AREA), "1"]
    shown = [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == "bar-label"]
    assert shown[1].endswith("…")
    assert len(shown[1]) <= charts.LABEL_CHARS
    tooltips = [t.text for t in svg.iter(f"{SVG}title")]
    assert f"{label}: 1" in tooltips  # the whole label, for a pointer


def test_every_label_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    chart = bar_chart(f'Title & "{evil}"', [(evil, 3), ("a & b", 1)], 'x" onload="alert(1)')
    assert "<script" not in chart
    assert 'onload="' not in chart
    assert "&lt;script&gt;" in chart
    assert "a &amp; b" in chart
    svg = _parse(chart)
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == f'Title & "{evil}"'
    # A lazy translation calls itself safe HTML; the chart escapes it all the same.
    lazy = bar_chart(lazy_gettext("<b>bold</b>"), [(lazy_gettext("<i>x</i>"), 1)], "c")
    assert "<b>" not in lazy
    assert "<i>" not in lazy
    assert "<script" not in bar_chart(evil, [], "c")
