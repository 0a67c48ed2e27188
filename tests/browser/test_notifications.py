"""The notification settings in a real browser, by keyboard and mouse: a kind turned off
stays off; axe-core checks the page in German and English, before and after a save, and the
privacy page that lists the mails."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import User
from tests.browser.helpers import assert_accessible, sign_in
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser
EMAIL = "manager@example.org"


@pytest.mark.parametrize("locale", ["de-DE", "en-US"])
def test_a_manager_turns_a_kind_of_mail_off(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    make_user(EMAIL, "manager")
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, EMAIL)
    page.goto("/account/notifications")
    expect(page.locator("input[type=checkbox]")).to_have_count(5)
    assert_accessible(page)
    # By keyboard: focus the box, space unticks it.
    page.focus("#on-meta_outcome")
    page.keyboard.press("Space")
    expect(page.locator("#on-meta_outcome")).not_to_be_checked()
    with page.expect_navigation():
        page.click("#save-notifications")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("#on-meta_outcome")).not_to_be_checked()
    expect(page.locator("#on-approved")).to_be_checked()
    assert_accessible(page)
    with live_app.app_context(), transaction(write=False) as db:
        user = db.scalars(select(User).where(col(User.email) == EMAIL)).one()
        assert user.mail_opt_out == ["meta_outcome"]
    # The privacy page names the mails among what adgate keeps.
    page.goto("/privacy")
    expect(page.locator("#category-mail")).to_be_visible()
    assert_accessible(page)
