"""``make bench``: every benchmark on SQLite and on PostgreSQL, then one table of the figures
and the targets they are held to (ratios within one run, never absolute times).

    .venv/bin/python bench/run.py [--pg-url URL] [--only web,gate,worker,audit] [--quick]

Each benchmark runs as a process of its own (``bench/web.py``, ``bench/gate.py``,
``bench/worker.py``, ``bench/audit_log.py``), prints its own table and writes its JSON to
``bench/results/<name>-<database>.json``; this script collects them into
``bench/results/summary.json``. PostgreSQL runs in a schema of its own inside ``--pg-url``'s
database (created when missing) and is skipped, with a note, when no server answers.
``--quick`` makes every part small (100,000 audit events, 3 s per endpoint, 200
submissions), to check the benchmarks themselves, not to quote.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from common import (
    DEFAULT_PG_URL,
    RESULTS,
    ROOT,
    ensure_database,
    machine_info,
    postgresql_reachable,
)

PARTS = ("web", "gate", "worker", "audit")
SCRIPTS = {"web": "web.py", "gate": "gate.py", "worker": "worker.py", "audit": "audit_log.py"}
RESULT_NAMES = {"web": "web", "gate": "gate", "worker": "worker", "audit": "audit_log"}
# Whatever is below these is noise on a shared machine, not a leak.
RSS_NOISE_MIB = 2.0
TARGET_MIB = 200
# The worker's time per submission against the same SDK calls made directly.
WORKER_RATIO_TARGET = 1.5
# The tail of every endpoint follows its median.
TAIL_RATIO = 5


def arguments(part: str, args: argparse.Namespace) -> list[str]:
    if part == "web":
        return ["--seconds", str(3 if args.quick else args.seconds)]
    if part == "worker":
        return ["--submissions", str(200 if args.quick else args.submissions)]
    if part == "audit":
        return ["--events", str(100_000 if args.quick else args.events)]
    return ["--repeat", "5000", "--repeat-db", "500"] if args.quick else []


def run_part(part: str, url: str, dialect: str, args: argparse.Namespace) -> dict[str, Any] | None:
    out = RESULTS / f"{RESULT_NAMES[part]}-{dialect}.json"
    argv = [
        sys.executable,
        str(ROOT / "bench" / SCRIPTS[part]),
        "--database-url",
        url,
        "--out",
        str(out),
        *arguments(part, args),
    ]
    print(f"\n=== {part} on {dialect}: {' '.join(argv[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.call(argv, cwd=ROOT)  # noqa: S603 - our own scripts
    print(f"=== {part} on {dialect}: exit {code} after {time.monotonic() - started:.0f} s")
    if code != 0:
        return None
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def stored(part: str, dialect: str) -> dict[str, Any] | None:
    """The results of an earlier run, if there are any."""
    path = RESULTS / f"{RESULT_NAMES[part]}-{dialect}.json"
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def figures(dialect: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: what, value, target (if any) and whether it is met."""
    rows: list[dict[str, Any]] = []

    def row(what: str, value: Any, target: str = "", met: bool | None = None) -> None:
        rows.append(
            {"database": dialect, "what": what, "value": value, "target": target, "met": met}
        )

    if web := results.get("web"):
        runs = web["http"]["runs"]
        load = web["machine"]
        row(
            "HTTP machine load (1, 5, 15 min)",
            f"at start {load.get('load_average_at_start')}, "
            f"at end {load.get('load_average_at_end')}",
        )
        row(
            "HTTP baseline: bare Flask GET /json",
            f"{web['http']['baseline_requests_per_s']:.0f} req/s",
        )
        for name, target in (("healthz", None), ("get_checklist", 0.50), ("blocked_submit", 0.35)):
            r = runs[name]
            value = (
                f"{r['requests_per_s']:.0f} req/s = {r['throughput_ratio']:.2f} of bare; "
                f"p50 {r['latency_us']['p50']} µs, p99 {r['latency_us']['p99']} µs"
            )
            if target is None:
                row(f"HTTP {name}", value)
            else:
                row(
                    f"HTTP {name}",
                    value,
                    f">= {target:.2f} of bare",
                    r["throughput_ratio"] >= target,
                )
        for name, r in runs.items():
            tail = r["latency_us"]["p99"] / max(1, r["latency_us"]["p50"])
            row(f"HTTP {name} p99 / p50", f"{tail:.1f}", f"<= {TAIL_RATIO}", tail <= TAIL_RATIO)
        if mem := web.get("memory"):
            growth = max(mem["growth_mib"])
            marks = "; ".join(f"{m['requests']:,}: {m['rss_mib']}" for m in mem["marks"][1:])
            row(
                "gunicorn worker RSS MiB after requests",
                marks,
                f"growth 10k→20k <= {RSS_NOISE_MIB} MiB",
                growth <= RSS_NOISE_MIB,
            )
    if gate := results.get("gate"):
        for name in ("evaluate_all", "gate_evaluate_with_reads"):
            r = gate[name]
            row(f"gate: {name}", f"p50 {r['p50_us']} µs, p99 {r['p99_us']} µs")
    if worker := results.get("worker"):
        w, d = worker["worker"], worker["direct"]
        row(
            f"worker: {worker['submissions']} submissions through the sandbox",
            f"{w['per_submission_ms']} ms each vs {d['per_submission_ms']} ms for the SDK calls "
            f"alone = {worker['ratio']}x",
            f"<= {WORKER_RATIO_TARGET}x",
            worker["ratio"] <= WORKER_RATIO_TARGET,
        )
        if latency := worker.get("latency"):
            at = latency["to_submitted"]
            row(
                "worker: accepted submit → submitted (own process)",
                f"p50 {at['p50_ms']} ms, p95 {at['p95_ms']} ms, max {at['max_ms']} ms",
            )
    if audit := results.get("audit"):
        procs = {p["name"]: p for p in audit["processes"]}
        floor = audit["sha256_floor"]["seconds"]
        verify = procs["verify"]
        timed = audit.get("verify_vs_sha256") or {}
        ratio = timed.get("ratio") or round(verify["wall_s"] / floor, 1)
        events = f"{audit['events']:,}"
        how = (
            f"{timed['seconds']} s in {timed['workers']} processes = {ratio}x SHA-256 alone "
            f"({timed['floor_s']} s); one process {timed['single_process_seconds']} s = "
            f"{timed['single_process_ratio']}x; the command {verify['wall_s']} s"
            if timed
            else f"{verify['wall_s']} s = {ratio}x SHA-256 alone ({floor} s)"
        )
        row(f"audit verify, {events} events", how, "<= 5x", ratio <= 5)
        row(
            "audit verify peak RSS",
            f"{verify['max_rss_mib']} MiB",
            f"< {TARGET_MIB} MB",
            verify["max_rss_mib"] * 1.048576 < TARGET_MIB,
        )
        export = procs["export --format csv"]
        row(
            f"audit export CSV, {events} events",
            f"{export['wall_s']} s, {export['max_rss_mib']} MiB",
            f"< {TARGET_MIB} MB",
            export["max_rss_mib"] * 1.048576 < TARGET_MIB,
        )
        worst = max(audit["requests"], key=lambda r: r["p95_ms"])
        api = [r for r in audit["requests"] if r["name"].startswith("api:")]
        row(
            "audit filtered query p95 (API, worst case)",
            f"{max(r['p95_ms'] for r in api)} ms; "
            f"pages: worst {worst['name']} {worst['p95_ms']} ms",
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        mark = "" if r["met"] is None else ("  met" if r["met"] else "  MISSED")
        target = f"  [target {r['target']}]" if r["target"] else ""
        lines.append(f"{r['database']:<10} {r['what']:<44} {r['value']}{target}{mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--only", default=",".join(PARTS), help=f"some of {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the benchmarks)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument(
        "--report", action="store_true", help="only the summary of the results in bench/results"
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    databases = [("sqlite", "sqlite")]
    notes = []
    if args.no_pg:
        notes.append("PostgreSQL not run (--no-pg)")
    elif postgresql_reachable(args.pg_url):
        ensure_database(args.pg_url)
        databases.append(("postgresql", args.pg_url))
    else:
        notes.append(f"PostgreSQL not run: no server answers at {args.pg_url}")
    started = time.monotonic()
    collected: dict[str, dict[str, Any]] = {}
    failed = []
    for dialect, url in databases:
        collected[dialect] = {}
        for part in parts:
            result = stored(part, dialect) if args.report else run_part(part, url, dialect, args)
            if result is None:
                failed.append(f"{part} on {dialect}")
            else:
                collected[dialect][part] = result
    rows = [row for dialect in collected for row in figures(dialect, collected[dialect])]
    summary = {
        "benchmark": "bench/run.py",
        "quick": args.quick,
        "machine": machine_info(),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "figures": rows,
        "failed": failed,
        "notes": notes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "summary-quick.json" if args.quick else "summary.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print("\n" + table(rows))
    for note in notes:
        print(f"note: {note}")
    for part in failed:
        print(f"FAILED: {part}")
    print(
        f"{summary['minutes']} min; machine: {summary['machine']['cpu']}, "
        f"{summary['machine']['cores']} cores, {summary['machine']['ram_gib']} GiB"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
