"""Home, language, privacy, health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, current_app, g, jsonify, redirect, render_template, session, url_for
from flask_babel import format_timedelta
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from app import db, readiness
from app.api.tokens import MAX_LIFETIME
from app.audit import kinds
from app.auth.access import public, roles_required
from app.auth.views import safe_next
from app.checklists import steps
from app.main import bp
from app.main.forms import LanguageForm
from app.main.inbox import inbox
from app.models import Role, utcnow

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


SECTION_LABELS = {
    "needs_action": _l("Your ads that need you"),
    "changes_requested": _l("Changes a reviewer asked for"),
    "meta_outcomes": _l("Meta's decisions since your last visit"),
    "ready_for_approval": _l("Ready for your approval"),
    "identity_requests": _l("Identity verifications asked for"),
    "sign_offs": _l("Classifications to sign off"),
    "failed_verifications": _l("Verifications that found the log broken"),
    "checkpoint": _l("Checkpoint overdue"),
    "unconfirmed_accounts": _l("Accounts waiting for your confirmation"),
    "ad_accounts": _l("Ad accounts that need an administrator"),
    "held": _l("Ads held for a person"),
}
EMPTY_LABELS = {
    "needs_action": _l("None of your ads needs you now."),
    "changes_requested": _l("No changes asked for."),
    "meta_outcomes": _l("No news from Meta."),
    "ready_for_approval": _l("Nothing to approve."),
    "identity_requests": _l("Nobody asks for an identity verification."),
    "sign_offs": _l("Nothing to sign off."),
    "failed_verifications": _l("No verification found the log broken."),
    "checkpoint": _l("The last checkpoint is recent."),
    "unconfirmed_accounts": _l("No account waits for your confirmation."),
    "ad_accounts": _l("Every ad account is in order."),
    "held": _l("No ad is held."),
}
REASON_LABELS = {
    "not_eligible": _l("lost its eligibility for political ads"),
    "meta_not_authorized": _l("Meta says the page has not authorized the account"),
    "meta_check_failed": _l("Meta could not be asked about it"),
    "currency_missing": _l("currency not recorded"),
    "throttled": _l("Meta throttles it"),
}


@bp.get("/")
@roles_required()
def index() -> str:
    """The signed-in user's start page: what waits for them, and what their role can do."""
    now = utcnow()
    g.inbox = inbox(db.get_session(), current_user.user, now)
    return render_template(
        "main/index.html",
        inbox=g.inbox,
        section_labels=SECTION_LABELS,
        empty_labels=EMPTY_LABELS,
        reason_labels=REASON_LABELS,
        step_labels=steps.LABELS,
        state_labels=steps.STATE_LABELS,
        country_names=steps.country_names,
        checkpoint_age=(
            format_timedelta(now - g.inbox.checkpoint_at)
            if g.inbox.checkpoint_at is not None
            else None
        ),
    )


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


@bp.get("/accessibility")
@public
def accessibility() -> str:
    """The statement on accessibility (BITV 2.0 § 7), reachable from every page's footer."""
    config = current_app.config
    reviewed = config["ACCESSIBILITY_REVIEWED_ON"]
    return render_template(
        "main/accessibility.html",
        contact=config["ACCESSIBILITY_CONTACT"] or config["PRIVACY_CONTACT"],
        reviewed_on=date.fromisoformat(str(reviewed)) if reviewed else None,
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
    """Readiness: the database answers and its schema is one the code this process loaded
    can serve (its own revision, or ahead of it by additive migrations only)."""
    code = readiness.loaded()
    try:
        db.ping()
        verdict = readiness.check()
    except Exception as exc:  # any failure to reach the database means "not ready"
        # One line per failed probe: a probe every few seconds must not fill the journal
        # with tracebacks of the same outage.
        first_line = (str(exc).splitlines() or [""])[0][:200]
        current_app.logger.warning(
            "readiness check failed: database: %s: %s", type(exc).__name__, first_line
        )
        return jsonify(status="unavailable", reason="database", **code.describe()), 503
    if not verdict.ready:
        current_app.logger.warning(
            "readiness check failed: %s (database at %s, this code serves %s)",
            verdict.reason,
            verdict.database,
            code.schema,
        )
        return jsonify(
            status="unavailable",
            reason=verdict.reason,
            current=verdict.database,
            expected=code.schema,
            **code.describe(),
        ), 503
    return jsonify(status="ok", database=verdict.database, **code.describe()), 200
