"""Accounts: a password set by someone else must be changed at the first sign-in, and a
pending TOTP secret belongs to the one enrolment (sign-in) that was shown it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        # Existing accounts keep signing in as they do: their passwords were accepted before.
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("totp_pending_binding", sa.String(64), nullable=True))
    # A secret shown before this migration is bound to no enrolment: it is shown anew.
    op.execute(sa.text("UPDATE user_account SET totp_pending = NULL"))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("totp_pending_binding")
        batch.drop_column("must_change_password")
