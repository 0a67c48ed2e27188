"""What the API answers: a checklist, a submission, an image as the documented models."""

from __future__ import annotations

import json

from flask import url_for

from app.api import common
from app.api import schemas as s
from app.checklists import gate, images, service, steps
from app.db import get_session
from app.models import AdAccount, Checklist, CommentKind, Submission, User, utcnow
from app.reviews import conversation


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


def comment_out(entry: conversation.Entry) -> s.CommentOut:
    return s.CommentOut(
        id=entry.id,
        author=entry.author,
        kind=CommentKind(entry.kind),
        body=entry.body,
        created_at=entry.created_at,
    )


def image_out(found: images.ImageMeta | None) -> s.ImageOut | None:
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
            social_issues=list(checklist.social_issues),
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
            countries=list(checklist.countries),
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
            image=image_out(images.meta(db, checklist.image_id)),
        ),
        classification=classification,
        two_factor_attested_at=checklist.facebook_2fa_attested_at,
        approved_by=_email(checklist.approved_by),
        approved_at=checklist.approved_at,
        steps=[
            s.Step(
                name=r.name,
                status=r.status,
                code=r.code,
                detail=steps.message(r),
                provenance=r.provenance,
            )
            for r in gate.evaluate(db, checklist, now)
        ],
        submission=submission_out(latest) if latest is not None else None,
        comments=[comment_out(e) for e in conversation.thread(db, checklist)],
        created_at=checklist.created_at,
        updated_at=checklist.updated_at,
    )


def answer(checklist: Checklist, status: int = 200) -> tuple[s.ChecklistOut, int, dict[str, str]]:
    headers = {"ETag": common.etag(checklist)}
    if status == 201:
        headers["Location"] = url_for("api.get_checklist", checklist_id=checklist.id)
    return checklist_out(checklist), status, headers
