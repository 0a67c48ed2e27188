"""The ad's form in a real browser, in German and English: a refused submit shows every
error in a summary that takes the focus, its links lead to the fields, the invalid fields
say so to assistive technology, and axe-core finds no WCAG 2.1 AA violation; the checklist
page with its preview and the withdrawal's confirmation pass axe-core too."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from tests.browser.helpers import (
    CHECKLIST_URL,
    assert_accessible,
    csp_violations,
    fill_ad,
    register_ad_account,
    save,
    sign_in,
    watch_csp,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser
MANAGER = "manager@example.org"


@pytest.mark.parametrize("locale", ["de-DE", "en-US"])
def test_a_refused_ad_form_focuses_its_error_summary(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    make_user(MANAGER, "manager")
    register_ad_account(live_app)
    page = browser_context(locale=locale).new_page()
    console = watch_csp(page)
    sign_in(page, make_user, MANAGER)
    page.goto("/checklists/new")
    assert_accessible(page)
    fill_ad(page, {"title": "Abstimmung", "link_url": "ftp://example.org"})
    for box in page.locator("[name=placements]").all():
        box.set_checked(False)
    save(page, "#checklist-form")

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    links = summary.locator("a")
    expect(links).to_have_count(6)  # one round: every field at once
    for name in ("ad_account_id", "headline", "message", "link_url", "countries", "placements"):
        expect(summary.locator(f"a[data-field={name}]")).to_have_count(1)
    headline = page.locator("#headline")
    expect(headline).to_have_attribute("aria-invalid", "true")
    expect(headline).to_have_attribute("aria-describedby", "headline-error")
    expect(page.locator("#countries-0")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    assert csp_violations(page, console) == []

    # A link of the summary takes the focus to its field.
    summary.locator("a[data-field=countries]").click()
    expect(page.locator("#countries-0")).to_be_focused()

    # Corrected, the ad is saved; its page (with the preview) passes axe-core.
    fill_ad(page, {"ad_account_id": "act_1001", "headline": "Volksabstimmung",
                   "message": "Am 8. März stimmen Sie ab.", "link_url": "https://example.org",
                   "countries": "CH", "placements": "facebook,instagram",
                   "paid_for_by": "Stadt Musterstadt"})  # fmt: skip
    save(page, "#checklist-form")
    expect(page).to_have_url(CHECKLIST_URL)
    label = "Finanziert durch" if locale == "de-DE" else "Paid for by"
    expect(page.locator("#preview-label")).to_contain_text(f"{label} Stadt Musterstadt")
    assert_accessible(page)

    # Withdrawing asks first; without a reason the summary takes the focus again.
    with page.expect_navigation():
        page.locator("#withdraw").click()
    assert_accessible(page)
    save(page, "#withdraw-form")
    expect(page.locator("#error-summary")).to_be_focused()
    assert_accessible(page)


@pytest.mark.parametrize(("locale", "name"), [("de-DE", "Schweiz"), ("en-US", "Switzerland")])
def test_the_identity_form_chooses_the_country_by_its_name(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    locale: str,
    name: str,
) -> None:
    make_user(MANAGER, "manager")
    make_user("reviewer@example.org", "reviewer")
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, "reviewer@example.org")
    page.goto("/reviews/identities")
    save(page, "#identity-form")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#issuing_country")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    page.locator("select[name=user]").select_option(label=MANAGER)
    page.locator("select[name=issuing_country]").select_option(label=name)
    page.locator("input[name=expires_on]").fill("2031-01-01")
    save(page, "#identity-form")
    expect(page.locator("#identities")).to_contain_text(f"{name} (CH)")
    assert_accessible(page)
