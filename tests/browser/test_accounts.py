"""The accounts page in a real browser: a reviewer one admin creates waits for a second
person, who confirms it there; axe-core checks each state in German and English."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.helpers import START_URL, assert_accessible, sign_in
from tests.conftest import PASSWORD, UserFactory

pytestmark = pytest.mark.browser
LANGUAGES = ("de-DE", "en-US")
NEW = "new-reviewer@example.org"


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_reviewer_made_by_one_admin_is_confirmed_by_a_second(
    browser_context: Callable[..., BrowserContext], make_user: UserFactory, locale: str
) -> None:
    make_user("admin@example.org", "admin")
    make_user("reviewer@example.org", "reviewer")
    admin = browser_context(locale=locale).new_page()
    sign_in(admin, make_user, "admin@example.org")
    expect(admin).to_have_url(START_URL)
    admin.goto("/admin/users")
    admin.fill("input[name=email]", NEW)
    admin.select_option("select[name=role]", "reviewer")
    admin.fill("input[name=password]", PASSWORD)
    with admin.expect_navigation():
        admin.click("#submit")
    row = admin.locator("#accounts tr", has_text=NEW)
    expect(row.locator(".awaiting-confirmation")).to_be_visible()
    # The admin who created it is offered nothing to confirm.
    expect(admin.locator("#confirm-account")).to_have_count(0)
    assert_accessible(admin)

    # A confirmed reviewer sees the accounts that wait, and confirms this one.
    reviewer = browser_context(locale=locale).new_page()
    sign_in(reviewer, make_user, "reviewer@example.org")
    reviewer.goto("/admin/users")
    expect(reviewer.locator("#accounts")).to_contain_text(NEW)
    expect(reviewer.locator("#accounts")).not_to_contain_text("admin@example.org")
    assert_accessible(reviewer)
    reviewer.select_option(
        "#confirm-account select[name=user]",
        label=f"{NEW} ({'Prüfer:in' if locale == 'de-DE' else 'Reviewer'})",
    )
    with reviewer.expect_navigation():
        reviewer.click("#confirm")
    expect(reviewer.locator(".alert-success")).to_contain_text(NEW)
    expect(reviewer.locator(".awaiting-confirmation")).to_have_count(0)
    assert_accessible(reviewer)

    admin.goto("/admin/users")
    expect(
        admin.locator("#accounts tr", has_text=NEW).locator(".awaiting-confirmation")
    ).to_have_count(0)
