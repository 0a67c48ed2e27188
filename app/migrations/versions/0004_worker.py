"""The worker's bookkeeping on submissions: claims, attempts, Meta's ids and errors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("next_attempt_at", UTCDateTime()),
    ("claimed_by", sa.String(64)),
    ("lease_until", UTCDateTime()),
    ("creating", sa.String(16)),
    ("campaign_id", sa.String(32)),
    ("adset_id", sa.String(32)),
    ("creative_id", sa.String(32)),
    ("ad_id", sa.String(32)),
    ("error", sa.Text()),
    ("sent_at", UTCDateTime()),
    ("review_checked_at", UTCDateTime()),
    ("review_feedback", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    # The worker's claim query: ready work by status and time.
    op.create_index("ix_submission_status_next", "submission", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_submission_status_next", table_name="submission")
    with op.batch_alter_table("submission") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
        batch.drop_column("attempts")
