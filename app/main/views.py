"""Home, language, health."""

from __future__ import annotations

from flask import abort, current_app, jsonify, redirect, render_template, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import db
from app.auth.access import public, roles_required
from app.auth.views import safe_next
from app.main import bp
from app.main.forms import LanguageForm


@bp.get("/")
@roles_required()
def index() -> str:
    """The signed-in user's start page, with what their role can do."""
    return render_template("main/index.html")


@bp.post("/language")
@public
def set_language() -> Response:
    """Remember the chosen language: on the account when signed in, else in the session."""
    form = LanguageForm()
    if not form.validate():
        abort(400)
    session["lang"] = form.lang.data
    if current_user.is_authenticated:
        user = current_user.user
        user.locale = form.lang.data
        db.get_session().add(user)
    return redirect(safe_next(form.next.data) or url_for("main.index"))


@bp.get("/healthz")
@public
def healthz() -> Response:
    """Liveness: the process answers (no database call, for the load balancer's tight loop)."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """Readiness: the database answers and its schema is the one this code expects."""
    try:
        db.ping()
        current, head = db.current_revision(), db.head_revision()
    except Exception:  # any failure to reach the database means "not ready"
        current_app.logger.exception("readiness check failed")
        return jsonify(status="unavailable", reason="database"), 503
    if current != head:
        return jsonify(
            status="unavailable", reason="migrations", current=current, expected=head
        ), 503
    return jsonify(status="ok", schema=current), 200
