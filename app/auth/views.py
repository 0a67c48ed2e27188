"""Sign in (password, then code or enrolment), sign out, and the two-factor settings."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from app.auth import bp, lockout, sign_in_limit, twofactor
from app.auth.access import public, roles_required
from app.auth.accounts import Principal, authenticate, end_login, login_digest, start_login
from app.auth.forms import CodeForm, DisableForm, EnrolForm, LoginForm, RecoveryCodesForm
from app.auth.totp import qr_svg
from app.db import get_session, transaction
from app.models import User, utcnow

# The state between a right password and the second step, in the signed session cookie.
PENDING = "pending_login"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _locked_message(remaining: timedelta) -> str:
    # Rounded up to whole minutes: "1 minute" rather than "59 seconds" for a fresh lock.
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    wait = format_timedelta(timedelta(minutes=minutes), threshold=1, add_direction=False)
    return str(
        _(
            "Too many failed attempts: this account is locked. Please try again in %(wait)s.",
            wait=wait,
        )
    )


def _begin_pending(user: User, stage: str, next_url: str) -> None:
    session.clear()
    ttl = current_app.config["TWO_FACTOR_PENDING_SECONDS"]
    session[PENDING] = {
        "user": user.id,
        "stage": stage,
        "until": utcnow().timestamp() + ttl,
        "next": next_url,
    }


def _pending(stage: str) -> tuple[User, dict[str, Any]] | None:
    """The account half-way through signing in at ``stage``, unless that state has expired."""
    state = session.get(PENDING)
    if not state or state.get("stage") != stage or state.get("until", 0) < utcnow().timestamp():
        return None
    user = get_session().get(User, state["user"])
    if user is None or not user.active:
        return None
    return user, state


def _complete_login(user: User, next_url: str, second_factor: str | None) -> None:
    login_id = start_login(get_session(), user, utcnow(), second_factor)
    # A new session: nothing set before the login (a planted value, an old token) survives.
    session.clear()
    session.permanent = True
    login_user(Principal(user, login_id, None))


def _expired() -> Response:
    session.pop(PENDING, None)
    flash(_("The sign-in took too long. Please start again."), "warning")
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
@sign_in_limit
def login() -> str | Response:
    """The password step; then the code, the enrolment, or (without 2FA) the start page."""
    next_url = safe_next(request.args.get("next")) or url_for("main.index")
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    if form.validate_on_submit():
        attempt = authenticate(get_session(), form.email.data, form.password.data, utcnow())
        user = attempt.user
        if user is not None and user.totp_enabled:
            _begin_pending(user, "code", next_url)
            return redirect(url_for("auth.login_code"))
        if user is not None and twofactor.required_for(user):
            _begin_pending(user, "enrol", next_url)
            return redirect(url_for("auth.enrol"))
        if user is not None:
            _complete_login(user, next_url, None)
            return redirect(next_url)
        if attempt.locked_for:
            flash(_locked_message(attempt.locked_for), "danger")
        else:
            flash(_("Wrong e-mail address or password."), "danger")
    return render_template("auth/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@public
@sign_in_limit
def login_code() -> str | Response:
    """The second step: a code from the authenticator app or a recovery code."""
    pending = _pending("code")
    if pending is None:
        return _expired()
    user, state = pending
    form = CodeForm()
    if form.validate_on_submit():
        db, now = get_session(), utcnow()
        if remaining := lockout.locked_for(user, now):
            session.pop(PENDING, None)
            flash(_locked_message(remaining), "danger")
            return redirect(url_for("auth.login"))
        result = twofactor.check_code(db, user, form.code.data, now)
        if result.ok:
            _complete_login(user, state["next"], result.value)
            if result is twofactor.CodeCheck.RECOVERY:
                flash(
                    _("You signed in with a recovery code. Make new ones if few are left."),
                    "warning",
                )
            return redirect(state["next"])
        if locked := lockout.record_failure(db, user, now, "code"):
            session.pop(PENDING, None)
            flash(_locked_message(locked), "danger")
            return redirect(url_for("auth.login"))
        _code_error(form, result)
    return render_template("auth/code.html", form=form)


def _code_error(
    form: CodeForm | EnrolForm | RecoveryCodesForm | DisableForm, result: twofactor.CodeCheck
) -> None:
    """Show why the code was refused, and empty the field for the next try."""
    entered = (form.code.data or "").replace(" ", "")
    form.code.data = ""
    if result is twofactor.CodeCheck.REPLAYED:
        message = _("This code has been used already. Please wait for the next one.")
    elif entered.isdigit():
        message = _("The code is not valid. Check that the clock of your device is correct.")
    else:
        message = _("This recovery code is not valid or has been used already.")
    form.code.errors.append(str(message))


@bp.route("/two-factor/enrol", methods=["GET", "POST"])
@public  # for a sign-in half-way through, or a signed-in account without 2FA (checked below)
@sign_in_limit
def enrol() -> str | Response:
    """Set up the authenticator app: show the secret, enable 2FA once a code confirms it."""
    pending = None if current_user.is_authenticated else _pending("enrol")
    if current_user.is_authenticated:
        user = current_user.user
    elif pending is not None:
        user = pending[0]
    else:
        return _expired()
    if user.totp_enabled:
        return redirect(url_for("auth.two_factor"))
    form = EnrolForm()
    if form.validate_on_submit():
        db, now = get_session(), utcnow()
        codes = twofactor.confirm_enrolment(db, user, form.code.data, now)
        if codes is not None:
            if pending is not None:
                next_url = pending[1]["next"]
                _complete_login(user, next_url, "totp")
            else:
                next_url = url_for("main.index")
                twofactor.mark_fresh(db, login_digest(current_user.login_session_id), now)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=next_url)
        _code_error(form, twofactor.CodeCheck.INVALID)
    if user.totp_pending is None:
        # Reading requests do not write; the new secret gets a short transaction of its own.
        with transaction() as db:
            enrolment = twofactor.pending_enrolment(db, db.get(User, user.id))  # type: ignore[arg-type]
    else:
        enrolment = twofactor.pending_enrolment(get_session(), user)
    qr = qr_svg(enrolment.uri, _("QR code for your authenticator app"))
    return render_template("auth/enrol.html", form=form, enrolment=enrolment, qr=qr)


@bp.post("/logout")
@roles_required(before_enrolment=True)
def logout() -> Response:
    """End this login on the server and clear the session."""
    # CSRFProtect has checked the form's token before this view runs.
    end_login(get_session(), current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


# --- the signed-in user's two-factor settings ------------------------------------------


def _settings(status: int = 200, **forms: Any) -> tuple[str, int]:
    user = current_user.user
    left = twofactor.recovery_codes_left(get_session(), user) if user.totp_enabled else 0
    return render_template(
        "auth/two_factor.html",
        recovery_form=forms.get("recovery_form") or RecoveryCodesForm(),
        disable_form=forms.get("disable_form") or DisableForm(),
        codes_left=left,
        required=twofactor.required_for(user),
    ), status


@bp.get("/account/two-factor")
@roles_required()
def two_factor() -> tuple[str, int]:
    """Whether 2FA is on, how many recovery codes are left, and what can be changed."""
    return _settings()


def _check_current_code(form: RecoveryCodesForm | DisableForm) -> bool:
    db, now, user = get_session(), utcnow(), current_user.user
    result = twofactor.check_code(db, user, form.code.data, now)
    if result.ok:
        twofactor.mark_fresh(db, login_digest(current_user.login_session_id), now)
        return True
    lockout.record_failure(db, user, now, "code")
    _code_error(form, result)
    return False


@bp.post("/account/two-factor/recovery-codes")
@roles_required()
@sign_in_limit
def regenerate_recovery_codes() -> str | Response | tuple[str, int]:
    """New recovery codes (the old ones stop working), after a current code."""
    form = RecoveryCodesForm()
    if not current_user.user.totp_enabled:
        return redirect(url_for("auth.enrol"))
    if form.validate_on_submit() and _check_current_code(form):
        codes = twofactor.regenerate_recovery_codes(get_session(), current_user.user)
        return render_template(
            "auth/recovery_codes.html", codes=codes, next_url=url_for("auth.two_factor")
        )
    return _settings(400, recovery_form=form)


@bp.post("/account/two-factor/disable")
@roles_required()
@sign_in_limit
def disable_two_factor() -> Response | tuple[str, int]:
    """Turn 2FA off, with the password and a current code."""
    form = DisableForm()
    user = current_user.user
    if form.validate_on_submit() and user.totp_enabled:
        if not check_password_hash(user.password_hash, form.password.data):
            form.password.errors.append(_("The password is incorrect."))
            lockout.record_failure(get_session(), user, utcnow(), "password")
        elif _check_current_code(form):
            twofactor.disable(get_session(), user)
            flash(_("Two-factor authentication is off."), "info")
            return redirect(url_for("auth.two_factor"))
    return _settings(400, disable_form=form)


@bp.route("/account/two-factor/confirm", methods=["GET", "POST"])
@roles_required()
@sign_in_limit
def confirm() -> str | Response:
    """Step-up: a fresh code before approving or submitting, then back where the user was."""
    next_url = safe_next(request.args.get("next")) or url_for("main.index")
    if not current_user.user.totp_enabled:
        return redirect(url_for("auth.enrol"))
    form = CodeForm()
    if form.validate_on_submit() and _check_current_code(form):
        return redirect(next_url)
    return render_template("auth/confirm.html", form=form)
