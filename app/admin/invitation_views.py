"""Inviting people: the pending invitations, a new one, resending and revoking.

An admin never chooses a person's password: the person sets it from the mail's link
(app.auth.invitation_views). ``flask users create`` stays for the installation's first admin.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import notifications
from app.admin import bp
from app.admin.forms import ROLE_LABELS, AccountActionForm, InviteForm
from app.admin.views import _account_error
from app.auth import invitations
from app.auth.access import roles_required
from app.auth.accounts import AccountError
from app.db import get_session
from app.main.forms import LANGUAGE_NAMES
from app.models import Invitation, Role, User, utcnow


def _invite_form(form: InviteForm | None = None) -> InviteForm:
    languages = list(current_app.config["LANGUAGES"])
    form = form or InviteForm(locale=current_app.config["BABEL_DEFAULT_LOCALE"])
    form.locale.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in languages]
    return form


def _page(form: InviteForm | None = None, status: int = 200) -> tuple[str, int]:
    db, now = get_session(), utcnow()
    waiting = invitations.pending(db, now)
    ids = {i.created_by for i in waiting} | {i.sent_by for i in waiting}
    people = {u.id: u.email for u in db.scalars(select(User).where(col(User.id).in_(ids or {0})))}
    return render_template(
        "admin/invitations.html",
        form=_invite_form(form),
        invitations=waiting,
        people=people,
        role_labels=ROLE_LABELS,
        languages=LANGUAGE_NAMES,
        action_form=AccountActionForm(),
        mail_on=notifications.enabled(),
        hours=current_app.config["INVITATION_HOURS"],
    ), status


def _error(exc: invitations.InvitationError) -> str:
    messages = {
        "mail_off": _(
            "No mail server is configured: invitations cannot be sent. Configure MAIL_SERVER, "
            "or create the account on the server with “flask users create”."
        ),
        "pending": _(
            "This address has a pending invitation already: send it again below, or revoke it."
        ),
        "locale_unknown": _("Unknown language."),
        "not_pending": _("This invitation is no longer pending."),
        "too_soon": _(
            "This invitation was sent moments ago. Send it again in %(minutes)s minutes at "
            "the earliest.",
            minutes=current_app.config["INVITATION_RESEND_MINUTES"],
        ),
    }
    return str(messages.get(exc.code, exc))


@bp.get("/invitations")
@roles_required(Role.ADMIN)
def invitations_page() -> tuple[str, int]:
    """The pending invitations (address, role, who invited, until when) and a new one."""
    return _page()


@bp.post("/invitations")
@roles_required(Role.ADMIN)
def invite() -> Response | tuple[str, int]:
    """Invite a person by e-mail to a role (a reviewer or admin will wait for a second
    person's confirmation once they have set their password)."""
    form = _invite_form(InviteForm())
    if not form.validate():
        return _page(form, 400)
    try:
        sent = invitations.invite(
            get_session(),
            form.email.data,
            form.role.data,
            form.locale.data,
            by=current_user.user,
            now=utcnow(),
        )
    except AccountError as exc:
        field = form.role if exc.code == "role_unknown" else form.email
        field.errors.append(_account_error(exc))
        return _page(form, 400)
    except invitations.InvitationError as exc:
        field = form.locale if exc.code == "locale_unknown" else form.email
        field.errors.append(_error(exc))
        return _page(form, 400)
    flash(
        _(
            "An invitation was sent to %(email)s. The link holds for %(hours)s hours.",
            email=sent.invitation.email,
            hours=current_app.config["INVITATION_HOURS"],
        ),
        "success",
    )
    return redirect(url_for("admin.invitations_page"))


def _load(invitation_id: int) -> Invitation:
    if not AccountActionForm().validate():
        abort(400)
    invitation = get_session().get(Invitation, invitation_id)
    if invitation is None:
        abort(404)
    return invitation


@bp.post("/invitations/<int:invitation_id>/resend")
@roles_required(Role.ADMIN)
def resend_invitation(invitation_id: int) -> Response:
    """Send a new link; the old one opens nothing from now on."""
    invitation = _load(invitation_id)
    try:
        invitations.resend(get_session(), invitation, by=current_user.user, now=utcnow())
    except invitations.InvitationError as exc:
        flash(_error(exc), "danger")
    else:
        flash(_("A new link was sent to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("admin.invitations_page"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@roles_required(Role.ADMIN)
def revoke_invitation(invitation_id: int) -> Response:
    """The invitation's link opens nothing from now on."""
    invitation = _load(invitation_id)
    try:
        invitations.revoke(get_session(), invitation, by=current_user.user, now=utcnow())
    except invitations.InvitationError as exc:
        flash(_error(exc), "danger")
    else:
        flash(_("The invitation to %(email)s was revoked.", email=invitation.email), "info")
    return redirect(url_for("admin.invitations_page"))
