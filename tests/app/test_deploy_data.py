"""The deployment's data side: docs/deploy/grants.sql on PostgreSQL, adgate-backup.sh's files,
retention and metrics. `make drill` runs the same on a whole installation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import make_url

from tests.conftest import require_or_skip
from tools.drill.run import FORBIDDEN

ROOT = Path(__file__).resolve().parents[2]
GRANTS = ROOT / "docs" / "deploy" / "grants.sql"
BACKUP = ROOT / "docs" / "deploy" / "adgate-backup.sh"


def _libpq(url: str) -> tuple[str, str]:
    """A libpq URL without the search_path option, and the schema that option names."""
    parsed = make_url(url)
    options = str(parsed.query.get("options", ""))
    schema = options.removeprefix("-csearch_path=")
    plain = parsed.set(drivername="postgresql").difference_update_query(["options"])
    return plain.render_as_string(hide_password=False), schema


@pytest.fixture
def app_role(app: Flask, database_url: str) -> Iterator[tuple[str, str]]:
    """A login role with docs/deploy/grants.sql applied in the test's schema: (URL, schema)."""
    require_or_skip(shutil.which("psql") is not None, "psql")
    owner, schema = _libpq(database_url)
    role = f"adgate_app_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        subprocess.run(
            ["psql", "--quiet", "--no-psqlrc", "--set", f"app_role={role}", "-d", owner,
             "-f", str(GRANTS)],
            env={**os.environ, "PGOPTIONS": f"-csearch_path={schema}"},
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        as_app = make_url(owner).set(username=role).render_as_string(hide_password=False)
        yield as_app, schema
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.dialect("postgresql")
def test_the_app_role_is_refused_every_change_to_the_audit_tables(
    app_role: tuple[str, str],
) -> None:
    url, schema = app_role
    for statement in FORBIDDEN:
        with (
            psycopg.connect(url, options=f"-csearch_path={schema}") as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)


@pytest.mark.dialect("postgresql")
def test_the_app_role_holds_what_the_code_needs_and_no_more(app_role: tuple[str, str]) -> None:
    url, schema = app_role
    with psycopg.connect(url, options=f"-csearch_path={schema}") as conn:

        def may(table: str, privilege: str) -> bool:
            row = conn.execute(
                "SELECT has_table_privilege(%s, %s)", (f"{schema}.{table}", privilege)
            ).fetchone()
            assert row is not None
            return bool(row[0])

        def may_column(table: str, column: str, privilege: str) -> bool:
            row = conn.execute(
                "SELECT has_column_privilege(%s, %s, %s)",
                (f"{schema}.{table}", column, privilege),
            ).fetchone()
            assert row is not None
            return bool(row[0])

        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert may("checklist", privilege), privilege
            assert may("submission", privilege), privilege
        assert not may("checklist", "TRUNCATE")
        assert not may("checklist", "TRIGGER")
        assert may("audit_event", "SELECT")
        assert may("audit_event", "INSERT")
        assert not may("audit_event", "DELETE")
        assert not may("audit_event", "TRUNCATE")
        assert may_column("audit_event", "data", "UPDATE")
        assert may_column("audit_event", "purge_id", "UPDATE")
        assert not may_column("audit_event", "hash", "UPDATE")
        assert may("audit_seal", "SELECT")
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert not may("audit_seal", privilege), privilege
        assert may("audit_checkpoint", "INSERT")
        assert not may("audit_checkpoint", "UPDATE")
        # Which migrations were additive decides readiness: only migrations write it.
        assert may("schema_revision", "SELECT")
        for privilege in ("INSERT", "UPDATE", "DELETE"):
            assert not may("schema_revision", privilege), privilege
        # No default privileges: a table the owner adds later gets nothing until grants.sql
        # runs again.
        defaults = conn.execute("SELECT count(*) FROM pg_default_acl").fetchone()
        assert defaults == (0,)


@pytest.mark.dialect("postgresql")
def test_the_app_role_takes_and_verifies_checkpoints(
    app_role: tuple[str, str], tmp_path: Path
) -> None:
    from tests.conftest import make_test_app

    url, schema = app_role
    sqlalchemy_url = (
        make_url(url)
        .set(drivername="postgresql+psycopg")
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    app = make_test_app(sqlalchemy_url, tmp_path / "as-app-role")
    try:
        runner = app.test_cli_runner()
        assert runner.invoke(args=["audit", "keygen"]).exit_code == 0
        taken = runner.invoke(args=["audit", "checkpoint"])
        assert taken.exit_code == 0, taken.output
        verified = runner.invoke(args=["audit", "verify"])
        assert verified.exit_code == 0, verified.output
        assert verified.output.startswith("ok ")
    finally:
        app.extensions["adgate.db"].dispose()


# --- adgate-backup.sh ------------------------------------------------------------------------


@pytest.fixture
def gnupg(tmp_path: Path) -> tuple[dict[str, str], str]:
    """A GnuPG home with a key without passphrase: (environment, fingerprint)."""
    require_or_skip(shutil.which("gpg") is not None, "gpg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
         "backup@adgate.example", "default", "default", "never"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    listed = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-keys"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    fingerprint = next(
        line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:")
    )
    return env, fingerprint


def test_a_failed_backup_still_prunes_and_says_so_in_its_metrics(
    tmp_path: Path, gnupg: tuple[dict[str, str], str]
) -> None:
    env, fingerprint = gnupg
    etc, instance, out, metrics = (tmp_path / n for n in ("etc", "instance", "out", "metrics"))
    for folder in (etc, instance, out, metrics):
        folder.mkdir()
    (etc / "adgate.env").write_text("ADGATE_SECRET_KEY=x\n")
    (etc / "migrate.env").write_text("ADGATE_DATABASE_URL=owner\n")
    (etc / "migrate.env").chmod(0o600)
    (etc / "worker.env").write_text("ADGATE_META_ACCESS_TOKEN=secret\n")
    (instance / "audit-signing.pem").write_text("key\n")
    (instance / "adgate.sqlite3").write_text("not archived\n")
    old = out / "adgate-20200101T000000Z-db.dump.gpg"
    young = out / "adgate-20991231T000000Z-db.dump.gpg"
    for path in (old, young):
        path.write_text("x")
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old, (forty_days_ago, forty_days_ago))
    (metrics / "adgate_backup.prom").write_text(
        "adgate_backup_last_run_success 1\nadgate_backup_last_success_timestamp_seconds 1234\n"
    )
    home = tmp_path / "home"
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / ".venv" / "bin" / "flask").symlink_to(Path(sys.executable).parent / "flask")
    run = subprocess.run(
        ["bash", str(BACKUP)],
        env={
            **env,
            "BACKUP_DIR": str(out),
            "BACKUP_GPG_RECIPIENT": fingerprint,
            "BACKUP_KEEP_DAYS": "35",
            "BACKUP_METRICS_DIR": str(metrics),
            "ADGATE_HOME": str(home),
            "ADGATE_ETC": str(etc),
            "ADGATE_INSTANCE_PATH": str(instance),
            "BACKUP_FILES": f"{etc / 'adgate.env'} {instance}",
            # Nothing listens on port 1: the checkpoint and the dump fail.
            "ADGATE_DATABASE_URL": "postgresql+psycopg://adgate@127.0.0.1:1/adgate",
        },
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "step 'database' failed" in run.stderr
    assert not old.exists(), "retention did not run after a failed step"
    assert young.exists()
    prom = (metrics / "adgate_backup.prom").read_text()
    assert "adgate_backup_last_run_success 0\n" in prom
    assert "adgate_backup_last_success_timestamp_seconds 1234\n" in prom
    assert "# TYPE adgate_backup_last_run_success gauge" in prom
    # The secrets' archive holds the listed files only: not migrate.env, not worker.env.
    (archive,) = out.glob("adgate-*-secrets.tar.gpg")
    assert archive.stat().st_mode & 0o077 == 0
    tar = subprocess.run(
        ["gpg", "--batch", "--quiet", "--decrypt", str(archive)],
        env=env, check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    members = subprocess.run(
        ["tar", "-tf", "-"], input=tar, check=True, capture_output=True
    ).stdout.decode()
    names = {Path(m).name for m in members.split()}
    assert {"adgate.env", "audit-signing.pem"} <= names
    assert not names & {"migrate.env", "worker.env", "adgate.sqlite3"}


def test_a_listed_file_that_cannot_be_read_fails_the_backup(
    tmp_path: Path, gnupg: tuple[dict[str, str], str]
) -> None:
    env, fingerprint = gnupg
    out = tmp_path / "out"
    run = subprocess.run(
        ["bash", str(BACKUP)],
        env={
            **env,
            "BACKUP_DIR": str(out),
            "BACKUP_GPG_RECIPIENT": fingerprint,
            "BACKUP_METRICS_DIR": "",
            "ADGATE_HOME": str(tmp_path),
            "ADGATE_INSTANCE_PATH": str(tmp_path),
            "BACKUP_FILES": str(tmp_path / "missing.env"),
            "ADGATE_DATABASE_URL": "postgresql+psycopg://adgate@127.0.0.1:1/adgate",
        },
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1
    assert "missing.env is not readable" in run.stderr
    assert not list(out.glob("*secrets*"))
