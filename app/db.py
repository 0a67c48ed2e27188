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

SQLite's own wait for the write lock is a busy handler that sleeps in growing steps
and retries, so under contention a writer sleeps long past the moment the lock is
freed (the tail of every writing endpoint). Before ``BEGIN IMMEDIATE`` a writer
therefore takes an exclusive ``flock`` on a file beside the database, one open file
per connection: writers of every thread and process queue in the kernel and the next
one is woken as soon as the holder commits or rolls back. The kernel drops the lock
of a process that dies, so a killed writer never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
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
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "factory": _LockingConnection},
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


# Threads of this process that hold the write lock file through one of their connections.
# A thread that opens a second write transaction while it holds one (which can only fail)
# does not wait for itself: it goes on to BEGIN IMMEDIATE and SQLite's busy timeout, and
# fails as it did before there was a lock file, instead of hanging.
_holders: set[int] = set()


class _LockingConnection(sqlite3.Connection):
    """A SQLite connection that holds the database's write lock file while it writes."""

    _lock_fd: int | None = None
    _holder: int | None = None  # the thread that took the lock through this connection

    def open_lock(self) -> None:
        """Open this connection's own handle on the lock file (none for an in-memory db)."""
        path = next(
            (row[2] for row in self.execute("PRAGMA database_list") if row[1] == "main"), ""
        )
        if path:
            self._lock_fd = os.open(f"{path}-writelock", os.O_RDWR | os.O_CREAT, 0o600)

    def lock(self) -> None:
        """Wait (without spinning) until no other writer holds the lock, then hold it."""
        me = threading.get_ident()
        if self._lock_fd is not None and self._holder is None and me not in _holders:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            self._holder = me
            _holders.add(me)

    def unlock(self) -> None:
        """Let the next writer in."""
        if self._lock_fd is not None and self._holder is not None:
            _holders.discard(self._holder)
            self._holder = None
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.unlock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.unlock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level: the "begin" listener emits BEGIN itself.
    dbapi_conn.isolation_level = None
    if isinstance(dbapi_conn, _LockingConnection):
        dbapi_conn.open_lock()
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    if not conn.get_execution_options().get("adgate_write"):
        conn.exec_driver_sql("BEGIN DEFERRED")
        return
    dbapi_conn = conn.connection.dbapi_connection
    locking = isinstance(dbapi_conn, _LockingConnection)
    if locking:
        dbapi_conn.lock()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if locking:
            dbapi_conn.unlock()
        raise


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
