"""The whole flow in French and in Italian, in a real browser: a manager who chooses the
language with the switch drafts, classifies and submits an ad; a reviewer whose Swiss
browser asks for it records the identity and approves. Each page says its language in
``<html lang>``, the switch marks it, and the texts are the catalogue's, not English."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from app.models import utcnow
from tests.browser.helpers import (
    CHECKLIST_URL,
    fill_ad,
    register_ad_account,
    save,
    sign_in,
)
from tests.browser.test_checklist import AD, MANAGER, REVIEWER
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

# What the English pages say at the same places: a translated page says none of it.
ENGLISH = {
    "draft": "The ad was saved as a draft.",
    "classified": "The classification was saved.",
    "verified": "The verification was recorded.",
    "approved": "You approved the ad.",
    "queued": "The ad is queued for Meta.",
    "nav": "Ads",
}
# The French catalogue's texts (the Italian ones are only required to differ from English).
FRENCH = {
    "draft": "La publicité a été enregistrée comme brouillon.",
    "classified": "La classification a été enregistrée.",
    "verified": "La vérification a été enregistrée.",
    "approved": "Vous avez approuvé la publicité.",
    "queued": "La publicité est en file d\u2019attente pour Meta.",
    "nav": "Publicités",
}
# The switch's buttons and a Swiss browser of each language.
LANGUAGES = {"fr": ("Français", "fr-CH"), "it": ("Italiano", "it-CH")}


def says(page: Page, where: str, key: str, language: str) -> None:
    """The element ``where`` holds the catalogue's text for ``key`` in ``language``."""
    found = page.locator(where)
    if language == "fr":
        expect(found).to_have_text(FRENCH[key])
    else:
        expect(found).not_to_have_text(ENGLISH[key])
        expect(found).not_to_have_text(FRENCH[key])
        expect(found).not_to_have_text(re.compile(r"^\s*$"))


def in_language(page: Page, language: str) -> None:
    """The loaded page is in ``language``, and the switch marks it as the one chosen."""
    assert page.evaluate("document.documentElement.lang") == language
    name = LANGUAGES[language][0]
    chosen = page.locator(f"#language-switch button[value={language}]")
    expect(chosen).to_have_attribute("lang", language)
    expect(chosen).to_have_attribute("aria-pressed", "true")
    expect(chosen).to_have_text(name)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_a_manager_and_a_reviewer_do_the_whole_flow_in_their_language(
    language: str,
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
) -> None:
    make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    live_app.config["STEP_UP_MAX_AGE_SECONDS"] = 0
    name, swiss = LANGUAGES[language]
    # The manager's browser asks for German; the switch on the sign-in page chooses.
    manager = browser_context(locale="de-CH").new_page()
    manager.goto("/login")
    assert manager.evaluate("document.documentElement.lang") == "de"
    with manager.expect_navigation():
        manager.locator("#language-switch").get_by_role("button", name=name).click()
    in_language(manager, language)
    sign_in(manager, make_user, MANAGER)
    in_language(manager, language)
    # The reviewer's Swiss browser asks for the language itself.
    reviewer = browser_context(locale=swiss).new_page()
    sign_in(reviewer, make_user, REVIEWER)
    in_language(reviewer, language)

    # Drafting: the menu's entry, the list's button, the form, the saved draft.
    ads = "nav a.nav-link[href='/checklists/']"
    says(manager, ads, "nav", language)
    with manager.expect_navigation():
        manager.locator(ads).click()
    manager.locator("#new-checklist").click()
    expect(manager).to_have_url(re.compile(r"/checklists/new$"))
    in_language(manager, language)
    fill_ad(manager, AD)
    save(manager, "#checklist-form")
    expect(manager).to_have_url(CHECKLIST_URL)
    match = CHECKLIST_URL.search(manager.url)
    assert match is not None
    path = f"/checklists/{match.group(1)}"
    says(manager, ".alert-success", "draft", language)
    expect(manager.locator("#state")).to_have_attribute("data-state", "draft")

    # Classified as political, then the 2FA of the Facebook account confirmed.
    manager.locator("#classify").click()
    expect(manager).to_have_url(re.compile(rf"{path}/classification$"))
    in_language(manager, language)
    manager.locator("input[name=category][value=POLITICAL]").check()
    save(manager, "#classification-form")
    says(manager, ".alert-success", "classified", language)
    manager.locator("#attest-confirm").check()
    with manager.expect_navigation():
        manager.locator("#attest").click()
    expect(manager.locator("#attested")).to_be_visible()

    # The reviewer records the manager's Swiss passport.
    reviewer.goto("/reviews/identities")
    in_language(reviewer, language)
    reviewer.locator("select[name=user]").select_option(label=MANAGER)
    reviewer.locator("select[name=document_type]").select_option("passport")
    country = reviewer.locator("select[name=issuing_country]")
    # The country by its name in the page's language (Babel's).
    expect(country.locator("option[value=CH]")).to_have_text(
        {"fr": "Suisse", "it": "Svizzera"}[language]
    )
    country.select_option("CH")
    expires = (utcnow().date() + timedelta(days=3 * 365)).isoformat()
    reviewer.locator("input[name=expires_on]").fill(expires)
    save(reviewer, "#identity-form")
    says(reviewer, ".alert-success", "verified", language)

    # The reviewer approves with a code.
    reviewer.goto(path)
    in_language(reviewer, language)
    reviewer.locator("#approve-form input[name=code]").fill(
        make_user.two_factor[REVIEWER].next_code()
    )
    with reviewer.expect_navigation():
        reviewer.locator("#approve").click()
    says(reviewer, ".alert-success", "approved", language)
    expect(reviewer.locator("#state")).to_have_attribute("data-state", "approved")

    # The manager submits with a code: queued for Meta.
    manager.reload()
    in_language(manager, language)
    expect(manager.locator("#submit-blockers")).to_have_count(0)
    manager.locator("#submit-form input[name=code]").fill(make_user.two_factor[MANAGER].next_code())
    with manager.expect_navigation():
        manager.locator("#submit").click()
    expect(manager).to_have_url(re.compile(rf"{path}$"))
    says(manager, ".alert-success", "queued", language)
    expect(manager.locator("#state")).to_have_attribute("data-state", "queued")
    in_language(manager, language)
