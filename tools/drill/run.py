"""The drill: install adgate on this machine as docs/deploy.md does, operate it, check it.

    sudo .venv/bin/python -m tools.drill [--timeout 600] [--keep]

What it does, each a step in the table it prints (PASS/FAIL/SKIP, seconds, what it saw):

- a release folder ``opt/adgate/releases/<id>`` holding this checkout's files, its virtualenv
  built by the Makefile with Debian's interpreter (one the service users can read), and the
  ``current`` symlink the processes run from;
- PostgreSQL: the owner and app roles and a database of this run's own, made by
  docs/deploy/roles.sql, migrated as the owner, docs/deploy/grants.sql applied;
- /etc/adgate's files made from docs/deploy/adgate.env.example, with the Meta settings in
  worker.env, readable by the workers' user alone (checked as the app servers' user);
- the Meta sandbox, two app servers (gunicorn with docs/deploy/gunicorn.conf.py, as
  adgate-web.service runs it), two submission workers (as adgate-worker@.service does), each
  as an unprivileged user (setpriv), and nginx with docs/deploy/nginx.conf (addresses,
  ports and certificate substituted; a self-signed certificate on a port other than 443);
- a submission driven through nginx over the API to ``submitted``, and a sign-in form
  posted through nginx (CSRF, behind a proxy on a port other than 443);
- the backup (docs/deploy/adgate-backup.sh) run as the app servers' user, restored into a
  new database as the guide says (roles first, umask 077), ``audit verify`` and ``audit
  check-checkpoints`` on it;
- the app role's forbidden statements on the audit tables, each refused;
- the signing key replaced as the guide says, then every checkpoint checked with the old
  and the new public key (``--public-key`` twice);
- a rolling upgrade to a second release with one more, additive migration while a client
  keeps calling the API through nginx: workers stopped, migrated, the symlink switched
  atomically, the app servers reloaded one at a time (SIGHUP, as ``systemctl reload``);
  no call may fail;
- one app server broken (a database it cannot reach, then stopped): its own /readyz fails
  while the other's answers, and traffic through nginx keeps succeeding; the alert rules'
  ``promtool test rules`` files pass;
- ``systemd-analyze verify`` on the units with this run's paths.

Without systemd: processes are started directly and stopped by the drill. Bounded in time:
every step has its own limit and the whole run ``--timeout``. Everything it made is removed
at the end (processes, databases, roles, the folder), after a failure too. Exits 1 when a
step failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
import pyotp
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
GIT = shutil.which("git") or "git"

# Statements the app role must never get through on the audit tables (tests/app/
# test_deploy_data.py runs the same list against grants.sql).
FORBIDDEN = [
    "UPDATE audit_event SET hash = 'x'",
    "UPDATE audit_event SET kind = 'x'",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
    "INSERT INTO audit_seal (up_to, head, kept, kept_digest, deleted) VALUES (1, 'x', 0, 'x', 0)",
    "UPDATE audit_seal SET head = 'x'",
    "DELETE FROM audit_seal",
    "TRUNCATE audit_seal",
    "UPDATE audit_checkpoint SET head = 'x'",
    "DELETE FROM audit_checkpoint",
    "TRUNCATE audit_checkpoint",
    "DELETE FROM audit_purge",
    "UPDATE audit_purge_cutoff SET cutoff = now()",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
    "DROP TRIGGER audit_seal_frozen ON audit_seal",
    "UPDATE alembic_version SET version_num = 'x'",
    "UPDATE schema_revision SET additive = true",
]

# The ad driven through: the sandbox's act_1001 is authorized in CH with this disclaimer.
AD = {
    "page_id": "2001",
    "ad_account_id": "act_1001",
    "headline": "Volksabstimmung über das neue Schulhaus",
    "message": "Am 8. März stimmen Sie über das neue Schulhaus ab. Alles zur Abstimmung.",
    "link_url": "https://www.musterstadt.ch/abstimmung",
    "countries": ["CH"],
    "paid_for_by": "Stadt Musterstadt",
}

ADDITIVE_MIGRATION = '''"""drill: one additive change (a table nobody uses)."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("drill_note", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("drill_note")
'''


class StepFailed(Exception):
    """A step saw something other than what the guide promises."""


class StepSkipped(Exception):
    """A step that cannot run on this machine (said why)."""


class TimedOut(BaseException):
    """A step's or the whole run's time ran out (raised from SIGALRM)."""


@dataclass
class Result:
    name: str
    status: str
    seconds: float
    detail: str


@dataclass(frozen=True)
class Account:
    """An unprivileged user the drill runs a process as (no entry in /etc/passwd needed)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def prefix(self) -> list[str]:
        groups = ",".join(str(g) for g in self.groups) if self.groups else ""
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            f"--groups={groups}" if groups else "--clear-groups",
            "--",
        ]


def free_uids(count: int) -> list[int]:
    """Ids no user or group of this machine has."""
    found: list[int] = []
    candidate = 61000 + secrets.randbelow(3000)
    while len(found) < count:
        candidate += 1
        try:
            pwd.getpwuid(candidate)
        except KeyError:
            found.append(candidate)
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (quotes removed)."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def fill_env_example(example: str, values: Mapping[str, str], drop: set[str]) -> str:
    """adgate.env.example with each KEY=… set to ``values[KEY]``; ``drop``'s lines removed."""
    out = []
    for line in example.splitlines():
        match = re.match(r"#?\s*([A-Z_]+)=", line)
        key = match.group(1) if match else ""
        if key in drop:
            continue
        if key in values:
            value = values[key]
            out.append(f"{key}='{value}'" if value.startswith(("[", "{")) else f"{key}={value}")
            continue
        out.append(line)
    missing = set(values) - {m.group(1) for m in re.finditer(r"^([A-Z_]+)=", "\n".join(out), re.M)}
    for key in sorted(missing):
        out.append(f"{key}={values[key]}")
    return "\n".join(out) + "\n"


@dataclass
class Drill:
    """One run: its folder, names, processes, and what it has to undo."""

    base: Path
    python: str
    pg_admin: str
    results: list[Result] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        run = uuid.uuid4().hex[:8]
        self.owner_role = f"drill_{run}_owner"
        self.app_role = f"drill_{run}_app"
        self.database = f"drill_{run}"
        self.restored = f"drill_{run}_restored"
        web, worker, group, worker_group = free_uids(4)
        # The guide's users: the app servers' user in group adgate; the workers' own user,
        # also in group adgate (adgate.env, the signing key) and alone in its group
        # (worker.env, the Meta token).
        self.web = Account(web, group, (group,))
        self.worker = Account(worker, worker_group, (group, worker_group))
        self.group = group
        self.worker_group = worker_group
        self.opt = self.base / "opt" / "adgate"
        self.current = self.opt / "current"
        self.etc = self.base / "etc" / "adgate"
        self.instance = self.base / "var" / "lib" / "adgate"
        self.logs = self.base / "log"
        self.ports = {
            n: free_port() for n in ("web1", "web2", "sandbox", "https", "http", "redirect")
        }
        self.https = f"https://127.0.0.1:{self.ports['https']}"

    # -- running things ---------------------------------------------------------------

    def url(self, role: str, database: str | None = None, driver: str = "postgresql") -> str:
        return f"{driver}://{role}@127.0.0.1:5432/{database or self.database}"

    def env(self, *files: str, **extra: str) -> dict[str, str]:
        """The environment a unit would give: /etc/adgate's files in order, then ``extra``."""
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.base / "home"),
            "PYTHONUNBUFFERED": "1",
        }
        for name in files:
            env.update(read_env_file(self.etc / name))
        env.update(extra)
        return env

    def run(
        self,
        cmd: list[str],
        *,
        as_: Account | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        check: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*(as_.prefix() if as_ else []), *cmd]
        done = subprocess.run(  # noqa: S603 (fixed commands of this drill)
            argv,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            check=False,
        )
        if check and done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
            raise StepFailed(f"{' '.join(cmd[:4])} … exited {done.returncode}: " + " | ".join(tail))
        return done

    def flask(
        self, *args: str, as_: Account | None = None, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, timeout: float = 120, check: bool = True,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """``flask --app wsgi …`` from a release (``current`` unless ``cwd``), as the alias does."""
        where = cwd or self.current
        return self.run(
            [str(where / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
            as_=as_ or self.web, env=env or self.env("adgate.env"), cwd=where,
            timeout=timeout, check=check,
        )  # fmt: skip

    def start(
        self, name: str, cmd: list[str], *, as_: Account | None, env: Mapping[str, str],
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        extra = {"PWD": str(cwd)} if cwd else {}
        process = subprocess.Popen(  # noqa: S603 (fixed commands of this drill)
            [*(as_.prefix() if as_ else []), *cmd],
            env={**env, **extra}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes[name] = process
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM, wait: float = 60) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def log_tail(self, name: str, lines: int = 6) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])

    def sql(self, statement: str, *, database: str = "postgres") -> None:
        url = self.pg_admin.rsplit("/", 1)[0] + f"/{database}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.encode())

    def psql(self, script: Path, role: str, database: str, **variables: str) -> None:
        cmd = ["psql", "--quiet", "--no-psqlrc", "-d", self.url(role, database), "-f", str(script)]
        for key, value in variables.items():
            cmd[1:1] = ["--set", f"{key}={value}"]
        self.run(cmd, timeout=60)

    def wait_ready(
        self, port: int, deadline: float, want: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll one app server's own /readyz until ``want`` holds for its answer."""
        seen: Any = None
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                seen = f"{answer.status_code} {answer.text.strip()}"
                body = answer.json()
                if answer.status_code == 200 and want(body):
                    return dict(body)
            except (requests.RequestException, ValueError) as exc:
                seen = type(exc).__name__
            time.sleep(0.3)
        raise StepFailed(f"127.0.0.1:{port}/readyz not ready in time (last: {seen})")


# --- the steps --------------------------------------------------------------------------


def copy_checkout(target: Path) -> None:
    """This checkout's files (tracked, and new ones not ignored), as a release would hold."""
    listed = subprocess.run(  # noqa: S603
        [GIT, "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def build_release(d: Drill, release: Path) -> None:
    """The Makefile's install: a virtualenv with ``d.python``, compiled catalogues."""
    catalogues = [
        str(p.relative_to(release).with_suffix(".mo"))
        for p in sorted(release.glob("app/translations/*/LC_MESSAGES/messages.po"))
    ]
    d.run(["make", "-C", str(release), f"PYTHON={d.python}", *catalogues], timeout=300)
    for path in [release, *release.rglob("*")]:  # a read-only release: root's, readable by all
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def switch_current(d: Drill, release: Path) -> None:
    """Point ``current`` at ``release`` atomically (a new link renamed over the old one)."""
    staged = d.opt / f".current-{uuid.uuid4().hex[:6]}"
    staged.symlink_to(release.relative_to(d.opt))
    staged.rename(d.current)


def step_tools(d: Drill) -> str:
    if os.geteuid() != 0:
        raise StepFailed("run as root: the drill starts processes as unprivileged users")
    if shutil.which("nginx") is None:
        d.run(["apt-get", "update", "-qq"], timeout=300)
        d.run(["apt-get", "install", "-y", "-qq", "nginx-light"], timeout=300,
              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    needed = ["nginx", "openssl", "psql", "pg_dump", "pg_restore", "gpg", "setpriv", "make"]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise StepFailed("missing: " + ", ".join(missing))
    with psycopg.connect(d.pg_admin) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}; nginx, openssl, gpg, setpriv present"


def step_release(d: Drill) -> str:
    release = d.opt / "releases" / "r1"
    release.mkdir(parents=True)
    for path in (d.base, d.base / "opt", d.opt, d.opt / "releases"):
        path.chmod(0o755)  # the service users reach the release; root alone writes it
    copy_checkout(release)
    build_release(d, release)
    switch_current(d, release)
    # The guide's point: the service users must be able to run the venv's interpreter.
    interpreter = os.path.realpath(release / ".venv" / "bin" / "python")
    done = d.run(
        [str(d.current / ".venv" / "bin" / "python"), "-c", "import app, gunicorn, flask"],
        as_=d.web, env=d.env(), cwd=d.current, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise StepFailed(f"the app servers' user cannot run {interpreter}: {done.stderr[-300:]}")
    return f"releases/r1 with .venv on {interpreter}; current -> releases/r1"


def step_database(d: Drill) -> str:
    d.undo.append(("databases and roles", lambda: drop_databases(d)))
    d.run(
        ["psql", "--quiet", "--no-psqlrc", "--set", f"owner_role={d.owner_role}",
         "--set", f"app_role={d.app_role}", "--set", f"database={d.database}",
         "-d", d.pg_admin, "-f", str(DEPLOY / "roles.sql")],
        timeout=60,
    )  # fmt: skip
    return f"roles {d.owner_role}, {d.app_role}; database {d.database} (docs/deploy/roles.sql)"


def drop_databases(d: Drill) -> None:
    for database in (d.database, d.restored):
        d.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    for role in (d.app_role, d.owner_role):
        d.sql(f'DROP ROLE IF EXISTS "{role}"')


def step_settings(d: Drill) -> str:
    for path in (d.etc, d.instance, d.logs, d.base / "home", d.base / "backups"):
        path.mkdir(parents=True, exist_ok=True)
    d.base.chmod(0o755)
    for path in (d.base / "etc", d.base / "var", d.base / "var" / "lib", d.opt.parent):
        path.chmod(0o755)
    (d.base / "home").chmod(0o1777)
    d.logs.chmod(0o1777)
    os.chown(d.etc, 0, d.group)
    d.etc.chmod(0o750)
    os.chown(d.instance, d.web.uid, d.group)
    d.instance.chmod(0o750)
    example = (DEPLOY / "adgate.env.example").read_text()
    values = {
        "ADGATE_DATABASE_URL": d.url(d.app_role, driver="postgresql+psycopg"),
        "ADGATE_INSTANCE_PATH": str(d.instance),
        "ADGATE_RATELIMIT_STORAGE_URI": REDIS,
        "ADGATE_SECRET_KEY": secrets.token_urlsafe(48),
        "ADGATE_IP_HMAC_KEY": secrets.token_urlsafe(48),
        "ADGATE_TOTP_KEYS": json.dumps([Fernet.generate_key().decode()]),
        "ADGATE_METRICS_TOKEN": secrets.token_urlsafe(48),
        "ADGATE_PUBLIC_URL": d.https,
        "ADGATE_MAIL_SERVER": "",
        "ADGATE_MAIL_USERNAME": "",
        "ADGATE_LOG_LEVEL": "INFO",
    }
    meta = {"ADGATE_META_MODE", "ADGATE_META_GRAPH_URL", "ADGATE_META_ACCESS_TOKEN",
            "ADGATE_META_APP_SECRET"}  # fmt: skip
    files = {
        # The app servers' file: the Meta settings moved to worker.env, as the guide says.
        "adgate.env": (fill_env_example(example, values, meta), 0, d.group, 0o640),
        # The same with the example's Meta lines left in (live, empty token): what an
        # administrator who moves only the token gets. Commands must still run.
        "adgate-with-meta.env": (fill_env_example(example, values, set()), 0, d.group, 0o640),
        "worker.env": (
            "ADGATE_META_MODE=sandbox\n"
            f"ADGATE_META_GRAPH_URL=http://127.0.0.1:{d.ports['sandbox']}\n"
            f"ADGATE_META_ACCESS_TOKEN=drill-{secrets.token_hex(16)}\n",
            0,
            d.worker_group,
            0o640,
        ),
        "migrate.env": (
            f"ADGATE_DATABASE_URL={d.url(d.owner_role, driver='postgresql+psycopg')}\n",
            0,
            0,
            0o600,
        ),
    }
    for name, (text, uid, gid, mode) in files.items():
        path = d.etc / name
        path.write_text(text)
        os.chown(path, uid, gid)
        path.chmod(mode)
    # worker.env holds the Meta token: the app servers' user must not read it.
    peek = d.run(["cat", str(d.etc / "worker.env")], as_=d.web, env=d.env(), check=False)
    if peek.returncode == 0:
        raise StepFailed("the app servers' user can read worker.env (the Meta token)")
    readable = d.run(["cat", str(d.etc / "worker.env")], as_=d.worker, env=d.env(), check=False)
    if readable.returncode != 0:
        raise StepFailed("the workers' user cannot read worker.env")
    return "adgate.env (root:adgate 0640), worker.env (workers' group only), migrate.env (root)"


def step_migrate(d: Drill) -> str:
    done = d.flask("db", "upgrade", env=d.env("adgate.env", "migrate.env"), timeout=180)
    d.psql(DEPLOY / "grants.sql", d.owner_role, d.database, app_role=d.app_role)
    d.facts["schema"] = d.flask("db", "current").stdout.strip().splitlines()[-1]
    return f"{done.stdout.strip().splitlines()[-1]}; grants.sql applied as the owner"


def step_split_meta(d: Drill) -> str:
    # Commands with the Meta settings split across files (ADGATE_META_MODE=live in
    # adgate.env, the token elsewhere) must not crash.
    done = d.flask("db", "current", env=d.env("adgate-with-meta.env"), check=False)
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:]
        raise StepFailed(f"`db current` with META_MODE=live and no token: {last}")
    return "`db current` runs with the example's META_MODE=live and no token in adgate.env"


def step_accounts(d: Drill) -> str:
    d.flask("audit", "keygen")
    # The workers (their own user, in group adgate) sign checkpoints too: the key is the
    # group's to read, nobody else's.
    for name in ("audit-signing.pem", "audit-signing.pem.pub"):
        os.chown(d.instance / name, d.web.uid, d.group)
        (d.instance / name).chmod(0o640)
    d.flask("ad-accounts", "add", "act_1001", "--page", "2001", "--name", "Stadt Musterstadt",
            "--currency", "CHF")  # fmt: skip
    d.flask("ad-accounts", "authorize", "act_1001", "--country", "CH", "--disclaimer",
            "Stadt Musterstadt", "--evidence", "the Meta sandbox's account act_1001")  # fmt: skip
    people = make_people(d)
    d.facts["people"] = people
    return "signing key, act_1001 authorized for CH, a manager and a reviewer with 2FA and tokens"


def make_people(d: Drill) -> dict[str, dict[str, Any]]:
    """A manager and a reviewer, enrolled in 2FA, with API tokens (the app's own services)."""
    from app import create_app
    from app.api import tokens
    from app.auth import twofactor
    from app.auth.accounts import create_user
    from app.db import transaction
    from app.models import Role, utcnow

    env = read_env_file(d.etc / "adgate.env")
    app = create_app(
        {
            "SECRET_KEY": env["ADGATE_SECRET_KEY"],
            "IP_HMAC_KEY": env["ADGATE_IP_HMAC_KEY"],
            "TOTP_KEYS": json.loads(env["ADGATE_TOTP_KEYS"]),
            "DATABASE_URL": env["ADGATE_DATABASE_URL"],
            "INSTANCE_PATH": env["ADGATE_INSTANCE_PATH"],
            "PUBLIC_URL": d.https,
            "LOG_LEVEL": "WARNING",
        }
    )
    people: dict[str, dict[str, Any]] = {}
    with app.app_context(), transaction() as db:
        for role in (Role.MANAGER, Role.REVIEWER):
            password = secrets.token_urlsafe(18)
            user = create_user(db, f"drill-{role.value}@example.org", role.value, password)
            now = utcnow()
            enrolment, nonce = twofactor.start_enrolment(db, user)
            step = int(now.timestamp()) // 30
            codes = twofactor.confirm_enrolment(
                db, user, nonce, pyotp.HOTP(enrolment.secret).at(step), now
            )
            if codes is None:
                raise StepFailed(f"the {role.value}'s enrolment failed")
            issued = tokens.issue(
                db, user, name="drill", scopes=tokens.ROLE_SCOPES[role],
                lifetime=timedelta(days=1), issued_by=user, now=now,
            )  # fmt: skip
            people[role.value] = {
                "email": user.email, "password": password, "token": issued.secret,
                "totp": enrolment.secret, "step": step,
            }  # fmt: skip
    app.extensions["adgate.db"].dispose()
    return people


def start_web(d: Drill, n: int, env: Mapping[str, str] | None = None) -> None:
    port = d.ports[f"web{n}"]
    d.start(
        f"web{n}",
        [str(d.current / ".venv" / "bin" / "gunicorn"), "--chdir", str(d.current), "-c",
         str(d.current / "docs" / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
        as_=d.web,
        env=env or d.env("adgate.env", GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2"),
        cwd=d.current,
    )  # fmt: skip


def start_worker(d: Drill, n: int) -> None:
    d.start(
        f"worker{n}", [str(d.current / ".venv" / "bin" / "flask"), "--app", "wsgi", "worker"],
        as_=d.worker, env=d.env("adgate.env", "worker.env"), cwd=d.current,
    )  # fmt: skip


def step_services(d: Drill) -> str:
    d.undo.append(("processes", lambda: stop_all(d)))
    d.start(
        "sandbox",
        [str(d.current / ".venv" / "bin" / "flask"), "--app", "wsgi", "meta-sandbox",
         "--port", str(d.ports["sandbox"])],
        as_=d.web, env=d.env("adgate.env", "worker.env"), cwd=d.current,
    )  # fmt: skip
    for n in (1, 2):
        start_web(d, n)
    deadline = time.monotonic() + 90
    for n in (1, 2):
        d.wait_ready(d.ports[f"web{n}"], deadline, lambda body: True)
    for n in (1, 2):
        start_worker(d, n)
    time.sleep(1)
    for name, process in d.processes.items():
        if process.poll() is not None:
            raise StepFailed(f"{name} exited {process.returncode}: {d.log_tail(name)}")
    return "sandbox, web1, web2 (/readyz 200 each), worker1, worker2"


def nginx_conf(d: Drill, cert: Path, key: Path) -> str:
    """docs/deploy/nginx.conf with this run's addresses, ports, certificate and logs."""
    conf = (DEPLOY / "nginx.conf").read_text()
    servers = iter((d.ports["web1"], d.ports["web2"]))

    def upstream(match: re.Match[str]) -> str:
        return f"server 127.0.0.1:{next(servers)}{match.group(1)}"

    conf = re.sub(r"server\s+\d+\.\d+\.\d+\.\d+:\d+([^;]*;)", upstream, conf)
    conf = re.sub(r"listen\s+\[::\]:\d+[^;]*;", "", conf)
    conf = re.sub(r"listen\s+80\b", f"listen 127.0.0.1:{d.ports['redirect']}", conf)
    conf = re.sub(r"listen\s+443\b", f"listen 127.0.0.1:{d.ports['https']}", conf)
    conf = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", conf)
    conf = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", conf)
    return conf.replace("/var/log/nginx/", f"{d.logs}/nginx-")


def step_nginx(d: Drill) -> str:
    tls = d.base / "tls"
    tls.mkdir()
    cert, key = tls / "cert.pem", tls / "key.pem"
    d.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        timeout=60,
    )  # fmt: skip
    d.facts["cert"] = str(cert)
    prefix = d.base / "nginx"
    prefix.mkdir()
    (prefix / "adgate.conf").write_text(nginx_conf(d, cert, key))
    (prefix / "nginx.conf").write_text(
        f"pid {prefix}/nginx.pid;\nerror_log {d.logs}/nginx-main.error.log;\n"
        "worker_processes 1;\nevents { worker_connections 256; }\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log {d.logs}/nginx-main.log;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  include {prefix}/adgate.conf;\n}}\n"
    )
    d.run(["nginx", "-t", "-q", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], timeout=30)
    d.start("nginx", ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                      "-g", "daemon off;"], as_=None, env=d.env())  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{d.https}/healthz", verify=str(cert), timeout=5).ok:
                return f"docs/deploy/nginx.conf on {d.https} (self-signed), upstreams web1, web2"
        time.sleep(0.3)
    raise StepFailed(f"nginx does not answer on {d.https}: {d.log_tail('nginx')}")


class Api:
    """The API through nginx, as one person."""

    def __init__(self, d: Drill, person: Mapping[str, Any]) -> None:
        self.base = f"{d.https}/api/v1"
        self.http = requests.Session()
        # The drill's own certificate, not REQUESTS_CA_BUNDLE or a proxy from the environment.
        self.http.trust_env = False
        self.http.verify = str(d.facts["cert"])
        self.http.headers["Authorization"] = f"Bearer {person['token']}"

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        answer = self.http.request(method, self.base + path, timeout=30, **kwargs)
        if answer.status_code != expect:
            raise StepFailed(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json() if answer.content else None


def reviewer_code(person: dict[str, Any]) -> str:
    """A code the reviewer has not used yet (each is accepted once): this step or the next."""
    now_step = int(time.time()) // 30
    use = max(now_step, int(person["step"]) + 1)
    if use > now_step + 1:
        time.sleep(30 - time.time() % 30 + 0.1)
        use = int(time.time()) // 30
    person["step"] = use
    return str(pyotp.HOTP(person["totp"]).at(use))


def step_submission(d: Drill) -> str:
    manager, reviewer = d.facts["people"]["manager"], d.facts["people"]["reviewer"]
    as_manager, as_reviewer = Api(d, manager), Api(d, reviewer)
    created = as_manager.call("POST", "/checklists", 201, json={"title": "Drill", "ad": AD})
    checklist = int(created["id"])
    d.facts["checklist"] = checklist
    as_manager.call("PUT", f"/checklists/{checklist}/classification", 200,
                    json={"category": "POLITICAL"})  # fmt: skip
    as_manager.call("POST", f"/checklists/{checklist}/attestations/two-factor", 200)
    as_reviewer.call("POST", "/identity-verifications", 201, json={
        "user": manager["email"], "document_type": "passport", "issuing_country": "CH",
        "expires_on": "2031-01-01"})  # fmt: skip
    version = as_reviewer.call("GET", f"/checklists/{checklist}", 200)["version"]
    as_reviewer.call("POST", f"/checklists/{checklist}/approval", 200,
                     headers={"X-OTP": reviewer_code(reviewer),
                              "If-Match": f'"{version}"'})  # fmt: skip
    accepted = as_manager.call("POST", f"/checklists/{checklist}/submit", 202,
                               headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
    submission = int(accepted["submission"]["id"])
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = as_manager.call("GET", f"/submissions/{submission}", 200)["status"]
        if status in ("submitted", "live"):
            return f"checklist {checklist} -> submission {submission} {status} (via nginx, API)"
        if status == "failed":
            break
        time.sleep(0.5)
    raise StepFailed(f"submission {submission} is {status}: {d.log_tail('worker1')}")


def step_form_csrf(d: Drill) -> str:
    manager = d.facts["people"]["manager"]
    http = requests.Session()
    http.trust_env = False
    http.verify = str(d.facts["cert"])
    page = http.get(f"{d.https}/login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if page.status_code != 200 or token is None:
        raise StepFailed(f"GET /login: {page.status_code}, no csrf_token")
    answer = http.post(
        f"{d.https}/login",
        data={"csrf_token": token.group(1), "email": manager["email"],
              "password": manager["password"]},
        headers={"Referer": f"{d.https}/login", "Origin": d.https},
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    if answer.status_code not in (302, 303):
        with psycopg.connect(d.url(d.owner_role)) as conn:
            row = conn.execute(
                "SELECT data FROM audit_event WHERE kind = 'access.csrf_refused'"
                " ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        data = row[0] if row else None
        data = json.loads(data) if isinstance(data, str) else data
        reason = data.get("reason", "") if isinstance(data, dict) else ""
        raise StepFailed(
            f"POST /login through nginx on port {d.ports['https']}: {answer.status_code} "
            f"(audited as access.csrf_refused: {reason or '?'})"
        )
    return f"POST /login through nginx on port {d.ports['https']}: {answer.status_code} (CSRF ok)"


def gpg_home(d: Drill, name: str, owner: Account | None) -> tuple[Path, dict[str, str]]:
    home = d.base / name
    home.mkdir(mode=0o700)
    if owner:
        os.chown(home, owner.uid, owner.gid)

    # gpg starts an agent that outlives the command: stop it with the run.
    def stop_agent() -> None:
        d.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], as_=owner,
              env=d.env(), timeout=30, check=False)  # fmt: skip

    d.undo.append((f"gpg-agent of {name}", stop_agent))
    return home, {**d.env(), "GNUPGHOME": str(home)}


def step_backup(d: Drill) -> str:
    # The backup key: made "elsewhere" (root's keyring here); only its public half is
    # imported into the service user's keyring.
    _, key_env = gpg_home(d, "gnupg-backup-key", None)
    d.run(["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key",
           "backup@drill.example", "default", "default", "never"],
          env=key_env, timeout=120)  # fmt: skip
    listed = d.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=key_env)
    fingerprint = next(
        line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:")
    )
    public = d.run(["gpg", "--batch", "--armor", "--export", fingerprint], env=key_env).stdout
    _, service_env = gpg_home(d, "gnupg-service", d.web)
    d.run(["gpg", "--batch", "--quiet", "--import"], as_=d.web, env=service_env, stdin=public)
    out, metrics = d.base / "backups", d.base / "metrics"
    metrics.mkdir()
    for path in (out, metrics):
        os.chown(path, d.web.uid, d.web.gid)
        path.chmod(0o700 if path == out else 0o755)
    env = d.env(
        "adgate.env",
        GNUPGHOME=service_env["GNUPGHOME"],
        BACKUP_DIR=str(out),
        BACKUP_GPG_RECIPIENT=fingerprint,
        BACKUP_KEEP_DAYS="35",
        BACKUP_METRICS_DIR=str(metrics),
        ADGATE_HOME=str(d.current),
        ADGATE_ETC=str(d.etc),
    )
    done = d.run(["bash", str(d.current / "docs" / "deploy" / "adgate-backup.sh")],
                 as_=d.web, env=env, cwd=d.current, timeout=180, check=False)  # fmt: skip
    prom = (
        (metrics / "adgate_backup.prom").read_text()
        if (metrics / "adgate_backup.prom").exists()
        else ""
    )
    if done.returncode != 0:
        raise StepFailed(f"the backup failed: {(done.stdout + done.stderr).strip()[-400:]}")
    if "adgate_backup_last_run_success 1" not in prom:
        raise StepFailed(f"metrics: {prom!r}")
    files = sorted(p.name for p in out.glob("adgate-*.gpg"))
    if len(files) != 3:
        raise StepFailed(f"expected three files, found {files}")
    d.facts["backup"] = (out, key_env)
    return f"as the app servers' user: {', '.join(f.split('-', 2)[2] for f in files)}; metrics ok"


def step_restore(d: Drill) -> str:
    out, key_env = d.facts["backup"]
    restore = d.base / "restore"
    restore.mkdir(mode=0o700)
    # The guide's restore, under umask 077: the decrypted files are private.
    old = os.umask(0o077)
    try:
        for encrypted in out.glob("adgate-*.gpg"):
            target = restore / encrypted.name.removesuffix(".gpg")
            d.run(["gpg", "--batch", "--quiet", "--decrypt", "--output", str(target),
                   str(encrypted)], env=key_env, timeout=120)  # fmt: skip
            if target.stat().st_mode & 0o077:
                raise StepFailed(f"{target.name} is readable by others after decryption")
    finally:
        os.umask(old)
    (dump,) = restore.glob("*-db.dump")
    (checkpoints,) = restore.glob("*-checkpoints.json")
    (secrets_tar,) = restore.glob("*-secrets.tar")
    members = d.run(["tar", "-tf", str(secrets_tar)]).stdout.split()
    names = {Path(m).name for m in members}
    if names & {"migrate.env", "worker.env"} or "adgate.env" not in names:
        raise StepFailed(f"the secrets' archive holds {sorted(names)}")
    # On a new server the roles come first (roles.sql), then the dump, then the grants.
    d.run(
        ["psql", "--quiet", "--no-psqlrc", "--set", f"owner_role={d.owner_role}",
         "--set", f"app_role={d.app_role}", "--set", f"database={d.restored}",
         "-d", d.pg_admin, "-f", str(DEPLOY / "roles.sql")],
        timeout=60,
    )  # fmt: skip
    d.run(["pg_restore", "--exit-on-error", f"--dbname={d.url(d.owner_role, d.restored)}",
           str(dump)], timeout=180)  # fmt: skip
    d.psql(DEPLOY / "grants.sql", d.owner_role, d.restored, app_role=d.app_role)
    on_restored = d.env(
        "adgate.env", ADGATE_DATABASE_URL=d.url(d.app_role, d.restored, "postgresql+psycopg")
    )
    verified = d.flask("audit", "verify", env=on_restored).stdout.strip()
    os.chown(checkpoints, d.web.uid, d.web.gid)
    restore.chmod(0o711)
    checked = d.flask(
        "audit", "check-checkpoints", str(checkpoints), "--public-key",
        str(d.instance / "audit-signing.pem.pub"), env=on_restored,
    ).stdout.strip()  # fmt: skip
    if not verified.startswith("ok ") or "chain: ok" not in checked:
        raise StepFailed(f"verify: {verified!r}; check-checkpoints: {checked[-300:]!r}")
    return f"into {d.restored}: {verified.splitlines()[-1]}; check-checkpoints: chain ok"


def step_forbidden(d: Drill) -> str:
    let_through = []
    for statement in FORBIDDEN:
        with psycopg.connect(d.url(d.app_role)) as conn:
            try:
                conn.execute(statement.encode())
            except psycopg.errors.InsufficientPrivilege:
                continue
            except psycopg.Error as exc:
                let_through.append(f"{statement} ({type(exc).__name__}, not a privilege)")
                continue
            let_through.append(statement)
    if let_through:
        raise StepFailed("not refused by privilege: " + "; ".join(let_through))
    return f"{len(FORBIDDEN)} statements on the audit tables refused to {d.app_role}"


def step_key_rotation(d: Drill) -> str:
    """The guide's signing-key rotation; then every checkpoint checks with both public keys,
    and a relative --out in the read-only release folder is refused without a traceback."""
    old = d.instance / "retired"
    old.mkdir()
    os.chown(old, d.web.uid, d.group)
    for name in ("audit-signing.pem", "audit-signing.pem.pub"):
        (d.instance / name).rename(old / name)
    d.flask("audit", "keygen")
    for name in ("audit-signing.pem", "audit-signing.pem.pub"):
        os.chown(d.instance / name, d.web.uid, d.group)
        (d.instance / name).chmod(0o640)
    d.flask("audit", "checkpoint")
    problems = []
    relative = d.flask("audit", "checkpoints", "--out", "checkpoints.json", check=False)
    said = relative.stdout + relative.stderr
    if "Traceback" in said:
        problems.append("`audit checkpoints --out checkpoints.json` in the release folder: "
                        + said.strip().splitlines()[-1])  # fmt: skip
    out = d.base / "home" / "checkpoints.json"
    d.flask("audit", "checkpoints", "--out", str(out))
    checked = d.flask(
        "audit", "check-checkpoints", str(out), "--public-key",
        str(old / "audit-signing.pem.pub"), "--public-key",
        str(d.instance / "audit-signing.pem.pub"), check=False,
    )  # fmt: skip
    if checked.returncode != 0 or "chain: ok" not in checked.stdout:
        problems.append(f"check-checkpoints with the old and new keys: {checked.stdout[-300:]}")
    if problems:
        raise StepFailed("; ".join(problems))
    signed = checked.stdout.count("ok: ")
    return (
        f"key replaced; {signed} checkpoints ok with both public keys; relative --out: no traceback"
    )


class Client(threading.Thread):
    """Keeps calling the API through nginx (a read and a write in turn) until stopped."""

    def __init__(self, d: Drill) -> None:
        super().__init__(daemon=True)
        self.api = Api(d, d.facts["people"]["manager"])
        self.checklist = d.facts["checklist"]
        self.stopping = threading.Event()
        self.calls = 0
        self.failures: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            try:
                if n % 2:
                    self.api.call("GET", f"/checklists/{self.checklist}", 200)
                else:
                    self.api.call("POST", "/checklists", 201, json={"title": f"Load {n}", "ad": AD})
            except (StepFailed, requests.RequestException) as exc:
                self.failures.append(str(exc)[:200])
            self.calls += 1
            time.sleep(0.05)


def step_upgrade(d: Drill) -> str:
    r1 = d.opt / "releases" / "r1"
    r2 = d.opt / "releases" / "r2"
    r2.mkdir()
    copy_checkout(r2)
    from alembic.script import ScriptDirectory

    versions = r2 / "app" / "migrations" / "versions"
    head = ScriptDirectory(str(r2 / "app" / "migrations")).get_current_head()
    revision = f"drill_{uuid.uuid4().hex[:8]}"
    (versions / f"9999_{revision}.py").write_text(
        ADDITIVE_MIGRATION.format(revision=revision, down=head)
    )
    build_release(d, r2)
    client = Client(d)
    client.start()
    time.sleep(2)
    for n in (1, 2):  # 1. the workers stop (each finishes its round)
        d.stop(f"worker{n}", signal.SIGTERM, wait=120)
    # 2. migrate once, with the new release's code, as the owner; the grants again
    d.flask("db", "upgrade", cwd=r2, env=d.env("adgate.env", "migrate.env"), timeout=180)
    d.psql(DEPLOY / "grants.sql", d.owner_role, d.database, app_role=d.app_role)
    time.sleep(2)
    switch_current(d, r2)  # 3. the symlink, atomically
    deadline = time.monotonic() + 120
    answers = []
    for n in (1, 2):  # 4. the app servers one at a time: reload, wait for its /readyz
        os.kill(d.processes[f"web{n}"].pid, signal.SIGHUP)
        time.sleep(1)
        body = d.wait_ready(d.ports[f"web{n}"], deadline, lambda b: revision in json.dumps(b))
        answers.append(json.dumps(body, sort_keys=True))
        time.sleep(2)
    for n in (1, 2):  # the reloaded servers' processes run in the new release
        settled = time.monotonic() + 40  # old processes finish their requests first
        places = serving_from(d.processes[f"web{n}"].pid)
        while places != {str(r2)} and time.monotonic() < settled:
            time.sleep(0.5)
            places = serving_from(d.processes[f"web{n}"].pid)
        if places != {str(r2)}:
            raise StepFailed(f"web{n}'s processes run in {sorted(places)}, not releases/r2")
    for n in (1, 2):  # 5. the workers start again, from the new release
        start_worker(d, n)
    time.sleep(2)
    client.stopping.set()
    client.join(30)
    if not r1.exists() or os.path.realpath(d.current) != str(r2):
        raise StepFailed("current does not point at releases/r2")
    d.facts["revision"], d.facts["ready_answers"] = revision, answers
    if client.failures or client.calls == 0:
        raise StepFailed(
            f"{len(client.failures)} of {client.calls} calls failed: {client.failures[:3]}"
        )
    return f"to {revision} (additive) under load: {client.calls} calls through nginx, 0 failed"


def serving_from(master: int) -> set[str]:
    """The working directories of a gunicorn master's worker processes."""
    places = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                places.add(os.path.realpath(stat.parent / "cwd"))
    return places


def step_ready_names(d: Drill) -> str:
    answers = d.facts.get("ready_answers")
    if not answers:
        raise StepFailed("no /readyz answers from the upgrade")
    for port_name in ("web1", "web2"):
        body = requests.get(f"http://127.0.0.1:{d.ports[port_name]}/readyz", timeout=5).json()
        if "version" not in body or d.facts["revision"] not in json.dumps(body):
            raise StepFailed(f"{port_name}'s /readyz names no version and schema: {body}")
    return "each server's /readyz names the code version and the schema it serves"


def step_broken_server(d: Drill) -> str:
    # A server that cannot reach the database: its own readiness fails, the other's holds.
    d.stop("web2")
    broken = d.env("adgate.env", GUNICORN_BIND=f"127.0.0.1:{d.ports['web2']}",
                   GUNICORN_WORKERS="1",
                   ADGATE_DATABASE_URL="postgresql+psycopg://x@127.0.0.1:1/x")  # fmt: skip
    start_web(d, 2, broken)
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            status = requests.get(
                f"http://127.0.0.1:{d.ports['web2']}/readyz", timeout=5
            ).status_code
            if status == 503:
                break
        time.sleep(0.3)
    if status != 503:
        raise StepFailed(f"the broken server's /readyz answered {status}, not 503")
    healthy = requests.get(f"http://127.0.0.1:{d.ports['web1']}/readyz", timeout=5).status_code
    if healthy != 200:
        raise StepFailed(f"the healthy server's /readyz answered {healthy}")
    # Stopped altogether: nginx sends everything to the other one, nothing fails.
    d.stop("web2", signal.SIGKILL)
    client = Client(d)
    client.start()
    time.sleep(5)
    client.stopping.set()
    client.join(30)
    if client.failures:
        raise StepFailed(
            f"{len(client.failures)} of {client.calls} calls failed: {client.failures[:2]}"
        )
    return (f"web2 without database: its /readyz 503, web1's 200; web2 stopped: "
            f"{client.calls} calls through nginx, 0 failed")  # fmt: skip


def step_promtool(d: Drill) -> str:
    if shutil.which("promtool") is None:
        raise StepFailed("promtool is not installed (Debian: prometheus)")
    rules = DEPLOY / "adgate-alerts.yml"
    d.run(["promtool", "check", "rules", str(rules)], timeout=60)
    listed = subprocess.run(  # noqa: S603
        [GIT, "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard",
         "*.yml", "*.yaml"], check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    tests = [
        ROOT / p for p in listed if "alert_rule_test:" in (ROOT / p).read_text(errors="replace")
    ]
    if not tests:
        raise StepFailed("no `promtool test rules` files for docs/deploy/adgate-alerts.yml")
    for test in tests:
        d.run(["promtool", "test", "rules", str(test)], cwd=test.parent, timeout=120)
    return f"promtool check rules; test rules: {', '.join(t.name for t in tests)}"


def step_units(d: Drill) -> str:
    if shutil.which("systemd-analyze") is None:
        raise StepSkipped("systemd-analyze is not installed")
    units = d.base / "units"
    units.mkdir()
    backup = d.base / "adgate-backup"
    shutil.copy2(DEPLOY / "adgate-backup.sh", backup)
    backup.chmod(0o755)
    for name in ("adgate-web.service", "adgate-worker@.service", "adgate-backup.service",
                 "adgate-backup.timer"):  # fmt: skip
        text = (DEPLOY / name).read_text()
        text = text.replace("/usr/local/sbin/adgate-backup", str(backup))
        text = text.replace("/opt/adgate", str(d.opt)).replace("/etc/adgate", str(d.etc))
        (units / name).write_text(text)
    (units / "adgate-worker@1.service").symlink_to("adgate-worker@.service")
    done = d.run(
        ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no",
         *(str(units / n) for n in ("adgate-web.service", "adgate-worker@1.service",
                                    "adgate-backup.service", "adgate-backup.timer"))],
        env={**d.env(), "SYSTEMD_LOG_LEVEL": "warning"}, timeout=60, check=False,
    )  # fmt: skip
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0 and ("Failed to" in said and "manager" in said.lower()):
        raise StepSkipped(f"systemd-analyze cannot run here: {said.splitlines()[-1]}")
    if done.returncode != 0 or said:
        raise StepFailed(said.replace("\n", " | ")[-600:] or f"exit {done.returncode}")
    return "systemd-analyze verify: adgate-web, adgate-worker@1, adgate-backup (.service, .timer)"


def stop_all(d: Drill) -> None:
    for name in list(d.processes):
        d.stop(name, signal.SIGTERM, wait=20)


STEPS: list[tuple[str, Callable[[Drill], str], int]] = [
    ("tools", step_tools, 300),
    ("release r1 installed", step_release, 300),
    ("PostgreSQL roles and database", step_database, 60),
    ("settings and file modes", step_settings, 30),
    ("migrated as owner, grants", step_migrate, 180),
    ("commands with split Meta settings", step_split_meta, 60),
    ("signing key, ad account, people", step_accounts, 120),
    ("sandbox, 2 app servers, 2 workers", step_services, 120),
    ("nginx with TLS on a non-443 port", step_nginx, 60),
    ("submission through nginx", step_submission, 120),
    ("form POST through nginx (CSRF)", step_form_csrf, 30),
    ("backup as the service user", step_backup, 240),
    ("restore into a new database", step_restore, 240),
    ("app role refused on audit tables", step_forbidden, 30),
    ("signing key rotation, checkpoints", step_key_rotation, 120),
    ("rolling upgrade under load", step_upgrade, 420),
    ("/readyz names version and schema", step_ready_names, 30),
    ("one broken app server", step_broken_server, 120),
    ("alert rules (promtool)", step_promtool, 120),
    ("systemd units verify", step_units, 60),
]
# Steps that need an earlier one: skipped (and failed) when that one did not pass.
NEEDS = {
    "release r1 installed": "tools",
    "PostgreSQL roles and database": "tools",
    "settings and file modes": "release r1 installed",
    "migrated as owner, grants": "settings and file modes",
    "commands with split Meta settings": "migrated as owner, grants",
    "signing key, ad account, people": "migrated as owner, grants",
    "sandbox, 2 app servers, 2 workers": "signing key, ad account, people",
    "nginx with TLS on a non-443 port": "sandbox, 2 app servers, 2 workers",
    "submission through nginx": "nginx with TLS on a non-443 port",
    "form POST through nginx (CSRF)": "nginx with TLS on a non-443 port",
    "backup as the service user": "submission through nginx",
    "restore into a new database": "backup as the service user",
    "app role refused on audit tables": "migrated as owner, grants",
    "signing key rotation, checkpoints": "signing key, ad account, people",
    "rolling upgrade under load": "submission through nginx",
    "/readyz names version and schema": "rolling upgrade under load",
    "one broken app server": "submission through nginx",
    "systemd units verify": "settings and file modes",
}


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimedOut


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def drill(d: Drill, total: float) -> list[Result]:
    signal.signal(signal.SIGALRM, _alarm)
    end = time.monotonic() + total
    passed: set[str] = set()
    for name, step, limit in STEPS:
        started = time.monotonic()
        needed = NEEDS.get(name)
        if needed and needed not in passed:
            d.results.append(Result(name, "FAIL", 0.0, f"not run: '{needed}' did not pass"))
            continue
        left = end - started
        if left <= 0:
            d.results.append(
                Result(name, "FAIL", 0.0, f"not run: the drill's {total:.0f} s ran out")
            )
            continue
        try:
            with time_limit(min(limit, left)):
                detail = step(d)
            status = "PASS"
            passed.add(name)
        except StepSkipped as exc:
            status, detail = "SKIP", str(exc)
        except TimedOut:
            status, detail = "FAIL", f"timed out after {min(limit, left):.0f} s"
        except Exception as exc:  # a step's own bug is that step's failure, not the run's end
            status, detail = (
                "FAIL",
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, StepFailed) else str(exc),
            )
        d.results.append(Result(name, status, time.monotonic() - started, detail))
        print(f"  {status:4}  {name}", file=sys.stderr, flush=True)
    return d.results


def cleanup(d: Drill, keep: bool) -> list[str]:
    problems = []
    for what, undo in reversed(d.undo):
        try:
            undo()
        except Exception as exc:  # every undo runs, whatever the one before did
            problems.append(f"{what}: {exc}")
    if keep:
        print(f"kept {d.base}", file=sys.stderr)
    else:
        shutil.rmtree(d.base, ignore_errors=True)
    return problems


def table(results: list[Result]) -> str:
    width = max(len(r.name) for r in results)
    lines = [
        f"{'step':{width}}  result  seconds  detail",
        f"{'-' * width}  ------  -------  ------",
    ]
    for r in results:
        lines.append(f"{r.name:{width}}  {r.status:6}  {r.seconds:7.1f}  {r.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole run")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="the interpreter of the releases' virtualenvs")  # fmt: skip
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="a superuser's libpq URL")
    parser.add_argument("--keep", action="store_true", help="keep the folder (not the databases)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="adgate-drill-"))
    d = Drill(base, args.python, args.pg_admin)
    started = time.monotonic()
    print(f"adgate drill in {base} (at most {args.timeout:.0f} s)", file=sys.stderr, flush=True)
    try:
        results = drill(d, args.timeout)
    except KeyboardInterrupt:
        results = [*d.results, Result("interrupted", "FAIL", 0.0, "Ctrl-C")]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        cleaning = time.monotonic()
        problems = cleanup(d, args.keep)
    results.append(
        Result(
            "cleaned up",
            "FAIL" if problems else "PASS",
            time.monotonic() - cleaning,
            "; ".join(problems) or "processes, databases, roles, folder",
        )
    )
    print(table(results))
    failed = [r for r in results if r.status == "FAIL"]
    print(f"\n{len(results) - len(failed)} of {len(results)} steps passed or skipped "
          f"in {time.monotonic() - started:.0f} s; {len(failed)} failed")  # fmt: skip
    return 1 if failed else 0
