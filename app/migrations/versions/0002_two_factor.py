"""Two-factor authentication: TOTP secrets, used steps, recovery codes, lockout.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("totp_pending", sa.Text(), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UTCDateTime(), nullable=True))
    with op.batch_alter_table("login_session") as batch:
        batch.add_column(sa.Column("second_factor_at", UTCDateTime(), nullable=True))
    op.create_table(
        "totp_use",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "step", name="pk_totp_use"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name="fk_totp_use_user_id_user_account"
        ),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_code"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name="fk_recovery_code_user_id_user_account"
        ),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("totp_use")
    with op.batch_alter_table("login_session") as batch:
        batch.drop_column("second_factor_at")
    with op.batch_alter_table("user_account") as batch:
        for column in (
            "locked_until",
            "lockouts",
            "failed_logins",
            "totp_enabled_at",
            "totp_pending",
            "totp_secret",
        ):
            batch.drop_column(column)
