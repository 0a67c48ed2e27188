"""The account's notification settings: which kinds of mail the person receives (/account)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectMultipleField, SubmitField

from app import audit
from app.auth.access import roles_required
from app.db import get_session
from app.main.forms import LANGUAGE_NAMES
from app.models import Role, User
from app.notifications import LABELS, ROLE_KINDS, Kind, language_of

bp = Blueprint("notifications", __name__, url_prefix="/account")


class NotificationsForm(FlaskForm):  # type: ignore[misc]
    """The kinds of mail the person wants, out of those their role receives."""

    on = SelectMultipleField(_l("Send me a mail when"), choices=[], validate_choice=True)
    submit = SubmitField(_l("Save"))


def _form(user: User) -> NotificationsForm:
    form = NotificationsForm()
    form.on.choices = [(k.value, LABELS[k]) for k in ROLE_KINDS[Role(user.role)]]
    return form


def _page(form: NotificationsForm, user: User, status: int = 200) -> tuple[str, int]:
    return render_template(
        "notifications/settings.html",
        form=form,
        email=user.email,
        language=LANGUAGE_NAMES.get(language_of(user), language_of(user)),
        mail_on=bool(current_app.config.get("MAIL_SERVER")),
    ), status


@bp.get("/notifications")
@roles_required(Role.MANAGER, Role.REVIEWER)
def settings() -> tuple[str, int]:
    """Which mails adgate sends to the signed-in person, each kind with a checkbox."""
    user = current_user.user
    form = _form(user)
    off = set(user.mail_opt_out or [])
    form.on.data = [value for value, _label in form.on.choices if value not in off]
    return _page(form, user)


@bp.post("/notifications")
@roles_required(Role.MANAGER, Role.REVIEWER)
def save_settings() -> Response | tuple[str, int]:
    """Keep the kinds the person turned off (the others of their role stay on)."""
    user = current_user.user
    form = _form(user)
    if not form.validate():
        return _page(form, user, 400)
    offered = [Kind(value) for value, _label in form.on.choices]
    chosen = set(form.on.data or [])
    # Kinds of another role (from an earlier role) stay as they were.
    kept = [k for k in (user.mail_opt_out or []) if k not in {o.value for o in offered}]
    off = sorted({*kept, *(k.value for k in offered if k.value not in chosen)})
    if off != sorted(user.mail_opt_out or []):
        db = get_session()
        audit.record(
            db,
            "account.notifications_changed",
            subject=("user", user.id),
            data={"off": off, "before": sorted(user.mail_opt_out or [])},
        )
        user.mail_opt_out = off
        db.add(user)
    flash(_("Your notification settings are saved."), "success")
    return redirect(url_for("notifications.settings"))
