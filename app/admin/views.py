"""List, confirm, disable and enable accounts (people are invited: app.admin.invitation_views);
ad accounts."""

from __future__ import annotations

from babel import Locale
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
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
    AuthorizationForm,
    ConfirmAccountForm,
    CurrencyForm,
    DisclaimerForm,
    RestoreForm,
)
from app.auth import accounts, stepup, twofactor
from app.auth.access import refuse_unconfirmed, roles_required
from app.auth.accounts import AccountError, set_active
from app.db import get_session
from app.models import AdAccount, Installation, RegisteredDisclaimer, Role, User, utcnow
from workflows import policy


@bp.before_request
def confirmed_only() -> Response | None:
    """An admin or reviewer no second person has confirmed changes nothing here (every POST):
    else one admin could make a second admin and have it confirm the first one's reviewer."""
    account_id = (request.view_args or {}).get("account_id")
    if account_id is not None:
        return refuse_unconfirmed(url_for("admin.ad_account", account_id=account_id))
    return refuse_unconfirmed(url_for("admin.users"))


def _account_error(exc: AccountError) -> str:
    messages = {
        "email_invalid": _("This is not a valid e-mail address."),
        "email_taken": _("An account with this e-mail address already exists."),
        "password_short": _("The password is too short."),
        "password_long": _("The password is too long."),
        "role_unknown": _("Unknown role."),
        "confirmed_already": _("This account is confirmed already."),
        "confirm_self": _("Nobody confirms their own account."),
        "confirm_creator": _(
            "You created this account: a second person, another administrator or a "
            "confirmed reviewer, confirms it."
        ),
        "confirm_refused": _(
            "Only a confirmed administrator or reviewer confirms an active account."
        ),
    }
    return str(messages.get(exc.code, exc))


def _is_admin() -> bool:
    return bool(current_user.role == Role.ADMIN)


def _confirm_form(
    form: ConfirmAccountForm | None = None, *, offered_only: bool = True
) -> ConfirmAccountForm:
    """The confirmation form, offering the accounts the signed-in user may confirm (every
    waiting one when a request is checked, so that a refusal can say why)."""
    form = form or ConfirmAccountForm()
    waiting = get_session().scalars(
        select(User).where(col(User.confirmed_at).is_(None)).order_by(col(User.email))
    )
    me = current_user.user
    form.user.choices = [
        (u.id, f"{u.email} ({ROLE_LABELS[u.role]})")
        for u in waiting
        if not offered_only or accounts.confirmation_refused(u, me) is None
    ]
    return form


def _render(status: int = 200, confirm_form: ConfirmAccountForm | None = None) -> tuple[str, int]:
    query = select(User).order_by(col(User.email))
    if not _is_admin():
        # A reviewer comes here to confirm accounts: they see only those waiting.
        query = query.where(col(User.confirmed_at).is_(None))
    return render_template(
        "admin/users.html",
        users=get_session().scalars(query).all(),
        confirm_form=_confirm_form(confirm_form),
        action_form=AccountActionForm(),
        role_labels=ROLE_LABELS,
        is_admin=_is_admin(),
        unconfirmed=accounts.awaits_confirmation(current_user.user),
    ), status


@bp.get("/users")
@roles_required(Role.ADMIN, Role.REVIEWER)
def users() -> tuple[str, int]:
    """Every account with its role and state (reviewers: those waiting for confirmation)."""
    return _render()


@bp.post("/users/confirm")
@roles_required(Role.ADMIN, Role.REVIEWER)
def confirm_account() -> Response | tuple[str, int]:
    """A second person confirms a reviewer or admin created on this page (with a code)."""
    form = _confirm_form(offered_only=False)
    if not form.validate():
        return _render(status=400, confirm_form=form)
    db = get_session()
    user = db.get(User, form.user.data)
    if user is None:
        abort(400)
    # Before the code is asked for: a refusal spends no code.
    if (refused := accounts.confirmation_refused(user, current_user.user)) is not None:
        form.user.errors.append(_account_error(refused))
        return _render(status=400, confirm_form=form)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return _render(status=400, confirm_form=form)
    accounts.confirm(db, user, current_user.user, utcnow())
    flash(_("Account %(email)s confirmed.", email=user.email), "success")
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
    twofactor.reset(db, user, by=current_user.user)
    flash(_("Two-factor authentication for %(email)s was reset.", email=user.email), "success")
    return redirect(url_for("admin.users"))


def _ad_accounts_page(form: AdAccountForm, status: int = 200) -> tuple[str, int]:
    db = get_session()
    accounts = db.scalars(select(AdAccount).order_by(col(AdAccount.id))).all()
    return render_template(
        "admin/ad_accounts.html",
        accounts=accounts,
        form=form,
        restore_form=RestoreForm(),
        installation=db.get(Installation, 1),
        now=utcnow(),
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
                get_session(),
                form.account_id.data,
                form.page_id.data,
                form.name.data,
                utcnow(),
                form.currency.data,
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


# --- one ad account: Meta's authorization of its page ---------------------------------------


def _siep_countries() -> list[str]:
    """The countries where SIEP ads may run today (the policy table): those worth recording."""
    today = utcnow().date()
    allowed = {
        r.country
        for r in policy.RULES
        if (rule := policy.rule_for(r.country, policy.AdKind.SIEP, today)) and rule.allowed
    }
    return sorted(allowed)


def country_name(code: str) -> str:
    """The country's name in the page's language (Babel's territory names)."""
    name = Locale.parse(str(get_locale())).territories.get(code)
    return str(name) if name else code


def _load_account(account_id: str) -> AdAccount:
    account = get_session().get(AdAccount, account_id)
    if account is None:
        abort(404)
    return account


def _account_page(
    account: AdAccount,
    status: int = 200,
    authorization_form: AuthorizationForm | None = None,
    disclaimer_form: DisclaimerForm | None = None,
) -> tuple[str, int]:
    db = get_session()
    authorized = ad_account_service.authorizations(db, account)
    authorization_form = authorization_form or AuthorizationForm()
    authorization_form.country.choices = [(c, country_name(c)) for c in _siep_countries()]
    disclaimer_form = disclaimer_form or DisclaimerForm()
    disclaimer_form.country.choices = [
        (a.authorization.country, country_name(a.authorization.country)) for a in authorized
    ]
    people = {u.id: u.email for u in db.scalars(select(User))}
    currency_form = CurrencyForm(currency=account.currency)
    return render_template(
        "admin/ad_account.html",
        account=account,
        authorized=authorized,
        people=people,
        country_name=country_name,
        authorization_form=authorization_form,
        disclaimer_form=disclaimer_form,
        currency_form=currency_form,
        action_form=AccountActionForm(),
        fresh=stepup.is_fresh(),
    ), status


@bp.get("/ad-accounts/<account_id>")
@roles_required(Role.ADMIN)
def ad_account(account_id: str) -> tuple[str, int]:
    """One ad account: what adgate recorded of Meta's authorization, and what Meta says."""
    return _account_page(_load_account(account_id))


@bp.post("/ad-accounts/<account_id>/currency")
@roles_required(Role.ADMIN)
def set_ad_account_currency(account_id: str) -> Response:
    """Record the ad account's currency at Meta."""
    account = _load_account(account_id)
    form = CurrencyForm()
    if form.validate():
        ad_account_service.set_currency(get_session(), account, form.currency.data)
        flash(_("The currency was recorded."), "success")
    else:
        flash(_("Choose a currency."), "danger")
    return redirect(url_for("admin.ad_account", account_id=account.id))


@bp.post("/ad-accounts/<account_id>/authorizations")
@roles_required(Role.ADMIN)
def authorize_ad_account(account_id: str) -> Response | tuple[str, int]:
    """Record Meta's authorization of the page in a country (with a fresh second factor)."""
    account = _load_account(account_id)
    form = AuthorizationForm()
    form.country.choices = [(c, c) for c in _siep_countries()]
    if not form.validate():
        return _account_page(account, 400, authorization_form=form)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return _account_page(account, 400, authorization_form=form)
    db, now, user = get_session(), utcnow(), current_user.user
    try:
        ad_account_service.authorize(
            db,
            account,
            form.country.data,
            since=form.since.data or now.date(),
            evidence=form.evidence.data,
            by=user,
            now=now,
        )
        if (form.disclaimer.data or "").strip():
            ad_account_service.register_disclaimer(
                db,
                account,
                form.country.data,
                form.disclaimer.data,
                evidence=form.evidence.data,
                by=user,
                now=now,
            )
    except ad_account_service.AdAccountError as exc:
        field = getattr(form, exc.field, None) or form.evidence
        field.errors.append(str(exc))
        # The answer is a 400: the request's transaction is rolled back, nothing is kept.
        return _account_page(account, 400, authorization_form=form)
    flash(_("The authorization was recorded."), "success")
    return redirect(url_for("admin.ad_account", account_id=account.id))


@bp.post("/ad-accounts/<account_id>/disclaimers")
@roles_required(Role.ADMIN)
def register_disclaimer(account_id: str) -> Response | tuple[str, int]:
    """Record a "paid for by" text registered at Meta in an authorized country."""
    account = _load_account(account_id)
    form = DisclaimerForm()
    form.country.choices = [
        (a.authorization.country, a.authorization.country)
        for a in ad_account_service.authorizations(get_session(), account)
    ]
    if not form.validate():
        return _account_page(account, 400, disclaimer_form=form)
    if error := stepup.confirm(form.code.data):
        form.code.errors.append(error)
        return _account_page(account, 400, disclaimer_form=form)
    try:
        ad_account_service.register_disclaimer(
            get_session(),
            account,
            form.country.data,
            form.text.data,
            evidence=form.evidence.data,
            by=current_user.user,
            now=utcnow(),
        )
    except ad_account_service.AdAccountError as exc:
        (getattr(form, exc.field, None) or form.text).errors.append(str(exc))
        return _account_page(account, 400, disclaimer_form=form)
    flash(_("The disclaimer was recorded."), "success")
    return redirect(url_for("admin.ad_account", account_id=account.id))


@bp.post("/ad-accounts/<account_id>/authorizations/<country>/revoke")
@roles_required(Role.ADMIN)
def revoke_authorization(account_id: str, country: str) -> Response:
    """The page is no longer authorized in a country (its disclaimers there go too)."""
    account = _load_account(account_id)
    if not AccountActionForm().validate():
        abort(400)
    try:
        done = ad_account_service.revoke_authorization(
            get_session(), account, country, by=current_user.user, now=utcnow()
        )
    except ad_account_service.AdAccountError:
        abort(404)
    if not done:
        abort(404)
    flash(_("The authorization was revoked."), "info")
    return redirect(url_for("admin.ad_account", account_id=account.id))


@bp.post("/ad-accounts/<account_id>/disclaimers/<int:disclaimer_id>/remove")
@roles_required(Role.ADMIN)
def remove_disclaimer(account_id: str, disclaimer_id: int) -> Response:
    """A "paid for by" text is no longer registered at Meta."""
    account = _load_account(account_id)
    if not AccountActionForm().validate():
        abort(400)
    db = get_session()
    disclaimer = db.get(RegisteredDisclaimer, disclaimer_id)
    if disclaimer is None or disclaimer.ad_account_id != account.id:
        abort(404)
    if ad_account_service.remove_disclaimer(
        db, account, disclaimer.country, disclaimer.text, by=current_user.user, now=utcnow()
    ):
        flash(_("The disclaimer was removed."), "info")
    return redirect(url_for("admin.ad_account", account_id=account.id))


@bp.post("/ad-accounts/<account_id>/meta-check")
@roles_required(Role.ADMIN)
def check_ad_account_at_meta(account_id: str) -> Response:
    """Ask Meta what it says of the ad account; the worker, which talks to Meta, asks."""
    account = _load_account(account_id)
    if not AccountActionForm().validate():
        abort(400)
    ad_account_service.request_meta_check(get_session(), account, utcnow())
    flash(_("Meta will be asked within seconds; reload the page to see its answer."), "info")
    return redirect(url_for("admin.ad_account", account_id=account_id))
