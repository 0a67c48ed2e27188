"""Lists as JSON arrays: a checklist's countries and social-issue topics and a token's scopes
were comma-joined text ("CH,LI"); they are JSON arrays now (["CH", "LI"]), in the same order.

The content hash takes the countries as a sorted list, whatever the column holds, so an
approval given before this migration covers the same ad after it. The audit log is untouched.

The rows are read as text, the column's type is changed, and each row is written back as
JSON (and the other way round on downgrade): SQLite's table copy would cast the text to a
number, and PostgreSQL's cast of a longer JSON text could overflow the old VARCHAR.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The list columns by table, with the length each had as text.
COLUMNS = {
    "checklist": (("countries", 255), ("social_issues", 500)),
    "api_token": (("scopes", 255),),
}


def _convert(
    table: str,
    columns: Sequence[tuple[str, int]],
    old: sa.types.TypeEngine[Any],
    new: Callable[[int], sa.types.TypeEngine[Any]],
    placeholder: str,
    value: Callable[[Any], Any],
) -> None:
    """Read ``columns`` of every row as ``old``, change their type, write ``value`` of each."""
    names = [name for name, _ in columns]
    read = sa.table(table, sa.column("id", sa.Integer()), *(sa.column(n, old) for n in names))
    bind = op.get_bind()
    rows = [
        {"row_id": row.id, **{f"new_{n}": value(getattr(row, n)) for n in names}}
        for row in bind.execute(sa.select(read))
    ]
    with op.batch_alter_table(table) as batch:
        for name, length in columns:
            batch.alter_column(
                name,
                existing_type=old if isinstance(old, sa.JSON) else sa.String(length),
                existing_nullable=False,
                type_=new(length),
                # Every row is written again below from the values read above.
                postgresql_using=placeholder,
            )
    if not rows:
        return
    write = sa.table(
        table,
        sa.column("id", sa.Integer()),
        *(sa.column(n, new(length)) for n, length in columns),
    )
    bind.execute(
        sa.update(write)
        .where(write.c.id == sa.bindparam("row_id"))
        .values({n: sa.bindparam(f"new_{n}", type_=new(length)) for n, length in columns}),
        rows,
    )


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        _convert(
            table,
            columns,
            sa.Text(),
            lambda _: sa.JSON(),
            "'[]'::json",
            lambda text: [item for item in text.split(",") if item],
        )


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        _convert(table, columns, sa.JSON(), sa.String, "''", ",".join)
