"""Home, language, privacy, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, jsonify, redirect, render_template, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from app import db
from app.api.tokens import MAX_LIFETIME
from app.audit import kinds
from app.auth.access import public, roles_required
from app.auth.views import safe_next
from app.main import bp
from app.main.forms import LanguageForm
from app.models import Role

RETENTION_CLASSES = {
    kinds.READS: (_l("Reads"), _l("who looked at the audit log or at identity records")),
    kinds.SECURITY: (_l("Security"), _l("sign-ins, codes, refusals, accounts and API tokens")),
    kinds.EVIDENCE: (
        _l("Evidence"),
        _l("how each ad was checked, approved, submitted and reviewed; erasures"),
    ),
    kinds.INTEGRITY: (
        _l("Integrity"),
        _l("checkpoints, purges and key rotations, which verifying the chain needs"),
    ),
}


@dataclass(frozen=True)
class RetentionClass:
    """One class of audit events on the privacy page: how long it is kept, and its kinds."""

    name: str
    label: Any  # lazy strings
    about: Any
    days: int | None  # None: never purged
    kinds: list[kinds.Kind]


@bp.get("/")
@roles_required()
def index() -> str:
    """The signed-in user's start page, with what their role can do."""
    return render_template("main/index.html")


@bp.get("/privacy")
@roles_required(*Role)
def privacy() -> str:
    """The record of processing (GDPR Art. 30): what adgate keeps about whom, why, how long."""
    config = current_app.config
    days = config["AUDIT_RETENTION_DAYS"]
    classes = [
        RetentionClass(
            name,
            *RETENTION_CLASSES[name],
            # The integrity class, and any class without a configured period, is never purged.
            days=None if name == kinds.INTEGRITY else days.get(name),
            kinds=[kinds.lookup(k) for k in kinds.in_class(name)],
        )
        for name in kinds.CLASSES
    ]
    return render_template(
        "main/privacy.html",
        classes=classes,
        retention=dict(days),
        contact=config["PRIVACY_CONTACT"],
        login_hours=int(config["LOGIN_SESSION_MAX_AGE"].total_seconds() // 3600),
        idempotency_hours=max(24, int(config["IDEMPOTENCY_TTL_HOURS"])),
        token_days=MAX_LIFETIME.days,
        mail_days=int(config["MAIL_KEEP_DAYS"]),
    )


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
