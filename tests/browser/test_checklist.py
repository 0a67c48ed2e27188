"""The checklist in a real browser: one ad from draft to the queue, a stale edit, the CSP.

A manager and a reviewer are two people, so each has a browser profile of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Locator, Page, expect

from app.models import utcnow
from tests.app.conftest import CH_AD
from tests.browser.helpers import (
    CHECKLIST_URL,
    check_page_under_csp,
    create_checklist,
    open_menu,
    register_ad_account,
    save,
    sign_in,
    step_statuses,
    submit_blockers,
    watch_csp,
    watch_problems,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

MANAGER = "manager@example.org"
REVIEWER = "reviewer@example.org"
# A Swiss ad (the form's fields); the DSA fields stay empty, as a Swiss ad needs none.
AD = {k: v for k, v in CH_AD.items() if not k.startswith("dsa_")}
# The checklist's steps in the order of its page.
STEPS = [
    "two_factor",
    "identity",
    "classification",
    "disclaimer",
    "jurisdiction",
    "standing",
    "budget",
    "approval",
]


def statuses(**changed: str) -> dict[str, str]:
    """Every step passed, but those named."""
    return {name: changed.get(name, "passed") for name in STEPS}


def ad_field(page: Page, label: str) -> Locator:
    """A field of the ad as the checklist page shows it, by its label."""
    return page.locator(f"#ad dt:text-is('{label}') + dd")


def expect_blocked(page: Page, blockers: list[str], **changed: str) -> None:
    """The loaded checklist page: a disabled submit button with these open steps, in order.

    Disabled by ``aria-disabled`` alone: a keyboard still reaches it, and a screen reader
    reads the open steps as its description.
    """
    button = page.locator("#submit")
    expect(button).to_be_disabled()
    button.focus()
    expect(button).to_be_focused()
    expect(button).to_have_accessible_description(re.compile(r"Still open: .+"))
    assert submit_blockers(page) == blockers
    # The steps in checklist order, each with its status.
    assert list(step_statuses(page).items()) == list(statuses(**changed).items())


def test_one_ad_from_draft_to_the_queue(
    page: Page, new_context: Callable[[], BrowserContext], make_user: UserFactory, live_app: Flask
) -> None:
    make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    # Approving and submitting ask for a code unless one was entered within this many
    # seconds; none is recent enough here, so both steps ask for one.
    live_app.config["STEP_UP_MAX_AGE_SECONDS"] = 0
    manager, reviewer = page, new_context().new_page()
    sign_in(manager, make_user, MANAGER)
    sign_in(reviewer, make_user, REVIEWER)
    alert = manager.locator(".alert-success")

    # The manager drafts the ad: every step that needs someone is open.
    checklist_id = create_checklist(manager, AD)
    path = f"/checklists/{checklist_id}"
    expect(alert).to_have_text("The ad was saved as a draft.")
    expect(manager.locator("#state")).to_have_attribute("data-state", "draft")
    expect(ad_field(manager, "Headline")).to_have_text(AD["headline"])
    expect_blocked(
        manager,
        ["two_factor", "identity", "classification", "jurisdiction", "approval"],
        two_factor="failed",
        identity="pending",
        classification="failed",
        jurisdiction="pending",
        approval="pending",
    )
    expect(manager.locator("#submit-blockers li[data-step=classification]")).to_have_text(
        "Ad classified: The ad is not classified yet."
    )

    # Classified as political: allowed in CH.
    manager.locator("#classify").click()
    expect(manager).to_have_url(re.compile(rf"{path}/classification$"))
    manager.locator("input[name=category][value=POLITICAL]").check()
    save(manager, "#classification-form")
    expect(manager).to_have_url(CHECKLIST_URL)
    expect(alert).to_have_text("The classification was saved.")
    expect(ad_field(manager, "Classification")).to_have_text("Political")
    expect_blocked(
        manager,
        ["two_factor", "identity", "approval"],
        two_factor="failed",
        identity="pending",
        approval="pending",
    )

    # The manager confirms 2FA on the Facebook account.
    manager.locator("#attest-confirm").check()
    with manager.expect_navigation():
        manager.locator("#attest").click()
    expect(manager.locator("#attested")).to_be_visible()
    expect(manager.locator("#attest-form")).to_have_count(0)
    expect_blocked(manager, ["identity", "approval"], identity="pending", approval="pending")

    # Not ready for the reviewer yet: the identity is missing.
    open_menu(reviewer, "Reviews")
    expect(reviewer.locator("#waiting")).to_contain_text(AD["title"])
    expect(reviewer.locator("#waiting")).to_contain_text("Identity verified")
    expect(reviewer.locator("#to-approve a")).to_have_count(0)

    # The reviewer records the manager's Swiss passport.
    open_menu(reviewer, "Identities")
    expect(reviewer).to_have_url(re.compile(r"/reviews/identities$"))
    expires = (utcnow().date() + timedelta(days=3 * 365)).isoformat()
    reviewer.locator("select[name=user]").select_option(label=MANAGER)
    reviewer.locator("select[name=document_type]").select_option("passport")
    reviewer.locator("select[name=issuing_country]").select_option(label="Switzerland")
    reviewer.locator("input[name=expires_on]").fill(expires)
    save(reviewer, "#identity-form")
    expect(reviewer).to_have_url(re.compile(r"/reviews/identities$"))
    expect(reviewer.locator(".alert-success")).to_have_text("The verification was recorded.")
    recorded = reviewer.locator("#identities tbody tr").filter(has_text=MANAGER)
    expect(recorded).to_contain_text(expires)

    manager.reload()
    expect_blocked(manager, ["approval"], approval="pending")

    # The reviewer approves from the queue, with a code.
    open_menu(reviewer, "Reviews")
    reviewer.locator("#to-approve").get_by_role("link", name=AD["title"]).click()
    expect(reviewer).to_have_url(re.compile(rf"{path}$"))
    expect(reviewer.locator("#approve-blockers")).to_have_count(0)
    expect(reviewer.locator("#approve")).to_be_enabled()
    reviewer_code = reviewer.locator("#approve-form input[name=code]")
    expect(reviewer_code).to_be_visible()
    reviewer_code.fill(make_user.two_factor[REVIEWER].next_code())
    with reviewer.expect_navigation():
        reviewer.locator("#approve").click()
    expect(reviewer.locator(".alert-success")).to_have_text("You approved the ad.")
    expect(reviewer.locator("#state")).to_have_attribute("data-state", "approved")
    expect(reviewer.locator("#approve-form")).to_have_count(0)

    # Every step done: the manager's submit button is free, and queues the ad with a code.
    manager.reload()
    expect(manager.locator("#state")).to_have_attribute("data-state", "approved")
    expect(manager.locator("#submit-blockers")).to_have_count(0)
    assert list(step_statuses(manager).items()) == list(statuses().items())
    expect(manager.locator("#submit")).to_be_enabled()
    manager_code = manager.locator("#submit-form input[name=code]")
    expect(manager_code).to_be_visible()
    manager_code.fill(make_user.two_factor[MANAGER].next_code())
    with manager.expect_navigation():
        manager.locator("#submit").click()
    expect(manager).to_have_url(re.compile(rf"{path}$"))
    expect(alert).to_have_text("The ad is queued for Meta.")
    expect(manager.locator("#state")).to_have_attribute("data-state", "queued")
    expect(manager.locator("#submission")).to_have_attribute("data-status", "queued")
    expect(manager.locator("#submission")).to_contain_text("queued")
    # A queued ad is no longer the manager's to change or submit.
    expect(manager.locator("#submit-form")).to_have_count(0)
    expect(manager.locator("#edit")).to_have_count(0)


def test_a_stale_edit_ends_in_a_conflict_that_keeps_the_text(
    context: BrowserContext, page: Page, make_user: UserFactory, live_app: Flask
) -> None:
    make_user(MANAGER, "manager")
    register_ad_account(live_app)
    sign_in(page, make_user, MANAGER)
    checklist_id = create_checklist(page, AD)
    edit_path = f"/checklists/{checklist_id}/edit"
    first, second = page, context.new_page()
    first.goto(edit_path)
    second.goto(edit_path)

    first.locator("#checklist-form [name=headline]").fill("Headline from the first tab")
    save(first, "#checklist-form")
    expect(first).to_have_url(CHECKLIST_URL)
    expect(first.locator(".alert-success")).to_have_text("Saved. Changed: Headline.")

    # The second tab still holds the version before that change: its save is refused, and
    # the conflict page keeps what was typed there next to the current version.
    text = "Text from the second tab,\nwith a second line."
    second.locator("#checklist-form [name=message]").fill(text)
    save(second, "#checklist-form")
    expect(second).to_have_url(re.compile(rf"{edit_path}$"))
    expect(second.locator("#conflict")).to_contain_text(
        "Someone changed this ad while you were editing it."
    )
    expect(second.locator("#checklist-form [name=message]")).to_have_value(text)
    current = second.locator("#current-version")
    expect(current).to_contain_text("Headline from the first tab")
    expect(current).to_contain_text(AD["message"])

    # Saving again replaces the current version with the whole form of the second tab,
    # including the headline it was opened with: the page says so.
    save(second, "#checklist-form")
    expect(second).to_have_url(CHECKLIST_URL)
    expect(second.locator(".alert-success")).to_have_text("Saved. Changed: Ad text, Headline.")
    expect(ad_field(second, "Headline")).to_have_text(AD["headline"])
    expect(ad_field(second, "Ad text")).to_have_text(text)


def test_checklist_pages_load_without_csp_violations(
    page: Page, new_context: Callable[[], BrowserContext], make_user: UserFactory, live_app: Flask
) -> None:
    make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    reviewer = new_context().new_page()
    pages = {page: (watch_csp(page), watch_problems(page))}
    pages[reviewer] = (watch_csp(reviewer), watch_problems(reviewer))
    sign_in(page, make_user, MANAGER)
    sign_in(reviewer, make_user, REVIEWER)

    def check(who: Page, path: str) -> None:
        console, _ = pages[who]
        if not who.url.endswith(path):
            who.goto(path)
        check_page_under_csp(who, console, path)
        assert who.locator("script:not([src])").count() == 0, f"inline script on {path}"
        assert who.locator("style, [style]").count() == 0, f"inline style on {path}"

    check(page, "/checklists/new")
    checklist_id = create_checklist(page, AD)
    path = f"/checklists/{checklist_id}"
    for manager_path in (path, f"{path}/edit", f"{path}/classification"):
        check(page, manager_path)
    for reviewer_path in ("/reviews/", "/reviews/identities", path):
        check(reviewer, reviewer_path)
    expect(reviewer.locator("#review-panel")).to_be_visible()

    for _, problems in pages.values():
        assert problems.script_errors == []
        assert problems.failed_responses == []
