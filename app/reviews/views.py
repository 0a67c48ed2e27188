"""The reviewers' pages: what waits for them, approving, signing off, identity documents."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import audit, paging
from app.auth import stepup
from app.auth.access import refuse_unconfirmed, roles_required
from app.checklists import access, steps
from app.checklists.forms import ActionForm
from app.checklists.service import ChecklistError, Conflict, expect_version
from app.checklists.views import load, refused_message, render_show
from app.db import get_session
from app.main import inbox
from app.models import (
    Checklist,
    IdentityRequest,
    IdentityVerification,
    RequestState,
    Role,
    User,
    utcnow,
)
from app.reviews import bp, conversation, requests, service
from app.reviews.forms import (
    ApproveForm,
    ChangeRequestForm,
    CommentForm,
    IdentityForm,
    QueueFilterForm,
)
from workflows.machine import State, TransitionRefused


@bp.before_request
def confirmed_only() -> Response | None:
    """A reviewer no second person has confirmed approves, signs off and verifies nothing."""
    checklist_id = (request.view_args or {}).get("checklist_id")
    if checklist_id is not None:
        return refuse_unconfirmed(url_for("checklists.show", checklist_id=checklist_id))
    return refuse_unconfirmed(url_for("reviews.identities"))


QUEUE_ORDERS = {
    "oldest": (col(Checklist.updated_at), col(Checklist.id)),
    "changed": (col(Checklist.updated_at).desc(), col(Checklist.id).desc()),
    "title": (col(Checklist.title), col(Checklist.id)),
}


@bp.get("/")
@roles_required(Role.REVIEWER)
def queue() -> tuple[str, int]:
    """Others' drafts by what this reviewer can do for them: approve, verify an identity,
    sign off; the rest with what is still open (a page at a time), filtered and ordered."""
    db, now = get_session(), utcnow()
    form = QueueFilterForm(formdata=request.args)
    others = select(Checklist).where(
        col(Checklist.state) == State.DRAFT, col(Checklist.owner_id) != current_user.id
    )
    owners = db.execute(
        select(col(User.id), col(User.email))
        .where(col(User.id).in_(others.with_only_columns(col(Checklist.owner_id)).distinct()))
        .order_by(col(User.email))
    ).all()
    form.owner.choices = [("", _("anyone"))] + [(str(i), e) for i, e in owners]
    if not form.validate():
        empty = inbox.Sorted([], [], [], [])
        return _queue_page(form, empty, paging.page_of([], 1, paging.DEFAULT_SIZE)), 400
    query = others
    if form.country.data:
        query = query.where(access.targets(form.country.data))
    if form.owner.data:
        query = query.where(col(Checklist.owner_id) == int(form.owner.data))
    query = query.order_by(*QUEUE_ORDERS.get(form.sort.data or "oldest", QUEUE_ORDERS["oldest"]))
    found = inbox.sort_drafts(db, db.scalars(query).all(), now)
    page = paging.page_of(found.others, form.page.data, paging.size_of(form.per_page.data))
    return _queue_page(form, found, page), 200


def _queue_page(
    form: QueueFilterForm,
    found: inbox.Sorted,
    page: paging.Page[tuple[Checklist, tuple[str, ...]]],
) -> str:
    return render_template(
        "reviews/queue.html",
        form=form,
        to_approve=found.ready,
        to_sign_off=found.sign_offs,
        to_verify=found.identity,
        page=page,
        waiting=[(c, [steps.LABELS[n] for n in still]) for c, still in page.items],
        args=paging.kept_args(request.args, "page"),
        country_names=steps.country_names,
    )


@bp.post("/checklists/<int:checklist_id>/approve")
@roles_required(Role.REVIEWER)
def approve(checklist_id: int) -> Response | tuple[str, int]:
    """Approve exactly this content (four eyes), with a fresh code."""
    checklist = load(checklist_id, for_update=True)
    form = ApproveForm()
    if not form.validate():
        return render_show(checklist, 400, approve_form=form)
    # Before the code is asked for: a stale page spends no code.
    try:
        expect_version(checklist, form.shown_version())
    except Conflict:
        _changed_since_shown()
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return render_show(checklist, 400, approve_form=form)
    try:
        service.approve(
            get_session(), checklist, current_user.user, utcnow(), version=checklist.version
        )
    except TransitionRefused as refused:
        refused_message(refused)
    else:
        flash(_("You approved the ad."), "success")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


def _changed_since_shown() -> None:
    flash(
        _(
            "The ad changed after you opened it, so nothing was approved. Review it again "
            "as it is now, then approve."
        ),
        "warning",
    )


@bp.post("/checklists/<int:checklist_id>/comments")
@roles_required(Role.MANAGER, Role.REVIEWER, Role.ADMIN)
def comment(checklist_id: int) -> Response | tuple[str, int]:
    """Add a comment to the ad's conversation (its owner, a reviewer or an admin)."""
    checklist = load(checklist_id)
    form = CommentForm()
    if not form.validate():
        return render_show(checklist, 400, comment_form=form)
    try:
        written = conversation.comment(
            get_session(), checklist, current_user.user, form.body.data, utcnow()
        )
    except ChecklistError as exc:
        form.body.errors.append(_conversation_error(exc))
        return render_show(checklist, 403 if exc.field == "user" else 400, comment_form=form)
    flash(_("Your comment was added."), "success")
    return redirect(
        url_for("checklists.show", checklist_id=checklist.id, _anchor=f"comment-{written.id}")
    )


@bp.post("/checklists/<int:checklist_id>/change-requests")
@roles_required(Role.REVIEWER)
def request_changes(checklist_id: int) -> Response | tuple[str, int]:
    """Send the ad back to its owner with a reason; the approval, if any, is voided."""
    checklist = load(checklist_id, for_update=True)
    form = ChangeRequestForm()
    if not form.validate():
        return render_show(checklist, 400, change_form=form)
    try:
        expect_version(checklist, form.shown_version())
    except Conflict as conflict:
        # The reason is kept; the page now shows the ad as it is, and this version.
        form.version.data = str(conflict.current_version)
        form.comment.errors.append(
            _(
                "The ad changed after you opened it, so it was not sent back. Read it again as "
                "it is now; your reason is kept here."
            )
        )
        return render_show(checklist, 409, change_form=form)
    try:
        conversation.request_changes(
            get_session(),
            checklist,
            current_user.user,
            form.comment.data,
            utcnow(),
            version=checklist.version,
        )
    except TransitionRefused as refused:
        refused_message(refused)
    except ChecklistError as exc:
        form.comment.errors.append(_conversation_error(exc))
        return render_show(checklist, 403 if exc.field == "user" else 400, change_form=form)
    else:
        flash(_("You sent the ad back to its owner for changes."), "success")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


def _conversation_error(exc: ChecklistError) -> str:
    """The conversation service's refusal in the page's language."""
    messages = {
        "empty": _("Write a text."),
        "not_participant": _("Only the ad's owner, reviewers and admins write here."),
        "not_reviewer": _("Only a reviewer other than the ad's owner requests changes."),
        "thread_full": _(
            "This conversation holds %(n)d entries, as many as it can.", n=conversation.MAX_ENTRIES
        ),
    }
    return messages.get(exc.code) or str(exc)


@bp.post("/checklists/<int:checklist_id>/sign-off")
@roles_required(Role.REVIEWER)
def sign_off(checklist_id: int) -> Response:
    """Accept the owner's justification for classifying a flagged ad as none."""
    checklist = load(checklist_id, for_update=True)
    try:
        service.sign_off_classification(get_session(), checklist, current_user.user, utcnow())
    except ChecklistError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("You signed off the classification."), "success")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


def _identity_page(form: IdentityForm, status: int = 200) -> tuple[str, int]:
    db = get_session()
    people = db.scalars(
        select(User)
        .where(col(User.id) != current_user.id, col(User.active).is_(True))
        .order_by(col(User.email))
    ).all()
    form.user.choices = [(u.id, u.email) for u in people]
    verifications = db.scalars(
        select(IdentityVerification).order_by(col(IdentityVerification.id).desc()).limit(500)
    ).all()
    emails = {u.id: u.email for u in db.scalars(select(User))}
    asked = requests.open_requests(db, besides=current_user.id)
    # Identity data is personal data: reading it is audited.
    audit.defer("identity.read", data={"count": len(verifications), "requests": len(asked)})
    return render_template(
        "reviews/identities.html",
        form=form,
        verifications=verifications,
        asked=asked,
        emails=emails,
        document_labels=steps.DOCUMENT_LABELS,
        action_form=ActionForm(),
        today=utcnow().date(),
    ), status


@bp.get("/identities")
@roles_required(Role.REVIEWER)
def identities() -> tuple[str, int]:
    """Recorded identity verifications, the open requests, and the form to record one
    (``?request=<id>``: filled in for that request)."""
    form = IdentityForm()
    asked = get_session().get(IdentityRequest, request.args.get("request", type=int) or 0)
    if asked is not None and asked.state == RequestState.OPEN:
        form.user.data, form.issuing_country.data = asked.requester_id, asked.country
    return _identity_page(form)


@bp.post("/identities")
@roles_required(Role.REVIEWER)
def verify_identity() -> Response | tuple[str, int]:
    """Record that you saw a person's valid identity document."""
    form = IdentityForm()
    db = get_session()
    form.user.choices = [(u.id, u.email) for u in db.scalars(select(User))]
    if not form.validate():
        return _identity_page(form, 400)
    person = db.get(User, form.user.data)
    if person is None:
        abort(400)
    try:
        service.verify_identity(
            db,
            current_user.user,
            person,
            document_type=form.document_type.data,
            issuing_country=form.issuing_country.data or "",
            expires_on=form.expires_on.data,
            now=utcnow(),
        )
    except ChecklistError as exc:
        messages = {
            "self_verification": _("You cannot verify your own identity."),
            "expired": _("The document has expired already."),
            "country_invalid": _("Use an ISO country code such as CH."),
        }
        target = getattr(form, exc.field, form.user)
        target.errors = [*target.errors, str(messages.get(exc.code, str(exc)))]
        return _identity_page(form, 400)
    flash(_("The verification was recorded."), "success")
    return redirect(url_for("reviews.identities"))


@bp.post("/identities/<int:verification_id>/revoke")
@roles_required(Role.REVIEWER)
def revoke_identity(verification_id: int) -> Response:
    """Revoke a verification; checklists relying on it fail their identity check."""
    db = get_session()
    verification = db.get(IdentityVerification, verification_id)
    if verification is None:
        abort(404)
    service.revoke_identity(db, current_user.user, verification, utcnow())
    flash(_("The verification was revoked."), "info")
    return redirect(url_for("reviews.identities"))
