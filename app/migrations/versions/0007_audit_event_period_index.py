"""Audit events by period: an index on (occurred_at, seq) instead of occurred_at alone.

A period far back in the log is found by the seq range its events lie in (``app.audit.
query``): the smallest and largest seq of the period come out of this index alone. It
serves every query the index on occurred_at served.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_event_occurred_at_seq", "audit_event", ["occurred_at", "seq"])
    op.drop_index("ix_audit_event_occurred_at", table_name="audit_event")


def downgrade() -> None:
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.drop_index("ix_audit_event_occurred_at_seq", table_name="audit_event")
