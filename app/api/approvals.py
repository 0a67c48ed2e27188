"""Four-eyes approval of a checklist, with the reviewer's second factor."""

from __future__ import annotations

import math
from typing import Any

from app.api import bp, common
from app.api import schemas as s
from app.api.answers import answer
from app.api.auth import caller, requires
from app.api.common import REVIEWS
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.auth import secondfactor, twofactor
from app.checklists import service
from app.db import get_session
from app.models import Role, utcnow
from app.reviews import service as reviews
from workflows.machine import TransitionRefused


@bp.post("/checklists/<int:checklist_id>/approval")
@operation(REVIEWS, 200, s.ChecklistOut, 404, 409, 422, 428)
@requires("approvals:write", Role.REVIEWER)
def approve_checklist(checklist_id: int, headers: s.ApprovalHeaders) -> Any:
    """Four-eyes approval of exactly the content the reviewer read: If-Match with the version
    read (stale: 409 with the current ETag, nothing approved) and X-OTP, the reviewer's
    current code."""
    version = common.if_match(headers.if_match)
    assert version is not None  # required by the headers' model
    checklist = common.load(checklist_id, for_update=True)
    try:  # before the code: a stale read spends no code
        service.expect_version(checklist, version)
    except service.Conflict as exc:
        raise common.conflict(exc) from None
    _second_factor(headers.x_otp)
    try:
        reviews.approve(get_session(), checklist, caller().user, utcnow(), version=version)
    except service.Conflict as exc:
        raise common.conflict(exc) from None
    except service.ChecklistError as exc:
        raise ApiProblem("forbidden", str(exc)) from None
    except TransitionRefused as refused:
        raise common.refused(refused) from None
    return answer(checklist)


def _second_factor(code: str) -> None:
    """Check X-OTP once (replays refused); a refusal is counted, audited and kept although the
    request fails (``app.auth.secondfactor``)."""
    user = caller().user
    if not user.totp_enabled:
        raise ApiProblem("otp-required", "the token's owner has no two-factor authentication")
    now = utcnow()
    attempt = secondfactor.prove(get_session(), user, code, now)
    if attempt.ok:
        return
    if attempt.locked_for is not None:
        # Said as such, with its end: a client that retries sooner only prolongs nothing,
        # but a person must know to wait rather than to look for another code.
        wait = math.ceil(attempt.locked_for.total_seconds())
        until = (now + attempt.locked_for).isoformat().replace("+00:00", "Z")
        raise ApiProblem(
            "otp-locked",
            f"too many wrong codes: locked for {wait} s, until {until}",
            headers={"Retry-After": str(wait)},
            locked_until=until,
            retry_after=wait,
        )
    replayed = attempt.refused == twofactor.CodeCheck.REPLAYED
    raise ApiProblem(
        "otp-invalid", "the code was used already" if replayed else "the code is not valid"
    )
