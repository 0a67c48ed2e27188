"""The page shell in a real browser: sign-in (with 2FA), sign-out, language, error page, CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    CODE_URL,
    LOGIN_URL,
    START_URL,
    check_page_under_csp,
    csp_violations,
    enter_code,
    enter_password,
    sign_in,
    watch_csp,
    watch_problems,
)
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser


def switch_language(page: Page, code: str) -> None:
    """Press a button of the language switch and wait for the page it leads back to."""
    with page.expect_navigation():
        page.click(f"#language-switch button[name=lang][value={code}]")


def test_login_lands_on_start_page(page: Page, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    sign_in(page, make_user, "manager@example.org")
    expect(page).to_have_url(START_URL)
    expect(page.locator("#signed-in-as")).to_contain_text("manager@example.org")
    expect(page.locator("#logout")).to_be_visible()


def test_wrong_password_shows_error(page: Page, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    sign_in(page, make_user, "manager@example.org", "not the right password")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator(".alert-danger")).to_have_text(
        "Wrong e-mail address or password, or the account is locked for a while "
        "after too many failed attempts."
    )
    expect(page.locator("#signed-in-as")).to_have_count(0)


def test_logout_ends_the_login_on_the_server(page: Page, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    sign_in(page, make_user, "manager@example.org")
    expect(page.locator("#signed-in-as")).to_be_visible()
    session_cookie = next(c for c in page.context.cookies() if c["name"] == "adgate_session")

    page.click("#logout")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator(".alert-info")).to_have_text("You have signed out.")
    expect(page.locator("#signed-in-as")).to_have_count(0)

    page.goto("/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("h1")).to_have_text("Sign in to adgate")

    # The cookie of the ended login, replayed, opens nothing: the login is over on the server.
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": "adgate_session", "value": session_cookie["value"], "url": page.url}]
    )
    page.goto("/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("#signed-in-as")).to_have_count(0)


def test_language_switch(page: Page) -> None:
    html = page.locator("html")
    page.goto("/login")

    switch_language(page, "en")
    expect(page).to_have_url(LOGIN_URL)
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("#language-switch button[value=en]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#language-switch button[value=de]")).not_to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("h1")).to_have_text("Sign in to adgate")

    switch_language(page, "de")
    expect(page).to_have_url(LOGIN_URL)
    expect(html).to_have_attribute("lang", "de")
    expect(page.locator("#language-switch button[value=de]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#language-switch button[value=en]")).not_to_have_attribute(
        "aria-pressed", "true"
    )

    # The choice sticks to the browser's session, whatever its Accept-Language says.
    page.goto("/login")
    expect(html).to_have_attribute("lang", "de")


def test_german_login_heading_is_translated(page: Page) -> None:
    """Needs the compiled German catalog (``make test`` builds it from the .po file)."""
    page.goto("/login")
    switch_language(page, "en")
    english = page.locator("h1").inner_text()
    switch_language(page, "de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    german = page.locator("h1")
    expect(german, "no German translation: is app/translations/de compiled?").not_to_have_text(
        english
    )


def test_manager_gets_the_403_page(page: Page, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    sign_in(page, make_user, "manager@example.org")
    expect(page.locator("#signed-in-as")).to_be_visible()

    response = page.goto("/admin/users")
    assert response is not None
    assert response.status == 403
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error h1")).to_contain_text("403")
    expect(page.locator("#accounts")).to_have_count(0)


def test_admin_sees_the_accounts(page: Page, make_user: UserFactory) -> None:
    make_user("admin@example.org", "admin")
    make_user("manager@example.org", "manager")
    sign_in(page, make_user, "admin@example.org")
    expect(page.locator("#signed-in-as")).to_be_visible()

    response = page.goto("/admin/users")
    assert response is not None
    assert response.status == 200
    accounts = page.locator("#accounts")
    expect(accounts).to_be_visible()
    expect(accounts).to_contain_text("admin@example.org")
    expect(accounts).to_contain_text("manager@example.org")
    expect(page.locator("#error")).to_have_count(0)


def test_pages_load_without_csp_violations(page: Page, make_user: UserFactory) -> None:
    make_user("manager@example.org", "manager")
    console = watch_csp(page)
    problems = watch_problems(page)

    page.goto("/login")
    check_page_under_csp(page, console, "/login")
    enter_password(page, "manager@example.org")
    expect(page).to_have_url(CODE_URL)
    check_page_under_csp(page, console, "/login/code")
    enter_code(page, make_user.two_factor["manager@example.org"].next_code())
    expect(page).to_have_url(START_URL)
    check_page_under_csp(page, console, "/")

    assert problems.script_errors == []
    assert problems.failed_responses == []


def test_csp_violations_are_detected(page: Page) -> None:
    """The CSP check above is not blind: an inline script is refused and reported."""
    console = watch_csp(page)
    page.goto("/login")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true;";
          document.body.append(script);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__inlineRan === undefined")
    assert any("script-src" in v for v in csp_violations(page, console))
