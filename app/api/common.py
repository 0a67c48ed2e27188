"""What the API's resources share: loading a checklist for the caller, reading If-Match,
the problems that answer the checklist service's refusals, and cursor pagination.

The operations live by resource (``checklists``, ``images``, ``identities``, ``approvals``,
``submissions``, ``audit``), all on the one blueprint ``api``. Each is declared three
times over, on purpose: the route, the spectree contract (models that validate the request
and document the answer), and ``requires`` (the token scope and the owner's roles). The
blueprint's guard refuses a view without the last; a test walks the URL map so that no
combination is forgotten. The rules themselves are the services' (``app.checklists``,
``app.reviews``): a view parses, calls one operation and answers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import request
from sqlalchemy import Select

from app.api.auth import caller
from app.api.problems import ApiProblem
from app.api.spec import TAGS
from app.checklists import access, service, steps
from app.db import get_session
from app.models import Checklist
from workflows.machine import Event, TransitionRefused

CHECKLISTS, REVIEWS, SUBMISSIONS, AUDIT = TAGS


def load(checklist_id: int, *, for_update: bool = False) -> Checklist:
    """A checklist the caller may see (``access.load``), else not found."""
    try:
        return access.load(get_session(), checklist_id, caller().user, for_update=for_update)
    except access.NotVisible:
        raise ApiProblem("not-found", f"no checklist {checklist_id}") from None


def owned(checklist_id: int) -> Checklist:
    """A checklist the caller owns (``access.load_owned``), locked."""
    try:
        return access.load_owned(get_session(), checklist_id, caller().user)
    except access.NotVisible:
        raise ApiProblem("not-found", f"no checklist {checklist_id}") from None
    except access.NotOwner as exc:
        raise ApiProblem("forbidden", str(exc)) from None


def etag(checklist: Checklist) -> str:
    return f'"{checklist.version}"'


def if_match(sent: str | None) -> int | None:
    """The version named by If-Match ("3", W/"3" or 3), or None when it was not sent.

    ``sent`` is the header as the operation's contract took it; its value is read through
    werkzeug's parser (``request.if_match``): exactly one tag, ASCII digits only.
    """
    if sent is None:
        return None
    tags = request.if_match
    named = tags.as_set(include_weak=True)
    value = next(iter(named)) if len(named) == 1 and not tags.star_tag else None
    # ASCII digits only: str.isdigit() takes other scripts' digits too.
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ApiProblem(
            "validation-failed",
            "If-Match must be the checklist's version as its ETag gave it",
            errors=[{"field": "if-match", "code": "invalid", "detail": 'e.g. "3"'}],
        )
    return int(value)


def conflict(exc: service.Conflict) -> ApiProblem:
    return ApiProblem(
        "version-conflict",
        f"the checklist is at version {exc.current_version}; read it again and retry",
        current_version=exc.current_version,
        headers={"ETag": f'"{exc.current_version}"'},
    )


# Where a field of the checklist service lives in the API's ad.
API_FIELDS = {
    "budget_type": "budget.type",
    "budget": "budget.amount",
    "start_time": "schedule.start_time",
    "end_time": "schedule.end_time",
    "image_id": "image",
}


def invalid(exc: service.ChecklistError, prefix: str = "") -> ApiProblem:
    """A 422 naming every problem of the input (``exc.all``), not only the first."""

    def where(problem: service.ChecklistError) -> str:
        named = API_FIELDS.get(problem.field, problem.field)
        return problem.field if problem.field in ("title", "user", "expires_on") else prefix + named

    return ApiProblem(
        "validation-failed",
        str(exc),
        errors=[{"field": where(p), "code": p.code, "detail": str(p)} for p in exc.all],
    )


def refused(exc: TransitionRefused) -> ApiProblem:
    name = (
        "checklist-blocked"
        if exc.event in (Event.SUBMIT, Event.APPROVE, Event.ACTIVATE)
        else ("transition-refused")
    )
    return ApiProblem(
        name,
        f"cannot {exc.event.value} a checklist that is {exc.state.value}: "
        f"{len(exc.unmet)} step(s) unmet",
        errors=[{"step": u.step, "code": u.code, "detail": steps.refusal(u)} for u in exc.unmet],
    )


def cursor(value: int | None) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def after(cursor: str | None) -> int | None:
    """The position an opaque cursor stands for (the last item of the previous page)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        if version != "v1" or not value.isdigit() or len(value) > 18:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiProblem(
            "validation-failed",
            "the cursor is not one this API gave out",
            errors=[{"field": "cursor", "code": "invalid", "detail": "use next_cursor as given"}],
        ) from None


def page(
    query: Select[Any], key: Any, after: int | None, limit: int
) -> tuple[list[Any], str | None]:
    """Keyset pagination, newest first: stable while new rows are added."""
    if after is not None:
        query = query.where(key < after)
    rows = list(get_session().scalars(query.order_by(key.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor(rows[-1].__getattribute__(key.key)) if more else None
