"""The review conversation in a real browser: a comment, a reviewer sending the ad back with
a reason, the owner reading it at the top; axe-core on each page, in English and German."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from tests.app.conftest import CH_AD
from tests.browser.helpers import (
    assert_accessible,
    create_checklist,
    register_ad_account,
    sign_in,
    watch_problems,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

MANAGER = "manager@example.org"
REVIEWER = "reviewer@example.org"
AD = {k: v for k, v in CH_AD.items() if not k.startswith("dsa_")}
REASON = "Der Absender fehlt im Text.\nBitte „Stadt Musterstadt“ ergänzen."


def _send(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.locator(button).click()


def test_a_reviewer_sends_the_ad_back_and_the_owner_reads_why(
    page: Page,
    new_context: Callable[[], BrowserContext],
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
) -> None:
    make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    manager, reviewer = page, new_context().new_page()
    problems = watch_problems(reviewer)
    sign_in(manager, make_user, MANAGER)
    sign_in(reviewer, make_user, REVIEWER)
    checklist_id = create_checklist(manager, AD)
    path = f"/checklists/{checklist_id}"

    # The owner asks a question; the conversation is a list with author, role, time and kind.
    expect(manager.locator("#no-comments")).to_be_visible()
    manager.get_by_label("Your comment").fill("Is the date in the headline right?")
    _send(manager, "#add-comment")
    expect(manager.locator(".alert-success")).to_have_text("Your comment was added.")
    entry = manager.locator("#thread li").first
    expect(entry).to_contain_text("manager@example.org (Ad manager)")
    expect(entry).to_contain_text("Comment")
    expect(entry.locator("time")).to_have_count(1)

    # The reviewer answers and sends the ad back, with a reason of two lines.
    reviewer.goto(path)
    expect(reviewer.get_by_role("heading", name="Conversation")).to_be_visible()
    expect(reviewer.get_by_role("list").filter(has_text="Is the date")).to_have_count(1)
    expect(reviewer.locator("#change-request-form")).to_be_visible()
    assert_accessible(reviewer)
    reviewer.get_by_label("What must change").fill(REASON)
    _send(reviewer, "#request-changes")
    expect(reviewer.locator(".alert-success")).to_have_text(
        "You sent the ad back to its owner for changes."
    )
    expect(reviewer.locator("#thread li[data-kind=change_request]")).to_contain_text(
        "Change request"
    )
    assert_accessible(reviewer)

    # The owner reads the reason at the top of the page, line breaks kept.
    manager.reload()
    notice = manager.locator("#change-request")
    expect(notice.get_by_role("heading", name="Changes requested")).to_be_visible()
    expect(notice).to_contain_text("reviewer@example.org asked for these changes")
    assert manager.locator("#change-request-reason").inner_text() == REASON
    assert_accessible(manager)

    # A form refused for its input is accessible too.
    reviewer.get_by_label("What must change").fill("Bitte\u202eändern")
    _send(reviewer, "#request-changes")
    expect(reviewer.locator("#change-request-form")).to_contain_text(
        "Remove the invisible character U+202E"
    )
    assert_accessible(reviewer)

    # The same pages in German.
    german = browser_context(locale="de-DE").new_page()
    sign_in(german, make_user, REVIEWER)
    german.goto(path)
    expect(german.get_by_role("heading", name="Unterhaltung")).to_be_visible()
    expect(german.locator("#change-request")).to_contain_text("Änderungen verlangt")
    expect(german.locator("#thread")).to_contain_text("Änderungswunsch")
    expect(german.get_by_label("Was geändert werden muss")).to_be_visible()
    assert_accessible(german)
    assert problems.script_errors == []
