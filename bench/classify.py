"""The suggester alone, in-process: how many ad texts per second it scores, against the
cheapest thing any bag-of-words reading must do with the same texts (splitting them into
lower-cased words with one regular expression), measured in the same run.

    .venv/bin/python bench/classify.py [--data ../shared/data/classifier/fr-CA.json ...]

The texts are the shared training texts (page URLs removed, as ``classify`` never sees
them), German, French, Italian and English mixed. Prints a table per language and writes
``bench/results/classify-none.json``. No database, no network.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, write_results

from tools.classifier.cli import DATA_DIR, DATA_FILES, load_data
from workflows.classify.suggester import Suggester

_WORDS = re.compile(r"\w+")


def rate(texts: list[str], work: Any, rounds: int) -> float:
    """Texts per second, the best of ``rounds`` passes (the least disturbed by neighbours)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            work(text)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def bench(paths: list[Path], rounds: int) -> dict[str, Any]:
    suggester = Suggester.load()
    texts: list[str] = []
    for path in paths:
        texts.extend(load_data(path)[0])
    by_language: dict[str, list[str]] = defaultdict(list)
    for text in texts:
        by_language[suggester.suggest(text).language].append(text)
    rows: dict[str, Any] = {}
    for language, group in [*sorted(by_language.items()), ("all", texts)]:
        baseline = rate(group, lambda t: _WORDS.findall(t.lower()), rounds)
        scored = rate(group, suggester.suggest, rounds)
        rows[language] = {
            "texts": len(group),
            "texts_per_s": round(scored),
            "baseline_texts_per_s": round(baseline),
            "ratio": round(scored / baseline, 3),
        }
    return {
        "benchmark": "bench/classify.py",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": "none",
        "languages": rows,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "the suggester: texts per second (best of the passes), against splitting into words",
        f"{'language':<10} {'texts':>6} {'texts/s':>9} {'split/s':>9} {'ratio':>6}",
    ]
    for language, r in results["languages"].items():
        lines.append(
            f"{language:<10} {r['texts']:>6} {r['texts_per_s']:>9} "
            f"{r['baseline_texts_per_s']:>9} {r['ratio']:>6}"
        )
    lines.append("target: thousands of texts per second for `flask classify` (the 'all' row)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, action="append", help="a data file (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="the JSON results (default bench/results/…)")
    args = parser.parse_args(argv)
    paths = args.data or [DATA_DIR / name for name in DATA_FILES]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        parser.error(
            f"no such data file: {', '.join(missing)} (the shared data lies beside {ROOT})"
        )
    results = bench(paths, args.rounds)
    print(table(results))
    write_results(results, args.out, "classify")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
