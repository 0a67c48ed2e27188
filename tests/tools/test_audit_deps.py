"""`make audit-deps` without its advisory service: a clear message, bounded, nothing else.

CI cannot count on reaching PyPI's or OSV's advisories, so these tests point pip-audit at
loopback addresses that refuse or never answer; what it prints when a service does answer is
seen by running `make audit-deps` (docs/deploy.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.audit_deps import UNREACHABLE, main

ROOT = Path(__file__).resolve().parents[2]
LOCKS = [str(ROOT / "requirements.txt"), str(ROOT / "requirements-dev.txt")]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound and not listening: every connection to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections into its backlog and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1]


def test_a_refused_osv_is_unreachable(closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    """OSV's address refuses: status 2 and the message, no traceback."""
    url = f"http://127.0.0.1:{closed_port}/v1/query"
    status = main([*LOCKS, "--vulnerability-service", "osv", "--osv-url", url])
    out, err = capsys.readouterr()
    assert status == 2
    assert f"requirements.txt: {UNREACHABLE}: " in err
    assert "Connection refused" in err
    assert "Traceback" not in out + err


def test_pypi_behind_a_refusing_proxy_is_unreachable(
    closed_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PyPI's advisories (the default) through a proxy that refuses, with an empty cache."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    status = main([*LOCKS, "--cache-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"requirements.txt: {UNREACHABLE}: " in err


def test_a_silent_service_is_cut_off_at_the_deadline(
    silent_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that never answers does not hold the run past its deadline."""
    url = f"http://127.0.0.1:{silent_port}/v1/query"
    status = main([*LOCKS, "--deadline", "3", "--vulnerability-service", "osv", "--osv-url", url])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"{UNREACHABLE}: no answer within 3 s" in err
