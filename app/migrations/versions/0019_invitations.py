"""Invitations: an admin invites a person by e-mail, who sets their own password; the outbox
carries mails to an address without an account, and the secret of an invitation's link.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("sent_by", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("resent", sa.Integer(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name="fk_invitation_created_by_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["sent_by"], ["user_account.id"], name="fk_invitation_sent_by_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name="fk_invitation_user_id_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["user_account.id"], name="fk_invitation_revoked_by_user_account"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invitation"),
        sa.UniqueConstraint("token_hash", name="uq_invitation_token_hash"),
    )
    op.create_index("ix_invitation_email", "invitation", ["email"])
    with op.batch_alter_table("outbox_mail") as batch:
        batch.alter_column("recipient_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("secret", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_outbox_mail_invitation_id_invitation", "invitation", ["invitation_id"], ["id"]
        )


def downgrade() -> None:
    # Mails to an address without an account cannot stay in an outbox without that column.
    op.execute(sa.text("DELETE FROM outbox_mail WHERE recipient_id IS NULL"))
    with op.batch_alter_table("outbox_mail") as batch:
        batch.drop_constraint("fk_outbox_mail_invitation_id_invitation", type_="foreignkey")
        batch.drop_column("secret")
        batch.drop_column("invitation_id")
        batch.alter_column("recipient_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_invitation_email", table_name="invitation")
    op.drop_table("invitation")
