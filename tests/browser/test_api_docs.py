"""The interactive API page renders the OpenAPI document under the CSP, without a CDN."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import csp_violations, watch_csp, watch_problems

pytestmark = pytest.mark.browser


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_the_api_page_lists_every_operation(page: Page, live_server: str) -> None:
    console = watch_csp(page)
    problems = watch_problems(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    # One block per operation of the OpenAPI document the page reads.
    spec = page.request.get("/api/v1/openapi.json").json()
    operations = sum(
        1 for item in spec["paths"].values() for method in item if method in HTTP_METHODS
    )
    assert operations >= 18
    assert page.locator(".opblock").count() == operations
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/checklists/{checklist_id}/submit")
    ).to_have_count(1)
    assert csp_violations(page, console) == []
    assert problems.script_errors == []
    assert problems.failed_responses == []
    assert all(url.startswith(live_server) for url in requested), requested
