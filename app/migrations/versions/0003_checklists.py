"""Checklists, ad accounts, identity verifications and submissions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["user_account.id"], name=f"fk_{table}_{column}_user_account"
    )


def upgrade() -> None:
    op.create_table(
        "ad_account",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("page_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("political_eligible", sa.Boolean(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ad_account"),
    )
    op.create_table(
        "checklist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.String(32), nullable=False),
        sa.Column("ad_account_id", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("headline", sa.String(255), nullable=False),
        sa.Column("link_url", sa.String(2048), nullable=False),
        sa.Column("countries", sa.String(255), nullable=False),
        sa.Column("paid_for_by", sa.String(255), nullable=False),
        sa.Column("dsa_payor", sa.String(255), nullable=False),
        sa.Column("dsa_beneficiary", sa.String(255), nullable=False),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("social_issues", sa.String(500), nullable=False),
        sa.Column("digitally_created_media", sa.Boolean(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("suggested_probability", sa.Float(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("signed_off_by", sa.Integer(), nullable=True),
        sa.Column("facebook_2fa_attested_at", UTCDateTime(), nullable=True),
        sa.Column("facebook_2fa_attestation", sa.Text(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_hash", sa.String(64), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checklist"),
        _user_fk("checklist", "owner_id"),
        _user_fk("checklist", "signed_off_by"),
        _user_fk("checklist", "approved_by"),
        sa.CheckConstraint(
            "state IN ('draft', 'approved', 'queued', 'sending', 'submitted', 'live',"
            " 'rejected', 'failed', 'withdrawn')",
            name="ck_checklist_state",
        ),
        sa.CheckConstraint(
            "category IS NULL OR category IN ('POLITICAL', 'ELECTORAL', 'SOCIAL_ISSUE', 'NONE')",
            name="ck_checklist_category",
        ),
    )
    op.create_index("ix_checklist_owner_id", "checklist", ["owner_id"])
    op.create_index("ix_checklist_state", "checklist", ["state"])
    op.create_table(
        "identity_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("document_type", sa.String(32), nullable=False),
        sa.Column("issuing_country", sa.String(2), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("verified_by", sa.Integer(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_verification"),
        _user_fk("identity_verification", "user_id"),
        _user_fk("identity_verification", "verified_by"),
        _user_fk("identity_verification", "revoked_by"),
        # A reviewer never verifies themself, whatever the code above does.
        sa.CheckConstraint("user_id <> verified_by", name="ck_identity_verification_not_self"),
    )
    op.create_index("ix_identity_verification_user_id", "identity_verification", ["user_id"])
    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checklist_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_submission"),
        sa.ForeignKeyConstraint(
            ["checklist_id"], ["checklist.id"], name="fk_submission_checklist_id_checklist"
        ),
    )
    op.create_index("ix_submission_checklist_id", "submission", ["checklist_id"])
    op.create_index("ix_submission_status", "submission", ["status"])


def downgrade() -> None:
    op.drop_table("submission")
    op.drop_table("identity_verification")
    op.drop_table("checklist")
    op.drop_table("ad_account")
