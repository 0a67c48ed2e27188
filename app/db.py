"""The database: one engine per app, one session per request, the commit at its edge.

Views and services only ``flush()``; the request commits once when it answers
with success and rolls back otherwise. Audit events that must survive a refused
request (a 403, a CSRF failure) are deferred and written after the rollback in
a transaction of their own (see ``app.audit.defer``). What must wait for the commit (a
thread that reads the rows the request wrote) is handed to ``after_commit``.

SQLite runs in WAL mode with foreign keys on. Its transactions are begun by us,
not by the driver, so that a writing request takes the write lock up front
(``BEGIN IMMEDIATE``) instead of failing later when a read lock cannot be
upgraded; reading requests begin ``DEFERRED`` and never block writers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, Response, current_app, g, has_request_context, request
from flask.cli import AppGroup
from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SQLITE_BUSY_TIMEOUT_MS = 15_000


def init_app(app: Flask) -> None:
    """Create the engine and hook the per-request session into the request cycle."""
    engine = make_engine(app.config["DATABASE_URL"], echo=bool(app.config.get("SQL_ECHO")))
    app.extensions["adgate.db"] = engine
    app.after_request(_finish_request)
    app.teardown_appcontext(_close_session)
    app.cli.add_command(db_cli)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with adgate's connection settings."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level: the "begin" listener emits BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("adgate_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def engine() -> Engine:
    """The current app's engine."""
    eng: Engine = current_app.extensions["adgate.db"]
    return eng


def is_sqlite(eng: Engine | None = None) -> bool:
    """Whether the engine talks to SQLite."""
    return (eng or engine()).dialect.name == "sqlite"


def new_session(*, write: bool, eng: Engine | None = None) -> Session:
    """A session whose transactions are write transactions when ``write`` is set."""
    bind = (eng or engine()).execution_options(adgate_write=write)
    return Session(bind=bind, expire_on_commit=False)


def get_session() -> Session:
    """The request's session (created on first use), or the CLI's current one."""
    if "db_session" not in g:
        write = has_request_context() and request.method in WRITE_METHODS
        g.db_session = new_session(write=write)
    session: Session = g.db_session
    return session


@contextmanager
def transaction(*, write: bool = True) -> Iterator[Session]:
    """A session outside the request cycle (CLI, worker): commit on success, else roll back."""
    session = new_session(write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def after_commit(action: Callable[[], object]) -> None:
    """Run ``action`` once the request's transaction is committed (never if it rolls back)."""
    g.setdefault("after_commit", []).append(action)


def _finish_request(response: Response) -> Response:
    from app import audit  # the audit log sits on top of this module

    session: Session | None = g.get("db_session")
    deferred = audit.pop_deferred()
    actions: list[Callable[[], object]] = g.pop("after_commit", [])
    committed = False
    if session is not None and session.in_transaction():
        if response.status_code >= 400:
            session.rollback()
        else:
            if deferred and _is_write(session):
                audit.write(session, deferred)
                deferred = []
            session.commit()
            committed = True
    if deferred:
        with transaction(write=True) as s:
            audit.write(s, deferred)
    if committed:
        for action in actions:
            action()
    return response


def _is_write(session: Session) -> bool:
    bind = session.get_bind()
    return bool(bind.get_execution_options().get("adgate_write")) or not is_sqlite(bind.engine)


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


# --- migrations --------------------------------------------------------------


def alembic_config(url: str) -> AlembicConfig:
    """Alembic's configuration, built here so that no alembic.ini is needed."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config(current_app.config["DATABASE_URL"]))
    return script.get_current_head()


def current_revision(eng: Engine | None = None) -> str | None:
    """The migration the database is at, or None before the first upgrade."""
    with (eng or engine()).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ping() -> None:
    """Raise unless the database answers."""
    with engine().connect() as conn:
        conn.execute(text("SELECT 1"))


@click.group("db", cls=AppGroup)
def db_cli() -> None:
    """Create or migrate the database schema."""


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    url = current_app.config["DATABASE_URL"]
    command.upgrade(alembic_config(url), revision)
    click.echo(f"database at {current_revision()}")


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate the database back to REVISION."""
    command.downgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)
    click.echo(f"database at {current_revision()}")


@db_cli.command("current")
def current_command() -> None:
    """Print the revision the database is at and the newest one shipped."""
    click.echo(f"current={current_revision()} head={head_revision()}")
