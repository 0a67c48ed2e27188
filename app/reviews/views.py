"""The reviewers' pages: what waits for them, approving, signing off, identity documents."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import audit
from app.auth import stepup
from app.auth.access import refuse_unconfirmed, roles_required
from app.checklists import gate, steps
from app.checklists.forms import ActionForm
from app.checklists.service import ChecklistError, Conflict, expect_version
from app.checklists.views import load, refused_message, render_show
from app.db import get_session
from app.models import Checklist, IdentityVerification, Role, User, utcnow
from app.reviews import bp, service
from app.reviews.forms import ApproveForm, IdentityForm
from workflows.machine import State, TransitionRefused


@bp.before_request
def confirmed_only() -> Response | None:
    """A reviewer no second person has confirmed approves, signs off and verifies nothing."""
    checklist_id = (request.view_args or {}).get("checklist_id")
    if checklist_id is not None:
        return refuse_unconfirmed(url_for("checklists.show", checklist_id=checklist_id))
    return refuse_unconfirmed(url_for("reviews.identities"))


@bp.get("/")
@roles_required(Role.REVIEWER)
def queue() -> str:
    """Checklists waiting for this reviewer: approvals and classification sign-offs."""
    db, now = get_session(), utcnow()
    drafts = db.scalars(
        select(Checklist)
        .where(
            col(Checklist.state) == State.DRAFT,
            col(Checklist.owner_id) != current_user.id,
        )
        .order_by(col(Checklist.updated_at))
        .limit(200)
    ).all()
    to_approve, to_sign_off, waiting = [], [], []
    for checklist in drafts:
        results = {r.name: r for r in gate.evaluate(db, checklist, now)}
        if results["classification"].code == "classification.sign_off_pending":
            to_sign_off.append(checklist)
        elif all(r.passed for name, r in results.items() if name != "approval"):
            to_approve.append(checklist)
        else:
            waiting.append(
                (checklist, [steps.LABELS[n] for n, r in results.items() if not r.passed])
            )
    return render_template(
        "reviews/queue.html", to_approve=to_approve, to_sign_off=to_sign_off, waiting=waiting
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
    # Identity data is personal data: reading it is audited.
    audit.defer("identity.read", data={"count": len(verifications)})
    return render_template(
        "reviews/identities.html",
        form=form,
        verifications=verifications,
        emails=emails,
        document_labels=steps.DOCUMENT_LABELS,
        action_form=ActionForm(),
        today=utcnow().date(),
    ), status


@bp.get("/identities")
@roles_required(Role.REVIEWER)
def identities() -> tuple[str, int]:
    """Recorded identity verifications, and the form to record one."""
    return _identity_page(IdentityForm())


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
            issuing_country=form.issuing_country.data,
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
