"""The auditors' workspace: checkpoints, sealed segments, verification runs, erasure.

The append-only trigger now lets a purge delete events inside a sealed segment (and only
there); everything else stays refused.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_event is append-only: UPDATE and DELETE are refused"
SEALED = "(SELECT COALESCE(MAX(up_to), 0) FROM audit_seal)"


def upgrade() -> None:
    op.add_column("user_account", sa.Column("erased_at", UTCDateTime(), nullable=True))
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoint"),
    )
    op.create_table(
        "audit_seal",
        sa.Column("up_to", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("sealed_at", UTCDateTime(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.Column("kept", sa.BigInteger(), nullable=False),
        sa.Column("kept_digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("up_to", name="pk_audit_seal"),
    )
    op.create_table(
        "audit_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(64), nullable=True),
        sa.Column("first_bad_event", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["user_account.id"],
            name="fk_audit_verification_started_by_user_account",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_verification"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" IF TG_OP = 'DELETE' AND OLD.seq <= {SEALED} THEN RETURN OLD; END IF;"
            f" RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
    else:
        op.execute("DROP TRIGGER audit_event_no_delete")
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
            f" WHEN OLD.seq > {SEALED} BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
    else:
        op.execute("DROP TRIGGER audit_event_no_delete")
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
            f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    op.drop_table("audit_verification")
    op.drop_table("audit_seal")
    op.drop_table("audit_checkpoint")
    op.drop_index("ix_audit_event_occurred_at", table_name="audit_event")
    op.drop_column("user_account", "erased_at")
