"""The filter of the audit pages, also used by ``flask audit export`` (one set of rules)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField, StringField
from wtforms.validators import NumberRange, Optional, ValidationError

from app.audit import kinds
from app.audit.query import PAGE_SIZE, Filter
from app.inputs import Checked

PAGE_SIZES = (25, PAGE_SIZE, 100, 200)
OUTCOME_LABELS = {
    kinds.OK: _l("done"),
    kinds.REFUSED: _l("refused or blocked"),
    kinds.FAILED: _l("failed at Meta"),
}


class AuditFilterForm(FlaskForm):  # type: ignore[misc]
    """Which events to show or export (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    checklist = IntegerField(
        _l("Ad (checklist number)"), validators=[Optional(), NumberRange(min=1, max=2**31 - 1)]
    )
    actor = StringField(
        _l("Who"),
        validators=[Optional(), Checked("audit_actor")],
        description=_l("An e-mail address, or user:5, token:3, system"),
    )
    kind = StringField(
        _l("Event"),
        validators=[Optional(), Checked("audit_kind")],
        description=_l("An event name, or a prefix ending in * (checklist.*)"),
    )
    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice("", _l("any"))]
        + [SelectChoice(k, v) for k, v in OUTCOME_LABELS.items()],
        validators=[Optional()],
    )
    # Events per page (the pages only; exports take every event that matches).
    per_page = SelectField(
        _l("Per page"),
        choices=[SelectChoice(str(n), str(n)) for n in PAGE_SIZES],
        default=str(PAGE_SIZE),
        validators=[Optional()],
    )
    since = DateField(_l("From (UTC)"), validators=[Optional()])
    until = DateField(_l("To (UTC, inclusive)"), validators=[Optional()])

    def validate_until(self, field: Any) -> None:
        """A range must not end before it starts."""
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end lies before the start."))

    def to_filter(self) -> Filter:
        """The validated form as a query filter (dates as UTC days, the end inclusive)."""
        since, until = self.since.data, self.until.data
        return Filter(
            checklist=self.checklist.data,
            actor=(self.actor.data or "").strip() or None,
            kind=(self.kind.data or "").strip() or None,
            outcome=self.outcome.data or None,
            since=datetime.combine(since, time(), UTC) if since else None,
            until=datetime.combine(until, time(), UTC) + timedelta(days=1) if until else None,
        )

    def query_args(self) -> dict[str, str]:
        """The filter as URL parameters (for the next page and the export link)."""
        args = {}
        for name in ("checklist", "actor", "kind", "outcome", "since", "until"):
            value = getattr(self, name).data
            if value not in (None, ""):
                args[name] = str(value)
        if self.per_page.data and self.per_page.data != str(PAGE_SIZE):
            args["per_page"] = self.per_page.data
        return args

    def page_size(self) -> int:
        """Events per page: the chosen size, else the default."""
        raw = self.per_page.data or ""
        return int(raw) if raw in {str(n) for n in PAGE_SIZES} else PAGE_SIZE
