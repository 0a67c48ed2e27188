"""Browser steps on adgate's pages: sign in (with a code), watch for CSP violations, and
the checklist's forms and the state of its page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from app.db import transaction
from tests.conftest import PASSWORD, UserFactory
from tools.sandbox_accounts import register_sandbox_accounts

START_URL = re.compile(r"/$")
LOGIN_URL = re.compile(r"/login(\?.*)?$")
CODE_URL = re.compile(r"/login/code$")
ENROL_URL = re.compile(r"/two-factor/enrol$")
CHECKLIST_URL = re.compile(r"/checklists/(\d+)$")

# Chromium reports every blocked load or inline code on the console in these words.
CSP_CONSOLE = re.compile(r"Content Security Policy|Refused to (load|apply|execute|evaluate)", re.I)
# Records the page's own securitypolicyviolation events, from before its first script runs.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def enter_password(page: Page, email: str, password: str = PASSWORD) -> None:
    """The password step: fill in and send the sign-in form, and wait for the page it leads to.

    That page is the start page, the code step, the enrolment, or the form again.
    """
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#submit")


def enter_code(page: Page, code: str) -> None:
    """Send ``code`` in the form of the code step or the enrolment, and wait for the answer."""
    page.fill("input[name=code]", code)
    with page.expect_navigation():
        page.click("#submit")


def sign_in(page: Page, users: UserFactory, email: str, password: str = PASSWORD) -> None:
    """Sign in through the forms: the password, then (if asked for) the account's next code.

    An account without 2FA whose role requires it stays on the enrolment page.
    """
    enter_password(page, email, password)
    if urlsplit(page.url).path == "/login/code":
        two_factor = users.two_factor.get(email.lower())
        assert two_factor is not None, f"{email} has 2FA, but make_user did not enrol it"
        enter_code(page, two_factor.next_code())


def watch_csp(page: Page) -> list[ConsoleMessage]:
    """Record the page's console and its CSP violation events from the next page load on."""
    console: list[ConsoleMessage] = []
    page.on("console", lambda message: console.append(message))
    page.add_init_script(CSP_LISTENER)
    return console


def csp_violations(page: Page, console: list[ConsoleMessage]) -> list[str]:
    """What the page's listener and Chromium's console have reported as CSP violations."""
    seen: list[str] = page.evaluate("window.__cspViolations")
    return seen + [m.text for m in console if CSP_CONSOLE.search(m.text)]


def check_page_under_csp(page: Page, console: list[ConsoleMessage], path: str) -> None:
    """The loaded page reports no CSP violation, and Bootstrap's local CSS and JS work."""
    page.wait_for_load_state("load")
    assert csp_violations(page, console) == [], f"CSP violation on {path}"
    assert page.evaluate("typeof window.bootstrap") == "object", f"no Bootstrap JS on {path}"
    expect(page.locator("nav.navbar")).to_have_css("display", "flex")


@dataclass
class PageProblems:
    """Script errors and failed loads seen by a page (see ``watch_problems``)."""

    script_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)


def watch_problems(page: Page) -> PageProblems:
    """Record the page's uncaught script errors and its responses with an error status."""
    problems = PageProblems()
    page.on("pageerror", lambda error: problems.script_errors.append(str(error)))

    def record_failure(response: Response) -> None:
        # Chromium asks for /favicon.ico on its own; adgate has none, and no page links one.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.failed_responses.append(f"{response.status} {response.url}")

    page.on("response", record_failure)
    return problems


def register_ad_account(app: Flask, account_id: str = "act_1001") -> None:
    """Register one of the sandbox's ad accounts as Meta has it (page, currency, authorization)."""
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, account_id)


def open_menu(page: Page, label: str) -> None:
    """Follow the main navigation's link named ``label`` (an English page)."""
    menu = page.get_by_role("navigation", name="Main navigation")
    with page.expect_navigation():
        menu.get_by_role("link", name=label, exact=True).click()


def save(page: Page, form: str) -> None:
    """Press the submit button of the ``form`` (a selector) and wait for the page it leads to."""
    with page.expect_navigation():
        page.locator(f"{form} [type=submit]").click()


def fill_ad(page: Page, ad: Mapping[str, str]) -> None:
    """Fill in the fields of the ad form (new or edit) by their names: the budget's type and
    the ad account by value, the placements and countries as comma-separated choices (the
    page comes with the account), the image as a file's path."""
    form = page.locator("#checklist-form")
    for name, value in ad.items():
        if name == "budget_type":
            form.locator(f"[name=budget_type][value={value}]").check()
        elif name == "placements":
            chosen = value.split(",")
            for box in form.locator("[name=placements]").all():
                box.set_checked(box.get_attribute("value") in chosen)
        elif name == "image":
            form.locator("[name=image]").set_input_files(value)
        elif name == "countries":
            chosen = [c.strip() for c in value.split(",")]
            for box in form.locator("[name=countries]").all():
                box.set_checked(box.get_attribute("value") in chosen)
        elif name == "ad_account_id":
            form.locator("[name=ad_account_id]").select_option(value)
        elif name == "page_id":
            continue  # the page comes with the ad account chosen
        else:
            form.locator(f"[name={name}]").fill(value)


def create_checklist(page: Page, ad: Mapping[str, str]) -> int:
    """Draft the ad from the list's "New ad" button as the signed-in manager; returns its id."""
    open_menu(page, "Ads")
    page.locator("#new-checklist").click()
    expect(page).to_have_url(re.compile(r"/checklists/new$"))
    fill_ad(page, ad)
    save(page, "#checklist-form")
    expect(page).to_have_url(CHECKLIST_URL)
    match = CHECKLIST_URL.search(page.url)
    assert match is not None
    return int(match.group(1))


def step_statuses(page: Page) -> dict[str, str]:
    """The steps of the loaded checklist page, in their order: name → status."""
    statuses: dict[str, str] = page.locator("#steps tr[data-step]").evaluate_all(
        "rows => Object.fromEntries(rows.map(row => [row.dataset.step, row.dataset.status]))"
    )
    return statuses


def submit_blockers(page: Page) -> list[str]:
    """The steps the loaded checklist page lists as still open under its submit button."""
    names: list[str] = page.locator("#submit-blockers li[data-step]").evaluate_all(
        "items => items.map(item => item.dataset.step)"
    )
    return names


# axe-core's rules for WCAG 2.1 level A and AA (BITV 2.0 refers to WCAG 2.1 AA).
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def assert_accessible(page: Page) -> None:
    """axe-core finds no WCAG 2.1 AA violation on the loaded page."""
    page.wait_for_load_state("load")
    results = Axe().run(page, options=WCAG_21_AA)
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
    ]
    assert found == [], f"{page.url}: {found}"
