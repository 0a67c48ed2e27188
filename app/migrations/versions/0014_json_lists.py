"""Lists as JSON arrays: a checklist's countries and social-issue topics and a token's scopes
were comma-joined text ("CH,LI"); they are JSON arrays now (["CH", "LI"]), in the same order.

The content hash takes the countries as a sorted list, whatever the column holds, so an
approval given before this migration covers the same ad after it. The audit log is untouched.

The rows are read, the column's type is changed, and each row is written back as JSON (as
text on downgrade). The type change alone would not do: SQLite's table copy casts the text to
a number, PostgreSQL reads "CH,LI" as no JSON, and on the way back the JSON text can be
longer than the VARCHAR.

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
    old: Callable[[int], sa.types.TypeEngine[Any]],
    new: Callable[[int], sa.types.TypeEngine[Any]],
    placeholder: str,
    value: Callable[[Any], Any],
) -> None:
    """Read ``columns`` of every row as ``old``, change their type to ``new`` and write back
    ``value`` of what was read (``placeholder``: PostgreSQL's value until then)."""
    names = [name for name, _ in columns]

    def table_as(type_: Callable[[int], sa.types.TypeEngine[Any]]) -> sa.TableClause:
        return sa.table(
            table, sa.column("id", sa.Integer()), *(sa.column(n, type_(k)) for n, k in columns)
        )

    bind = op.get_bind()
    rows = [
        {"row_id": row.id, **{f"new_{n}": value(getattr(row, n)) for n in names}}
        for row in bind.execute(sa.select(table_as(old)))
    ]
    with op.batch_alter_table(table) as batch:
        for name, length in columns:
            batch.alter_column(
                name,
                existing_type=old(length),
                existing_nullable=False,
                type_=new(length),
                postgresql_using=placeholder,
            )
    if not rows:
        return
    write = table_as(new)
    bind.execute(
        sa.update(write)
        .where(write.c.id == sa.bindparam("row_id"))
        .values({n: sa.bindparam(f"new_{n}", type_=write.c[n].type) for n in names}),
        rows,
    )


def _json(_: int) -> sa.types.TypeEngine[Any]:
    return sa.JSON()


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        _convert(
            table,
            columns,
            sa.String,
            _json,
            "'[]'::json",
            lambda text: [item for item in text.split(",") if item],
        )


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        _convert(table, columns, _json, sa.String, "''", ",".join)
