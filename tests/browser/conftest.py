"""Browser fixtures: adgate served on a free loopback port, driven by Debian's Chromium."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from app.db import alembic_config
from tests.conftest import UserFactory, make_test_app, require_or_skip

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Short enough that a broken page fails the test quickly, long enough for a slow CI runner.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session, started and stopped with Playwright."""
    require_or_skip(CHROMIUM.exists(), f"Chromium ({CHROMIUM})")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    """A migrated app on a SQLite file of its own."""
    url = f"sqlite:///{tmp_path / 'adgate.sqlite3'}"
    app = make_test_app(url, tmp_path / "instance")
    command.upgrade(alembic_config(url), "head")
    yield app
    app.extensions["adgate.db"].dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[str]:
    """``live_app`` served by Werkzeug on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="adgate-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def make_user(live_app: Flask) -> UserFactory:
    """Create accounts in the served app: ``make_user("a@example.org", "admin")``."""
    return UserFactory(live_app)


def _new_context(browser: Browser, base_url: str, locale: str = "en-US") -> BrowserContext:
    ctx = browser.new_context(base_url=base_url, locale=locale)
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) speaking English, with relative URLs on the server."""
    ctx = _new_context(browser, live_server)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def new_context(browser: Browser, live_server: str) -> Iterator[Callable[[], BrowserContext]]:
    """More profiles like ``context``, one per person of a test: ``new_context().new_page()``."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        contexts.append(_new_context(browser, live_server))
        return contexts[-1]

    try:
        yield make
    finally:
        for ctx in contexts:
            ctx.close()


@pytest.fixture
def browser_context(browser: Browser, live_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Profiles in a language of the test's choice: ``browser_context(locale="de-DE")``."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-US") -> BrowserContext:
        contexts.append(_new_context(browser, live_server, locale))
        return contexts[-1]

    try:
        yield make
    finally:
        for ctx in contexts:
            ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in this test's own browser context."""
    return context.new_page()
