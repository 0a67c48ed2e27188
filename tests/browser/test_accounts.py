"""The accounts and invitation pages in a real browser: one admin invites a reviewer, who sets
their own password from the mail's link and enrols 2FA, then waits for a second person, who
confirms it; axe-core checks each state in German and English."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.auth import totp
from app.models import utcnow
from tests.app.invite import PASSWORD_OF_INVITEE, mail_on, token_of
from tests.browser.helpers import START_URL, assert_accessible, sign_in
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser
LANGUAGES = ("de-DE", "en-US")
NEW = "new-reviewer@example.org"


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_reviewer_invited_by_one_admin_is_confirmed_by_a_second(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    make_user("admin@example.org", "admin")
    make_user("reviewer@example.org", "reviewer")
    admin = browser_context(locale=locale).new_page()
    sign_in(admin, make_user, "admin@example.org")
    expect(admin).to_have_url(START_URL)
    # The admin invites (the accounts page sets no passwords); the pending invitation is listed.
    mail_on(live_app)
    admin.goto("/admin/users")
    with admin.expect_navigation():
        admin.click("#invite-link")
    expect(admin.locator("#invitations")).to_be_visible()
    with admin.expect_navigation():
        admin.click("#invite #submit")  # empty: every error at once, with the summary focused
    expect(admin.locator("#email")).to_have_attribute("aria-invalid", "true")
    assert_accessible(admin)
    admin.fill("#invite input[name=email]", NEW)
    admin.select_option("#invite select[name=role]", "reviewer")
    admin.select_option("#invite select[name=locale]", locale[:2])
    with admin.expect_navigation():
        admin.click("#invite #submit")
    expect(admin.locator(".alert-success")).to_contain_text(NEW)
    row = admin.locator("#invitations tr", has_text=NEW)
    expect(row).to_contain_text("admin@example.org")
    assert_accessible(admin)

    # The invited person: the mail's link, their own password (a mismatch first), then 2FA.
    person = browser_context(locale=locale).new_page()
    person.goto(f"/invitation/open?token={token_of(live_app, NEW)}")
    expect(person).to_have_url(re.compile(r"/invitation$"))
    expect(person.locator("main")).to_contain_text("admin@example.org")
    assert_accessible(person)
    person.fill("input[name=new_password]", PASSWORD_OF_INVITEE)
    person.fill("input[name=confirm_password]", "something else entirely")
    with person.expect_navigation():
        person.click("#submit")
    expect(person.locator("#confirm_password")).to_have_attribute("aria-invalid", "true")
    assert_accessible(person)
    person.fill("input[name=new_password]", PASSWORD_OF_INVITEE)
    person.fill("input[name=confirm_password]", PASSWORD_OF_INVITEE)
    with person.expect_navigation():
        person.click("#submit")
    expect(person).to_have_url(re.compile(r"/two-factor/enrol$"))
    secret = person.locator("#totp-secret").inner_text()
    person.fill("input[name=code]", totp.code_at(secret, totp.time_step(utcnow())))
    with person.expect_navigation():
        person.click("#submit")
    # The link works once: the same page for a used link as for any other dead one.
    dead = browser_context(locale=locale).new_page()
    dead.goto(f"/invitation/open?token={'x' * 43}")
    expect(dead.locator("#invitation-void")).to_be_visible()
    assert_accessible(dead)

    admin.goto("/admin/users")
    row = admin.locator("#accounts tr", has_text=NEW)
    expect(row.locator(".awaiting-confirmation")).to_be_visible()
    # The admin who invited it is offered nothing to confirm.
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
