"""SQLite's writers queue on a lock file across processes: woken when it is free, never
"database is locked", and a killed writer does not keep it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from app import db as app_db

ROOT = Path(__file__).resolve().parents[2]

# A writer in a process of its own. SQLite's busy timeout is cut to 1 ms: only the lock
# file can make it wait for the parent's write transaction.
WRITER = """
import sys, time
from sqlalchemy import Engine, text
from app import db
db.SQLITE_BUSY_TIMEOUT_MS = 1
eng = db.make_engine(sys.argv[1]).execution_options(adgate_write=True)
print("ready", flush=True)
with eng.begin() as conn:
    print("writing", flush=True)
    conn.execute(text("INSERT INTO t (who) VALUES ('child')"))
    time.sleep(float(sys.argv[2]))
print("done", flush=True)
"""


def _engine(url: str) -> Engine:
    eng = app_db.make_engine(url)
    with eng.execution_options(adgate_write=True).begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (who TEXT)"))
    return eng


def _writer(url: str, hold_seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(hold_seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_waits_for_another_process_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    eng = _engine(url)
    with eng.execution_options(adgate_write=True).begin() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES ('parent')"))
        child = _writer(url, 0)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # The child cannot begin while this transaction holds the lock: with a 1 ms busy
        # timeout it would fail at once with "database is locked" if it did not queue.
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "database is locked" not in err
    assert out.split() == ["writing", "done"]
    with eng.connect() as conn:
        assert conn.execute(text("SELECT who FROM t ORDER BY rowid")).scalars().all() == [
            "parent",
            "child",
        ]
    eng.dispose()


def test_a_killed_writer_releases_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    eng = _engine(url)
    child = _writer(url, 600)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    assert child.stdout.readline().strip() == "writing"  # it holds the lock, mid-transaction
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    written = threading.Event()

    def write() -> None:
        with eng.execution_options(adgate_write=True).begin() as conn:
            conn.execute(text("INSERT INTO t (who) VALUES ('parent')"))
        written.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    assert written.wait(timeout=30), "the killed writer's lock was not released"
    with eng.connect() as conn:
        # The killed transaction left nothing behind.
        assert conn.execute(text("SELECT who FROM t")).scalars().all() == ["parent"]
    eng.dispose()


def test_writers_of_many_threads_and_two_processes_all_get_through(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    eng = _engine(url)
    children = [_writer(url, 0.01) for _ in range(4)]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(20):
                with eng.execution_options(adgate_write=True).begin() as conn:
                    conn.execute(text("INSERT INTO t (who) VALUES ('thread')"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for child in children:
        _out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert errors == []
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT who, count(*) FROM t GROUP BY who")).all()
    counts = {str(who): int(n) for who, n in rows}
    assert counts == {"thread": 80, "child": 4}
    eng.dispose()
