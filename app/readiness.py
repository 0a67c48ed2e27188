"""What this process serves (code version, the schema its code was written for) and whether
the database is one it can serve: /readyz and the build info of /metrics.

The migrations are read once, when the process starts, from the code it runs: a process
keeps answering for the code it loaded, whatever is later put on disk beside it. The
database may be at that code's revision, or ahead of it by migrations that only add (each
declares itself with a module attribute ``additive = True``; app/migrations/env.py records
it in the table ``schema_revision`` as it applies them). That is what lets the servers of
the previous release stay ready between ``db upgrade`` and their restart.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import select
from sqlmodel import col

from app import db
from app.models import SchemaRevision

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# A chain of migrations ahead of the code longer than this is not walked (a loop in a
# damaged table must not hang a probe).
MAX_AHEAD = 1000
GIT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Code:
    """The code this process loaded at start-up."""

    version: str
    release: str | None
    schema: str | None
    revisions: frozenset[str]

    def describe(self) -> dict[str, Any]:
        """The fields /readyz and the build info name the code by."""
        return {"version": self.version, "release": self.release, "schema": self.schema}


@dataclass(frozen=True)
class Verdict:
    """Whether the database can be served, with the reason and the database's revision."""

    ready: bool
    reason: str | None
    database: str | None
    ahead: tuple[str, ...] = ()


def init_app(app: Flask) -> None:
    """Read what this process serves, once."""
    app.extensions["adgate.code"] = load_code(app.config.get("RELEASE"))


def load_code(release: str | None = None) -> Code:
    """The package version, the release (set, else the git commit) and the migrations."""
    script = ScriptDirectory(str(db.MIGRATIONS))
    try:
        app_version = version("adgate")
    except PackageNotFoundError:  # run from a checkout that was never installed
        app_version = "unknown"
    return Code(
        version=app_version,
        release=str(release) if release else git_commit(ROOT),
        schema=script.get_current_head(),
        revisions=frozenset(s.revision for s in script.walk_revisions()),
    )


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder``, or None when it is no git checkout."""
    git = shutil.which("git")
    if git is None or not (folder / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 (a fixed command, no input from anyone)
            # The code is owned by root and read by the service user: git would refuse to
            # look at a repository another user owns without this.
            [git, "-c", f"safe.directory={folder}", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit[:12] if done.returncode == 0 and commit else None


def loaded() -> Code:
    """The code of the current app, as loaded at start-up."""
    code: Code = current_app.extensions["adgate.code"]
    return code


def judge(
    code: Code, database: str | None, ahead_of: dict[str, tuple[str | None, bool]]
) -> Verdict:
    """Whether code that expects ``code.schema`` can serve a database at ``database``.

    ``ahead_of`` maps a revision the database recorded to (its down revision, additive).
    """
    if database == code.schema:
        return Verdict(True, None, database)
    if database is None or database in code.revisions:
        # Behind: this code needs tables or columns the database lacks yet.
        return Verdict(False, "migrations", database)
    chain: list[str] = []
    revision: str | None = database
    while revision != code.schema:
        if revision is None or revision not in ahead_of or len(chain) >= MAX_AHEAD:
            return Verdict(False, "schema-unknown", database, tuple(chain))
        down, additive = ahead_of[revision]
        if not additive:
            return Verdict(False, "schema-ahead", database, (*chain, revision))
        chain.append(revision)
        revision = down
    return Verdict(True, None, database, tuple(chain))


def check() -> Verdict:
    """Judge the database of the current app against the code loaded (raises if unreachable)."""
    code = loaded()
    database = db.current_revision()
    ahead_of: dict[str, tuple[str | None, bool]] = {}
    if database != code.schema and database is not None and database not in code.revisions:
        with db.engine().connect() as conn:
            rows = conn.execute(
                select(
                    col(SchemaRevision.revision),
                    col(SchemaRevision.down_revision),
                    col(SchemaRevision.additive),
                )
            ).all()
        ahead_of = {r: (down, bool(additive)) for r, down, additive in rows}
    return judge(code, database, ahead_of)
