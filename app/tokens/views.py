"""The API tokens page: everyone issues (with a fresh code) and revokes their own tokens;
admins also list and revoke everyone's, but issue none for anyone else."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.api import tokens
from app.auth import stepup
from app.auth.access import roles_required, unconfirmed_message
from app.db import get_session
from app.main import ROLE_NAMES
from app.models import ApiToken, Role, User, utcnow
from app.tokens import bp
from app.tokens.forms import SCOPE_LABELS, RevokeForm, TokenForm


def _is_admin() -> bool:
    return bool(current_user.role == Role.ADMIN)


# What the page says for each refusal of app.api.tokens.issue (its own words are English,
# for the command line and the log).
TOKEN_ERRORS = {
    "name": _l("Give the token a name of 1 to %(max)s characters."),
    "no_scope": _l("Choose at least one scope."),
    "unknown_scope": _l("These scopes do not exist: %(scopes)s."),
    "scope_not_for_role": _l(
        "A token of an account with the role %(role)s cannot have the scopes %(scopes)s."
    ),
    "not_owner": _l("A token is created by its owner only."),
    "personal_scope": _l(
        "Only the owner may create a token with %(scopes)s: it acts in their own name."
    ),
    "lifetime": _l("A token is valid for between one hour and one year."),
    "owner_disabled": _l("The account is disabled."),
    "owner_must_change_password": _l("First replace the password someone else set for you."),
}


def token_error_text(exc: tokens.TokenError) -> str:
    """The refusal in the reader's language (the roles and scopes named as the page names them)."""
    if exc.code == "owner_unconfirmed":
        return unconfirmed_message()
    values = dict(exc.values)
    if "role" in values:
        values["role"] = str(ROLE_NAMES.get(Role(values["role"]), values["role"]))
    return str(TOKEN_ERRORS[exc.code]) % values if exc.code in TOKEN_ERRORS else str(exc)


def _page(form: TokenForm, status: int = 200, secret: str | None = None) -> tuple[str, int]:
    db = get_session()
    listed = tokens.of_user(db, None if _is_admin() else current_user.id)
    emails = {u.id: u.email for u in db.scalars(select(User))}
    return render_template(
        "tokens/index.html",
        form=form,
        listed=listed,
        emails=emails,
        revoke_form=RevokeForm(),
        secret=secret,
        now=utcnow(),
        allowed=sorted(tokens.allowed_scopes(current_user.role)),
        is_admin=_is_admin(),
        scope_labels=SCOPE_LABELS,
    ), status


@bp.get("/")
@roles_required()
def index() -> tuple[str, int]:
    """The tokens you own (admins: everyone's), and the form to issue one."""
    form = TokenForm()
    form.scopes.data = sorted(tokens.allowed_scopes(current_user.role))
    return _page(form)


@bp.post("/")
@roles_required()
def create() -> tuple[str, int]:
    """Issue a token; it is shown this once."""
    form = TokenForm()
    if not form.validate():
        return _page(form, 400)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return _page(form, 400)
    db = get_session()
    try:
        issued = tokens.issue(
            db,
            current_user.user,
            name=form.name.data,
            scopes=form.scopes.data,
            lifetime=timedelta(days=form.days.data),
            issued_by=current_user.user,
            now=utcnow(),
        )
    except tokens.TokenError as exc:
        field = getattr(form, exc.field, form.name)
        field.errors = [*field.errors, token_error_text(exc)]
        return _page(form, 400)
    flash(_("The token was created. Copy it now: it is shown only once."), "success")
    return _page(TokenForm(), 201, secret=issued.secret)


@bp.post("/<int:token_id>/revoke")
@roles_required()
def revoke(token_id: int) -> Response:
    """Revoke a token you own (admins: any token)."""
    if not RevokeForm().validate():
        abort(400)
    token = get_session().get(ApiToken, token_id)
    if token is None or (token.user_id != current_user.id and not _is_admin()):
        abort(404)
    if tokens.revoke(get_session(), token, current_user.user, utcnow()):
        flash(_("The token was revoked."), "info")
    return redirect(url_for("tokens.index"))
