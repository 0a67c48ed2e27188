"""An ad manager's identity, on their account: the countries verified, and asking the
reviewers for a verification (also from the checklist page's identity step)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import roles_required
from app.auth.views import safe_next
from app.checklists.forms import ActionForm
from app.checklists.service import ChecklistError
from app.countries import name as country_name
from app.db import get_session
from app.i18n import format_date
from app.models import IdentityRequest, IdentityVerification, Role, utcnow
from app.reviews import requests
from app.reviews.forms import IdentityRequestForm

bp = Blueprint("identity", __name__, url_prefix="/account/identity")


def _page(form: IdentityRequestForm, status: int = 200) -> tuple[str, int]:
    db, user, today = get_session(), current_user.user, utcnow().date()
    verified = db.scalars(
        select(IdentityVerification)
        .where(
            col(IdentityVerification.user_id) == user.id,
            col(IdentityVerification.revoked_at).is_(None),
            col(IdentityVerification.expires_on) >= today,
        )
        .order_by(col(IdentityVerification.issuing_country))
    ).all()
    # The person's own identity records: reading them is audited like any other read.
    audit.defer("identity.read", subject=("user", user.id), data={"count": len(verified)})
    return render_template(
        "reviews/my_identity.html",
        form=form,
        verified=verified,
        asked=requests.of_person(db, user),
        action_form=ActionForm(),
    ), status


@bp.get("/")
@roles_required(Role.MANAGER)
def mine() -> tuple[str, int]:
    """The countries the signed-in ad manager is verified for, their requests, and the form
    to ask for a verification."""
    return _page(IdentityRequestForm())


@bp.post("/requests")
@roles_required(Role.MANAGER)
def ask() -> Response | tuple[str, int]:
    """Ask the reviewers to verify my identity for a country (they are told by mail)."""
    form = IdentityRequestForm()
    if not form.validate():
        return _page(form, 400)
    country = str(form.country.data)
    back = safe_next(form.next.data) or url_for("identity.mine")
    try:
        requests.ask(get_session(), current_user.user, country, utcnow(), note=form.note.data)
    except requests.AlreadyAsked as asked:
        flash(
            _(
                "You asked for a verification for %(country)s already on %(date)s; a "
                "reviewer will get back to you.",
                country=country_name(country),
                date=format_date(asked.request.created_at),
            ),
            "info",
        )
        return redirect(back)
    except ChecklistError as exc:
        messages = {
            "verified_already": _("Your identity is verified for this country already."),
            "note_number": _("Do not write a document's number in the note."),
            "not_manager": _("Only ad managers ask for a verification."),
        }
        target = form.note if exc.field == "note" else form.country
        target.errors = [*target.errors, str(messages.get(exc.code, str(exc)))]
        return _page(form, 403 if exc.field == "user" else 400)
    flash(
        _(
            "The reviewers are asked to verify your identity for %(country)s. Show one of "
            "them your document from there.",
            country=country_name(country),
        ),
        "success",
    )
    return redirect(back)


@bp.post("/requests/<int:request_id>/withdraw")
@roles_required(Role.MANAGER)
def withdraw(request_id: int) -> Response:
    """Withdraw my open request."""
    db = get_session()
    found = db.get(IdentityRequest, request_id)
    if found is None or found.requester_id != current_user.id:
        abort(404)
    if requests.withdraw(db, current_user.user, found, utcnow()):
        flash(_("Your request was withdrawn."), "info")
    else:
        flash(_("This request is no longer open."), "warning")
    return redirect(safe_next(request.form.get("next")) or url_for("identity.mine"))
