"""The gate alone, in-process: evaluate every check of a checklist, timed call by call.

    .venv/bin/python bench/gate.py --database-url sqlite
    .venv/bin/python bench/gate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/adgate_bench

Two figures, p50 and p99 in microseconds:

- ``evaluate_all``: the pure checks of ``workflows/`` on a context already read (what the
  machine costs by itself; no database);
- ``gate.evaluate``: the same with the context read from the database first, as every
  transition, every checklist answer and the worker do (one short read transaction each).

The checklist is complete and approved (every check passes), the case where every check
runs to its end. Prints a table and writes ``bench/results/gate-<dialect>.json``.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from alembic import command
from common import machine, make_app, prepare, secrets_env, write_results
from sqlalchemy import Engine

from app.auth.accounts import create_user
from app.checklists import gate, service
from app.crypto import encrypt
from app.db import alembic_config, new_session, transaction
from app.models import Checklist, Role, utcnow
from app.reviews import service as reviews
from tools.sandbox_accounts import register_sandbox_accounts
from workflows.checks import Category, evaluate_all
from workflows.classify.suggester import Suggestion

PASSWORD = secrets.token_urlsafe(24)
AD: dict[str, Any] = {
    "page_id": "2001",
    "ad_account_id": "act_1001",
    "headline": "Volksabstimmung über das neue Schulhaus",
    "message": "Am 8. März stimmen Sie über das neue Schulhaus ab. Alles zur Abstimmung.",
    "link_url": "https://www.musterstadt.ch/abstimmung",
    "countries": ("CH",),
    "paid_for_by": "Stadt Musterstadt",
}


def percentiles(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1000, 1)

    return {"n": len(ordered), "p50_us": rank(0.5), "p99_us": rank(0.99),
            "mean_us": round(sum(ordered) / len(ordered) / 1000, 1)}  # fmt: skip


def ready_checklist(app: Any) -> int:
    """A checklist on which every check passes, made through the services the pages and the
    API call: classified, attested, identity verified, approved by a second person, for an
    authorized ad account."""
    now = utcnow()
    with app.app_context(), transaction() as db:
        manager = create_user(db, "gate-manager@example.org", Role.MANAGER, PASSWORD)
        reviewer = create_user(db, "gate-reviewer@example.org", Role.REVIEWER, PASSWORD)
        manager.totp_secret = encrypt(pyotp.random_base32())
        manager.totp_enabled_at = now
        register_sandbox_accounts(db, "act_1001")
        checklist = service.create(db, manager, service.AdInput(title="Abstimmung", **AD), now)
        service.classify(
            db, checklist, manager, category=Category.POLITICAL, social_issues=(),
            digitally_created_media=False, justification=None,
            suggestion=Suggestion(0.9, "political", ()), version=checklist.version, now=now,
        )  # fmt: skip
        service.attest_facebook_2fa(db, checklist, manager, "bench", now)
        reviews.verify_identity(
            db, reviewer, manager, document_type="passport", issuing_country="CH",
            expires_on=date(2031, 1, 1), now=now,
        )  # fmt: skip
        reviews.approve(db, checklist, reviewer, now, version=checklist.version)
        failed = [r.name for r in gate.evaluate(db, checklist, now) if not r.passed]
        if failed:
            raise SystemExit(f"the prepared checklist fails {failed}")
        assert checklist.id is not None
        return checklist.id


def bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db = prepare(args.database_url, tmp, existing=False, keep=False)
    try:
        env = secrets_env(db, tmp / "instance")
        command.upgrade(alembic_config(db.url), "head")
        app = make_app(env)
        eng: Engine = app.extensions["adgate.db"]
        checklist_id = ready_checklist(app)
        pure: list[int] = []
        loaded: list[int] = []
        with app.app_context():
            now = datetime.now(UTC)
            with new_session(write=False, eng=eng) as session:
                checklist = session.get(Checklist, checklist_id)
                assert checklist is not None
                context = gate.context_for(session, checklist, now)
            for _ in range(args.repeat // 10):  # warm-up
                evaluate_all(context)
            for _ in range(args.repeat):
                started = time.perf_counter_ns()
                evaluate_all(context)
                pure.append(time.perf_counter_ns() - started)
            for _ in range(args.repeat_db):
                started = time.perf_counter_ns()
                with new_session(write=False, eng=eng) as session:
                    checklist = session.get(Checklist, checklist_id)
                    assert checklist is not None
                    gate.evaluate(session, checklist, now + timedelta(seconds=1))
                loaded.append(time.perf_counter_ns() - started)
        info = machine(eng)
        eng.dispose()
    finally:
        db.drop()
    return {
        "benchmark": "bench/gate.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": db.dialect,
        "machine": info,
        "checks": len(evaluate_all(context)),
        "evaluate_all": percentiles(pure),
        "gate_evaluate_with_reads": percentiles(loaded),
    }


def table(results: dict[str, Any]) -> str:
    lines = [f"{results['database']}: the gate, {results['checks']} checks, every one passing",
             f"{'':<34} {'n':>6} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}"]  # fmt: skip
    for name in ("evaluate_all", "gate_evaluate_with_reads"):
        r = results[name]
        lines.append(f"{name:<34} {r['n']:>6} {r['p50_us']:>8} {r['p99_us']:>8} {r['mean_us']:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--repeat", type=int, default=20_000, help="timed pure evaluations")
    parser.add_argument("--repeat-db", type=int, default=2_000, help="timed evaluations with reads")
    parser.add_argument("--out", type=Path, help="the JSON results (default bench/results/…)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="adgate-bench-gate-"))
    try:
        results = bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    write_results(results, args.out, "gate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
