"""Alembic's environment: the URL comes from adgate's configuration (``app.db.alembic_config``)."""

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy import Connection, delete, event, insert, inspect
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.db import make_engine
from app.models import SchemaRevision

target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    """Write the SQL instead of running it (``--sql``)."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_conn: Any, _record: Any) -> None:
    # SQLite changes a table by copying it (batch mode), and dropping the original fails
    # while rows of other tables refer to it. As SQLite's own procedure for such changes
    # asks: off before the transaction (the pragma does nothing inside one), and every
    # reference checked before the commit (``_check_foreign_keys``).
    dbapi_conn.execute("PRAGMA foreign_keys=OFF")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration leaves rows that refer to no row: {broken[:10]}")


def _record_revision(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Note each applied migration and whether it only adds (its module's ``additive``).

    In the migration's own transaction, so the record and the schema never disagree. Before
    the table exists (migrations older than 0020) there is nothing to note it in: code that
    reads the table is never older than the table.
    """
    del heads, run_args  # alembic passes them by these names
    connection = ctx.connection
    assert connection is not None
    if not inspect(connection).has_table(SchemaRevision.__tablename__):
        return
    table = SchemaRevision.__table__  # type: ignore[attr-defined]
    if not step.is_upgrade:
        connection.execute(delete(table).where(table.c.revision == step.up_revision_id))
        return
    script = step.up_revision
    assert isinstance(script, Script), "an upgrade step applies a migration script"
    down = script.down_revision
    connection.execute(delete(table).where(table.c.revision == script.revision))
    connection.execute(
        insert(table).values(
            revision=script.revision,
            down_revision=down if isinstance(down, str) else None,
            additive=bool(getattr(script.module, "additive", False)),
        )
    )


def run_migrations_online() -> None:
    """Run against the database, in one transaction."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            transactional_ddl=True,
            on_version_apply=_record_revision,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
