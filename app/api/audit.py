"""The audit log for auditors: events, filtered and paged, and the chain's verification."""

from __future__ import annotations

import json

from app import audit
from app.api import bp, common
from app.api import schemas as s
from app.api.auth import requires
from app.api.common import AUDIT
from app.api.spec import operation
from app.audit import query as audit_query
from app.audit import verification
from app.db import engine, get_session
from app.models import AuditEvent, Role


@bp.get("/audit/events")
@operation(AUDIT, 200, s.AuditPage, 422)
@requires("audit:read", Role.AUDITOR)
def audit_events(query: s.AuditQuery) -> s.AuditPage:
    """Audit events, newest first, filtered; reading the log is itself audited."""
    db = get_session()
    the_filter = audit_query.Filter(
        checklist=query.checklist,
        actor=query.actor,
        kind=query.kind,
        outcome=query.outcome,
        since=query.since,
        until=query.until,
    )
    the_filter = audit_query.resolved(db, the_filter)
    page = audit_query.page(db, the_filter, common.after(query.cursor), query.limit)
    rows, next_cursor = page.events, common.cursor(page.next_after)
    audit.defer(
        "audit.read",
        data={
            "view": "api",
            "count": len(rows),
            "filters": {**the_filter.describe(), "limit": query.limit},
        },
    )
    return s.AuditPage(events=[_event_out(e) for e in rows], next_cursor=next_cursor)


def _event_out(e: AuditEvent) -> s.AuditEventOut:
    data = json.loads(e.data)
    return s.AuditEventOut(
        seq=e.seq,
        occurred_at=e.occurred_at,
        actor=s.Actor(type=e.actor_type, id=e.actor_id),
        kind=e.kind,
        subject=s.Subject(type=e.subject_type, id=e.subject_id),
        data=data if isinstance(data, dict) else {"value": data},
        request_id=e.request_id,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


@bp.get("/audit/verify")
@operation(AUDIT, 200, s.VerifyOut)
@requires("audit:read", Role.AUDITOR)
def audit_verify() -> s.VerifyOut:
    """Walk the whole hash chain now (streamed); ok, or the first broken event."""
    result = verification.verify(engine())
    audit.defer("audit.verified", data={"ok": result.ok, "events": result.events, "via": "api"})
    return s.VerifyOut(
        ok=result.ok,
        events=result.events,
        head=result.head,
        first_bad_event=result.first_bad_event,
        reason=result.reason,
    )
