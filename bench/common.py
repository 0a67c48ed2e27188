"""What every benchmark here shares: a fresh database, the app as served, timings, processes
measured under GNU time, and the machine they ran on.

Scripts in ``bench/`` run as ``.venv/bin/python bench/NAME.py`` from the project's root; this
folder is then on ``sys.path``, so they ``import common``, which puts the root there too (for
``tools``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import Engine, create_engine, make_url, text

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
# ``tools`` (developer tooling, not installed with the app) is imported from the project's root.
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
RESULTS = ROOT / "bench" / "results"
GNU_TIME = "/usr/bin/time"
# The PostgreSQL database the benchmarks use by default; each run works in a schema of its own.
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/adgate_bench"


def ensure_database(raw: str) -> None:
    """Create the PostgreSQL database of ``raw`` if it does not exist yet."""
    url = make_url(raw)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).first()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def postgresql_reachable(raw: str) -> bool:
    """Whether the server of ``raw`` answers (a benchmark on PostgreSQL needs one)."""
    eng = create_engine(make_url(raw).set(database="postgres"))
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to connect means: not there
        return False
    finally:
        eng.dispose()


# --- the database ------------------------------------------------------------


@dataclass
class Database:
    """The database under test: its URL for the app and how to remove it afterwards."""

    url: str
    dialect: str
    drop: Callable[[], None] = lambda: None


def prepare(raw: str, tmp: Path, *, existing: bool, keep: bool) -> Database:
    """A fresh, empty database for ``raw`` (or the one given, with ``existing``)."""
    if raw == "sqlite":
        if existing:
            raise SystemExit("--existing needs the database's URL")
        return Database(f"sqlite:///{tmp / 'adgate.sqlite3'}", "sqlite")
    url = make_url(raw)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if not existing and (not url.database or path.exists()):
            raise SystemExit(f"{raw}: give a file that does not exist yet (a fresh database)")
        return Database(raw, "sqlite")
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"{raw}: SQLite or PostgreSQL only")
    if existing:
        return Database(raw, "postgresql")
    if url.database in (None, "", "test"):
        raise SystemExit("give a database of its own (createdb adgate_bench), not 'test'")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()

    def drop() -> None:
        if keep:
            print(f"kept schema {schema} in {url.database}")
            return
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()

    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return Database(scoped.render_as_string(hide_password=False), "postgresql", drop)


def secrets_env(db: Database, instance: Path) -> dict[str, str]:
    """The environment that points ``flask --app wsgi`` at the database (no instance secrets)."""
    return {
        "ADGATE_DATABASE_URL": db.url,
        "ADGATE_INSTANCE_PATH": str(instance),
        "ADGATE_SECRET_KEY": "bench-" + secrets.token_hex(32),
        "ADGATE_IP_HMAC_KEY": "bench-" + secrets.token_hex(32),
        "ADGATE_TOTP_KEYS": json.dumps([Fernet.generate_key().decode()]),
    }


def make_app(env: dict[str, str]) -> Flask:
    """The app as served (not in testing mode), with the subprocesses' settings."""
    return create_app(
        {
            "SECRET_KEY": env["ADGATE_SECRET_KEY"],
            "IP_HMAC_KEY": env["ADGATE_IP_HMAC_KEY"],
            "TOTP_KEYS": json.loads(env["ADGATE_TOTP_KEYS"]),
            "DATABASE_URL": env["ADGATE_DATABASE_URL"],
            "INSTANCE_PATH": env["ADGATE_INSTANCE_PATH"],
            # The test client speaks plain HTTP; a Secure cookie would not come back.
            "SESSION_COOKIE_SECURE": False,
            "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
            # Hundreds of calls in a minute from one token: measure the calls, not the limit.
            "API_RATE_LIMIT": "100000 per minute",
            "LOG_LEVEL": "WARNING",
        }
    )


# --- measuring ---------------------------------------------------------------


@dataclass
class Timing:
    """Wall times of one request (or call), repeated."""

    name: str
    what: str
    ms: list[float] = field(default_factory=list)
    first_ms: float = 0.0
    rows: int = 0

    def summary(self) -> dict[str, Any]:
        """p50, p95 (nearest rank), max and mean in ms."""
        ordered = sorted(self.ms)
        return {
            "name": self.name,
            "what": self.what,
            "n": len(ordered),
            "p50_ms": round(_rank(ordered, 0.50), 2),
            "p95_ms": round(_rank(ordered, 0.95), 2),
            "max_ms": round(ordered[-1], 2),
            "mean_ms": round(sum(ordered) / len(ordered), 2),
            "first_ms": round(self.first_ms, 2),
            "rows_per_page": self.rows,
        }


def _rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Run:
    """A measured subprocess."""

    name: str
    argv: list[str]
    wall_s: float
    max_rss_mib: float
    returncode: int
    output: str
    file_bytes: int | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": " ".join(self.argv),
            "wall_s": round(self.wall_s, 2),
            "max_rss_mib": round(self.max_rss_mib, 1),
            "returncode": self.returncode,
            "output": self.output,
            "file_bytes": self.file_bytes,
        }


def run_measured(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run ``argv`` to its end under GNU time, which reports the command's own peak RSS.

    Not ``wait4`` on a child of this process: a child started by (v)fork inherits this
    process's high-water RSS, and Linux carries it through ``exec``. GNU time is small, so
    the RSS it reports for its own child is the command's.
    """
    logs = Path(tempfile.mkdtemp(prefix="adgate-bench-run-"))
    try:
        with (logs / "out").open("w+") as out, (logs / "err").open("w+") as err:
            started = time.perf_counter()
            returncode = subprocess.call(  # noqa: S603  (GNU time, our interpreter and flask)
                [GNU_TIME, "-f", "%M", "-o", str(logs / "rss"), *argv],
                cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=err,
            )  # fmt: skip
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().strip(), err.read().strip()
        rss_kib = int((logs / "rss").read_text().split()[-1])
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    if returncode != 0:
        print(f"{name} failed ({returncode}):\n{stdout}\n{stderr}", file=sys.stderr)
    last = (stdout or stderr).splitlines()[-1:] or [""]
    return Run(name, argv, wall, rss_kib / 1024, returncode, last[0])


# --- the machine -------------------------------------------------------------


def machine(eng: Engine) -> dict[str, Any]:
    """The machine (``machine_info``) and the database server the engine talks to."""
    info = machine_info()
    if eng.dialect.name == "postgresql":
        with eng.connect() as conn:
            info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
    return info


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, SQLite, the PostgreSQL client, the load right now."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    info: dict[str, Any] = {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        client = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=False  # noqa: S607
        )  # fmt: skip
        info["postgresql"] = client.stdout.strip() or None
    except OSError:
        info["postgresql"] = None
    return info


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_results(results: dict[str, Any], out: Path | None, name: str) -> Path:
    """Write a benchmark's results as JSON (default ``bench/results/<name>-<database>.json``)."""
    path = out or RESULTS / f"{name}-{results['database']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {path}")
    return path
