"""Notifications by e-mail: the outbox the worker sends from, and each person's opt-outs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("mail_opt_out", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "outbox_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("checklist_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("dropped", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["user_account.id"], name="fk_outbox_mail_recipient_id_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["checklist_id"], ["checklist.id"], name="fk_outbox_mail_checklist_id_checklist"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_mail"),
        sa.UniqueConstraint("dedup_key", name="uq_outbox_mail_dedup_key"),
    )
    op.create_index("ix_outbox_mail_recipient_id", "outbox_mail", ["recipient_id"])
    op.create_index("ix_outbox_mail_due", "outbox_mail", ["sent_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_mail_due", table_name="outbox_mail")
    op.drop_index("ix_outbox_mail_recipient_id", table_name="outbox_mail")
    op.drop_table("outbox_mail")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("mail_opt_out")
