"""Meta's side of the authorization (the page's countries and registered disclaimers), the ad
account's currency and Meta's last answer about it; an ad's budget, schedule, placements and
image; Meta's hash of the image on the submission.

Existing checklists get the defaults a client that sends none of these gets (10.00 a day, no
schedule, both placements, no image). The content hash covers them now, so an approval given
before this migration no longer matches: such ads need a reviewer's approval again.
Existing ad accounts have no currency until an admin records it (their budget step fails).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from app.models import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AD_ACCOUNT_COLUMNS = (
    ("currency", sa.String(3)),
    ("meta_checked_at", UTCDateTime()),
    ("meta_page_authorized", sa.Boolean()),
    ("meta_currency", sa.String(3)),
    ("meta_min_daily_budget", sa.BigInteger()),
    ("meta_check_requested_at", UTCDateTime()),
    ("meta_check_error", sa.Text()),
)


def _fk(table: str, column: str, target: str = "user_account") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def _recorded(table: str, gone: str) -> list[SchemaItem]:
    """The columns and keys shared by the two tables of recorded facts."""
    return [
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column(f"{gone}_at", UTCDateTime(), nullable=True),
        sa.Column(f"{gone}_by", sa.Integer(), nullable=True),
        _fk(table, "ad_account_id", "ad_account"),
        _fk(table, "recorded_by"),
        _fk(table, f"{gone}_by"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("ad_account") as batch:
        for name, type_ in AD_ACCOUNT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "page_authorization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_account_id", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("authorized_since", sa.Date(), nullable=False),
        *_recorded("page_authorization", "revoked"),
    )
    op.create_index("ix_page_authorization_ad_account_id", "page_authorization", ["ad_account_id"])
    op.create_index(
        "uq_page_authorization_current",
        "page_authorization",
        ["ad_account_id", "country"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "registered_disclaimer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ad_account_id", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("text", sa.String(255), nullable=False),
        *_recorded("registered_disclaimer", "removed"),
    )
    op.create_index(
        "ix_registered_disclaimer_ad_account_id", "registered_disclaimer", ["ad_account_id"]
    )
    op.create_index(
        "uq_registered_disclaimer_current",
        "registered_disclaimer",
        ["ad_account_id", "country", "text"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_table(
        "ad_image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("ad_image", "owner_id"),
        sa.PrimaryKeyConstraint("id", name="pk_ad_image"),
    )
    op.create_index("ix_ad_image_owner_sha256", "ad_image", ["owner_id", "sha256"])
    with op.batch_alter_table("checklist") as batch:
        batch.add_column(
            sa.Column("budget_type", sa.String(16), nullable=False, server_default="daily")
        )
        batch.add_column(
            sa.Column("budget_amount", sa.BigInteger(), nullable=False, server_default="1000")
        )
        batch.add_column(sa.Column("start_time", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("end_time", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column(
                "placements",
                sa.JSON(),
                nullable=False,
                server_default='["facebook", "instagram"]',
            )
        )
        batch.add_column(sa.Column("image_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_checklist_image_id_ad_image", "ad_image", ["image_id"], ["id"])
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("image_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("image_hash")
    with op.batch_alter_table("checklist") as batch:
        batch.drop_constraint("fk_checklist_image_id_ad_image", type_="foreignkey")
        for name in ("image_id", "placements", "end_time", "start_time"):
            batch.drop_column(name)
        batch.drop_column("budget_amount")
        batch.drop_column("budget_type")
    op.drop_index("ix_ad_image_owner_sha256", table_name="ad_image")
    op.drop_table("ad_image")
    for table in ("registered_disclaimer", "page_authorization"):
        op.drop_index(f"uq_{table}_current", table_name=table)
        op.drop_index(f"ix_{table}_ad_account_id", table_name=table)
        op.drop_table(table)
    with op.batch_alter_table("ad_account") as batch:
        for name, _ in reversed(AD_ACCOUNT_COLUMNS):
            batch.drop_column(name)
