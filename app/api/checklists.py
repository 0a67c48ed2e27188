"""The checklists: list, create, read, edit, classify, attest and withdraw."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlmodel import col

from app.api import bp, common
from app.api import schemas as s
from app.api.answers import answer
from app.api.auth import caller, requires
from app.api.common import CHECKLISTS
from app.api.idempotency import idempotent
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.checklists import access, service
from app.checklists.wording import FACEBOOK_2FA_WORDING
from app.db import get_session
from app.models import Checklist, Role, User, utcnow
from workflows.machine import TransitionRefused


def _service_fields(ad: dict[str, Any]) -> dict[str, Any]:
    """The API's ad (or the part of it a PATCH sends) as the checklist service's fields."""
    fields = {k: v for k, v in ad.items() if k not in ("budget", "schedule", "image")}
    budget = ad.get("budget") or {}
    if budget.get("type") is not None:
        fields["budget_type"] = budget["type"]
    if "amount" in budget:
        fields["budget_amount"] = budget["amount"]
    if "schedule" in ad:
        # null: no schedule; otherwise the times sent (a PATCH may send one of them).
        schedule = ad["schedule"] or {"start_time": None, "end_time": None}
        fields |= {k: v for k, v in schedule.items() if k in ("start_time", "end_time")}
    if "image" in ad:
        fields["image_id"] = ad["image"]
    return fields


@bp.get("/checklists")
@operation(CHECKLISTS, 200, s.ChecklistPage, 422)
@requires("checklists:read", *Role)
def list_checklists(query: s.ChecklistQuery) -> s.ChecklistPage:
    """List checklists, newest first (managers see their own)."""
    select_ = access.visible(caller().user)
    if query.state is not None:
        select_ = select_.where(col(Checklist.state) == query.state)
    rows, next_cursor = common.page(
        select_, col(Checklist.id), common.after(query.cursor), query.limit
    )
    owners = {
        u.id: u.email
        for u in get_session().scalars(
            select(User).where(col(User.id).in_({c.owner_id for c in rows}))
        )
    }
    return s.ChecklistPage(
        checklists=[
            s.ChecklistSummary(
                id=c.id,
                title=c.title,
                state=c.state,
                version=c.version,
                owner=owners.get(c.owner_id, ""),
                countries=c.countries,
                updated_at=c.updated_at,
            )
            for c in rows
        ],
        next_cursor=next_cursor,
    )


@bp.post("/checklists")
@operation(CHECKLISTS, 201, s.ChecklistOut, 409, 422)
@requires("checklists:write", Role.MANAGER)
@idempotent
def create_checklist(json: s.ChecklistIn, headers: s.CreateHeaders) -> Any:
    """Create a checklist in draft. The ad account must be registered in adgate and the page
    be the one registered with it, the countries among those adgate has rules for; a 422
    names every problem at once."""
    ad = json.ad
    try:
        checklist = service.create(
            get_session(),
            caller().user,
            service.AdInput(title=json.title, **_service_fields(ad.model_dump())),
            utcnow(),
        )
    except service.ChecklistError as exc:
        raise common.invalid(exc, "ad.") from None
    return answer(checklist, 201)


@bp.get("/checklists/<int:checklist_id>")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404)
@requires("checklists:read", *Role)
def get_checklist(checklist_id: int) -> Any:
    """A checklist with every step evaluated now, and its latest submission."""
    # The ETag is the version, for If-Match. There is no 304: the steps are evaluated live
    # and change without a new version (an identity verified, a policy date passed).
    return answer(common.load(checklist_id))


@bp.patch("/checklists/<int:checklist_id>")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409, 422, 428)
@requires("checklists:write", Role.MANAGER)
def edit_checklist(checklist_id: int, json: s.ChecklistPatch, headers: s.IfMatchHeaders) -> Any:
    """Change the ad (If-Match: its version). A content change voids the classification,
    any change the approval."""
    version = common.if_match(headers.if_match)
    checklist = common.owned(checklist_id)
    current = {f: getattr(checklist, f) for f in service.FIELDS}
    sent = json.ad.model_dump(exclude_unset=True) if json.ad else {}
    if json.title is not None:
        sent["title"] = json.title
    # null removes the image and the schedule; no other field can be null.
    nulls = [f for f, v in sent.items() if v is None and f not in ("image", "schedule")]
    changes = _service_fields(sent)
    if nulls:
        raise ApiProblem(
            "validation-failed",
            "fields cannot be set to null",
            errors=[{"field": f, "code": "null", "detail": "leave it out"} for f in nulls],
        )
    try:
        service.edit(
            get_session(),
            checklist,
            caller().user,
            service.AdInput(**{**current, **changes}),
            version or 0,
            utcnow(),
        )
    except service.Conflict as exc:
        raise common.conflict(exc) from None
    except service.ChecklistError as exc:
        raise common.invalid(exc, "ad.") from None
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    return answer(checklist)


@bp.put("/checklists/<int:checklist_id>/classification")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409, 422)
@requires("checklists:write", Role.MANAGER)
def classify_checklist(
    checklist_id: int, json: s.ClassificationIn, headers: s.OptionalIfMatchHeaders
) -> Any:
    """Classify the ad; adgate's suggestion is recorded beside it (a flagged NONE needs a
    justification and a reviewer's sign-off)."""
    checklist = common.owned(checklist_id)
    version = common.if_match(headers.if_match)
    suggestion = service.suggestion(checklist)
    try:
        service.classify(
            get_session(),
            checklist,
            caller().user,
            category=json.category,
            social_issues=list(json.social_issues),
            digitally_created_media=json.digitally_created_media,
            justification=json.justification,
            suggestion=suggestion,
            version=checklist.version if version is None else version,
            now=utcnow(),
        )
    except service.Conflict as exc:
        raise common.conflict(exc) from None
    except service.ChecklistError as exc:
        raise common.invalid(exc) from None
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    return answer(checklist)


@bp.post("/checklists/<int:checklist_id>/attestations/two-factor")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409)
@requires("checklists:write", Role.MANAGER)
def attest_two_factor(checklist_id: int) -> Any:
    """The owner declares that two-factor authentication is on for the Facebook account
    used for ads (recorded with the wording it declares)."""
    checklist = common.owned(checklist_id)
    with force_locale("en"):
        wording = str(FACEBOOK_2FA_WORDING)
    try:
        service.attest_facebook_2fa(get_session(), checklist, caller().user, wording, utcnow())
    except service.ChecklistError as exc:
        raise ApiProblem(
            "transition-refused",
            str(exc),
            errors=[{"step": "two_factor", "code": exc.code, "detail": str(exc)}],
        ) from None
    return answer(checklist)


@bp.post("/checklists/<int:checklist_id>/withdrawal")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409)
@requires("checklists:write", Role.MANAGER, Role.ADMIN)
def withdraw_checklist(checklist_id: int) -> Any:
    """Withdraw the ad while it has not been sent (a queued submission is withdrawn too)."""
    checklist = common.load(checklist_id, for_update=True)
    try:
        service.withdraw(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    return answer(checklist)
