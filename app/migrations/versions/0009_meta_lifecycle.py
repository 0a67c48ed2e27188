"""Meta's side after creation: the installation's name in every object's name, Meta's status
and issues on the submission, reads that stretch, look-ups after an ambiguous create, status
changes and removals the worker makes at Meta, and Meta's throttling per ad account.

The installation row is made here, with a random name of its own: it never changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The checklist's states after this migration (workflows.machine.State, as of 0009).
STATES = (
    "draft", "approved", "queued", "sending", "held", "submitted", "paused", "activating",
    "live", "pausing", "with_issues", "billing_blocked", "rejected", "removed", "failed",
    "withdrawn",
)  # fmt: skip
BEFORE = ("draft", "approved", "queued", "sending", "submitted", "live", "rejected", "failed",
          "withdrawn")  # fmt: skip
# Named by the naming convention when 0003 created it.
STATE_CHECK = "ck_checklist_ck_checklist_state"


def _states(states: tuple[str, ...]) -> str:
    return "state IN (" + ", ".join(f"'{s}'" for s in states) + ")"


SUBMISSION_COLUMNS = (
    ("review_next_at", UTCDateTime()),
    ("review_interval", sa.Float()),
    ("effective_status", sa.String(32)),
    ("issues_info", sa.Text()),
    ("status_change", sa.String(16)),
    ("cleanup", sa.String(16)),
    ("cleaned_at", UTCDateTime()),
)


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("app_usage", sa.Text(), nullable=True),
        sa.Column("app_throttled_until", UTCDateTime(), nullable=True),
        sa.Column("reconciled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_installation"),
        sa.UniqueConstraint("name", name="uq_installation_name"),
    )
    op.bulk_insert(
        installation,
        [{"id": 1, "name": secrets.token_hex(4), "created_at": datetime.now(UTC)}],
    )
    with op.batch_alter_table("submission") as batch:
        for name, type_ in SUBMISSION_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(sa.Column("lookups", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("ad_account") as batch:
        batch.add_column(sa.Column("meta_throttled_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("meta_usage", sa.Text(), nullable=True))
    with op.batch_alter_table("checklist") as batch:
        batch.drop_constraint(op.f(STATE_CHECK), type_="check")
        batch.create_check_constraint(op.f(STATE_CHECK), _states(STATES))


def downgrade() -> None:
    # The states 0009 added go back to the nearest state there was: held is queued (it is
    # sent again), everything Meta holds is submitted, removed is failed.
    back = {"held": "queued", "removed": "failed"}
    for state in STATES:
        if state not in BEFORE:
            target = back.get(state, "submitted")
            op.execute(
                sa.text("UPDATE checklist SET state = :target WHERE state = :state").bindparams(
                    target=target, state=state
                )
            )
    with op.batch_alter_table("checklist") as batch:
        batch.drop_constraint(op.f(STATE_CHECK), type_="check")
        batch.create_check_constraint(op.f(STATE_CHECK), _states(BEFORE))
    with op.batch_alter_table("ad_account") as batch:
        batch.drop_column("meta_usage")
        batch.drop_column("meta_throttled_until")
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("lookups")
        for name, _ in reversed(SUBMISSION_COLUMNS):
            batch.drop_column(name)
    op.drop_table("installation")
