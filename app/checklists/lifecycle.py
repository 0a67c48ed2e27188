"""The actions that move an ad on from its page: attest, submit, start, pause, resume,
withdraw, duplicate. Each parses its form, calls one operation of the checklist service and
renders (``app.checklists.views`` has the pages they return to)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth import stepup
from app.auth.access import roles_required
from app.checklists import adform, bp, gate, service, steps
from app.checklists.forms import ActionForm, AttestForm, ChecklistForm, StepUpForm, WithdrawForm
from app.checklists.views import load, owned, refused_message, render_show
from app.checklists.wording import FACEBOOK_2FA_WORDING
from app.db import get_session
from app.models import Role, utcnow
from workflows.machine import Event, TransitionRefused, events_from


@bp.post("/<int:checklist_id>/attest")
@roles_required(Role.MANAGER)
def attest(checklist_id: int) -> Response | tuple[str, int]:
    """The owner confirms 2FA on the Facebook account (recorded with its wording)."""
    checklist = owned(checklist_id)
    form = AttestForm()
    if not form.validate():
        return render_show(checklist, 400, attest_form=form)
    try:
        service.attest_facebook_2fa(
            get_session(), checklist, current_user.user, str(FACEBOOK_2FA_WORDING), utcnow()
        )
    except service.ChecklistError as exc:
        flash(str(exc), "danger")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


@bp.post("/<int:checklist_id>/submit")
@roles_required(Role.MANAGER)
def submit(checklist_id: int) -> Response | tuple[str, int]:
    """Queue the ad for Meta: every check is evaluated again, and a fresh code is needed."""
    checklist = owned(checklist_id)
    form = StepUpForm()
    if not form.validate():
        return render_show(checklist, 400, submit_form=form)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return render_show(checklist, 400, submit_form=form)
    try:
        service.submit(get_session(), checklist, current_user.user, utcnow())
    except TransitionRefused as refused:
        refused_message(refused)
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    flash(_("The ad is queued for Meta."), "success")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


@bp.post("/<int:checklist_id>/activate")
@roles_required(Role.MANAGER)
def activate(checklist_id: int) -> Response | tuple[str, int]:
    """Start the Meta-approved ad: every check again, and a fresh code."""
    checklist = owned(checklist_id)
    form = StepUpForm()
    if not form.validate():
        return render_show(checklist, 400, activate_form=form)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return render_show(checklist, 400, activate_form=form)
    try:
        service.activate(get_session(), checklist, current_user.user, utcnow())
    except TransitionRefused as refused:
        refused_message(refused)
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    flash(_("The ad will be started at Meta within seconds."), "success")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


@bp.post("/<int:checklist_id>/pause")
@roles_required(Role.MANAGER, Role.ADMIN)
def pause(checklist_id: int) -> Response:
    """Pause the running ad (its owner, or an admin)."""
    checklist = load(checklist_id, for_update=True)
    if not ActionForm().validate():
        abort(400)
    try:
        service.pause(get_session(), checklist, current_user.user, utcnow())
    except TransitionRefused as refused:
        refused_message(refused)
    else:
        flash(_("The ad will be paused at Meta within seconds."), "info")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


@bp.post("/<int:checklist_id>/resume")
@roles_required(Role.MANAGER, Role.ADMIN)
def resume(checklist_id: int) -> Response:
    """Send a held ad again, after a person looked at why Meta blocked it."""
    checklist = load(checklist_id, for_update=True)
    if not ActionForm().validate():
        abort(400)
    try:
        service.resume(get_session(), checklist, current_user.user, utcnow())
    except TransitionRefused as refused:
        refused_message(refused)
    else:
        flash(_("The ad is queued for Meta again."), "info")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))


@bp.route("/<int:checklist_id>/withdraw", methods=["GET", "POST"])
@roles_required(Role.MANAGER, Role.ADMIN)
def withdraw(checklist_id: int) -> Response | tuple[str, int]:
    """Withdraw the ad, as long as sending has not started: a page that asks for the reason
    and a confirmation (withdrawing cannot be undone)."""
    checklist = load(checklist_id, for_update=request.method == "POST")
    form = WithdrawForm()
    if request.method == "POST" and form.validate():
        try:
            service.withdraw(
                get_session(), checklist, current_user.user, utcnow(), form.reason.data
            )
        except TransitionRefused as refused:
            refused_message(refused)
        else:
            flash(_("The ad was withdrawn."), "info")
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    if Event.WITHDRAW not in events_from(
        checklist.state, gate.parties(current_user.user, checklist)
    ):
        flash(_("The ad can no longer be withdrawn (state: %(state)s).",
                state=steps.STATE_LABELS[checklist.state]), "warning")  # fmt: skip
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    status = 400 if request.method == "POST" else 200
    return render_template("checklists/withdraw.html", form=form, checklist=checklist), status


@bp.post("/<int:checklist_id>/duplicate")
@roles_required(Role.MANAGER)
def duplicate(checklist_id: int) -> Response:
    """A new draft with the ad's content, none of its steps (any state, the owner's ad)."""
    source = owned(checklist_id, for_update=False)
    if not ActionForm().validate():
        abort(400)
    try:
        copy = service.duplicate(get_session(), source, current_user.user, utcnow())
    except service.ChecklistError as exc:
        form = ChecklistForm(formdata=None)
        adform.field_error(form, exc)
        reasons = "; ".join(str(e) for f in form for e in f.errors)
        flash(_("The ad cannot be duplicated: %(reasons)s", reasons=reasons), "danger")
        return redirect(url_for("checklists.show", checklist_id=source.id))
    flash(_("A copy was saved as a new draft: check it, then classify it."), "success")
    return redirect(url_for("checklists.show", checklist_id=copy.id))
