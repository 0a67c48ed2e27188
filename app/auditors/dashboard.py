"""The auditors' dashboard: what happened to the ads in a period, counted from the audit log.

Four counts over the events of [since, until): submissions by outcome, blocked submits by
the step that failed, the checks that fail most often, and violations per ad account.
Outcomes and violations are counted by the database (GROUP BY on the kind and time
indexes); only refusals need their JSON read, and those are streamed in batches, so a
period of millions of events costs constant memory.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import func, select
from sqlmodel import Session, col
from wtforms import DateField
from wtforms.validators import Optional

from app import audit
from app.audit import kinds
from app.audit.kinds import CHECKLIST_REFUSED, SEND_BLOCKED
from app.auditors import bp
from app.auditors.charts import bar_chart
from app.auth.access import roles_required
from app.checklists.steps import LABELS as CHECK_LABELS
from app.db import get_session
from app.models import AdAccount, AuditEvent, Role, utcnow

DEFAULT_DAYS = 30
MAX_YEARS = 10
TOP_CHECKS = 10
BATCH = 1_000
# The transitions that tell what became of a submission, in the order of its life.
OUTCOME_KINDS = (
    "checklist.submit",
    "checklist.confirm",
    "checklist.meta_approve",
    "checklist.meta_deliver",
    "checklist.meta_issues",
    "checklist.review_reject",
    "checklist.fail",
    "checklist.withdraw",
)
VIOLATION = "ad_account.violation"
_Key = TypeVar("_Key", str, tuple[str, str])
# The machine's own reasons for refusing, besides the checks (workflows.machine.fire).
RULE_LABELS = {
    "state": _l("Ad in a state that allows it"),
    "party": _l("Done by someone allowed to"),
    "attempts": _l("Attempts left"),
}


# --- the period --------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    first: date
    last: date

    @property
    def since(self) -> datetime:
        """The first instant counted."""
        return datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime:
        """The first instant no longer counted (midnight after the last day)."""
        return datetime.combine(self.last, time(), UTC) + timedelta(days=1)


class DashboardForm(FlaskForm):  # type: ignore[misc]
    """The period to count (a GET form: no CSRF token, nothing changes); blank means the default."""

    class Meta:
        csrf = False

    since = DateField(_l("From (UTC)"), validators=[Optional()])
    until = DateField(_l("To (UTC, inclusive)"), validators=[Optional()])

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """Fill in the default days, then check that the period runs forward and is not too long."""
        if not super().validate(extra_validators):
            return False
        if self.until.data is None:
            self.until.data = utcnow().date()
        if self.since.data is None:
            self.since.data = _days_before(self.until.data, DEFAULT_DAYS - 1)
        if self.until.data >= date.max:
            self.until.errors.append(_("Choose an earlier end."))
        elif self.until.data < self.since.data:
            self.until.errors.append(_("The end lies before the start."))
        elif self.until.data >= _years_after(self.since.data, MAX_YEARS):
            self.until.errors.append(
                _("Choose a period of at most %(years)s years.", years=MAX_YEARS)
            )
        return not self.until.errors

    def period(self) -> Period:
        """The validated period."""
        return Period(self.since.data, self.until.data)


def _days_before(day: date, days: int) -> date:
    return day - timedelta(days=days) if day.toordinal() > days else date.min


def _years_after(day: date, years: int) -> date:
    if day.year + years > date.max.year:
        return date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- counting ----------------------------------------------------------------


@dataclass(frozen=True)
class AccountViolations:
    """An ad account's violations in the period, and whether it may run political ads now."""

    account_id: str
    name: str | None
    eligible: bool | None
    violations: int


@dataclass(frozen=True)
class Summary:
    """The period's numbers, keyed by event kind, step and code (labels come later)."""

    outcomes: dict[str, int]
    blocked_submits: int
    # step → blocked submits that had it unmet (once per submit), most first
    blocked_by_step: list[tuple[str, int]]
    refusals: int
    # (step, code) → refused or blocked steps of any event that had it unmet, most first
    failing_checks: list[tuple[str, str, int]]
    violations: list[AccountViolations]


def summarize(db: Session, period: Period) -> Summary:
    """Count the period's events."""
    blocked, steps, refusals, checks = _refusals(db, period)
    return Summary(
        outcomes=_outcomes(db, period),
        blocked_submits=blocked,
        blocked_by_step=_most_first(steps),
        refusals=refusals,
        failing_checks=[(step, code, n) for (step, code), n in _most_first(checks)[:TOP_CHECKS]],
        violations=_violations(db, period),
    )


def _most_first(counts: Counter[_Key]) -> list[tuple[_Key, int]]:
    """Largest count first; equal counts by key, so that the order never depends on the data's."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _within(period: Period) -> list[Any]:
    return [
        col(AuditEvent.occurred_at) >= period.since,
        col(AuditEvent.occurred_at) < period.until,
    ]


def _outcomes(db: Session, period: Period) -> dict[str, int]:
    counted = dict(
        db.execute(
            select(col(AuditEvent.kind), func.count())
            .where(col(AuditEvent.kind).in_(OUTCOME_KINDS), *_within(period))
            .group_by(col(AuditEvent.kind))
        ).all()
    )
    return {kind: int(counted.get(kind, 0)) for kind in OUTCOME_KINDS}


def _refusals(
    db: Session, period: Period
) -> tuple[int, Counter[str], int, Counter[tuple[str, str]]]:
    """Blocked submits, their unmet steps, all refusals, and every refusal's (step, code)s."""
    blocked, steps = 0, Counter[str]()
    refusals, checks = 0, Counter[tuple[str, str]]()
    query = (
        select(col(AuditEvent.kind), col(AuditEvent.data))
        .where(col(AuditEvent.kind).in_((CHECKLIST_REFUSED, SEND_BLOCKED)), *_within(period))
        .execution_options(yield_per=BATCH)
    )
    with closing(db.execute(query)) as rows:
        for kind, raw in rows:
            data = json.loads(raw) if raw is not None else None  # None: cleared by a purge
            if not isinstance(data, dict):
                continue
            unmet = _unmet(data.get("blocked" if kind == SEND_BLOCKED else "unmet"))
            refusals += 1
            checks.update(unmet)
            if kind == SEND_BLOCKED or data.get("event") == "submit":
                blocked += 1
                steps.update({step for step, _code in unmet})
    return blocked, steps, refusals, checks


def _unmet(items: Any) -> set[tuple[str, str]]:
    """The distinct (step, code)s of a refusal: a step listed twice still counts once."""
    if not isinstance(items, list):
        return set()
    return {(str(u.get("step", "")), str(u.get("code", ""))) for u in items if isinstance(u, dict)}


def _violations(db: Session, period: Period) -> list[AccountViolations]:
    count = func.count().label("violations")
    rows = db.execute(
        select(
            col(AuditEvent.subject_id),
            count,
            col(AdAccount.name),
            col(AdAccount.political_eligible),
        )
        .outerjoin(AdAccount, col(AdAccount.id) == col(AuditEvent.subject_id))
        .where(
            col(AuditEvent.kind) == VIOLATION,
            col(AuditEvent.subject_type) == "ad_account",
            *_within(period),
        )
        .group_by(
            col(AuditEvent.subject_id), col(AdAccount.name), col(AdAccount.political_eligible)
        )
        .order_by(count.desc(), col(AuditEvent.subject_id))
    ).all()
    return [
        AccountViolations(str(account_id), name, eligible, int(n))
        for account_id, n, name, eligible in rows
    ]


# --- showing -----------------------------------------------------------------


def step_label(step: str) -> str:
    """A step's name as the checklist page shows it."""
    label = CHECK_LABELS.get(step) or RULE_LABELS.get(step)
    return str(label) if label is not None else step


def account_label(account: AccountViolations) -> str:
    """An ad account by name and id (the id alone if it is not registered)."""
    return f"{account.name} ({account.account_id})" if account.name else account.account_id


@dataclass(frozen=True)
class Board:
    """The summary with its labels and charts, ready for the template."""

    outcomes: list[tuple[str, str, int]]  # (kind, label, count)
    steps: list[tuple[str, str, int]]  # (step, label, blocked submits)
    checks: list[tuple[str, str, str, int]]  # (step, label, code, count)
    summary: Summary
    charts: dict[str, Markup]


def board(summary: Summary) -> Board:
    """Label the numbers and draw them."""
    outcomes = [(k, str(kinds.lookup(k).label), n) for k, n in summary.outcomes.items()]
    steps = [(s, step_label(s), n) for s, n in summary.blocked_by_step]
    checks = [(s, step_label(s), c, n) for s, c, n in summary.failing_checks]
    charts = {
        "outcomes": bar_chart(
            _("Submissions by outcome"), [(label, n) for _k, label, n in outcomes], "chart-outcomes"
        ),
        "steps": bar_chart(
            _("Blocked submits by failing step"),
            [(label, n) for _s, label, n in steps],
            "chart-steps",
        ),
        "checks": bar_chart(
            _("Checks failing most often"),
            [(f"{label}: {code}", n) for _s, label, code, n in checks],
            "chart-checks",
        ),
        "violations": bar_chart(
            _("Violations per ad account"),
            [(account_label(a), a.violations) for a in summary.violations],
            "chart-violations",
        ),
    }
    return Board(outcomes, steps, checks, summary, charts)


@bp.get("/dashboard")
@roles_required(Role.AUDITOR)
def dashboard() -> tuple[str, int]:
    """A period at a glance: outcomes, blocked submits, failing checks, violations."""
    form = DashboardForm(formdata=request.args)
    if not form.validate():
        return render_template("audits/dashboard.html", form=form, period=None, board=None), 400
    period = form.period()
    summary = summarize(get_session(), period)
    audit.defer(
        "audit.read",
        data={
            "view": "dashboard",
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
        },
    )
    return render_template(
        "audits/dashboard.html", form=form, period=period, board=board(summary)
    ), 200
