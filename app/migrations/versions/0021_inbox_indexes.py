"""Indexes for the navigation's inbox count on every page: the latest change request of each
of a manager's drafts and its owner's answer, and the newest audit checkpoint.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Two new indexes: code of revision 0020 serves this schema unchanged.
additive = True


def upgrade() -> None:
    op.create_index("ix_comment_checklist_kind", "comment", ["checklist_id", "kind", "id"])
    op.create_index("ix_comment_checklist_author", "comment", ["checklist_id", "author_id", "id"])
    op.create_index("ix_audit_checkpoint_taken_at", "audit_checkpoint", ["taken_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoint_taken_at", table_name="audit_checkpoint")
    op.drop_index("ix_comment_checklist_author", table_name="comment")
    op.drop_index("ix_comment_checklist_kind", table_name="comment")
