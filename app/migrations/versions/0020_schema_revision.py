"""Which applied migrations only add: an app server of the previous release reads it in
/readyz to tell a schema it can still serve (ahead by additive migrations) from one it cannot.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# A new table that no earlier code reads: code of revision 0019 serves this schema unchanged.
additive = True


def upgrade() -> None:
    op.create_table(
        "schema_revision",
        sa.Column("revision", sa.String(32), nullable=False),
        sa.Column("down_revision", sa.String(32), nullable=True),
        sa.Column("additive", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_revision"),
    )


def downgrade() -> None:
    op.drop_table("schema_revision")
