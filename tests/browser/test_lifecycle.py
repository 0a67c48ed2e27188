"""The ad's page after Meta created it, in a real browser and checked by axe-core in German
and English: approved and paused (started with a code, the keyboard only), delivery issues
and Meta's review in Meta's words, a hold for a person, a throttled account."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import transaction
from app.models import AdAccount, Checklist, Submission, User, utcnow
from app.reviews.service import verify_identity
from tests.browser.helpers import assert_accessible, register_ad_account, sign_in
from tests.browser.test_checklist import MANAGER
from tests.conftest import UserFactory
from workflows.checks import Category
from workflows.machine import State

pytestmark = pytest.mark.browser
LANGUAGES = ("de-DE", "en-US")


def at_meta(app: Flask, owner_id: int, state: str, **submission: Any) -> int:
    """A checklist Meta holds in ``state`` (as the worker leaves it); returns its id."""
    now = utcnow()
    with app.app_context(), transaction() as db:
        checklist = Checklist(
            owner_id=owner_id, title="Abstimmung", state=State(state), page_id="2001",
            ad_account_id="act_1001", message="Am 8. März stimmen Sie ab.", headline="Abstimmung",
            link_url="https://www.musterstadt.ch", countries=["CH"],
            paid_for_by="Stadt Musterstadt", category=Category.POLITICAL,
            facebook_2fa_attested_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        db.add(checklist)
        db.flush()
        assert checklist.id is not None
        db.add(
            Submission(
                checklist_id=checklist.id,
                status=State(state),
                content_hash="0" * 64,
                campaign_id="11",
                adset_id="12",
                creative_id="13",
                ad_id="14",
                sent_at=now,
                **submission,
            )
        )
        return checklist.id


@pytest.mark.parametrize("locale", LANGUAGES)
def test_an_approved_paused_ad_is_started_with_the_keyboard(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    owner = make_user(MANAGER, "manager")
    register_ad_account(live_app)
    live_app.config.update(FOUR_EYES=False, STEP_UP_MAX_AGE_SECONDS=0)
    assert owner.id is not None
    checklist_id = at_meta(live_app, owner.id, "paused", effective_status="PAUSED")

    reviewer = make_user("reviewer@example.org", "reviewer")
    with live_app.app_context(), transaction() as db:  # the identity the start checks again
        manager = db.get(User, owner.id)
        checker = db.get(User, reviewer.id)
        assert manager is not None
        assert checker is not None
        verify_identity(
            db, checker, manager, document_type="passport", issuing_country="CH",
            expires_on=date(2031, 1, 1), now=utcnow(),
        )  # fmt: skip
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, MANAGER)
    page.goto(f"/checklists/{checklist_id}")
    expect(page.locator("#paused-panel")).to_be_visible()
    expect(page.locator("#state")).to_have_attribute("data-state", "paused")
    assert_accessible(page)
    page.locator("#activate-form input[name=code]").focus()
    page.keyboard.type(make_user.two_factor[MANAGER].next_code())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_attribute("data-state", "activating")
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_metas_words_a_hold_and_a_throttle_are_shown_accessibly(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    owner = make_user(MANAGER, "manager")
    register_ad_account(live_app)
    assert owner.id is not None
    issue = {"error_code": 1815869, "error_summary": "Ad not delivering", "level": "AD",
             "error_message": "Add a payment method.", "error_type": "HARD_ERROR"}  # fmt: skip
    with_issues = at_meta(
        live_app, owner.id, "with_issues", effective_status="WITH_ISSUES",
        issues_info=json.dumps([issue]),
    )  # fmt: skip
    rejected = at_meta(
        live_app, owner.id, "rejected", effective_status="DISAPPROVED",
        review_feedback=json.dumps(
            {"global": {"Prohibited content": "No."},
             "placement_specific": {"instagram": {"Text": "Too much text."}}}
        ),
    )  # fmt: skip
    error = {"code": 368, "message": "(#368) The action attempted has been deemed abusive",
             "user_title": "Action Blocked", "fbtrace_id": "abc"}  # fmt: skip
    held = at_meta(live_app, owner.id, "held", error=json.dumps(error))
    queued = at_meta(live_app, owner.id, "queued")
    with live_app.app_context(), transaction() as db:
        account = db.get(AdAccount, "act_1001")
        assert account is not None
        account.meta_throttled_until = utcnow() + timedelta(minutes=3)
        db.add(account)
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, MANAGER)
    for checklist_id, shown in (
        (with_issues, "#issues-info"),
        (rejected, "#review-feedback"),
        (held, "#resume"),
        (queued, "#throttled"),
    ):
        page.goto(f"/checklists/{checklist_id}")
        expect(page.locator(shown)).to_be_visible()
        assert_accessible(page)
    page.goto(f"/checklists/{with_issues}")
    expect(page.locator("#issues-info [lang=en]")).to_contain_text("Ad not delivering")
