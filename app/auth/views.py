"""Sign in (password, then code or enrolment), sign out, and the two-factor settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from app.auth import bp, secondfactor, sign_in_limit, twofactor
from app.auth.access import public, roles_required
from app.auth.accounts import (
    AccountError,
    Principal,
    authenticate,
    check_password_policy,
    end_login,
    login_digest,
    set_password,
    start_login,
)
from app.auth.forms import (
    ChangePasswordForm,
    CodeForm,
    DisableForm,
    EnrolForm,
    LoginForm,
    RecoveryCodesForm,
)
from app.auth.totp import qr_svg
from app.db import get_session, transaction
from app.models import User, utcnow

# The state between a right password and the second step, in the signed session cookie.
PENDING = "pending_login"
# The nonce of this browser's enrolment: only it can confirm the secret it was shown.
ENROLMENT = "enrolment"


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


def _clear_session() -> None:
    """Empty the session but for the language chosen with the switch: a French speaker whose
    browser asks for German keeps French through the sign-in and the sign-out (a planted
    value is harmless: only a language adgate speaks is ever used)."""
    chosen = session.get("lang")
    session.clear()
    if chosen in current_app.config["LANGUAGES"]:
        session["lang"] = chosen


def _begin_pending(user: User, stage: str, next_url: str) -> None:
    _clear_session()
    ttl = current_app.config["TWO_FACTOR_PENDING_SECONDS"]
    session[PENDING] = {
        "user": user.id,
        # The credentials the password step was made with: a change since voids this step.
        "credentials": user.credentials_version,
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
    if state.get("credentials") != user.credentials_version:
        # A new password, a 2FA reset or 2FA turned off since the password step.
        return None
    return user, state


def _complete_login(user: User, next_url: str, second_factor: str | None) -> None:
    login_id = start_login(get_session(), user, utcnow(), second_factor)
    # A new session: nothing set before the login (a planted value, an old token) survives,
    # but the language chosen.
    _clear_session()
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
        if user is not None and user.must_change_password:
            # Signed in, but held on the password page (app.auth.access) until it is
            # changed; the enrolment, if the role needs one, comes after.
            _complete_login(user, next_url, None)
            return redirect(url_for("auth.change_password"))
        if user is not None and twofactor.required_for(user):
            _begin_pending(user, "enrol", next_url)
            return redirect(url_for("auth.enrol"))
        if user is not None:
            _complete_login(user, next_url, None)
            return redirect(next_url)
        # One answer for an unknown address, a wrong password and a locked account: the
        # page must not tell which addresses have accounts.
        flash(
            _(
                "Wrong e-mail address or password, or the account is locked for a while "
                "after too many failed attempts."
            ),
            "danger",
        )
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
        attempt = secondfactor.prove(get_session(), user, form.code.data, utcnow())
        if attempt.ok:
            _complete_login(user, state["next"], attempt.second_factor)
            if attempt.check is twofactor.CodeCheck.RECOVERY:
                flash(
                    _("You signed in with a recovery code. Make new ones if few are left."),
                    "warning",
                )
            return redirect(state["next"])
        if attempt.locked_for is not None:
            # The password was right to get here: saying that the account is locked tells
            # nothing new.
            session.pop(PENDING, None)
            flash(secondfactor.locked_message(attempt.locked_for), "danger")
            return redirect(url_for("auth.login"))
        _code_error(form, attempt)
    return render_template("auth/code.html", form=form)


def _code_error(
    form: CodeForm | EnrolForm | RecoveryCodesForm | DisableForm | ChangePasswordForm,
    attempt: secondfactor.Attempt,
    *,
    with_password: bool = False,
) -> None:
    """Show why the code was refused, and empty the field for the next try."""
    entered = form.code.data
    form.code.data = ""
    form.code.errors.append(secondfactor.message(attempt, entered, with_password=with_password))


@bp.route("/two-factor/enrol", methods=["GET", "POST"])
@public  # for a sign-in half-way through, or a signed-in account without 2FA (checked below)
@sign_in_limit
def enrol() -> str | Response:
    """Set up the authenticator app: show the secret, enable 2FA once a code confirms it."""
    pending = None if current_user.is_authenticated else _pending("enrol")
    if current_user.is_authenticated and current_user.user.must_change_password:
        return redirect(url_for("auth.change_password"))  # the password first (app.auth.access)
    if current_user.is_authenticated:
        user = current_user.user
    elif pending is not None:
        user = pending[0]
    else:
        return _expired()
    if user.totp_enabled:
        return redirect(url_for("auth.two_factor"))
    form = EnrolForm()
    nonce = session.get(ENROLMENT)
    if request.method == "POST" and twofactor.shown_enrolment(user, nonce) is None:
        # Another enrolment (another sign-in) has replaced the secret this one was shown.
        twofactor.enrolment_refused(get_session(), user)
        session.pop(ENROLMENT, None)
        flash(_("Two-factor setup was started again elsewhere. Please start again."), "warning")
        if pending is not None:
            session.pop(PENDING, None)
            return redirect(url_for("auth.login"))
        return redirect(url_for("auth.enrol"))
    if form.validate_on_submit():
        db, now = get_session(), utcnow()
        codes = twofactor.confirm_enrolment(db, user, nonce, form.code.data, now)
        if codes is not None:
            if pending is not None:
                next_url = pending[1]["next"]
                _complete_login(user, next_url, "totp")
            else:
                next_url = url_for("main.index")
                twofactor.mark_fresh(db, login_digest(current_user.login_session_id), now)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=next_url)
        _code_error(form, secondfactor.Attempt(refused=twofactor.CodeCheck.INVALID))
    enrolment = twofactor.shown_enrolment(user, nonce)
    if enrolment is None:
        # A new enrolment (this browser was shown no secret yet; only GET comes here): a new
        # secret, and the secret shown to any other enrolment is void.
        with transaction() as db:  # reading requests do not write: a short one of its own
            row = db.get(User, user.id)
            assert row is not None
            enrolment, nonce = twofactor.start_enrolment(db, row)
        session[ENROLMENT] = nonce
    qr = qr_svg(enrolment.uri, _("QR code for your authenticator app"))
    return render_template("auth/enrol.html", form=form, enrolment=enrolment, qr=qr)


@bp.post("/logout")
@roles_required(before_enrolment=True, before_password_change=True)
def logout() -> Response:
    """End this login on the server and clear the session."""
    # CSRFProtect has checked the form's token before this view runs.
    end_login(get_session(), current_user._get_current_object())
    logout_user()
    _clear_session()
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


def _check_current_code(
    form: CodeForm | RecoveryCodesForm | DisableForm, password: str | None = None
) -> bool:
    """The second factor (and the password, when the form asks for it) through the one
    operation: a refusal is counted and audited, and says the same for either field."""
    db, now, user = get_session(), utcnow(), current_user.user
    attempt = secondfactor.prove(db, user, form.code.data, now, password=password)
    if attempt.ok:
        twofactor.mark_fresh(db, login_digest(current_user.login_session_id), now)
        return True
    _code_error(form, attempt, with_password=password is not None)
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
    checked = form.validate_on_submit() and user.totp_enabled
    if checked and _check_current_code(form, form.password.data):
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


# --- the signed-in user's password ---------------------------------------------------------


def _password_page(form: ChangePasswordForm, status: int = 200) -> tuple[str, int]:
    return render_template(
        "auth/password.html",
        form=form,
        forced=current_user.user.must_change_password,
        needs_code=current_user.user.totp_enabled,
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
    ), status


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required(before_enrolment=True, before_password_change=True)
@sign_in_limit
def change_password() -> Response | tuple[str, int]:
    """Change one's own password (also the first sign-in's forced change): the other logins
    end and the API tokens are revoked."""
    form = ChangePasswordForm()
    if request.method == "GET":
        return _password_page(form)
    user = current_user.user
    if not form.validate():
        return _password_page(form, 400)
    if user.totp_enabled and not (form.code.data or "").strip():
        form.code.errors.append(_("Enter a current code from your authenticator app."))
        return _password_page(form, 400)
    try:
        check_password_policy(form.new_password.data)
    except AccountError as exc:
        form.new_password.errors.append(_password_rule(exc))
        return _password_page(form, 400)
    db, now = get_session(), utcnow()
    code = form.code.data if user.totp_enabled else None
    attempt = secondfactor.prove(db, user, code, now, password=form.current_password.data)
    if not attempt.ok:
        if code is None:
            message = (
                secondfactor.locked_message(attempt.locked_for)
                if attempt.locked_for is not None
                else str(_("The password is incorrect."))
            )
            form.current_password.errors.append(message)
        else:
            _code_error(form, attempt, with_password=True)
        return _password_page(form, 400)
    # Only now, with the current password proven: before, this would confirm a guess.
    if check_password_hash(user.password_hash, form.new_password.data):
        form.new_password.errors.append(_("Choose a password other than the current one."))
        return _password_page(form, 400)
    login_id = current_user.login_session_id
    set_password(db, user, form.new_password.data, by=user, keep_login=login_id)
    if attempt.check is not None:
        twofactor.mark_fresh(db, login_digest(login_id), now)
    flash(
        _(
            "Your password has been changed. Your other sign-ins have ended and your "
            "API tokens have been revoked."
        ),
        "success",
    )
    return redirect(url_for("main.index"))


def _password_rule(exc: AccountError) -> str:
    if exc.code == "password_short":
        return str(
            _(
                "The password needs at least %(num)d characters.",
                num=current_app.config["PASSWORD_MIN_LENGTH"],
            )
        )
    return str(_("The password is too long."))
