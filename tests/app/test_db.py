"""The database layer: SQLite settings, migrations matching the models, the commit at the edge."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import select, text
from sqlmodel import SQLModel, col

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


def test_after_commit_runs_once_the_request_committed_and_never_after_a_rollback(
    app: Flask,
) -> None:
    from app.auth.access import public
    from app.auth.accounts import create_user
    from app.db import after_commit, get_session, transaction
    from app.models import User

    seen: list[tuple[str, bool]] = []

    def committed(email: str) -> None:
        # Another session, as a background thread has: it sees the request's row.
        with transaction(write=False) as db:
            found = db.scalars(select(User).where(col(User.email) == email)).first()
            seen.append((email, found is not None))

    def create(status: int) -> tuple[str, int]:
        email = f"u{status}@example.org"
        create_user(get_session(), email, "manager", "a long enough password")
        after_commit(lambda: committed(email))
        return "", status

    app.add_url_rule("/create/<int:status>", "create", public(create), methods=["POST"])
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert client.post("/create/200").status_code == 200
    assert client.post("/create/409").status_code == 409
    assert seen == [("u200@example.org", True)]
