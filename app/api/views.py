"""The JSON API's operations (paths fixed in the design): the same services as the pages.

Each view is declared three times over, on purpose: the route, the spectree contract
(models that validate the request and document the answer), and ``requires`` (the
token scope and the owner's roles). The blueprint's guard refuses a view without the
last; a test walks the URL map so that no combination is forgotten.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, make_response, request, url_for
from flask_babel import force_locale
from sqlalchemy import Select, select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import audit
from app.api import bp, idempotency
from app.api import schemas as s
from app.api.auth import caller, public, rate_key, requires
from app.api.problems import MEDIA_TYPE, ApiProblem
from app.api.spec import document, operation
from app.audit import query as audit_query
from app.audit import verification
from app.auth import limiter, secondfactor, twofactor
from app.checklists import access, gate, images, service
from app.checklists.wording import FACEBOOK_2FA_WORDING
from app.db import engine, get_session
from app.models import (
    AdAccount,
    AuditEvent,
    Checklist,
    IdentityVerification,
    Role,
    Submission,
    User,
    utcnow,
)
from app.reviews import service as reviews
from workflows.checks import Category
from workflows.machine import Event, TransitionRefused

F = TypeVar("F", bound=Callable[..., Any])
# Once per process: the limiter (like the blueprint) outlives the apps it is registered on.
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_key, per_method=False)(bp)

CHECKLISTS, REVIEWS, SUBMISSIONS, AUDIT = "checklists", "reviews", "submissions", "audit"


# --- helpers -----------------------------------------------------------------


def _load(checklist_id: int, *, for_update: bool = False) -> Checklist:
    """A checklist the caller may see (``access.load``), else not found."""
    try:
        return access.load(get_session(), checklist_id, caller().user, for_update=for_update)
    except access.NotVisible:
        raise ApiProblem("not-found", f"no checklist {checklist_id}") from None


def _owned(checklist_id: int) -> Checklist:
    """A checklist the caller owns (``access.load_owned``), locked."""
    try:
        return access.load_owned(get_session(), checklist_id, caller().user)
    except access.NotVisible:
        raise ApiProblem("not-found", f"no checklist {checklist_id}") from None
    except access.NotOwner as exc:
        raise ApiProblem("forbidden", str(exc)) from None


def _etag(checklist: Checklist) -> str:
    return f'"{checklist.version}"'


def _if_match(raw: str | None) -> int | None:
    """The version named by If-Match ("3", W/"3" or 3), or None when absent."""
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ApiProblem(
            "validation-failed",
            "If-Match must be the checklist's version as its ETag gave it",
            errors=[{"field": "if-match", "code": "invalid", "detail": 'e.g. "3"'}],
        )
    return int(value)


def _conflict(exc: service.Conflict) -> ApiProblem:
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


def _invalid(exc: service.ChecklistError, prefix: str = "") -> ApiProblem:
    named = API_FIELDS.get(exc.field, exc.field)
    field = exc.field if exc.field in ("title", "user", "expires_on") else prefix + named
    return ApiProblem(
        "validation-failed",
        str(exc),
        errors=[{"field": field, "code": exc.code, "detail": str(exc)}],
    )


def _refused(refused: TransitionRefused) -> ApiProblem:
    name = (
        "checklist-blocked"
        if refused.event in (Event.SUBMIT, Event.APPROVE, Event.ACTIVATE)
        else ("transition-refused")
    )
    return ApiProblem(
        name,
        f"cannot {refused.event.value} a checklist that is {refused.state.value}: "
        f"{len(refused.unmet)} step(s) unmet",
        errors=[{"step": u.step, "code": u.code, "detail": u.detail} for u in refused.unmet],
    )


def _email(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = get_session().get(User, user_id)
    return user.email if user is not None else None


def submission_out(sub: Submission) -> s.SubmissionOut:
    assert sub.id is not None
    has_ids = any((sub.campaign_id, sub.adset_id, sub.creative_id, sub.ad_id))
    error = json.loads(sub.error) if sub.error else None
    checklist = get_session().get(Checklist, sub.checklist_id)
    account = get_session().get(AdAccount, checklist.ad_account_id) if checklist else None
    now = utcnow()
    throttled = (
        account.meta_throttled_until
        if account and account.meta_throttled_until and account.meta_throttled_until > now
        else None
    )
    return s.SubmissionOut(
        id=sub.id,
        checklist_id=sub.checklist_id,
        status=sub.status,
        attempts=sub.attempts,
        meta=s.MetaIds(
            campaign_id=sub.campaign_id,
            adset_id=sub.adset_id,
            creative_id=sub.creative_id,
            ad_id=sub.ad_id,
        )
        if has_ids
        else None,
        error=s.MetaErrorOut.model_validate(error, strict=False) if error else None,
        effective_status=sub.effective_status,
        review_feedback=json.loads(sub.review_feedback) if sub.review_feedback else None,
        issues_info=json.loads(sub.issues_info) if sub.issues_info else [],
        throttled_until=throttled,
        removal=sub.cleanup,
        created_at=sub.created_at,
        updated_at=sub.updated_at,
        sent_at=sub.sent_at,
    )


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


def _image_out(found: images.ImageMeta | None) -> s.ImageOut | None:
    if found is None:
        return None
    return s.ImageOut(
        id=found.id,
        sha256=found.sha256,
        content_type=found.content_type,
        width=found.width,
        height=found.height,
        size=found.size,
    )


def checklist_out(checklist: Checklist) -> s.ChecklistOut:
    db, now = get_session(), utcnow()
    assert checklist.id is not None
    classification = None
    if checklist.category is not None:
        classification = s.Classification(
            category=checklist.category,
            social_issues=list(checklist.topic_list),
            digitally_created_media=checklist.digitally_created_media,
            justification=checklist.justification,
            suggested_probability=checklist.suggested_probability,
            flagged=checklist.flagged,
            signed_off=checklist.signed_off_by is not None,
        )
    latest = service.latest_submission(db, checklist)
    account = db.get(AdAccount, checklist.ad_account_id)
    return s.ChecklistOut(
        id=checklist.id,
        title=checklist.title,
        state=checklist.state,
        version=checklist.version,
        owner=_email(checklist.owner_id) or "",
        ad=s.Ad(
            page_id=checklist.page_id,
            ad_account_id=checklist.ad_account_id,
            message=checklist.message,
            headline=checklist.headline,
            link_url=checklist.link_url,
            countries=list(checklist.country_list),
            paid_for_by=checklist.paid_for_by,
            dsa_payor=checklist.dsa_payor,
            dsa_beneficiary=checklist.dsa_beneficiary,
            budget=s.Budget(
                type=checklist.budget_type,
                amount=checklist.budget_amount,
                currency=account.currency if account is not None else None,
            ),
            schedule=s.Schedule(start_time=checklist.start_time, end_time=checklist.end_time),
            placements=list(checklist.placements),
            image=_image_out(images.meta(db, checklist.image_id)),
        ),
        classification=classification,
        two_factor_attested_at=checklist.facebook_2fa_attested_at,
        approved_by=_email(checklist.approved_by),
        approved_at=checklist.approved_at,
        steps=[
            s.Step(
                name=r.name,
                status=r.status.value,
                code=r.code,
                detail=r.detail,
                provenance=r.provenance.value,
            )
            for r in gate.evaluate(db, checklist, now)
        ],
        submission=submission_out(latest) if latest is not None else None,
        created_at=checklist.created_at,
        updated_at=checklist.updated_at,
    )


def _answer(checklist: Checklist, status: int = 200) -> tuple[s.ChecklistOut, int, dict[str, str]]:
    headers = {"ETag": _etag(checklist)}
    if status == 201:
        headers["Location"] = url_for("api.get_checklist", checklist_id=checklist.id)
    return checklist_out(checklist), status, headers


class _Stored(Exception):
    """A stored problem answer, replayed for a repeated Idempotency-Key."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed answer")
        self.response = response


def idempotent(view: F) -> F:
    """Answer a repeated Idempotency-Key with the first answer (see ``app.api.idempotency``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        token_id = caller().token_id
        # The claim runs in its own transaction: nothing of the request's may be open yet.
        get_session().commit()
        replay = idempotency.begin(token_id, key, idempotency.fingerprint())
        if replay is not None:
            headers = {"Idempotent-Replayed": "true"}
            if replay.location:
                headers["Location"] = replay.location
            if replay.status >= 400:
                raise _Stored(Response(replay.body, replay.status, headers, mimetype=MEDIA_TYPE))
            return json.loads(replay.body), replay.status, headers
        try:
            model, status, headers = view(*args, **kwargs)
        except ApiProblem as problem:
            get_session().rollback()
            body = json.dumps(problem.body(), ensure_ascii=False)
            idempotency.finish_apart(token_id, key, problem.status, body, None)
            raise
        except BaseException:
            get_session().rollback()
            idempotency.release(token_id, key)
            raise
        body = model.model_dump_json()
        idempotency.finish(get_session(), token_id, key, status, body, headers.get("Location"))
        return model, status, headers

    return wrapper  # type: ignore[return-value]


@bp.errorhandler(_Stored)
def _replay_stored(exc: _Stored) -> Response:
    return exc.response


def _cursor(value: int | None) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> int | None:
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


def _page(
    query: Select[Any], key: Any, after: int | None, limit: int
) -> tuple[list[Any], str | None]:
    """Keyset pagination, newest first: stable while new rows are added."""
    if after is not None:
        query = query.where(key < after)
    rows = list(get_session().scalars(query.order_by(key.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _cursor(rows[-1].__getattribute__(key.key)) if more else None


# --- the document ------------------------------------------------------------


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return make_response(current_app.json.response(document()))


# --- checklists --------------------------------------------------------------


@bp.get("/checklists")
@operation(CHECKLISTS, 200, s.ChecklistPage, 422)
@requires("checklists:read", *Role)
def list_checklists(query: s.ChecklistQuery) -> s.ChecklistPage:
    """List checklists, newest first (managers see their own)."""
    select_ = access.visible(caller().user)
    if query.state is not None:
        select_ = select_.where(col(Checklist.state) == query.state)
    rows, next_cursor = _page(select_, col(Checklist.id), _after(query.cursor), query.limit)
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
                countries=list(c.country_list),
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
    """Create a checklist in draft."""
    ad = json.ad
    try:
        checklist = service.create(
            get_session(),
            caller().user,
            service.AdInput(title=json.title, **_service_fields(ad.model_dump())),
            utcnow(),
        )
    except service.ChecklistError as exc:
        raise _invalid(exc, "ad.") from None
    return _answer(checklist, 201)


@bp.get("/checklists/<int:checklist_id>")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404)
@requires("checklists:read", *Role)
def get_checklist(checklist_id: int) -> Any:
    """A checklist with every step evaluated now, and its latest submission."""
    # The ETag is the version, for If-Match. There is no 304: the steps are evaluated live
    # and change without a new version (an identity verified, a policy date passed).
    return _answer(_load(checklist_id))


@bp.patch("/checklists/<int:checklist_id>")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409, 422, 428)
@requires("checklists:write", Role.MANAGER)
def edit_checklist(checklist_id: int, json: s.ChecklistPatch, headers: s.IfMatchHeaders) -> Any:
    """Change the ad (If-Match: its version). A content change voids the classification,
    any change the approval."""
    version = _if_match(headers.if_match)
    checklist = _owned(checklist_id)
    current = {f: getattr(checklist, f) for f in service.FIELDS}
    current["countries"] = list(checklist.country_list)
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
        raise _conflict(exc) from None
    except service.ChecklistError as exc:
        raise _invalid(exc, "ad.") from None
    except TransitionRefused as refused:
        raise _refused(refused) from None
    return _answer(checklist)


@bp.put("/checklists/<int:checklist_id>/classification")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409, 422)
@requires("checklists:write", Role.MANAGER)
def classify_checklist(
    checklist_id: int, json: s.ClassificationIn, headers: s.OptionalIfMatchHeaders
) -> Any:
    """Classify the ad; adgate's suggestion is recorded beside it (a flagged NONE needs a
    justification and a reviewer's sign-off)."""
    checklist = _owned(checklist_id)
    version = _if_match(headers.if_match)
    suggestion = service.suggestion(checklist)
    try:
        service.classify(
            get_session(),
            checklist,
            caller().user,
            category=Category(json.category),
            social_issues=list(json.social_issues),
            digitally_created_media=json.digitally_created_media,
            justification=json.justification,
            suggestion=suggestion,
            version=checklist.version if version is None else version,
            now=utcnow(),
        )
    except service.Conflict as exc:
        raise _conflict(exc) from None
    except service.ChecklistError as exc:
        raise _invalid(exc) from None
    except TransitionRefused as refused:
        raise _refused(refused) from None
    return _answer(checklist)


@bp.post("/checklists/<int:checklist_id>/attestations/two-factor")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409)
@requires("checklists:write", Role.MANAGER)
def attest_two_factor(checklist_id: int) -> Any:
    """The owner declares that two-factor authentication is on for the Facebook account
    used for ads (recorded with the wording it declares)."""
    checklist = _owned(checklist_id)
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
    return _answer(checklist)


@bp.post("/checklists/<int:checklist_id>/withdrawal")
@operation(CHECKLISTS, 200, s.ChecklistOut, 404, 409)
@requires("checklists:write", Role.MANAGER, Role.ADMIN)
def withdraw_checklist(checklist_id: int) -> Any:
    """Withdraw the ad while it has not been sent (a queued submission is withdrawn too)."""
    checklist = _load(checklist_id, for_update=True)
    try:
        service.withdraw(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise _refused(refused) from None
    return _answer(checklist)


@bp.post("/images")
@operation(CHECKLISTS, 201, s.ImageOut, 422)
@requires("checklists:write", Role.MANAGER)
def upload_image(json: s.ImageIn) -> Any:
    """Upload an image for your ads (PNG or JPEG, at least 600 x 600 pixels, at most 8 MB);
    use its id as the ad's ``image``. The same file again gives the same image."""
    try:
        data = base64.b64decode(json.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem(
            "validation-failed",
            "data is not base64",
            errors=[
                {"field": "data", "code": "not_base64", "detail": "send the file base64-encoded"}
            ],
        ) from None
    try:
        image = images.upload(get_session(), caller().user, data, utcnow())
    except images.ImageError as exc:
        raise ApiProblem(
            "validation-failed",
            str(exc),
            errors=[{"field": "data", "code": exc.code, "detail": str(exc)}],
        ) from None
    return _image_out(images.meta(get_session(), image.id)), 201


# --- reviews -----------------------------------------------------------------


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
        raise _invalid(exc) from None
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


@bp.post("/checklists/<int:checklist_id>/approval")
@operation(REVIEWS, 200, s.ChecklistOut, 404, 409, 422, 428)
@requires("approvals:write", Role.REVIEWER)
def approve_checklist(checklist_id: int, headers: s.ApprovalHeaders) -> Any:
    """Four-eyes approval of exactly the content the reviewer read: If-Match with the version
    read (stale: 409 with the current ETag, nothing approved) and X-OTP, the reviewer's
    current code."""
    version = _if_match(headers.if_match)
    assert version is not None  # required by the headers' model
    checklist = _load(checklist_id, for_update=True)
    if version != checklist.version:  # before the code: a stale read spends no code
        raise _conflict(service.Conflict(checklist.version))
    _second_factor(headers.x_otp)
    try:
        reviews.approve(get_session(), checklist, caller().user, utcnow(), version=version)
    except service.Conflict as exc:
        raise _conflict(exc) from None
    except service.ChecklistError as exc:
        raise ApiProblem("forbidden", str(exc)) from None
    except TransitionRefused as refused:
        raise _refused(refused) from None
    return _answer(checklist)


def _second_factor(code: str) -> None:
    """Check X-OTP once (replays refused); a refusal is counted, audited and kept although the
    request fails (``app.auth.secondfactor``)."""
    user = caller().user
    if not user.totp_enabled:
        raise ApiProblem("otp-required", "the token's owner has no two-factor authentication")
    attempt = secondfactor.prove(get_session(), user, code, utcnow())
    if attempt.ok:
        return
    if attempt.locked_for is not None:
        wait = int(attempt.locked_for.total_seconds())
        raise ApiProblem("otp-invalid", f"too many wrong codes: locked for {wait} s")
    replayed = attempt.refused == twofactor.CodeCheck.REPLAYED
    raise ApiProblem(
        "otp-invalid", "the code was used already" if replayed else "the code is not valid"
    )


# --- submissions -------------------------------------------------------------


@bp.post("/checklists/<int:checklist_id>/submit")
@operation(SUBMISSIONS, 202, s.SubmitOut, 400, 404, 409, 422)
@requires("submissions:write", Role.MANAGER)
@idempotent
def submit_checklist(checklist_id: int, headers: s.SubmitHeaders) -> Any:
    """Queue the ad for Meta if every check passes now; else 409 with every unmet step.
    Needs an Idempotency-Key: a retry with the same key gets the first answer."""
    checklist = _owned(checklist_id)
    try:
        submission = service.submit(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise _refused(refused) from None
    location = url_for("api.get_submission", submission_id=submission.id)
    return s.SubmitOut(submission=submission_out(submission)), 202, {"Location": location}


@bp.post("/checklists/<int:checklist_id>/activation")
@operation(SUBMISSIONS, 202, s.SubmitOut, 404, 409)
@requires("submissions:write", Role.MANAGER)
def activate_checklist(checklist_id: int) -> Any:
    """Start a Meta-approved, paused ad: every check runs again; the worker then sets the
    campaign, ad set and ad ACTIVE at Meta. 409 with every unmet step when blocked."""
    checklist = _owned(checklist_id)
    try:
        submission = service.activate(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise _refused(refused) from None
    location = url_for("api.get_submission", submission_id=submission.id)
    return s.SubmitOut(submission=submission_out(submission)), 202, {"Location": location}


@bp.post("/checklists/<int:checklist_id>/pause")
@operation(SUBMISSIONS, 202, s.SubmitOut, 404, 409)
@requires("submissions:write", Role.MANAGER)
def pause_checklist(checklist_id: int) -> Any:
    """Pause a running ad: the worker sets it PAUSED at Meta."""
    checklist = _owned(checklist_id)
    try:
        submission = service.pause(get_session(), checklist, caller().user, utcnow())
    except TransitionRefused as refused:
        raise _refused(refused) from None
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
    _load(sub.checklist_id)  # the same visibility as its checklist
    return submission_out(sub)


# --- audit -------------------------------------------------------------------


@bp.get("/audit/events")
@operation(AUDIT, 200, s.AuditPage, 422)
@requires("audit:read", Role.AUDITOR)
def audit_events(query: s.AuditQuery) -> s.AuditPage:
    """Audit events, newest first, filtered; reading the log is itself audited."""
    db = get_session()
    the_filter = audit_query.Filter(
        checklist=query.checklist,
        actor=query.actor,
        kind=query.kind,
        outcome=query.outcome,
        since=query.since,
        until=query.until,
    )
    the_filter = audit_query.resolved(db, the_filter)
    page = audit_query.page(db, the_filter, _after(query.cursor), query.limit)
    rows, next_cursor = page.events, _cursor(page.next_after)
    audit.defer(
        "audit.read",
        data={
            "view": "api",
            "count": len(rows),
            "filters": {**the_filter.describe(), "limit": query.limit},
        },
    )
    return s.AuditPage(events=[_event_out(e) for e in rows], next_cursor=next_cursor)


def _event_out(e: AuditEvent) -> s.AuditEventOut:
    data = json.loads(e.data)
    return s.AuditEventOut(
        seq=e.seq,
        occurred_at=e.occurred_at,
        actor=s.Actor(type=e.actor_type, id=e.actor_id),
        kind=e.kind,
        subject=s.Subject(type=e.subject_type, id=e.subject_id),
        data=data if isinstance(data, dict) else {"value": data},
        request_id=e.request_id,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


@bp.get("/audit/verify")
@operation(AUDIT, 200, s.VerifyOut)
@requires("audit:read", Role.AUDITOR)
def audit_verify() -> s.VerifyOut:
    """Walk the whole hash chain now (streamed); ok, or the first broken event."""
    result = verification.verify(engine())
    audit.defer("audit.verified", data={"ok": result.ok, "events": result.events, "via": "api"})
    return s.VerifyOut(
        ok=result.ok,
        events=result.events,
        head=result.head,
        first_bad_event=result.first_bad_event,
        reason=result.reason,
    )
