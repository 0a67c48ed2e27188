"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.auth.access import public, roles_required
from app.auth.accounts import Principal, authenticate, end_login, start_login
from app.auth.forms import LoginForm
from app.db import get_session


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


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response:
    """Show the sign-in form; on success renew the session and go where the user was headed."""
    next_url = safe_next(request.args.get("next")) or url_for("main.index")
    if current_user.is_authenticated:
        return redirect(next_url)
    form = LoginForm()
    if form.validate_on_submit():
        db = get_session()
        user = authenticate(db, form.email.data, form.password.data)
        if user is not None:
            login_id = start_login(db, user)
            # A new session: nothing set before the login (a planted value, an old token) survives.
            session.clear()
            session.permanent = True
            login_user(Principal(user, login_id))
            return redirect(next_url)
        flash(_("Wrong e-mail address or password."), "danger")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@roles_required()
def logout() -> Response:
    """End this login on the server and clear the session."""
    # CSRFProtect has checked the form's token before this view runs.
    end_login(get_session(), current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))
