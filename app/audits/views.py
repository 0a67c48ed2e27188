"""The newest audit events (reading the log is itself audited)."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select
from sqlmodel import col

from app import audit
from app.audits import bp
from app.auth.access import roles_required
from app.db import get_session
from app.models import AuditEvent, Role

PAGE_SIZE = 50


@bp.get("/")
@roles_required(Role.AUDITOR)
def events() -> str:
    """The newest events, newest first."""
    rows = (
        get_session()
        .scalars(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(PAGE_SIZE))
        .all()
    )
    audit.defer("audit.read", data={"view": "latest", "count": len(rows)})
    return render_template("audits/events.html", events=rows)
