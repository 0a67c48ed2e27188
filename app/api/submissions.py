"""Submissions to Meta: submit, activate, pause, and a submission's way through Meta."""

from __future__ import annotations

from typing import Any

from flask import url_for

from app.api import bp, common
from app.api import schemas as s
from app.api.answers import submission_out
from app.api.auth import caller, requires
from app.api.common import SUBMISSIONS
from app.api.idempotency import idempotent
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.checklists import access, service
from app.db import get_session
from app.models import Role, Submission, utcnow
from workflows.machine import TransitionRefused


@bp.post("/checklists/<int:checklist_id>/submit")
@operation(SUBMISSIONS, 202, s.SubmitOut, 400, 404, 409, 422)
@requires("submissions:write", Role.MANAGER)
@idempotent
def submit_checklist(checklist_id: int, headers: s.SubmitHeaders) -> Any:
    """Queue the ad for Meta if every check passes now; else 409 with every unmet step.
    Needs an Idempotency-Key: a retry with the same key gets the first answer."""
    checklist = common.owned(checklist_id)
    try:
        submission = service.submit(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    location = url_for("api.get_submission", submission_id=submission.id)
    return s.SubmitOut(submission=submission_out(submission)), 202, {"Location": location}


@bp.post("/checklists/<int:checklist_id>/activation")
@operation(SUBMISSIONS, 202, s.SubmitOut, 404, 409)
@requires("submissions:write", Role.MANAGER)
def activate_checklist(checklist_id: int) -> Any:
    """Start a Meta-approved, paused ad: every check runs again; the worker then sets the
    campaign, ad set and ad ACTIVE at Meta. 409 with every unmet step when blocked."""
    checklist = common.owned(checklist_id)
    try:
        submission = service.activate(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    location = url_for("api.get_submission", submission_id=submission.id)
    return s.SubmitOut(submission=submission_out(submission)), 202, {"Location": location}


@bp.post("/checklists/<int:checklist_id>/pause")
@operation(SUBMISSIONS, 202, s.SubmitOut, 404, 409)
@requires("submissions:write", Role.MANAGER)
def pause_checklist(checklist_id: int) -> Any:
    """Pause a running ad: the worker sets it PAUSED at Meta."""
    checklist = common.owned(checklist_id)
    try:
        submission = service.pause(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    location = url_for("api.get_submission", submission_id=submission.id)
    return s.SubmitOut(submission=submission_out(submission)), 202, {"Location": location}


@bp.get("/submissions/<int:submission_id>")
@operation(SUBMISSIONS, 200, s.SubmissionOut, 404)
@requires("checklists:read", *Role)
def get_submission(submission_id: int) -> s.SubmissionOut:
    """A submission's way through Meta: status, Meta's ids, Meta's last error."""
    sub = (
        get_session().get(Submission, submission_id) if 0 < submission_id <= access.MAX_ID else None
    )
    if sub is None:
        raise ApiProblem("not-found", f"no submission {submission_id}")
    common.load(sub.checklist_id)  # the same visibility as its checklist
    return submission_out(sub)
