"""Identity verifications, recorded by reviewers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.api import bp, common
from app.api import schemas as s
from app.api.auth import caller, requires
from app.api.common import REVIEWS
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.checklists import service
from app.db import get_session
from app.models import IdentityVerification, Role, User, utcnow
from app.reviews import service as reviews


@bp.post("/identity-verifications")
@operation(REVIEWS, 201, s.IdentityOut, 422)
@requires("identity:write", Role.REVIEWER)
def verify_identity(json: s.IdentityIn) -> Any:
    """Record that you saw a person's valid identity document (type, country and expiry
    only: never its number or image). Nobody verifies themself."""
    db = get_session()
    person = db.scalars(select(User).where(col(User.email) == json.user.strip().lower())).first()
    if person is None or not person.active:
        detail = "no active account with this e-mail address"
        raise ApiProblem(
            "validation-failed",
            detail,
            errors=[{"field": "user", "code": "unknown_user", "detail": detail}],
        )
    try:
        verification = reviews.verify_identity(
            db,
            caller().user,
            person,
            document_type=json.document_type,
            issuing_country=json.issuing_country,
            expires_on=json.expires_on,
            now=utcnow(),
        )
    except service.ChecklistError as exc:
        raise common.invalid(exc) from None
    return _identity_out(verification, person.email), 201


def _identity_out(v: IdentityVerification, email: str) -> s.IdentityOut:
    assert v.id is not None
    return s.IdentityOut(
        id=v.id,
        user=email,
        document_type=v.document_type,
        issuing_country=v.issuing_country,
        expires_on=v.expires_on,
        verified_by=caller().user.email,
        verified_at=v.verified_at,
    )
