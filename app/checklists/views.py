"""The ad managers' pages: list, create, edit, classify, attest, submit, withdraw, and the
checklist page that everyone involved sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import col
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from app.auth import stepup
from app.auth.access import roles_required
from app.checklists import access, bp, gate, images, service, steps
from app.checklists.forms import (
    ActionForm,
    AttestForm,
    ChecklistForm,
    ClassificationForm,
    StepUpForm,
)
from app.checklists.wording import FACEBOOK_2FA_WORDING
from app.db import get_session
from app.models import AdAccount, AdImage, Checklist, Role, User, utcnow
from workflows import delivery
from workflows.checks import Category
from workflows.machine import MAIN_LINE, Event, State, TransitionRefused, events_from

EDITABLE = (State.DRAFT.value, State.APPROVED.value)


def load(checklist_id: int, *, for_update: bool = False) -> Checklist:
    """The checklist if the current user may see it (``access.load``), else 404."""
    try:
        return access.load(get_session(), checklist_id, current_user.user, for_update=for_update)
    except access.NotVisible:
        abort(404)


def _owned(checklist_id: int, *, for_update: bool = True) -> Checklist:
    """The checklist if the current user owns it (``access.load_owned``), else 404 or 403."""
    try:
        return access.load_owned(
            get_session(), checklist_id, current_user.user, for_update=for_update
        )
    except access.NotVisible:
        abort(404)
    except access.NotOwner:
        abort(403)


def _offset(ad_account_id: str) -> int:
    """How many minor units make one unit of the ad account's currency (100 when unknown)."""
    account = get_session().get(AdAccount, ad_account_id.strip())
    currency = delivery.CURRENCIES.get(account.currency or "") if account else None
    return currency.offset if currency else 100


def _zone() -> ZoneInfo:
    """The installation's time zone, in which times are entered on the pages."""
    # zoneinfo, not the pytz zone Flask-Babel returns: replace(tzinfo=…) with a pytz zone
    # would use its historic local mean time (Berlin: +0:53).
    return ZoneInfo(str(get_timezone()))


def _utc(local: datetime | None) -> datetime | None:
    """A time entered on the page, in the installation's time zone, as UTC."""
    if local is None:
        return None
    return local.replace(tzinfo=_zone()).astimezone(UTC)


def _local(moment: datetime | None) -> datetime | None:
    """A stored time as the page shows it (the installation's time zone, no zone shown)."""
    return moment.astimezone(_zone()).replace(tzinfo=None) if moment else None


def _image_id(form: ChecklistForm, current: int | None) -> int | None:
    """The image the ad uses after the form: an upload, the removal, or the one it had.

    Raises ImageError for an upload that is not a usable image (shown on the field).
    """
    upload = form.image.data
    if isinstance(upload, FileStorage) and upload.filename:
        image = images.upload(get_session(), current_user.user, upload.read(), utcnow())
        return image.id
    if form.remove_image.data:
        return None
    return current


def _ad_input(form: ChecklistForm, image_id: int | None) -> service.AdInput:
    ad_account_id = form.ad_account_id.data.strip()
    amount = (form.budget_amount.data or Decimal(0)) * _offset(ad_account_id)
    return service.AdInput(
        title=form.title.data,
        page_id=form.page_id.data.strip(),
        ad_account_id=ad_account_id,
        message=form.message.data,
        headline=form.headline.data,
        link_url=form.link_url.data,
        countries=[c for c in form.countries.data.replace(";", ",").split(",") if c.strip()],
        paid_for_by=form.paid_for_by.data or "",
        dsa_payor=form.dsa_payor.data or "",
        dsa_beneficiary=form.dsa_beneficiary.data or "",
        budget_type=form.budget_type.data,
        budget_amount=int(amount.to_integral_value()),
        start_time=_utc(form.start_time.data),
        end_time=_utc(form.end_time.data),
        placements=list(form.placements.data or []),
        image_id=image_id,
    )


def _fill(form: ChecklistForm, checklist: Checklist) -> None:
    """The form's fields from the saved checklist (what the form shows differently)."""
    form.countries.data = ", ".join(checklist.country_list)
    form.version.data = str(checklist.version)
    form.budget_amount.data = Decimal(checklist.budget_amount) / _offset(checklist.ad_account_id)
    form.start_time.data = _local(checklist.start_time)
    form.end_time.data = _local(checklist.end_time)
    form.placements.data = list(checklist.placements)


def _save_form(form: ChecklistForm, checklist: Checklist | None) -> service.AdInput | None:
    """The form as an ad, its image uploaded; None (errors on the fields) when it is not one."""
    try:
        image_id = _image_id(form, checklist.image_id if checklist else None)
    except images.ImageError as exc:
        form.image.errors = [*form.image.errors, _image_error(exc)]
        return None
    return _ad_input(form, image_id)


def _image_error(exc: images.ImageError) -> str:
    messages = {
        "image_empty": _("The file is empty."),
        "image_too_large": _("The image is too large (at most 8 MB)."),
        "image_type": _("The file is not a PNG or JPEG image."),
        "image_dimensions": _(
            "The image must be at least 600 x 600 and at most 8000 x 8000 pixels."
        ),
        "image_ratio": _(
            "The image's width must be between 0.8 and 1.91 times its height (4:5 to 1.91:1)."
        ),
    }
    return str(messages.get(exc.code, str(exc)))


def _field_error(form: Any, exc: service.ChecklistError) -> None:
    messages = {
        "country_invalid": _("Use ISO country codes such as CH, LI or DE."),
        "countries_missing": _("Choose at least one target country."),
        "ad_account_invalid": _("An ad account id looks like act_1234."),
        "page_invalid": _("A page id is a number."),
        "link_invalid": _("The link must start with https:// or http://."),
        "topic_unknown": _("Unknown topic."),
        "amount_invalid": _("Enter an amount above zero."),
        "end_missing": _("A lifetime budget needs an end time."),
        "end_before_start": _("The end must be after the start."),
        "placements_missing": _("Choose at least one placement."),
        "image_unknown": _("This image is not one of yours."),
    }
    names = {"budget": "budget_amount", "image": "image"}
    field = getattr(form, names.get(exc.field, exc.field), None)
    text = str(messages.get(exc.code, str(exc)))
    if field is not None:
        field.errors.append(text)
    else:
        flash(text, "danger")


def refused_message(refused: TransitionRefused) -> None:
    """Flash every unmet step of a refused transition."""
    reasons = "; ".join(
        str(steps.LABELS[u.step]) if u.step in steps.LABELS else steps.refusal(u)
        for u in refused.unmet
    )
    flash(_("Not possible yet. Still open: %(reasons)s", reasons=reasons), "danger")


@bp.get("/")
@roles_required(Role.MANAGER, Role.ADMIN)
def index() -> str:
    """The user's checklists (an admin sees all), newest first."""
    query = access.visible(current_user.user).order_by(col(Checklist.id).desc())
    checklists = get_session().scalars(query.limit(200)).all()
    return render_template(
        "checklists/index.html", checklists=checklists, state_labels=steps.STATE_LABELS
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def create() -> str | Response | tuple[str, int]:
    """Draft a new ad."""
    form = ChecklistForm()
    if form.validate_on_submit() and (ad := _save_form(form, None)) is not None:
        try:
            checklist = service.create(get_session(), current_user.user, ad, utcnow())
        except service.ChecklistError as exc:
            _field_error(form, exc)
        else:
            flash(_("The ad was saved as a draft."), "success")
            return redirect(url_for("checklists.show", checklist_id=checklist.id))
        return render_template("checklists/edit.html", form=form, checklist=None), 400
    status = 400 if request.method == "POST" else 200
    return render_template("checklists/edit.html", form=form, checklist=None), status


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
    blocked_submit = [s for s in steps.present(results) if s.status != "passed"]
    blocked_approve = [s for s in blocked_submit if s.name != "approval"]
    submission = service.latest_submission(db, checklist)
    account = db.get(AdAccount, checklist.ad_account_id)
    currency = delivery.CURRENCIES.get(account.currency or "") if account else None
    image = images.meta(db, checklist.image_id)
    page = render_template(
        "checklists/show.html",
        budget=(
            f"{delivery.format_amount(checklist.budget_amount, currency)} {currency.code}"
            if currency
            else _("%(amount)s minor units (currency not recorded)", amount=checklist.budget_amount)
        ),
        budget_labels=steps.BUDGET_LABELS,
        placement_labels=steps.PLACEMENT_LABELS,
        image=image,
        checklist=checklist,
        owner=owner,
        steps=steps.present(results),
        main_line=MAIN_LINE,
        state=State(checklist.state),
        state_labels=steps.STATE_LABELS,
        category_labels=steps.CATEGORY_LABELS,
        topic_labels=steps.TOPIC_LABELS,
        events=events_from(State(checklist.state), parties),
        Event=Event,
        is_owner=checklist.owner_id == current_user.id,
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
        can_pause=Event.PAUSE in events_from(State(checklist.state), parties),
        can_resume=Event.RESUME in events_from(State(checklist.state), parties),
        attest_form=forms.get("attest_form") or AttestForm(),
        submit_form=forms.get("submit_form") or StepUpForm(),
        approve_form=forms.get("approve_form") or StepUpForm(),
        wording=FACEBOOK_2FA_WORDING,
        four_eyes=current_app.config["FOUR_EYES"],
    )
    return page, status_code


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
    checklist = _owned(checklist_id, for_update=request.method == "POST")
    if checklist.state not in EDITABLE:
        flash(_("The ad can no longer be changed (state: %(state)s).",
                state=steps.STATE_LABELS[checklist.state]), "warning")  # fmt: skip
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    form = ChecklistForm(obj=None if request.method == "POST" else checklist)
    if request.method == "GET":
        _fill(form, checklist)
    if form.validate_on_submit() and (ad := _save_form(form, checklist)) is not None:
        try:
            changed, voided = service.edit(
                get_session(), checklist, current_user.user, ad,
                _version(form.version.data), utcnow(),
            )  # fmt: skip
        except service.Conflict as conflict:
            form.version.data = str(conflict.current_version)
            return render_template(
                "checklists/edit.html",
                form=form,
                checklist=checklist,
                conflict=True,
                differences=_differences(form, checklist),
            ), 409
        except service.ChecklistError as exc:
            _field_error(form, exc)
        else:
            if changed:
                labels = ", ".join(
                    str(form[FORM_FIELD.get(name, name)].label.text) for name in changed
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


# The form field that shows each stored field (the image is an upload, shown apart).
FORM_FIELD = {"image_id": "image"}


def _differences(form: ChecklistForm, checklist: Checklist) -> list[tuple[str, str, str, str]]:
    """Every field where the saved checklist and the user's stale form differ."""
    saved = ChecklistForm(formdata=None, obj=checklist)
    _fill(saved, checklist)
    rows = []
    for name in service.FIELDS:
        if name == "image_id":
            continue
        mine, theirs = _shown(form[name]), _shown(saved[name])
        if mine != theirs:
            rows.append((name, str(form[name].label.text), theirs, mine))
    return rows


def _shown(field: Any) -> str:
    """A form field's value as the conflict table shows it."""
    data = field.data
    if isinstance(data, list):
        return ", ".join(str(PLACEMENT_NAMES.get(v, v)) for v in data)
    if isinstance(data, datetime):
        return data.strftime("%Y-%m-%d %H:%M")
    if isinstance(data, Decimal):
        return f"{data:.2f}"
    if data is None:
        return ""
    return str(data).strip()


PLACEMENT_NAMES = steps.PLACEMENT_LABELS


def _version(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        abort(400)


@bp.route("/<int:checklist_id>/classification", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def classify(checklist_id: int) -> str | Response | tuple[str, int]:
    """Classify the ad, next to adgate's own suggestion and the words behind it."""
    checklist = _owned(checklist_id, for_update=request.method == "POST")
    if checklist.state not in EDITABLE:
        return redirect(url_for("checklists.show", checklist_id=checklist.id))
    suggestion = service.suggestion(checklist)
    form = ClassificationForm()
    if request.method == "GET":
        form.category.data = checklist.category
        form.social_issues.data = list(checklist.topic_list)
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
                version=_version(form.version.data),
                now=utcnow(),
            )
        except service.Conflict as conflict:
            form.version.data = str(conflict.current_version)
            flash(_("Someone changed this ad meanwhile. Check it and save again."), "warning")
            return render_template(
                "checklists/classify.html", form=form, checklist=checklist, suggestion=suggestion
            ), 409
        except service.ChecklistError as exc:
            _field_error(form, exc)
        else:
            flash(_("The classification was saved."), "success")
            return redirect(url_for("checklists.show", checklist_id=checklist.id))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "checklists/classify.html", form=form, checklist=checklist, suggestion=suggestion
    ), status


@bp.post("/<int:checklist_id>/attest")
@roles_required(Role.MANAGER)
def attest(checklist_id: int) -> Response | tuple[str, int]:
    """The owner confirms 2FA on the Facebook account (recorded with its wording)."""
    checklist = _owned(checklist_id)
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
    checklist = _owned(checklist_id)
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
    checklist = _owned(checklist_id)
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


@bp.post("/<int:checklist_id>/withdraw")
@roles_required(Role.MANAGER, Role.ADMIN)
def withdraw(checklist_id: int) -> Response:
    """Withdraw the ad, as long as sending has not started."""
    checklist = load(checklist_id, for_update=True)
    try:
        service.withdraw(get_session(), checklist, current_user.user, utcnow())
    except TransitionRefused as refused:
        refused_message(refused)
    else:
        flash(_("The ad was withdrawn."), "info")
    return redirect(url_for("checklists.show", checklist_id=checklist.id))
