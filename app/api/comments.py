"""A checklist's review conversation: comments, and a reviewer's request for changes."""

from __future__ import annotations

from typing import Any

from app.api import bp, common
from app.api import schemas as s
from app.api.answers import answer, comment_out
from app.api.auth import caller, requires
from app.api.common import REVIEWS
from app.api.idempotency import idempotent
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.checklists import service
from app.db import get_session
from app.models import Role, utcnow
from app.reviews import conversation
from workflows.machine import TransitionRefused


@bp.post("/checklists/<int:checklist_id>/comments")
@operation(REVIEWS, 201, s.CommentOut, 404, 409, 422)
@requires(
    "checklists:write",
    Role.MANAGER,
    Role.ADMIN,
    Role.REVIEWER,
    by_role={Role.REVIEWER: "approvals:write"},
)
@idempotent
def comment_checklist(checklist_id: int, json: s.CommentIn, headers: s.CreateHeaders) -> Any:
    """Add a comment to the checklist's conversation: its owner, a reviewer or an admin.
    Comments are never edited or deleted. An Idempotency-Key makes a retry add nothing."""
    checklist = common.load(checklist_id)
    try:
        written = conversation.comment(get_session(), checklist, caller().user, json.body, utcnow())
    except service.ChecklistError as exc:
        raise _refusal(exc) from None
    return comment_out(conversation.Entry.of(written, caller().user)), 201, {}


@bp.post("/checklists/<int:checklist_id>/change-requests")
@operation(REVIEWS, 200, s.ChecklistOut, 404, 409, 422)
@requires("approvals:write", Role.REVIEWER)
@idempotent
def request_changes(
    checklist_id: int, json: s.ChangeRequestIn, headers: s.ChangeRequestHeaders
) -> Any:
    """Send the ad back to its owner with a reason (a reviewer other than the owner, while
    the ad is a draft or approved): the approval, if any, is voided; the reason opens the
    owner's page until the ad changes or the owner answers. If-Match with the version read:
    when the ad changed since, 409 and nothing is sent back."""
    version = common.if_match(headers.if_match)
    checklist = common.load(checklist_id, for_update=True)
    try:
        conversation.request_changes(
            get_session(), checklist, caller().user, json.comment, utcnow(), version=version
        )
    except service.Conflict as exc:
        raise common.conflict(exc) from None
    except service.ChecklistError as exc:
        raise _refusal(exc) from None
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    return answer(checklist)


def _refusal(exc: service.ChecklistError) -> ApiProblem:
    """Who may not write is forbidden; what may not be written is invalid."""
    if exc.field == "user":
        return ApiProblem("forbidden", str(exc))
    return common.invalid(exc)
