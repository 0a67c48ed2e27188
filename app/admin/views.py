"""List, create, disable and enable accounts."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlmodel import col
from werkzeug.wrappers import Response

from app.admin import ad_accounts as ad_account_service
from app.admin import bp
from app.admin.forms import (
    ROLE_LABELS,
    AccountActionForm,
    AdAccountForm,
    CreateUserForm,
    RestoreForm,
)
from app.auth import twofactor
from app.auth.access import roles_required
from app.auth.accounts import AccountError, create_user, set_active
from app.db import get_session
from app.models import AdAccount, Role, User, utcnow


def _account_error(exc: AccountError) -> str:
    messages = {
        "email_invalid": _("This is not a valid e-mail address."),
        "email_taken": _("An account with this e-mail address already exists."),
        "password_short": _("The password is too short."),
        "password_long": _("The password is too long."),
        "role_unknown": _("Unknown role."),
    }
    return str(messages.get(exc.code, exc))


def _render(form: CreateUserForm, status: int = 200) -> tuple[str, int]:
    users = get_session().scalars(select(User).order_by(User.email)).all()
    return render_template(
        "admin/users.html",
        users=users,
        form=form,
        action_form=AccountActionForm(),
        role_labels=ROLE_LABELS,
    ), status


@bp.get("/users")
@roles_required(Role.ADMIN)
def users() -> tuple[str, int]:
    """Every account with its role and state."""
    return _render(CreateUserForm())


@bp.post("/users")
@roles_required(Role.ADMIN)
def create() -> Response | tuple[str, int]:
    """Create an account."""
    form = CreateUserForm()
    if not form.validate():
        return _render(form, 400)
    try:
        user = create_user(get_session(), form.email.data, form.role.data, form.password.data)
    except AccountError as exc:
        field = form.email if exc.code.startswith("email") else form.password
        field.errors.append(_account_error(exc))
        return _render(form, 400)
    flash(_("Account %(email)s created.", email=user.email), "success")
    return redirect(url_for("admin.users"))


def _set_active(user_id: int, active: bool) -> Response:
    db = get_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id and not active:
        flash(_("You cannot disable your own account."), "danger")
        return redirect(url_for("admin.users"))
    if active and user.erased_at is not None:
        flash(_("An erased account cannot be enabled again."), "danger")
        return redirect(url_for("admin.users"))
    set_active(db, user, active)
    if active:
        flash(_("Account %(email)s enabled.", email=user.email), "success")
    else:
        flash(_("Account %(email)s disabled.", email=user.email), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/disable")
@roles_required(Role.ADMIN)
def disable(user_id: int) -> Response:
    """Disable an account and end its logins."""
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/enable")
@roles_required(Role.ADMIN)
def enable(user_id: int) -> Response:
    """Enable a disabled account."""
    return _set_active(user_id, True)


@bp.post("/users/<int:user_id>/reset-two-factor")
@roles_required(Role.ADMIN)
def reset_two_factor(user_id: int) -> Response:
    """Remove another account's 2FA (a lost phone): its logins end and it enrols again."""
    db = get_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash(
            _(
                "You cannot reset your own two-factor authentication here; "
                "turn it off on the Security page."
            ),
            "danger",
        )
        return redirect(url_for("admin.users"))
    twofactor.reset(db, user)
    flash(_("Two-factor authentication for %(email)s was reset.", email=user.email), "success")
    return redirect(url_for("admin.users"))


def _ad_accounts_page(form: AdAccountForm, status: int = 200) -> tuple[str, int]:
    accounts = get_session().scalars(select(AdAccount).order_by(col(AdAccount.id))).all()
    return render_template(
        "admin/ad_accounts.html", accounts=accounts, form=form, restore_form=RestoreForm()
    ), status


@bp.get("/ad-accounts")
@roles_required(Role.ADMIN)
def ad_accounts() -> tuple[str, int]:
    """Registered ad accounts, their pages and their standing."""
    return _ad_accounts_page(AdAccountForm())


@bp.post("/ad-accounts")
@roles_required(Role.ADMIN)
def add_ad_account() -> Response | tuple[str, int]:
    """Register an ad account."""
    form = AdAccountForm()
    if form.validate():
        try:
            ad_account_service.add(
                get_session(), form.account_id.data, form.page_id.data, form.name.data, utcnow()
            )
        except ad_account_service.AdAccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash(_("The ad account was registered."), "success")
            return redirect(url_for("admin.ad_accounts"))
    return _ad_accounts_page(form, 400)


@bp.post("/ad-accounts/<account_id>/restore")
@roles_required(Role.ADMIN)
def restore_ad_account(account_id: str) -> Response | tuple[str, int]:
    """Restore an ad account's eligibility for political ads, with a reason."""
    db = get_session()
    account = db.get(AdAccount, account_id)
    if account is None:
        abort(404)
    form = RestoreForm()
    if not form.validate():
        flash(_("Give a reason for restoring the eligibility."), "danger")
        return redirect(url_for("admin.ad_accounts"))
    ad_account_service.restore(db, account, form.reason.data)
    flash(_("The eligibility was restored."), "success")
    return redirect(url_for("admin.ad_accounts"))
