"""The password page in a real browser: the change forced by a password someone else set,
a refused attempt, then the change; axe-core checks it in German and English."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import User
from tests.browser.helpers import START_URL, assert_accessible, sign_in
from tests.conftest import PASSWORD, UserFactory

pytestmark = pytest.mark.browser
EMAIL = "manager@example.org"
PASSWORD_URL = re.compile(r"/account/password$")
LANGUAGES = ("de-DE", "en-US")


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_forced_change_then_the_start_page(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    make_user(EMAIL, "manager")
    two_factor = make_user.two_factor[EMAIL]
    with live_app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == EMAIL)).one()
        user.must_change_password = True  # as if an admin had set it
        db.add(user)
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, EMAIL)
    expect(page).to_have_url(PASSWORD_URL)
    expect(page.locator("#password-change-required")).to_be_visible()
    assert_accessible(page)

    # A wrong current password: the form again, with the error beside the field.
    page.fill("input[name=current_password]", "not my password")
    page.fill("input[name=new_password]", "a passphrase of my own")
    page.fill("input[name=confirm_password]", "a passphrase of my own")
    page.fill("input[name=code]", two_factor.next_code())
    with page.expect_navigation():
        page.click("#submit")
    expect(page).to_have_url(PASSWORD_URL)
    expect(page.locator(".invalid-feedback")).to_have_count(1)
    assert_accessible(page)

    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "a passphrase of my own")
    page.fill("input[name=confirm_password]", "a passphrase of my own")
    page.fill("input[name=code]", two_factor.next_code())
    with page.expect_navigation():
        page.click("#submit")
    expect(page).to_have_url(START_URL)
    expect(page.locator(".alert-success")).to_be_visible()
    assert_accessible(page)
