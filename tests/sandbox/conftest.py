"""Fixtures: the Meta sandbox served over HTTP on a free loopback port, in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer

from app.sandbox.server import base_url, create_sandbox_app, make_sandbox_server
from app.sandbox.store import SandboxState


@dataclass
class RunningSandbox:
    """A sandbox server running in a thread; ``url`` is the Graph base URL."""

    server: BaseWSGIServer
    thread: threading.Thread
    state: SandboxState
    url: str

    def stop(self) -> None:
        """Stop serving, wait for the serving thread and close the listening socket."""
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


StartSandbox = Callable[..., RunningSandbox]


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """Start sandboxes (``create_sandbox_app`` keyword arguments); all stop after the test."""
    running: list[RunningSandbox] = []

    def start(
        *,
        review_delay: float = 0.3,
        state_file: Path | None = None,
        seed: int | None = 7,
        app_secret: str | None = None,
    ) -> RunningSandbox:
        app = create_sandbox_app(
            review_delay=review_delay, state_file=state_file, seed=seed, app_secret=app_secret
        )
        server = make_sandbox_server(app, "127.0.0.1", 0)
        # A short poll interval: shutdown() waits for the loop to notice (0.5 s by default).
        thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="meta-sandbox", daemon=True
        )
        thread.start()
        sandbox = RunningSandbox(server, thread, app.extensions["meta_sandbox"], base_url(server))
        running.append(sandbox)
        return sandbox

    yield start
    for sandbox in running:
        if sandbox.thread.is_alive():
            sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> RunningSandbox:
    """A fresh sandbox (review after 0.3 s, faults seeded)."""
    return start_sandbox()
