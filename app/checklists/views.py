"""The ad managers' pages: list, create, edit, classify, and the checklist page that everyone
involved sees (the actions that move an ad on are in ``app.checklists.lifecycle``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import paging
from app.admin.forms import ROLE_LABELS
from app.auth import stepup
from app.auth.access import roles_required
from app.checklists import access, adform, bp, gate, images, service, steps
from app.checklists.forms import (
    ActionForm,
    AttestForm,
    ChecklistFilterForm,
    ChecklistForm,
    ClassificationForm,
    StepUpForm,
)
from app.checklists.wording import FACEBOOK_2FA_WORDING
from app.db import get_session
from app.i18n import format_amount
from app.models import AdAccount, AdImage, Checklist, Role, User, utcnow
from app.reviews import conversation, requests
from app.reviews.forms import ChangeRequestForm, CommentForm
from workflows import delivery
from workflows.checks import Category
from workflows.machine import (
    IN_FLIGHT,
    MAIN_LINE,
    Event,
    TransitionRefused,
    editable,
    events_from,
)


def load(checklist_id: int, *, for_update: bool = False) -> Checklist:
    """The checklist if the current user may see it (``access.load``), else 404."""
    try:
        return access.load(get_session(), checklist_id, current_user.user, for_update=for_update)
    except access.NotVisible:
        abort(404)


def owned(checklist_id: int, *, for_update: bool = True) -> Checklist:
    """The checklist if the current user owns it (``access.load_owned``), else 404 or 403."""
    try:
        return access.load_owned(
            get_session(), checklist_id, current_user.user, for_update=for_update
        )
    except access.NotVisible:
        abort(404)
    except access.NotOwner:
        abort(403)


def refused_message(refused: TransitionRefused) -> None:
    """Flash every unmet step of a refused transition."""
    reasons = "; ".join(
        str(steps.LABELS[u.step]) if u.step in steps.LABELS else steps.refusal(u)
        for u in refused.unmet
    )
    flash(_("Not possible yet. Still open: %(reasons)s", reasons=reasons), "danger")


ORDERS = {
    "changed": (col(Checklist.updated_at).desc(), col(Checklist.id).desc()),
    "oldest": (col(Checklist.updated_at), col(Checklist.id)),
    "title": (col(Checklist.title), col(Checklist.id)),
    "number": (col(Checklist.id).desc(),),
}


@bp.get("/")
@roles_required(Role.MANAGER, Role.ADMIN)
def index() -> tuple[str, int]:
    """The user's checklists (an admin sees all): filtered, ordered, a page at a time."""
    db, user = get_session(), current_user.user
    form = ChecklistFilterForm(formdata=request.args)
    if user.role == Role.ADMIN:
        owners = db.execute(
            select(col(User.id), col(User.email))
            .where(col(User.id).in_(select(col(Checklist.owner_id)).distinct()))
            .order_by(col(User.email))
        ).all()
        form.owner.choices = [("", _("anyone"))] + [(str(i), e) for i, e in owners]
    else:
        del form.owner  # a manager sees their own ads only
    if not form.validate():
        page: paging.Page[Checklist] = paging.page_of([], 1, paging.DEFAULT_SIZE)
        return _index_page(form, page), 400
    query = access.visible(user)
    if form.state.data:
        query = query.where(col(Checklist.state) == form.state.data)
    if form.country.data:
        query = query.where(access.targets(form.country.data))
    if "owner" in form and form.owner.data:
        query = query.where(col(Checklist.owner_id) == int(form.owner.data))
    query = query.order_by(*ORDERS.get(form.sort.data or "changed", ORDERS["changed"]))
    page = paging.paginate(db, query, form.page.data, paging.size_of(form.per_page.data))
    return _index_page(form, page), 200


def _index_page(form: ChecklistFilterForm, page: paging.Page[Checklist]) -> str:
    return render_template(
        "checklists/index.html",
        form=form,
        page=page,
        checklists=page.items,
        args=paging.kept_args(request.args, "page"),
        state_labels=steps.STATE_LABELS,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def create() -> str | Response | tuple[str, int]:
    """Draft a new ad."""
    form = ChecklistForm()
    if request.method == "POST":
        if form.validate_on_submit() and (warned := _refusal_warning(form, None)):
            return warned
        if (ad := adform.check(form, None)) is not None:
            try:
                checklist = service.create(get_session(), current_user.user, ad, utcnow())
            except service.ChecklistError as exc:
                adform.field_error(form, exc)
            else:
                flash(_("The ad was saved as a draft."), "success")
                return redirect(url_for("checklists.show", checklist_id=checklist.id))
        return render_template("checklists/edit.html", form=form, checklist=None), 400
    status = 400 if request.method == "POST" else 200
    return render_template("checklists/edit.html", form=form, checklist=None), status


def _refusal_warning(form: ChecklistForm, checklist: Checklist | None) -> tuple[str, int] | None:
    """The form again, unsaved (nothing uploaded either), when the chosen countries will refuse
    the ad and the user has not yet said to save it anyway; None to go on saving."""
    if form.save_anyway.data:
        return None
    ahead = adform.refusal_ahead(form, checklist, utcnow())
    if ahead is None:
        return None
    return render_template(
        "checklists/edit.html", form=form, checklist=checklist, refusal_ahead=ahead
    ), 200


@bp.get("/<int:checklist_id>")
@roles_required(Role.MANAGER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
def show(checklist_id: int) -> tuple[str, int]:
    """Where the ad stands: every step with its status, reason and what to do next."""
    return render_show(load(checklist_id))


def render_show(checklist: Checklist, status_code: int = 200, **forms: Any) -> tuple[str, int]:
    """The checklist page, with the forms given (after a refused action) or fresh ones."""
    db, now = get_session(), utcnow()
    results = gate.evaluate(db, checklist, now)
    parties = gate.parties(current_user.user, checklist)
    owner = db.get(User, checklist.owner_id)
    presented = steps.present(results)
    blocked_submit = steps.open_steps(presented)
    blocked_approve = [s for s in blocked_submit if s.name != "approval"]
    submission = service.latest_submission(db, checklist)
    account = db.get(AdAccount, checklist.ad_account_id)
    currency = delivery.CURRENCIES.get(account.currency or "") if account else None
    image = images.meta(db, checklist.image_id)
    thread = conversation.thread(db, checklist)
    open_request = conversation.open_change_request(db, checklist)
    is_owner = checklist.owner_id == current_user.id
    page = render_template(
        "checklists/show.html",
        budget=(
            f"{format_amount(delivery.format_amount(checklist.budget_amount, currency))} "
            f"{currency.code}"
            if currency
            else _("%(amount)s minor units (currency not recorded)", amount=checklist.budget_amount)
        ),
        budget_labels=steps.BUDGET_LABELS,
        placement_labels=steps.PLACEMENT_LABELS,
        image=image,
        advertiser=account.name if account else None,
        preview_places=", ".join(str(steps.PLACEMENT_LABELS[p]) for p in checklist.placements),
        link_host=urlsplit(checklist.link_url).hostname or "",
        # Meta shows the disclaimer on ads about social issues, elections or politics.
        show_paid_for_by=bool(checklist.paid_for_by) and checklist.category != Category.NONE,
        checklist=checklist,
        owner=owner,
        steps=presented,
        refusal=steps.jurisdiction_refusal(results),
        in_flight=checklist.state in IN_FLIGHT,
        main_line=MAIN_LINE,
        state=checklist.state,
        state_labels=steps.STATE_LABELS,
        category_labels=steps.CATEGORY_LABELS,
        topic_labels=steps.TOPIC_LABELS,
        events=events_from(checklist.state, parties),
        Event=Event,
        is_owner=is_owner,
        blocked_submit=blocked_submit,
        blocked_approve=blocked_approve,
        fresh=stepup.is_fresh() if current_user.user.totp_enabled else False,
        submission=submission,
        meta_error=json.loads(submission.error) if submission and submission.error else None,
        review_feedback=(
            json.loads(submission.review_feedback)
            if submission and submission.review_feedback
            else None
        ),
        issues_info=(
            json.loads(submission.issues_info) if submission and submission.issues_info else []
        ),
        throttled_until=(
            account.meta_throttled_until
            if account is not None
            and account.meta_throttled_until is not None
            and account.meta_throttled_until > now
            else None
        ),
        activate_form=forms.get("activate_form") or StepUpForm(),
        action_form=ActionForm(),
        can_pause=Event.PAUSE in events_from(checklist.state, parties),
        can_resume=Event.RESUME in events_from(checklist.state, parties),
        attest_form=forms.get("attest_form") or AttestForm(),
        submit_form=forms.get("submit_form") or StepUpForm(),
        approve_form=forms.get("approve_form") or StepUpForm(),
        wording=FACEBOOK_2FA_WORDING,
        four_eyes=current_app.config["FOUR_EYES"],
        thread=thread,
        open_request=next((e for e in thread if open_request and e.id == open_request.id), None),
        may_comment=conversation.may_write(current_user.user, checklist),
        comment_form=forms.get("comment_form") or CommentForm(),
        change_form=forms.get("change_form") or ChangeRequestForm(version=checklist.version),
        role_labels=ROLE_LABELS,
        identity_asks=requests.for_checklist(db, checklist, now) if is_owner else [],
    )
    return page, status_code


@bp.get("/<int:checklist_id>/state")
@roles_required(Role.MANAGER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
def state(checklist_id: int) -> Response:
    """Where the ad stands, as JSON for the checklist page's own script (the session's
    cookie, same origin): it follows the ad while the worker or Meta has it."""
    checklist = load(checklist_id)
    return jsonify(
        id=checklist.id,
        state=checklist.state,
        label=str(steps.STATE_LABELS.get(checklist.state, checklist.state)),
        version=checklist.version,
        in_flight=checklist.state in IN_FLIGHT,
    )


@bp.get("/<int:checklist_id>/image")
@roles_required(Role.MANAGER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
def image(checklist_id: int) -> Response:
    """The ad's image, exactly as it will be sent, for everyone who may see the ad."""
    checklist = load(checklist_id)
    found = get_session().get(AdImage, checklist.image_id) if checklist.image_id else None
    if found is None:
        abort(404)
    return Response(found.data, mimetype=found.content_type)


@bp.route("/<int:checklist_id>/edit", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def edit(checklist_id: int) -> str | Response | tuple[str, int]:
    """Change the ad; a stale version is a conflict that keeps the user's text."""
    checklist = owned(checklist_id, for_update=request.method == "POST")
    if not editable(checklist.state):
        flash(_("The ad can no longer be changed (state: %(state)s).",
                state=steps.STATE_LABELS[checklist.state]), "warning")  # fmt: skip
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    form = ChecklistForm(obj=None if request.method == "POST" else checklist)
    if request.method == "GET":
        adform.fill(form, checklist)
    if (
        request.method == "POST"
        and form.validate_on_submit()
        and (warned := _refusal_warning(form, checklist))
    ):
        return warned
    if request.method == "POST" and (ad := adform.check(form, checklist)) is not None:
        try:
            changed, voided = service.edit(
                get_session(), checklist, current_user.user, ad,
                adform.version(form.version.data), utcnow(),
            )  # fmt: skip
        except service.Conflict as conflict:
            form.version.data = str(conflict.current_version)
            return render_template(
                "checklists/edit.html",
                form=form,
                checklist=checklist,
                conflict=True,
                differences=adform.differences(form, checklist),
            ), 409
        except service.ChecklistError as exc:
            adform.field_error(form, exc)
        else:
            if changed:
                labels = ", ".join(
                    dict.fromkeys(
                        str(form[adform.FORM_FIELD.get(name, name)].label.text) for name in changed
                    )
                )
                flash(_("Saved. Changed: %(fields)s.", fields=labels), "success")
            if "classification" in voided:
                flash(
                    _("The classification no longer applies: classify the changed ad."), "warning"
                )
            if "approval" in voided:
                flash(
                    _("The approval no longer applies: a reviewer must approve again."), "warning"
                )
            return redirect(url_for("checklists.show", checklist_id=checklist.id))
    status = 400 if request.method == "POST" else 200
    return render_template("checklists/edit.html", form=form, checklist=checklist), status


@bp.route("/<int:checklist_id>/classification", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def classify(checklist_id: int) -> str | Response | tuple[str, int]:
    """Classify the ad, next to adgate's own suggestion and the words behind it."""
    checklist = owned(checklist_id, for_update=request.method == "POST")
    if not editable(checklist.state):
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    suggestion = service.suggestion(checklist)
    form = ClassificationForm()
    if request.method == "GET":
        form.category.data = checklist.category
        form.social_issues.data = list(checklist.social_issues)
        form.digitally_created_media.data = checklist.digitally_created_media
        form.justification.data = checklist.justification
        form.version.data = str(checklist.version)
    if form.validate_on_submit():
        try:
            service.classify(
                get_session(),
                checklist,
                current_user.user,
                category=Category(form.category.data),
                social_issues=form.social_issues.data or [],
                digitally_created_media=bool(form.digitally_created_media.data),
                justification=form.justification.data,
                suggestion=suggestion,
                version=adform.version(form.version.data),
                now=utcnow(),
            )
        except service.Conflict as conflict:
            form.version.data = str(conflict.current_version)
            flash(_("Someone changed this ad meanwhile. Check it and save again."), "warning")
            return render_template(
                "checklists/classify.html", form=form, checklist=checklist, suggestion=suggestion
            ), 409
        except service.ChecklistError as exc:
            adform.field_error(form, exc)
        else:
            flash(_("The classification was saved."), "success")
            return redirect(url_for("checklists.show", checklist_id=checklist.id))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "checklists/classify.html", form=form, checklist=checklist, suggestion=suggestion
    ), status
