"""The database layer: SQLite settings, migrations matching the models, the commit at the edge."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import text
from sqlmodel import SQLModel

from app.db import engine, head_revision


@pytest.mark.dialect("sqlite")
def test_sqlite_runs_in_wal_mode_with_foreign_keys(app: Flask) -> None:
    with app.app_context(), engine().connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(app: Flask, runner: object) -> None:
    cli = app.test_cli_runner()
    down = cli.invoke(args=["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    assert "database at None" in down.output
    up = cli.invoke(args=["db", "upgrade"])
    assert up.exit_code == 0, up.output
    with app.app_context():
        assert f"database at {head_revision()}" in up.output
