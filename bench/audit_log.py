"""The audit log at scale: generate N events, then time the pages, the API, export and verify.

    .venv/bin/python bench/audit_log.py --database-url sqlite --events 1000000
    .venv/bin/python bench/audit_log.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/adgate_bench --events 1000000

A fresh database each run: on SQLite a file in a temporary folder (``sqlite``) or the path
given (which must not exist yet); on PostgreSQL a schema of its own in the database given,
dropped at the end (``--keep`` keeps it). ``--existing`` measures a database as it is, e.g.
one filled by ``bench/audit_generate.py 1000000 --yes`` with its defaults (a scratch
database: the run adds an auditor account and its own events).

The events are made by ``tools.synthetic_audit.events`` (as by ``bench/audit_generate.py``),
with its defaults (20,000 checklists, 500 users, 730 days). Every page and API
call goes through the whole app (a signed-in auditor, a bearer token) and, as in production,
appends its own ``audit.read`` event. Export, verification and the offline check of an
export each run in a process of their own, whose peak RSS GNU time reports (/usr/bin/time).

Verification is also timed inside its process (``--time-verify``, the app already created),
in as many processes as it chooses and in one, and set against the floor: SHA-256 over as
many bytes as the events' envelopes, one call per event in a tight loop
(``verify_vs_sha256``).

Prints a table and writes ``bench/results/audit_log-<dialect>.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from common import (
    GNU_TIME,
    ROOT,
    Database,
    Timing,
    machine,
    make_app,
    prepare,
    run_measured,
    secrets_env,
    write_results,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import (
    Engine,
    and_,
    event,
    func,
    make_url,
    or_,
    select,
    text,
)
from sqlmodel import col

from app import audit
from app.api import tokens
from app.audit import query, verification
from app.auth.accounts import create_user
from app.db import alembic_config, new_session, transaction
from app.models import AuditEvent, Role, utcnow
from tools import synthetic_audit

CHECKLISTS, USERS, DAYS = 20_000, 500, 730
# A new account each run, with a password that is never shown (also with --existing).
AUDITOR = f"bench-auditor-{secrets.token_hex(4)}@example.org"
PASSWORD = secrets.token_urlsafe(24)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_ROW = re.compile(r"<tr data-seq=")


def timed(timing: Timing, urls: list[str], call: Callable[[str], int]) -> Timing:
    """Call the first URL once (not counted, reported as ``first_ms``), then every URL."""
    started = time.perf_counter()
    timing.rows = call(urls[0])
    timing.first_ms = (time.perf_counter() - started) * 1000
    for url in urls[1:]:
        started = time.perf_counter()
        call(url)
        timing.ms.append((time.perf_counter() - started) * 1000)
    return timing


# --- the app's side ----------------------------------------------------------


def auditor_client(app: Flask) -> tuple[FlaskClient, str]:
    """A signed-in auditor (no 2FA for auditors) and a bearer token of theirs."""
    with app.app_context(), transaction() as db:
        user = create_user(db, AUDITOR, Role.AUDITOR, PASSWORD)
        issued = tokens.issue(
            db, user, name="bench", scopes=tokens.ROLE_SCOPES[Role.AUDITOR],
            lifetime=timedelta(days=1), issued_by=None, now=utcnow(),
        )  # fmt: skip
        secret = issued.secret
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/login").get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, "no CSRF token on /login"
    response = client.post(
        "/login", data={"email": AUDITOR, "password": PASSWORD, "csrf_token": match.group(1)}
    )
    assert response.status_code == 302, f"sign-in failed: {response.status_code}"
    assert "/login" not in response.headers["Location"], response.headers["Location"]
    return client, secret


def page_call(client: FlaskClient) -> Callable[[str], int]:
    def call(url: str) -> int:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code}")
        return len(_ROW.findall(response.get_data(as_text=True)))

    return call


def api_call(client: FlaskClient, token: str) -> Callable[[str], int]:
    headers = {"Authorization": f"Bearer {token}"}

    def call(url: str) -> int:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.get_data()!r}")
        return len(response.get_json()["events"])

    return call


@contextmanager
def captured_sql(eng: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs on audit_event sent while the block runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM audit_event" in statement:
            seen.append((statement, parameters))

    event.listen(eng, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(eng, "before_cursor_execute", listen)


def explain(eng: Engine, statement: str, parameters: Any) -> list[str]:
    """The plan the database chooses for the statement (PostgreSQL: executed, with timing)."""
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS) " if eng.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    )
    with eng.connect() as conn:
        rows = list(conn.exec_driver_sql(prefix + statement, parameters).all())
    if eng.dialect.name == "postgresql":
        return [str(r[0]) for r in rows]
    return [f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows]


def _depth(rows: list[Any], row: Any) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def query_only(
    app: Flask, name: str, filters: list[query.Filter], after: list[int | None]
) -> tuple[Timing, dict[str, Any]]:
    """``query.page`` alone (no request, no template, no audit.read), and the plan."""
    eng: Engine = app.extensions["adgate.db"]
    timing = Timing(name, "query.page() alone")
    with app.app_context():
        with captured_sql(eng) as seen, new_session(write=False, eng=eng) as db:
            started = time.perf_counter()
            timing.rows = len(query.page(db, filters[0], after=after[0]).events)
            timing.first_ms = (time.perf_counter() - started) * 1000
        statement, parameters = seen[-1]
        for f, a in zip(filters[1:], after[1:], strict=True):
            with new_session(write=False, eng=eng) as db:
                started = time.perf_counter()
                query.page(db, f, after=a)
                timing.ms.append((time.perf_counter() - started) * 1000)
    plan = {"sql": " ".join(statement.split()), "parameters": _plain(parameters)}
    plan["plan"] = explain(eng, statement, parameters)
    return timing, plan


def submissions_plan(eng: Engine, checklist: int) -> dict[str, Any]:
    """The plan of a checklist page once the checklist has submissions (none are generated).

    ``query.conditions`` then asks for the checklist's events OR its submissions' events.
    """
    own = and_(
        col(AuditEvent.subject_type) == "checklist",
        col(AuditEvent.subject_id) == str(checklist),
    )
    theirs = and_(
        col(AuditEvent.subject_type) == "submission",
        col(AuditEvent.subject_id).in_(["1", "2", "3"]),
    )
    statement = (
        select(AuditEvent)
        .where(or_(own, theirs))
        .order_by(col(AuditEvent.seq).desc())
        .limit(query.PAGE_SIZE + 1)
    )
    with captured_sql(eng) as seen, new_session(write=False, eng=eng) as db:
        db.execute(statement).all()
    sql, parameters = seen[-1]
    return {
        "sql": " ".join(sql.split()),
        "parameters": _plain(parameters),
        "plan": explain(eng, sql, parameters),
    }


def _plain(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {k: str(v) for k, v in parameters.items()}
    return [str(v) for v in parameters]


def database_bytes(db: Database, eng: Engine) -> int | None:
    if db.dialect == "sqlite":
        path = Path(make_url(db.url).database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with eng.connect() as conn:
        size = conn.execute(text("SELECT pg_total_relation_size('audit_event')")).scalar_one()
    return int(size)


# --- the benchmark -----------------------------------------------------------


def bench(args: argparse.Namespace, db: Database, tmp: Path) -> dict[str, Any]:
    env = secrets_env(db, tmp / "instance")
    command.upgrade(alembic_config(db.url), "head")
    app = make_app(env)
    eng: Engine = app.extensions["adgate.db"]
    results: dict[str, Any] = {
        "benchmark": "bench/audit_log.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": db.dialect,
        "machine": machine(eng),
        "repeat": args.repeat,
    }

    # 1. events
    if not args.existing:
        print(f"generating {args.events} events …", flush=True)
        started = time.perf_counter()
        made = synthetic_audit.events(
            eng, args.events, checklists=CHECKLISTS, users=USERS, days=DAYS
        )
        gen_s = time.perf_counter() - started
        started = time.perf_counter()
        synthetic_audit.analyze(eng)
        analyze_s = time.perf_counter() - started
        results["generate"] = {
            "events": made,
            "checklists": CHECKLISTS,
            "users": USERS,
            "days": DAYS,
            "seconds": round(gen_s, 1),
            "events_per_second": round(made / gen_s),
            "analyze_seconds": round(analyze_s, 1),
        }
        print(
            f"  {made} events in {gen_s:.1f} s ({made / gen_s:,.0f}/s), ANALYZE {analyze_s:.1f} s"
        )
    with new_session(write=False, eng=eng) as s:
        total = s.scalar(select(func.count()).select_from(AuditEvent)) or 0
        first_at, last_at = s.execute(
            select(func.min(col(AuditEvent.occurred_at)), func.max(col(AuditEvent.occurred_at)))
        ).one()
        max_seq = s.scalar(select(func.max(col(AuditEvent.seq)))) or 0
    results["events"] = total
    results["database_bytes"] = database_bytes(db, eng)

    # 2. the pages and the API
    client, token = auditor_client(app)
    rng = random.Random(11)  # noqa: S311 (which ids to ask for, not secrets)
    n = args.repeat + 1
    checklists = [rng.randint(1, CHECKLISTS) for _ in range(n)]
    actors = [rng.randint(1, USERS) for _ in range(n)]
    deep = [rng.randint(max_seq // 4, 3 * max_seq // 4) for _ in range(n)]
    middle = first_at + (last_at - first_at) / 2
    months = [(middle + timedelta(days=rng.randint(-150, 150))).date() for _ in range(n)]

    def month(day: date) -> tuple[str, str]:
        return day.isoformat(), (day + timedelta(days=29)).isoformat()

    pages = page_call(client)
    api = api_call(client, token)
    cases: list[tuple[str, str, list[str], Callable[[str], int]]] = [
        ("page: checklist", "GET /audit/?checklist=<id>",
         [f"/audit/?checklist={c}" for c in checklists], pages),
        ("page: actor", "GET /audit/?actor=user:<id>",
         [f"/audit/?actor=user:{a}" for a in actors], pages),
        ("page: outcome=refused", "GET /audit/?outcome=refused",
         ["/audit/?outcome=refused"] * n, pages),
        ("page: kind + one month", "GET /audit/?kind=checklist.refused&since=…&until=…",
         ["/audit/?kind=checklist.refused&since={}&until={}".format(*month(d)) for d in months],
         pages),
        ("page: kind + the first month", "the same, the log's oldest month (the worst case)",
         ["/audit/?kind=checklist.refused&since={}&until={}".format(*month(first_at.date()))]
         * n, pages),
        ("page: the first month", "GET /audit/?since=…&until=… (the log's oldest month)",
         ["/audit/?since={}&until={}".format(*month(first_at.date()))] * n, pages),
        ("page: unfiltered, first", "GET /audit/", ["/audit/"] * n, pages),
        ("page: unfiltered, deep", "GET /audit/?after=<seq in the middle>",
         [f"/audit/?after={s}" for s in deep], pages),
        ("page: actor, deep", "GET /audit/?actor=user:<id>&after=<seq in the middle>",
         [f"/audit/?actor=user:{a}&after={s}" for a, s in zip(actors, deep, strict=True)],
         pages),
        ("api: checklist", "GET /api/v1/audit/events?checklist=<id>",
         [f"/api/v1/audit/events?checklist={c}" for c in checklists], api),
        ("api: actor", "GET /api/v1/audit/events?actor=user:<id>",
         [f"/api/v1/audit/events?actor=user:{a}" for a in actors], api),
        ("api: actor, 200 per page", "GET /api/v1/audit/events?actor=user:<id>&limit=200",
         [f"/api/v1/audit/events?actor=user:{a}&limit=200" for a in actors], api),
        ("api: actor, deep", "GET /api/v1/audit/events?actor=user:<id>&cursor=<middle>",
         [f"/api/v1/audit/events?actor=user:{a}&cursor={_cursor(s)}"
          for a, s in zip(actors, deep, strict=True)], api),
    ]  # fmt: skip
    if app.url_map.bind("localhost").test("/audit/dashboard", method="GET"):
        cases += [
            ("page: dashboard, 30 days", "GET /audit/dashboard (default period)",
             ["/audit/dashboard"] * n, pages),
        ]  # fmt: skip
    timings = []
    for name, what, urls, call in cases:
        print(f"  {name} …", flush=True)
        timings.append(timed(Timing(name, what), urls, call))
    results["requests"] = [t.summary() for t in timings]

    # the same filters, query.page() alone, and the plans
    plans: dict[str, Any] = {}
    alone = []
    checks: list[tuple[str, list[query.Filter], list[int | None]]] = [
        ("checklist", [query.Filter(checklist=c) for c in checklists], [None] * n),
        ("actor", [query.Filter(actor=f"user:{a}") for a in actors], [None] * n),
        ("outcome=refused", [query.Filter(outcome="refused")] * n, [None] * n),
        ("kind + one month",
         [query.Filter(kind="checklist.refused", since=_utc(d), until=_utc(d, 30))
          for d in months], [None] * n),
        ("kind + the first month",
         [query.Filter(kind="checklist.refused", since=_utc(first_at.date()),
                       until=_utc(first_at.date(), 30))] * n, [None] * n),
        ("the first month",
         [query.Filter(since=_utc(first_at.date()), until=_utc(first_at.date(), 30))] * n,
         [None] * n),
        ("unfiltered, deep", [query.Filter()] * n, list(deep)),
        ("actor, deep", [query.Filter(actor=f"user:{a}") for a in actors], list(deep)),
    ]  # fmt: skip
    for name, filters, after in checks:
        timing, plan = query_only(app, name, filters, after)
        alone.append(timing.summary())
        plans[name] = plan
    results["query_only"] = alone
    plans["checklist with submissions (the OR form)"] = submissions_plan(eng, checklists[0])
    results["plans"] = plans

    # 3. export, verification, the offline check, in processes of their own
    python = str(Path(sys.executable))
    flask = str(Path(sys.executable).with_name("flask"))
    runs = [
        run_measured("baseline: python -c 'import app'", [python, "-c", "import app"], env, ROOT),
        run_measured(
            "baseline: the app created (import wsgi)", [python, "-c", "import wsgi"], env, ROOT
        ),
    ]
    out = tmp / "exports"
    out.mkdir()
    for fmt in ("csv", "jsonl"):
        target = out / f"audit.{fmt}"
        run = run_measured(
            f"export --format {fmt}",
            [flask, "--app", "wsgi", "audit", "export", "--format", fmt, "--out", str(target)],
            env, ROOT,
        )  # fmt: skip
        run.file_bytes = target.stat().st_size if target.exists() else None
        runs.append(run)
    half = out / "half.csv"
    run = run_measured(
        "export --format csv --until <middle> (half)",
        [flask, "--app", "wsgi", "audit", "export", "--format", "csv",
         "--until", middle.date().isoformat(), "--out", str(half)],
        env, ROOT,
    )  # fmt: skip
    run.file_bytes = half.stat().st_size if half.exists() else None
    runs.append(run)
    runs.append(
        run_measured(
            "verify", [flask, "--app", "wsgi", "audit", "verify", "--no-progress"], env, ROOT
        )
    )
    offline = [python, "-m", "app.auditors.evidence", str(out / "audit.csv")]
    runs.append(run_measured("check-export offline (app.auditors.evidence)", offline, env, ROOT))

    timed_verify = run_measured(
        "verify: verify() timed in its process (--time-verify)",
        [python, str(Path(__file__).resolve()), "--time-verify"], env, ROOT,
    )  # fmt: skip
    runs.append(timed_verify)
    results["processes"] = [r.summary() for r in runs]

    # the floor: one SHA-256 per event over as many bytes as an event's envelope
    per_event = envelope_bytes(eng)
    floor_s = sha256_floor(total, per_event)
    results["sha256_floor"] = {
        "events": total,
        "bytes_per_event": per_event,
        "seconds": round(floor_s, 3),
        "note": "one hashlib.sha256(...).hexdigest() per event in a tight loop, in this process;"
        " the best of three",
    }
    if timed_verify.returncode == 0:
        verify = json.loads(timed_verify.output)
        results["verify_vs_sha256"] = {
            **verify,
            "floor_s": round(floor_s, 3),
            "ratio": round(verify["seconds"] / floor_s, 2),
            "single_process_ratio": round(verify["single_process_seconds"] / floor_s, 2),
            "note": "verify()'s best of three runs in one process (the app created, not"
            " counted) over the SHA-256 floor; its peak RSS is the process above, children"
            " included (GNU time reports the largest process of the tree)",
        }
    with new_session(write=False, eng=eng) as s:
        results["events_after"] = s.scalar(select(func.count()).select_from(AuditEvent))
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    eng.dispose()
    return results


def envelope_bytes(eng: Engine, every: int = 50) -> int:
    """The mean size of an event's envelope (the second format's: the hash covers the
    body's SHA-256), from every ``every``-th event."""
    total = n = 0
    with eng.connect() as conn:
        rows = conn.execute(select(*audit.CHAIN_COLUMNS).where(col(AuditEvent.seq) % every == 0))
        for row in rows:
            values = dict(zip([c.key for c in audit.CHAIN_COLUMNS], row, strict=True))
            for name in ("hash", "data", "purge_id"):
                values.pop(name)
            total, n = total + len(audit.envelope_v2(**values).encode()), n + 1
    return round(total / max(n, 1))


def sha256_floor(events: int, size: int, repeat: int = 3) -> float:
    """Seconds for one SHA-256 (hex) per event over ``size`` bytes, the best of ``repeat``."""
    block = b"x" * size
    sha256 = hashlib.sha256
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(events):
            sha256(block).hexdigest()
        best = min(best, time.perf_counter() - started)
    return best


def time_verify(repeat: int = 3) -> dict[str, Any]:
    """``--time-verify``: verify() in this process (configured by the environment).

    The best of ``repeat`` runs as it chooses its processes, then the best of ``repeat`` in
    one process, each with the CPU seconds it took (its children's included); printed as
    one JSON line for the benchmark to read.
    """
    from app import create_app

    eng: Engine = create_app().extensions["adgate.db"]
    with eng.connect() as conn:
        span = conn.execute(select(func.max(col(AuditEvent.seq)))).scalar_one() or 0
    out: dict[str, Any] = {"workers": verification.workers_for(eng, span)}
    for name, workers in (("seconds", None), ("single_process_seconds", 1)):
        best, cpu = float("inf"), float("inf")
        for _ in range(repeat):
            started, times = time.perf_counter(), os.times()
            result = verification.verify(eng, workers=workers)
            best = min(best, time.perf_counter() - started)
            after = os.times()
            cpu = min(cpu, sum(after[:4]) - sum(times[:4]))
            if not result.ok:
                raise SystemExit(f"verify failed: {result}")
        out[name] = round(best, 3)
        out[name.replace("seconds", "cpu_seconds")] = round(cpu, 2)
    out["events"] = result.events
    return out


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _utc(day: date, days: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=days)


def table(results: dict[str, Any]) -> str:
    lines = [f"{results['database']}: {results['events']:,} events"]
    if "generate" in results:
        g = results["generate"]
        lines.append(
            f"generate: {g['seconds']} s ({g['events_per_second']:,} events/s), "
            f"ANALYZE {g['analyze_seconds']} s"
        )
    lines.append(f"{'request':<34} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>5}")
    for r in results["requests"]:
        lines.append(
            f"{r['name']:<34} {r['n']:>3} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['max_ms']:>8.1f} {r['rows_per_page'] or '-':>5}"
        )
    lines.append(f"{'query.page() alone':<34} {'n':>3} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results["query_only"]:
        lines.append(
            f"{r['name']:<34} {r['n']:>3} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{r['max_ms']:>8.1f}"
        )
    lines.append(f"{'process':<50} {'wall s':>7} {'peak RSS MiB':>12} {'file MB':>8}")
    for p in results["processes"]:
        size = f"{p['file_bytes'] / 1e6:.0f}" if p["file_bytes"] else ""
        lines.append(f"{p['name']:<50} {p['wall_s']:>7.1f} {p['max_rss_mib']:>12.1f} {size:>8}")
        if p["returncode"] != 0:
            lines.append(f"  FAILED ({p['returncode']}): {p['output']}")
    floor = results["sha256_floor"]
    lines.append(
        f"SHA-256 floor: {floor['events']:,} x {floor['bytes_per_event']} bytes "
        f"in {floor['seconds']} s"
    )
    if ratio := results.get("verify_vs_sha256"):
        lines.append(
            f"verify_vs_sha256: {ratio['ratio']}x (verify() {ratio['seconds']} s in "
            f"{ratio['workers']} processes; in one: {ratio['single_process_seconds']} s, "
            f"{ratio['single_process_ratio']}x)"
        )
    for name, plan in results["plans"].items():
        lines.append(f"plan, {name}:")
        lines.extend(f"    {step}" for step in plan["plan"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--database-url", default="sqlite",
        help="'sqlite' (a file in a temporary folder), sqlite:///NEW_FILE, or a PostgreSQL "
        "URL (a schema of its own is created in it and dropped afterwards)",
    )  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per case (>= 20)")
    parser.add_argument("--existing", action="store_true", help="measure the database as it is")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--out", type=Path, help="the JSON results (default bench/results/…)")
    parser.add_argument(
        "--time-verify", action="store_true",
        help="(run by the benchmark) time verify() on the database the environment names",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.time_verify:
        print(json.dumps(time_verify()))
        return 0
    if args.repeat < 20:
        parser.error("--repeat must be at least 20")
    if not Path(GNU_TIME).exists():
        parser.error(f"{GNU_TIME} (GNU time) is needed to read peak RSS: apt-get install time")
    tmp = Path(tempfile.mkdtemp(prefix="adgate-bench-"))
    db = prepare(args.database_url, tmp, existing=args.existing, keep=args.keep)
    try:
        results = bench(args, db, tmp)
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    write_results(results, args.out, "audit_log")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
