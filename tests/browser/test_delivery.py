"""Budget, schedule, placements and image on the ad's pages, and Meta's authorization of a
page on the admin's page: in a real browser, checked by axe-core in German and English."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.models import utcnow
from tests.browser.helpers import (
    CHECKLIST_URL,
    assert_accessible,
    fill_ad,
    register_ad_account,
    save,
    sign_in,
    step_statuses,
)
from tests.browser.test_checklist import AD, MANAGER, REVIEWER
from tests.conftest import UserFactory, png

pytestmark = pytest.mark.browser
ADMIN = "admin@example.org"
LANGUAGES = ("de-DE", "en-US")


def tab_to(page: Page, selector: str, most: int = 12) -> None:
    """Press Tab until the element ``selector`` has the focus (a date field takes several)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def in_language(new_context: Callable[..., BrowserContext], locale: str) -> Page:
    """A tab of a new profile whose browser asks for ``locale``."""
    return new_context(locale=locale).new_page()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_budget_schedule_placements_and_image_on_the_ads_pages(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    tmp_path: Path,
    locale: str,
) -> None:
    make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    manager = in_language(browser_context, locale)
    sign_in(manager, make_user, MANAGER)
    manager.goto("/checklists/new")
    assert_accessible(manager)

    image = tmp_path / "plakat.png"
    image.write_bytes(png(1200, 628))
    start = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    end = (utcnow() + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    fill_ad(
        manager,
        {
            **AD,
            "budget_amount": "80.00",
            "start_time": start,
            "end_time": end,
            "budget_type": "lifetime",
            "placements": "instagram",
            "image": str(image),
        },
    )
    save(manager, "#checklist-form")
    match = CHECKLIST_URL.search(manager.url)
    assert match is not None, manager.url
    checklist_id = int(match.group(1))
    # The amount as the page's language writes it: a decimal comma in German.
    amount = "80,00 CHF" if locale.startswith("de") else "80.00 CHF"
    expect(manager.locator("#budget")).to_contain_text(amount)
    expect(manager.locator("#placements")).to_have_text("Instagram")
    expect(manager.locator("#image img")).to_be_visible()
    assert step_statuses(manager)["budget"] == "passed"
    assert_accessible(manager)

    # The reviewer sees the image the ad will carry.
    reviewer = in_language(browser_context, locale)
    sign_in(reviewer, make_user, REVIEWER)
    reviewer.goto(f"/checklists/{checklist_id}")
    loaded = reviewer.locator("#image img").evaluate("img => img.complete && img.naturalWidth")
    assert loaded == 1200

    # Too small a budget for Meta is shown on the field's step, in the page's language.
    manager.goto(f"/checklists/{checklist_id}/edit")
    assert_accessible(manager)
    manager.fill("input[name=budget_amount]", "0.50")
    manager.locator("input[name=budget_type][value=daily]").check()
    manager.fill("input[name=end_time]", "")
    save(manager, "#checklist-form")
    expect(manager).to_have_url(re.compile(rf"/checklists/{checklist_id}$"))
    assert step_statuses(manager)["budget"] == "failed"
    assert_accessible(manager)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_an_admin_records_metas_authorization_of_a_page_with_the_keyboard(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    make_user(ADMIN, "admin")
    register_ad_account(live_app, "act_1002")
    live_app.config["STEP_UP_MAX_AGE_SECONDS"] = 0
    admin = in_language(browser_context, locale)
    sign_in(admin, make_user, ADMIN)
    admin.goto("/admin/ad-accounts")
    assert_accessible(admin)
    admin.locator("#ad-accounts a", has_text="act_1002").click()
    expect(admin).to_have_url(re.compile(r"/admin/ad-accounts/act_1002$"))
    expect(admin.locator("#no-authorization")).to_be_visible()
    assert_accessible(admin)

    # Keyboard only: Tab from field to field, Enter sends the form.
    admin.locator("#authorize-form select[name=country]").focus()
    tab_to(admin, "#authorize-form [name=disclaimer]")
    admin.keyboard.type("Gemeinde Beispielhausen")
    tab_to(admin, "#authorize-form [name=evidence]")
    admin.keyboard.type("Page settings at Meta, seen on 2026-12-01 with the page admin")
    tab_to(admin, "#authorize-form [name=code]")
    admin.keyboard.type(make_user.two_factor[ADMIN].next_code())
    with admin.expect_navigation():
        admin.keyboard.press("Enter")
    row = admin.locator("#authorizations tr[data-country=CH]")
    expect(row).to_contain_text("Gemeinde Beispielhausen")
    expect(row).to_contain_text(ADMIN)
    assert_accessible(admin)

    with admin.expect_navigation():
        row.get_by_role("button", name=re.compile("CH")).click()
    expect(admin.locator("#no-authorization")).to_be_visible()
