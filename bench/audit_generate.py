"""Fill a scratch database's audit log with synthetic events, to measure it at scale.

    .venv/bin/python bench/audit_generate.py 1000000 --database-url sqlite:////tmp/scratch.sqlite3

Appends COUNT events, chained like real ones, spread over the last ``--days`` days
(``tools.synthetic_audit``, the same events ``bench/audit_log.py`` makes), then refreshes
the planner's statistics. The database is ``--database-url``, else ``ADGATE_DATABASE_URL``;
its schema must be there (``flask --app wsgi db upgrade``). Never a production log:
appended events cannot be removed (a purge only clears their content once expired).
"""

from __future__ import annotations

import argparse
import os
import sys

import common  # noqa: F401  (puts the project's root on sys.path, for ``tools``)

from app.db import make_engine
from tools import synthetic_audit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("count", type=int, help="how many events to append")
    parser.add_argument(
        "--database-url", default=os.environ.get("ADGATE_DATABASE_URL"),
        help="the scratch database (default: ADGATE_DATABASE_URL)",
    )  # fmt: skip
    parser.add_argument("--checklists", type=int, default=20_000, help="default: %(default)s")
    parser.add_argument("--users", type=int, default=500, help="default: %(default)s")
    parser.add_argument("--days", type=int, default=730, help="default: %(default)s")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (or set ADGATE_DATABASE_URL)")
    if min(args.count, args.checklists, args.users, args.days) < 1:
        parser.error("COUNT, --checklists, --users and --days must be at least 1")
    eng = make_engine(args.database_url)
    url = eng.url.render_as_string(hide_password=True)
    if not args.yes:
        answer = input(f"Append {args.count} synthetic events to the audit log of {url}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("aborted", file=sys.stderr)
            return 1
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        print(f"\rgenerating {done}/{args.count}", end="", file=sys.stderr, flush=True)

    made = synthetic_audit.events(
        eng, args.count, checklists=args.checklists, users=args.users, days=args.days,
        progress=progress,
    )  # fmt: skip
    print(file=sys.stderr)
    synthetic_audit.analyze(eng)
    print(f"{made} events appended")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
