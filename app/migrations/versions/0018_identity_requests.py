"""Requests for an identity verification: a person asks the reviewers, for one country.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("fulfilled_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_request"),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["user_account.id"],
            name="fk_identity_request_requester_id_user_account",
        ),
        sa.ForeignKeyConstraint(
            ["fulfilled_by"],
            ["identity_verification.id"],
            name="fk_identity_request_fulfilled_by_identity_verification",
        ),
    )
    op.create_index("ix_identity_request_requester_id", "identity_request", ["requester_id"])
    op.create_index("ix_identity_request_state", "identity_request", ["state"])
    op.create_index(
        "uq_identity_request_open",
        "identity_request",
        ["requester_id", "country"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_identity_request_open", table_name="identity_request")
    op.drop_index("ix_identity_request_state", table_name="identity_request")
    op.drop_index("ix_identity_request_requester_id", table_name="identity_request")
    op.drop_table("identity_request")
