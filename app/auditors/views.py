"""The auditors' pages: events with filters, a checklist's timeline, exports, integrity.

Reading the log is itself audited (``audit.read``, ``audit.exported``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel.numbers import get_decimal_symbol
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlmodel import col
from werkzeug.wrappers import Response as WerkzeugResponse

from app import audit
from app.audit import export, integrity, query
from app.auditors import bp, present
from app.auditors.forms import OUTCOME_LABELS, AuditFilterForm
from app.auth.access import roles_required
from app.checklists.steps import STATE_LABELS
from app.db import after_commit, get_session, new_session
from app.models import AuditCheckpoint, AuditEvent, AuditVerification, Checklist, Role, utcnow


def _filter_form() -> AuditFilterForm:
    return AuditFilterForm(formdata=request.args)


@bp.get("/")
@roles_required(Role.AUDITOR)
def events() -> tuple[str, int]:
    """Events newest first, filtered, a page at a time."""
    form = _filter_form()
    try:
        after = _after(request.args.get("after"))
    except ValueError:
        flash(_("The page link is not valid: start again from the newest events."), "danger")
        return render_template("audits/events.html", form=form, rows=[], next_after=None), 400
    if not form.validate():
        return render_template("audits/events.html", form=form, rows=[], next_after=None), 400
    db = get_session()
    page = query.page(db, query.resolved(db, form.to_filter()), after=after, limit=form.page_size())
    audit.defer(
        "audit.read",
        data={"view": "events", "count": len(page.events), "filters": page.filter.describe()},
    )
    return render_template(
        "audits/events.html",
        form=form,
        rows=present.rows(db, page.events),
        next_after=page.next_after,
        args=form.query_args(),
        paged=after is not None,
        outcomes=OUTCOME_LABELS,
    ), 200


def _after(raw: str | None) -> int | None:
    """The seq a page starts below (the "older" link's), None for the newest; ValueError
    unless ASCII digits that the database's integers hold."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


@bp.get("/checklists/<int:checklist_id>")
@roles_required(Role.AUDITOR)
def timeline(checklist_id: int) -> str:
    """A checklist's whole history, oldest first."""
    db = get_session()
    checklist = db.get(Checklist, checklist_id) if checklist_id <= 2**31 - 1 else None
    if checklist is None:
        abort(404)
    events = query.timeline(db, checklist_id)
    audit.defer(
        "audit.read",
        subject=("checklist", checklist_id),
        data={"view": "timeline", "count": len(events)},
    )
    return render_template(
        "audits/timeline.html",
        checklist=checklist,
        state=STATE_LABELS.get(checklist.state, checklist.state),
        rows=present.rows(db, events),
        outcomes=OUTCOME_LABELS,
    )


@bp.get("/export")
@roles_required(Role.AUDITOR)
def export_events() -> Response | tuple[str, int]:
    """The filtered events as CSV or JSON Lines with a manifest, in one streamed ZIP."""
    form = _filter_form()
    fmt = request.args.get("format", "csv")
    if fmt not in export.MEDIA_TYPES or not form.validate():
        if fmt not in export.MEDIA_TYPES:
            flash(_("Choose CSV or JSON Lines."), "danger")
        return render_template("audits/events.html", form=form, rows=[], next_after=None), 400
    the_filter = query.resolved(get_session(), form.to_filter())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    signer = integrity.signer()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    exported_by = f"user:{current_user.id}"
    head = export.head(get_session())
    audit.defer(
        "audit.exported",
        data={"format": fmt, "filters": the_filter.describe(), "head": head[0] if head else 0},
    )

    # A spreadsheet in the auditor's language opens the CSV as columns, umlauts intact.
    style = export.CsvStyle.for_locale(get_decimal_symbol(get_locale()))

    def generate() -> Any:
        with new_session(write=False, eng=app.extensions["adgate.db"]) as db:
            job = export.Export(
                db, the_filter, fmt, f"adgate-audit-{stamp}.{fmt}", exported_by, signer,
                style=style, names=present.actor_names(db),
            )  # fmt: skip
            yield from export.zipped(job)

    response = Response(stream_with_context(generate()), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="adgate-audit-{stamp}.zip"'
    return response


# --- integrity ---------------------------------------------------------------


@bp.get("/integrity")
@roles_required(Role.AUDITOR)
def integrity_page() -> str:
    """The chain's head, verification runs with progress, and the checkpoints."""
    db = get_session()
    head = export.head(db)
    runs = db.scalars(
        select(AuditVerification).order_by(col(AuditVerification.id).desc()).limit(10)
    ).all()
    checkpoints = db.scalars(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq).desc()).limit(30)
    ).all()
    signer = integrity.signer()
    return render_template(
        "audits/integrity.html",
        head=head,
        events=db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        runs=runs,
        now=utcnow(),
        status=integrity.run_status,
        checkpoints=checkpoints,
        key_id=signer.key_id if signer else None,
        form=FlaskForm(),
    )


@bp.post("/verifications")
@roles_required(Role.AUDITOR)
def start_verification() -> WerkzeugResponse:
    """Start verifying the whole chain in the background; the page shows its progress."""
    run = integrity.start_run(get_session(), current_user.id, utcnow())
    assert run.id is not None
    app, run_id = current_app._get_current_object(), run.id  # type: ignore[attr-defined]
    # The thread reads and updates the run in its own transactions: it starts once the
    # request committed the run.
    after_commit(lambda: integrity.run_in_background(app, run_id))
    return redirect(url_for("audits.integrity_page", run=run_id))


@bp.get("/verifications/<int:run_id>")
@roles_required(Role.AUDITOR)
def verification(run_id: int) -> Response:
    """A run's progress as JSON (polled by the integrity page)."""
    run = get_session().get(AuditVerification, run_id) if run_id <= 2**31 - 1 else None
    if run is None:
        abort(404)
    return jsonify(
        id=run.id,
        status=integrity.run_status(run, utcnow()),
        checked=run.checked,
        total=run.total,
        head=run.head,
        first_bad_event=run.first_bad_event,
        reason=run.reason,
    )


@bp.post("/checkpoints")
@roles_required(Role.AUDITOR)
def take_checkpoint() -> WerkzeugResponse:
    """Append a checkpoint now (besides the worker's daily one)."""
    cp = integrity.take_checkpoint(get_session(), utcnow(), integrity.signer())
    flash(_("Checkpoint taken at event %(seq)s.", seq=cp.seq), "success")
    return redirect(url_for("audits.integrity_page"))


@bp.get("/checkpoints.json")
@roles_required(Role.AUDITOR)
def checkpoints_file() -> Response:
    """Every checkpoint as a file to keep away from the server."""
    rows = get_session().scalars(select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq)))
    doc = integrity.export_checkpoints(rows, integrity.signer())
    audit.defer("audit.exported", data={"format": "checkpoints", "count": len(doc["checkpoints"])})
    response = jsonify(doc)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="adgate-checkpoints-{stamp}.json"'
    )
    return response
