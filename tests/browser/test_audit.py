"""The auditors' workspace in a real browser: filter, timeline, export, verification."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.auditors import evidence
from tests.app.conftest import CH_AD
from tests.browser.helpers import (
    check_page_under_csp,
    create_checklist,
    open_menu,
    register_ad_account,
    save,
    sign_in,
    watch_csp,
    watch_problems,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

AD = {k: v for k, v in CH_AD.items() if not k.startswith("dsa_")}


def test_an_auditor_filters_opens_a_timeline_exports_and_verifies(
    page: Page,
    new_context: Callable[[], BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    tmp_path: Path,
) -> None:
    make_user("manager@example.org", "manager")
    make_user("auditor@example.org", "auditor")
    register_ad_account(live_app)
    manager = new_context().new_page()
    sign_in(manager, make_user, "manager@example.org")
    first = create_checklist(manager, AD)
    create_checklist(manager, {**AD, "title": "Another ad"})

    problems = watch_problems(page)
    console = watch_csp(page)
    sign_in(page, make_user, "auditor@example.org")
    open_menu(page, "Audit log")
    check_page_under_csp(page, console, "/audit/")

    # Filter by the first ad: only its events remain, each linking to its timeline.
    page.get_by_label("Ad (checklist number)").fill(str(first))
    save(page, "#audit-filter")
    expect(page).to_have_url(re.compile(rf"/audit/\?checklist={first}"))
    rows = page.locator("#audit-events tbody tr")
    expect(rows.first).to_contain_text("Ad created")
    links = page.locator("#audit-events a.timeline-link")
    assert links.count() == rows.count() >= 1
    assert set(links.all_inner_texts()) == {f"Ad {first}"}

    # The timeline: the ad's history, oldest first, with who did it.
    with page.expect_navigation():
        links.first.click()
    expect(page.locator("h1")).to_contain_text(f"History of ad {first}")
    events = page.locator("#timeline li.timeline-event")
    expect(events.first).to_contain_text("Ad created")
    expect(events.first).to_contain_text("manager@example.org")

    # Export the filtered view: a ZIP whose manifest verifies.
    page.go_back()
    with page.expect_download() as download_info:
        page.locator("#audit-export a", has_text="CSV").click()
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    report = evidence.check_export(target)
    assert report.ok, report.problems
    assert report.events == rows.count()
    assert report.manifest["filters"] == {"checklist": first}

    # Verify the chain from the integrity tab; the page follows the run to its end.
    with page.expect_navigation():
        page.locator("#audit-tabs a", has_text="Integrity").click()
    with page.expect_navigation():
        page.locator("#verify-now").click()
    run = page.locator("tr.verification-run").first
    expect(run.locator(".result")).to_have_text("intact: every event verified")
    expect(run).to_have_attribute("data-status", "ok")
    check_page_under_csp(page, console, "/audit/integrity")
    assert problems.script_errors == []
    assert problems.failed_responses == []
