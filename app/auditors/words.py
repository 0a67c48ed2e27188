"""An event's data in words for the auditors' pages: labels for its fields, the catalogue's
names for steps, states and roles, "yes"/"no"/"none" for Python's values, dates as every page
writes them, and nested JSON as nested definition lists (``audits/_event.html``).

The log keeps its untranslated summary and JSON data; only the pages speak the reader's
language. A field without a label here is shown by its name, marked as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.checklists.steps import (
    BUDGET_LABELS,
    CATEGORY_LABELS,
    DOCUMENT_LABELS,
    PLACEMENT_LABELS,
    STATE_LABELS,
    STATUS_LABELS,
    TOPIC_LABELS,
)
from app.checklists.steps import LABELS as STEP_LABELS
from app.i18n import format_date, format_datetime
from app.main import ROLE_NAMES
from app.models import Role

FIELD_LABELS = {
    "accounts": _l("Ad accounts"),
    "budget_amount": _l("Budget"),
    "budget_type": _l("Type of budget"),
    "category": _l("Category"),
    "check": _l("Step"),
    "classified": _l("Classification"),
    "client": _l("Client (pseudonym)"),
    "code": _l("Result"),
    "count": _l("Count"),
    "countries": _l("Target countries"),
    "country": _l("Country"),
    "currency": _l("Currency"),
    "delivery": _l("Budget and schedule"),
    "digitally_created_media": _l("Digitally created media"),
    "document_type": _l("Type of document"),
    "end_time": _l("Ends"),
    "endpoint": _l("Page"),
    "evidence": _l("Evidence"),
    "expires_at": _l("Expires"),
    "expires_on": _l("Valid until"),
    "field": _l("Field"),
    "filters": _l("Filters"),
    "flagged": _l("Flagged by the suggester"),
    "format": _l("Format"),
    "from": _l("Before"),
    "image_id": _l("Image"),
    "issuing_country": _l("Issuing country"),
    "justification": _l("Justification"),
    "justified": _l("Justified"),
    "kind": _l("Event"),
    "method": _l("Method"),
    "must_change_password": _l("Must change the password"),
    "awaits_confirmation": _l("Waits for confirmation"),
    "owner": _l("Owner"),
    "page_id": _l("Page"),
    "placements": _l("Placements"),
    "reason": _l("Reason"),
    "request": _l("Request"),
    "role": _l("Role"),
    "scopes": _l("Scopes"),
    "second_factor": _l("Second factor"),
    "since": _l("Since"),
    "social_issues": _l("Social issues"),
    "start_time": _l("Starts"),
    "state": _l("State"),
    "status": _l("Status"),
    "step": _l("Step"),
    "suggested_probability": _l("Suggester's probability"),
    "suggested_terms": _l("Suggester's terms"),
    "text": _l("Text"),
    "to": _l("After"),
    "until": _l("Until"),
    "verification": _l("Verification"),
    "version": _l("Version"),
    "view": _l("View"),
    "voided": _l("Voided"),
    "wording": _l("Wording"),
}
# Values whose words depend on the field they are in.
VALUE_LABELS: dict[str, Any] = {
    "budget_type": BUDGET_LABELS,
    "category": CATEGORY_LABELS,
    "check": STEP_LABELS,
    "step": STEP_LABELS,
    "document_type": DOCUMENT_LABELS,
    "placements": PLACEMENT_LABELS,
    "social_issues": TOPIC_LABELS,
    "state": STATE_LABELS,
    "from": STATE_LABELS,
    "to": STATE_LABELS,
    "result": STATUS_LABELS,
    "voided": STEP_LABELS,
}
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


@dataclass(frozen=True)
class Detail:
    """One field: its label (``code`` when it has none), and its words or nested fields."""

    label: str
    value: str | list[Detail]
    code: bool = False


def describe(data: dict[str, Any]) -> list[Detail]:
    """The fields of ``data`` in words, in the order of their names."""
    return [_detail(key, data[key]) for key in sorted(data)]


def _detail(key: str, value: Any) -> Detail:
    label = FIELD_LABELS.get(key)
    return Detail(str(label) if label else key, in_words(key, value), code=label is None)


def in_words(key: str, value: Any) -> str | list[Detail]:
    """``value`` of the field ``key`` as the pages say it."""
    if isinstance(value, dict):
        return describe(value)
    if isinstance(value, list):
        if any(isinstance(item, dict) for item in value):
            return [_detail(str(number), item) for number, item in enumerate(value, start=1)]
        return ", ".join(str(in_words(key, item)) for item in value) if value else str(_("none"))
    if value is None:
        return str(_("none"))
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, str):
        return _text(key, value)
    return str(value)


def _text(key: str, value: str) -> str:
    labels = VALUE_LABELS.get(key)
    if labels is not None and value in labels:
        return str(labels[value])
    if key == "role" and value in {r.value for r in Role}:
        return str(ROLE_NAMES[Role(value)])
    try:
        if _MOMENT.match(value):
            return format_datetime(datetime.fromisoformat(value), utc=True) + " UTC"
        if _DAY.fullmatch(value):
            return format_date(date.fromisoformat(value))
    except ValueError:
        pass
    return value
