"""The database layer: SQLite settings, migrations matching the models, the commit at the edge."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import select, text
from sqlmodel import SQLModel, col

from app.checklists import gate
from app.db import alembic_config, engine, head_revision, transaction
from app.models import ApiToken, Checklist, utcnow
from tests.conftest import make_test_app
from workflows import checks


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


# A checklist as adgate stored it at 0013, lists comma-joined, approved then. The hash is
# the one adgate computed for this row at 0013 (before lists became JSON): an approval given
# then must still cover the same ad once the lists are JSON arrays.
APPROVED_AT_0013 = "e140595e3b5980637ceb6fa7b1ce10cb5a9269f6b45c2207b719f1e623c75084"
_USER = (
    "INSERT INTO user_account (id, email, role, password_hash, active, created_at, "
    "failed_logins, lockouts, must_change_password) VALUES (:id, :email, :role, 'x', true, "
    ":now, 0, 0, false)"
)
_AD_ACCOUNT = (
    "INSERT INTO ad_account (id, page_id, name, political_eligible, violations, created_at, "
    "currency) VALUES ('act_1001', '1001', 'Stadt Musterstadt', true, 0, :now, 'CHF')"
)
_CHECKLIST = (
    "INSERT INTO checklist (id, owner_id, title, state, version, page_id, ad_account_id, "
    "message, headline, link_url, countries, paid_for_by, dsa_payor, dsa_beneficiary, "
    "category, social_issues, digitally_created_media, flagged, approved_by, approved_hash, "
    "approved_at, created_at, updated_at) VALUES (:id, 1, 'Abstimmung', 'approved', 4, "
    "'1001', 'act_1001', 'Stimmen Sie ab!', 'Abstimmung vom 9. Juni', "
    "'https://www.musterstadt.ch', :countries, 'Stadt Musterstadt', 'Stadt Musterstadt', "
    "'Stadt Musterstadt', :category, :topics, true, false, 2, :approved_hash, :now, :now, :now)"
)
_TOKEN = (
    "INSERT INTO api_token (id, user_id, name, scopes, token_hash, prefix, created_at, "
    "expires_at) VALUES (1, 1, 'ci', 'checklists:read,checklists:write', :hash, 'adg_x', "
    ":now, :now)"
)
# Rows that refer to the two tables whose columns change (SQLite copies those tables).
_REFERRING = (
    "INSERT INTO submission (id, checklist_id, status, content_hash, created_at, updated_at) "
    "VALUES (1, 2, 'queued', :hash, :now, :now)",
    "INSERT INTO idempotency_key (token_id, key, fingerprint, created_at, expires_at) "
    "VALUES (1, 'k', :hash, :now, :now)",
)


def test_lists_become_json_and_an_earlier_approval_still_matches(
    database_url: str, tmp_path: Path
) -> None:
    app = make_test_app(database_url, tmp_path / "instance")
    config = alembic_config(database_url)
    command.upgrade(config, "0013")
    now = utcnow().replace(tzinfo=None)
    with app.app_context(), transaction() as db:
        db.execute(text(_USER), {"id": 1, "email": "m@example.org", "role": "manager", "now": now})
        db.execute(text(_USER), {"id": 2, "email": "r@example.org", "role": "reviewer", "now": now})
        db.execute(text(_AD_ACCOUNT), {"now": now})
        db.execute(
            text(_CHECKLIST),
            {"id": 1, "countries": "AT,CH,LI", "category": "SOCIAL_ISSUE",
             "topics": "education,health", "approved_hash": APPROVED_AT_0013, "now": now},
        )  # fmt: skip
        db.execute(
            text(_CHECKLIST),
            {"id": 2, "countries": "CH", "category": None, "topics": "",
             "approved_hash": None, "now": now},
        )  # fmt: skip
        db.execute(text(_TOKEN), {"hash": "0" * 64, "now": now})
        for insert in _REFERRING:
            db.execute(text(insert), {"hash": "0" * 64, "now": now})
    command.upgrade(config, "head")
    with app.app_context(), transaction() as db:
        approved, other = db.get(Checklist, 1), db.get(Checklist, 2)
        assert approved is not None
        assert other is not None
        assert (approved.countries, approved.social_issues) == (
            ["AT", "CH", "LI"],
            ["education", "health"],
        )
        assert (other.countries, other.social_issues) == (["CH"], [])
        context = gate.context_for(db, approved, utcnow())
        assert context.content_hash == APPROVED_AT_0013
        assert checks.approval(context).passed
        token = db.get(ApiToken, 1)
        assert token is not None
        assert token.scopes == ["checklists:read", "checklists:write"]
    command.downgrade(config, "0013")
    with app.app_context(), transaction() as db:
        rows = db.execute(text("SELECT countries, social_issues FROM checklist ORDER BY id"))
        assert [tuple(r) for r in rows] == [("AT,CH,LI", "education,health"), ("CH", "")]
        assert db.execute(text("SELECT scopes FROM api_token")).scalar() == (
            "checklists:read,checklists:write"
        )
    app.extensions["adgate.db"].dispose()


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
