"""Checklists: a content version, counting changes of the ad itself, which is what people are
shown (the version used for optimistic locking counts every write, a step taken too).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checklist") as batch:
        batch.add_column(
            sa.Column("content_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("checklist") as batch:
        batch.drop_column("content_version")
