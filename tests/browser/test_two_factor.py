"""Two-factor authentication in a real browser: enrolment, the code step, recovery codes.

The tests read the key from the enrolment page as a person would type it into an
authenticator app, and compute the app's codes with ``app.auth.totp``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.auth import totp
from app.models import utcnow
from tests.browser.helpers import (
    CODE_URL,
    ENROL_URL,
    LOGIN_URL,
    START_URL,
    check_page_under_csp,
    enter_code,
    enter_password,
    watch_csp,
    watch_problems,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

EMAIL = "manager@example.org"
# The enrolment promises ten recovery codes.
RECOVERY_CODES = 10
REPLAYED = "This code has been used already. Please wait for the next one."
RECOVERY_REFUSED = "This recovery code is not valid or has been used already."
_SVG_PATH = re.compile(r'<path[^>]* d="([^"]+)"')


@dataclass(frozen=True)
class Enrolled:
    """What the enrolment gave the user: the key, the step it was confirmed with, the codes."""

    secret: str
    step: int
    recovery_codes: list[str]


def current_step() -> int:
    return totp.time_step(utcnow())


def enrol_from_page(page: Page) -> Enrolled:
    """On the enrolment page: read the key, send the app's current code, read the recovery codes."""
    expect(page).to_have_url(ENROL_URL)
    secret = page.locator("#totp-secret").inner_text().strip()
    step = current_step()
    enter_code(page, totp.code_at(secret, step))
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(RECOVERY_CODES)
    return Enrolled(secret, step, [code.strip() for code in codes.all_inner_texts()])


def continue_to_start_page(page: Page) -> None:
    """Leave the recovery codes page by its link, signed in."""
    page.locator("#recovery-codes-continue").click()
    expect(page).to_have_url(START_URL)
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)


def sign_out(page: Page) -> None:
    page.click("#logout")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("#signed-in-as")).to_have_count(0)


def test_enrolment_from_the_page_then_sign_in_with_a_code(
    page: Page, make_user: UserFactory
) -> None:
    make_user(EMAIL, "manager", enrolled=False)
    enter_password(page, EMAIL)
    expect(page).to_have_url(ENROL_URL)
    expect(page.locator("#signed-in-as")).to_have_count(0)

    enrolled = enrol_from_page(page)
    # The right code ends the sign-in: the recovery codes page is shown to a signed-in user.
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)
    assert len(set(enrolled.recovery_codes)) == RECOVERY_CODES
    continue_to_start_page(page)
    sign_out(page)

    enter_password(page, EMAIL)
    expect(page).to_have_url(CODE_URL)
    # The code that confirmed the enrolment does not sign in again: it has been used.
    enter_code(page, totp.code_at(enrolled.secret, enrolled.step))
    expect(page).to_have_url(CODE_URL)
    expect(page.locator(".invalid-feedback")).to_have_text(REPLAYED)
    expect(page.locator("#signed-in-as")).to_have_count(0)

    # The app's code of another step, within the server's window of ±1 step, does.
    step = max(enrolled.step + 1, current_step())
    enter_code(page, totp.code_at(enrolled.secret, step))
    expect(page).to_have_url(START_URL)
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)


def test_a_recovery_code_signs_in_once(page: Page, make_user: UserFactory) -> None:
    make_user(EMAIL, "manager", enrolled=False)
    enter_password(page, EMAIL)
    enrolled = enrol_from_page(page)
    continue_to_start_page(page)
    sign_out(page)
    first, second = enrolled.recovery_codes[:2]

    enter_password(page, EMAIL)
    expect(page).to_have_url(CODE_URL)
    enter_code(page, first)
    expect(page).to_have_url(START_URL)
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)
    expect(page.locator(".alert-warning")).to_contain_text("recovery code")
    sign_out(page)

    enter_password(page, EMAIL)
    expect(page).to_have_url(CODE_URL)
    enter_code(page, first)
    expect(page).to_have_url(CODE_URL)
    expect(page.locator(".invalid-feedback")).to_have_text(RECOVERY_REFUSED)
    expect(page.locator("input[name=code]")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#signed-in-as")).to_have_count(0)

    # Only the used code is spent: another one from the list still signs in.
    enter_code(page, second)
    expect(page).to_have_url(START_URL)
    expect(page.locator("#signed-in-as")).to_contain_text(EMAIL)


def test_enrolment_pages_load_without_csp_violations(
    page: Page, make_user: UserFactory, live_app: Flask
) -> None:
    """The QR code is an inline SVG: no inline script or style, nothing the CSP refuses."""
    make_user(EMAIL, "manager", enrolled=False)
    console = watch_csp(page)
    problems = watch_problems(page)

    enter_password(page, EMAIL)
    expect(page).to_have_url(ENROL_URL)
    check_page_under_csp(page, console, "/two-factor/enrol")
    assert page.locator("script:not([src])").count() == 0, "inline script on the enrol page"
    assert page.locator("style, [style]").count() == 0, "inline style on the enrol page"

    qr = page.locator("figure.qr-code svg")
    expect(qr).to_be_visible()
    # Its white margin comes from adgate.css, not from a style attribute.
    expect(qr).to_have_css("background-color", "rgb(255, 255, 255)")
    # The QR code holds the key shown as text (the otpauth:// URI of this account).
    secret = page.locator("#totp-secret").inner_text().strip()
    uri = totp.provisioning_uri(secret, EMAIL, live_app.config["TWO_FACTOR_ISSUER"])
    expected = _SVG_PATH.search(totp.qr_svg(uri, "QR"))
    assert expected is not None
    assert qr.locator("path").get_attribute("d") == expected.group(1)

    enrol_from_page(page)
    check_page_under_csp(page, console, "the recovery codes page")

    assert problems.script_errors == []
    assert problems.failed_responses == []
