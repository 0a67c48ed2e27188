"""Accounts: a reviewer or admin created on the pages acts in that role only once a second
person has confirmed it; who created and who confirmed an account is kept.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_user_account_created_by_user_account", "user_account", ["created_by"], ["id"]
        )
        batch.create_foreign_key(
            "fk_user_account_confirmed_by_user_account", "user_account", ["confirmed_by"], ["id"]
        )
    # Existing accounts keep acting in their roles: nobody can tell now who created them.
    op.execute(sa.text("UPDATE user_account SET confirmed_at = created_at"))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint("fk_user_account_confirmed_by_user_account", type_="foreignkey")
        batch.drop_constraint("fk_user_account_created_by_user_account", type_="foreignkey")
        batch.drop_column("confirmed_by")
        batch.drop_column("confirmed_at")
        batch.drop_column("created_by")
