"""adgate over HTTP against a bare Flask app, both under the same gunicorn settings, in one run.

    .venv/bin/python bench/web.py --database-url sqlite
    .venv/bin/python bench/web.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/adgate_bench

Both apps run under gunicorn with the deployment's configuration (docs/deploy/gunicorn.conf.py:
gthread, keep-alive) and 2 workers of 4 threads on loopback; wrk (Debian's package) makes the
load, one endpoint at a time, each for ``--seconds`` after a short warm-up. Measured:

- the bare app's ``GET /json`` (before and after adgate's runs: their mean is the baseline,
  their difference shows how much the machine drifted during the run);
- adgate's ``GET /healthz``, ``GET /api/v1/checklists/{id}`` (a bearer token; the answer
  evaluates every check) and a blocked ``POST /api/v1/checklists/{id}/submit`` (a new
  Idempotency-Key each time: the key is claimed, every check is evaluated, the refusal is
  appended to the audit log, the answer is stored for the key).

Every figure is also a ratio to the bare app's JSON endpoint. The blocked submits are
counted in the audit log afterwards: one ``checklist.submit`` refusal per answered request.

Then memory: a fresh adgate under the same settings serves a mix of the three endpoints;
the resident set of each gunicorn worker is read from /proc after 10,000 and after 20,000
requests (growth between the two would be a leak).

Prints a table and writes ``bench/results/web-<dialect>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from common import (
    ROOT,
    Database,
    free_port,
    machine,
    make_app,
    prepare,
    secrets_env,
    write_results,
)
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app import crypto
from app.api import tokens
from app.auth import totp
from app.auth.accounts import create_user
from app.db import alembic_config, new_session, transaction
from app.models import AuditEvent, Role, utcnow
from tools.sandbox_accounts import register_sandbox_accounts

BIN = Path(sys.executable).parent
# Issue 19's targets: throughput as a share of the bare app's, and the tail by the median.
TARGETS = {"get_checklist": 0.50, "blocked_submit": 0.35}
TAIL_RATIO = 5
LUA = ROOT / "bench" / "wrk" / "report.lua"
MANAGER = "bench-manager@example.org"
CHECKLIST = {
    "title": "Abstimmung 8. März",
    "ad": {
        "page_id": "2001",
        "ad_account_id": "act_1001",
        "headline": "Volksabstimmung über das neue Schulhaus",
        "message": "Am 8. März stimmen Sie über das neue Schulhaus ab. Alles zur Abstimmung.",
        "link_url": "https://www.musterstadt.ch/abstimmung",
        "countries": ["CH"],
        "paid_for_by": "Stadt Musterstadt",
    },
}
# The same for both apps, the deployment's own (docs/deploy/gunicorn.conf.py) with 2 workers:
# what differs is the app, not the server.
GUNICORN_CONFIG = ROOT / "docs" / "deploy" / "gunicorn.conf.py"
GUNICORN_ENV = {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4"}
MEMORY_MARKS = (10_000, 20_000)


# --- processes ---------------------------------------------------------------


@contextmanager
def gunicorn(app_ref: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """Serve ``app_ref`` under gunicorn; yields its base URL and the master's pid."""
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONFIG),
            "--pythonpath", str(ROOT / "bench"), app_ref]  # fmt: skip
    server = {**GUNICORN_ENV, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own virtualenv's gunicorn
            argv, cwd=ROOT, env={**os.environ, **env, **server}, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + ("/healthz" if app_ref == "wsgi:app" else "/json"), proc)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode} (see its log)")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within 60 s")


def workers_of(master: int) -> list[int]:
    """The gunicorn master's worker processes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def wrk(
    url: str, seconds: float, *, method: str = "GET", token: str | None = None,
    unique_key: bool = False, connections: int = 4, run: str = "run",
) -> dict[str, Any]:  # fmt: skip
    """One wrk run (1 thread, ``connections`` connections); its JSON summary."""
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_AUTH": token or "",
           "BENCH_UNIQUE_KEY": "1" if unique_key else "0", "BENCH_RUN": run}  # fmt: skip
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(LUA), url]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    result["requests_per_s"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return result


# --- the app's data ----------------------------------------------------------


def prepare_app(env: dict[str, str]) -> tuple[str, int, int]:
    """A manager's token, one checklist to read and one to submit (blocked: unclassified,
    not attested, no identity, no approval); made through the API itself."""
    app = make_app(env)
    with app.app_context(), transaction() as db:
        user = create_user(db, MANAGER, Role.MANAGER, secrets.token_urlsafe(24))
        # A manager's token acts only while its owner has 2FA on, and only its owner issues
        # one that submits.
        user.totp_secret = crypto.encrypt(totp.new_secret())
        user.totp_enabled_at = utcnow()
        db.add(user)
        issued = tokens.issue(
            db, user, name="bench", scopes=tokens.ROLE_SCOPES[Role.MANAGER],
            lifetime=timedelta(days=1), issued_by=user, now=utcnow(),
        )  # fmt: skip
        token = issued.secret
        register_sandbox_accounts(db, "act_1001")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for _ in range(2):
        made = client.post("/api/v1/checklists", json=CHECKLIST, headers=headers)
        if made.status_code != 201:
            raise SystemExit(f"creating a checklist: {made.status_code} {made.get_data()!r}")
        ids.append(made.get_json()["id"])
    blocked = client.post(
        f"/api/v1/checklists/{ids[1]}/submit", headers={**headers, "Idempotency-Key": "probe"}
    )
    if blocked.status_code != 409:
        raise SystemExit(f"the probe submit was not blocked: {blocked.status_code}")
    app.extensions["adgate.db"].dispose()
    return token, ids[0], ids[1]


def refusals(env: dict[str, str], checklist_id: int) -> int:
    """How many blocked submits of the checklist the audit log holds."""
    app = make_app(env)
    eng: Engine = app.extensions["adgate.db"]
    with app.app_context(), new_session(write=False, eng=eng) as db:
        count = db.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                col(AuditEvent.kind) == "checklist.refused",
                col(AuditEvent.subject_type) == "checklist",
                col(AuditEvent.subject_id) == str(checklist_id),
            )
        ).scalar_one()
    eng.dispose()
    return int(count)


# --- the benchmark -----------------------------------------------------------


def throughput(
    env: dict[str, str], token: str, read_id: int, blocked_id: int, seconds: float, logs: Path
) -> dict[str, Any]:
    """Each endpoint for ``seconds`` after a warm-up; the bare app before and after."""
    warm = min(2.0, seconds)
    runs: dict[str, Any] = {}
    with gunicorn("bare:app", {}, logs / "bare.log") as (bare, _):
        wrk(bare + "/json", warm)
        runs["bare_before"] = wrk(bare + "/json", seconds)
    with gunicorn("wsgi:app", env, logs / "adgate.log") as (base, _):
        cases = {
            "healthz": {"url": base + "/healthz"},
            "get_checklist": {"url": f"{base}/api/v1/checklists/{read_id}", "token": token},
            "blocked_submit": {
                "url": f"{base}/api/v1/checklists/{blocked_id}/submit",
                "token": token,
                "method": "POST",
                "unique_key": True,
            },
        }
        for name, case in cases.items():
            wrk(**case, seconds=warm, run=f"{name}-warm")  # type: ignore[arg-type]
            before = refusals(env, blocked_id)
            runs[name] = wrk(**case, seconds=seconds, run=name)  # type: ignore[arg-type]
            runs[name]["audit_refusals_recorded"] = refusals(env, blocked_id) - before
    with gunicorn("bare:app", {}, logs / "bare.log") as (bare, _):
        wrk(bare + "/json", warm)
        runs["bare_after"] = wrk(bare + "/json", seconds)
    base_rps = (runs["bare_before"]["requests_per_s"] + runs["bare_after"]["requests_per_s"]) / 2
    base_p50 = (
        runs["bare_before"]["latency_us"]["p50"] + runs["bare_after"]["latency_us"]["p50"]
    ) / 2
    for run in runs.values():
        run["throughput_ratio"] = round(run["requests_per_s"] / base_rps, 3)
        run["p50_ratio"] = round(run["latency_us"]["p50"] / base_p50, 2)
    blocked = runs["blocked_submit"]
    # wrk's count leaves out the requests in flight when it stopped; the log has them too.
    blocked["expected_status"] = 409
    return {
        "baseline_requests_per_s": round(base_rps, 1),
        "baseline_drift": round(
            runs["bare_after"]["requests_per_s"] / runs["bare_before"]["requests_per_s"] - 1, 3
        ),
        "runs": runs,
    }


def memory(
    env: dict[str, str], token: str, read_id: int, blocked_id: int, logs: Path
) -> dict[str, Any]:
    """RSS of each gunicorn worker of a fresh adgate after 10,000 and 20,000 requests (a mix)."""
    marks: list[dict[str, Any]] = []
    served = 0
    with gunicorn("wsgi:app", env, logs / "adgate-memory.log") as (base, master):
        pids = workers_of(master)
        marks.append({"requests": 0, "rss_mib": [round(rss_mib(p), 1) for p in pids]})
        cases = [
            {"url": base + "/healthz"},
            {"url": f"{base}/api/v1/checklists/{read_id}", "token": token},
            {"url": f"{base}/api/v1/checklists/{blocked_id}/submit", "token": token,
             "method": "POST", "unique_key": True},
        ]  # fmt: skip
        round_no = 0
        for mark in MEMORY_MARKS:
            while served < mark:
                case = cases[round_no % len(cases)]
                result = wrk(**case, seconds=1, run=f"mem-{round_no}")  # type: ignore[arg-type]
                served += result["requests"]
                round_no += 1
            if workers_of(master) != pids:
                raise SystemExit("a gunicorn worker was replaced during the memory run")
            marks.append({"requests": served, "rss_mib": [round(rss_mib(p), 1) for p in pids]})
    first, last = marks[1], marks[2]
    growth = [round(b - a, 1) for a, b in zip(first["rss_mib"], last["rss_mib"], strict=True)]
    return {"workers": len(marks[0]["rss_mib"]), "marks": marks, "growth_mib": growth}


def bench(args: argparse.Namespace, db: Database, tmp: Path) -> dict[str, Any]:
    env = secrets_env(db, tmp / "instance")
    # The rate limiter stays on (as in production), with a limit the load cannot reach.
    env["ADGATE_API_RATE_LIMIT"] = "100000000 per minute"
    # Several processes serve, so their rate limiter shares a store (as docs/deploy.md sets up).
    env["ADGATE_RATELIMIT_STORAGE_URI"] = args.limiter_storage
    command.upgrade(alembic_config(db.url), "head")
    token, read_id, blocked_id = prepare_app(env)
    logs = tmp / "logs"
    logs.mkdir()
    app = make_app(env)
    info = machine(app.extensions["adgate.db"])
    app.extensions["adgate.db"].dispose()
    results: dict[str, Any] = {
        "benchmark": "bench/web.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": db.dialect,
        "machine": info,
        "gunicorn": {"config": str(GUNICORN_CONFIG.relative_to(ROOT)), **GUNICORN_ENV},
        "rate_limiter_storage": args.limiter_storage,
        "load": f"wrk 1 thread, 4 connections, {args.seconds} s per endpoint after a warm-up",
        "http": throughput(env, token, read_id, blocked_id, args.seconds, logs),
    }
    if not args.no_memory:
        results["memory"] = memory(env, token, read_id, blocked_id, logs)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict[str, Any]) -> str:
    http = results["http"]
    lines = [
        f"{results['database']}: HTTP under gunicorn ({results['gunicorn']}), {results['load']}",
        f"machine load (1, 5, 15 min): at start {results['machine']['load_average_at_start']},"
        f" at end {results['machine']['load_average_at_end']}",
        f"{'endpoint':<22} {'req/s':>8} {'ratio':>6} {'target':>7} {'p50 µs':>8} {'p99 µs':>8} "
        f"{'p99/p50':>7} {'p50 x':>6} {'statuses':<20}",
    ]
    for name, run in http["runs"].items():
        statuses = ",".join(f"{k}:{v}" for k, v in sorted(run["statuses"].items()))
        target = TARGETS.get(name)
        p50, p99 = run["latency_us"]["p50"], run["latency_us"]["p99"]
        tail = p99 / max(1, p50)
        lines.append(
            f"{name:<22} {run['requests_per_s']:>8.0f} {run['throughput_ratio']:>6.2f} "
            f"{f'>={target:.2f}' if target else '':>7} {p50:>8} {p99:>8} "
            f"{tail:>7.1f} {run['p50_ratio']:>6.2f} {statuses:<20}"
        )
    lines.append(
        "targets (issue 19): GET checklist >= 0.50 of bare, blocked submit >= 0.35, "
        f"p99/p50 <= {TAIL_RATIO} per endpoint; missed: "
        + (
            ", ".join(
                [
                    f"{n} ratio"
                    for n, t in TARGETS.items()
                    if n in http["runs"] and http["runs"][n]["throughput_ratio"] < t
                ]
                + [
                    f"{n} tail"
                    for n, r in http["runs"].items()
                    if r["latency_us"]["p99"] / max(1, r["latency_us"]["p50"]) > TAIL_RATIO
                ]
            )
            or "none"
        )
    )
    blocked = http["runs"]["blocked_submit"]
    lines.append(
        f"baseline {http['baseline_requests_per_s']:.0f} req/s "
        f"(drift {http['baseline_drift']:+.1%});"
        f" blocked submits recorded in the audit log: {blocked['audit_refusals_recorded']:,}"
        f" (wrk counted {blocked['requests']:,})"
    )
    if "memory" in results:
        mem = results["memory"]
        for mark in mem["marks"]:
            lines.append(f"RSS after {mark['requests']:>6,} requests: {mark['rss_mib']} MiB")
        lines.append(f"growth from the 10k to the 20k mark: {mem['growth_mib']} MiB per worker")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database-url", default="sqlite",
        help="'sqlite' (a temporary file) or a PostgreSQL URL (a schema of its own)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="per endpoint (after 2 s warm-up)"
    )
    parser.add_argument(
        "--limiter-storage", default="redis://127.0.0.1:6379/15",
        help="the rate limiter's store (memory:// counts per process)",
    )  # fmt: skip
    parser.add_argument("--no-memory", action="store_true", help="skip the 10k/20k RSS run")
    parser.add_argument("--out", type=Path, help="the JSON results (default bench/results/…)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is needed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="adgate-bench-http-"))
    db = prepare(args.database_url, tmp, existing=False, keep=False)
    try:
        results = bench(args, db, tmp)
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    write_results(results, args.out, "web")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
