"""Review conversations: a thread of comments per checklist, change requests among them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checklist_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("checklist_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comment"),
        sa.ForeignKeyConstraint(
            ["checklist_id"], ["checklist.id"], name="fk_comment_checklist_id_checklist"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name="fk_comment_author_id_user_account"
        ),
        sa.CheckConstraint("kind IN ('comment', 'change_request')", name=op.f("ck_comment_kind")),
    )
    op.create_index("ix_comment_checklist_id", "comment", ["checklist_id"])


def downgrade() -> None:
    op.drop_index("ix_comment_checklist_id", table_name="comment")
    op.drop_table("comment")
