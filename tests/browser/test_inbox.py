"""In a real browser, checked by axe-core in German and English: each role's inbox with the
navigation's count, an ad refused where it targets, the form's warning before saving, and
the checklist page following an ad in flight without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect

from app.db import transaction
from app.models import Checklist, User, utcnow
from app.reviews import requests
from app.reviews.service import verify_identity
from tests.app.conftest import CH_AD
from tests.browser.helpers import (
    assert_accessible,
    check_page_under_csp,
    csp_violations,
    fill_ad,
    register_ad_account,
    save,
    sign_in,
    watch_csp,
    watch_problems,
)
from tests.browser.test_lifecycle import at_meta
from tests.conftest import UserFactory
from workflows.machine import State

pytestmark = pytest.mark.browser
LANGUAGES = ("de-DE", "en-US")
MANAGER, REVIEWER = "manager@example.org", "reviewer@example.org"
EU_AD = {**CH_AD, "countries": "DE", "dsa_payor": "Stadt X", "dsa_beneficiary": "Stadt X"}


def _draft(app: Flask, owner_id: int, **changes: Any) -> int:
    """A draft as the form saves it, classified political and attested; returns its id."""
    now = utcnow()
    fields: dict[str, Any] = {
        "owner_id": owner_id, "title": "Abstimmung", "state": "draft", "page_id": "2001",
        "ad_account_id": "act_1001", "message": CH_AD["message"], "headline": CH_AD["headline"],
        "link_url": CH_AD["link_url"], "countries": "CH", "paid_for_by": "Stadt Musterstadt",
        "category": "POLITICAL", "facebook_2fa_attested_at": now, "created_at": now,
        "updated_at": now, **changes,
    }  # fmt: skip
    if isinstance(fields["countries"], str):  # a JSON list of codes since 0014
        fields["countries"] = fields["countries"].split(",")
    with app.app_context(), transaction() as db:
        checklist = Checklist(**fields)
        db.add(checklist)
        db.flush()
        assert checklist.id is not None
        return checklist.id


def _verify(app: Flask, reviewer: User, person: User, country: str = "CH") -> None:
    with app.app_context(), transaction() as db:
        checker, owner = db.get(User, reviewer.id), db.get(User, person.id)
        assert checker is not None
        assert owner is not None
        verify_identity(
            db, checker, owner, document_type="passport", issuing_country=country,
            expires_on=utcnow().date().replace(year=utcnow().year + 5), now=utcnow(),
        )  # fmt: skip


@pytest.mark.parametrize("locale", LANGUAGES)
def test_each_roles_inbox_counts_what_waits_accessibly(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    owner = make_user(MANAGER, "manager")
    reviewer = make_user(REVIEWER, "reviewer")
    make_user("auditor@example.org", "auditor")
    make_user("admin@example.org", "admin")
    register_ad_account(live_app)
    assert owner.id is not None
    ready = _draft(live_app, owner.id, title="Bereit")
    _draft(live_app, owner.id, title="Braucht LI", countries="CH,LI")
    _draft(live_app, owner.id, title="Nicht eingestuft", category=None)
    _verify(live_app, reviewer, owner)
    with live_app.test_request_context(), transaction() as db:
        manager = db.get(User, owner.id)
        assert manager is not None
        asked = requests.ask(db, manager, "LI", utcnow())

    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, REVIEWER)
    page.goto("/")
    expect(page.locator("#inbox")).to_have_attribute("data-count", "2")
    expect(page.locator("#inbox-count")).to_have_text("2")
    waiting = "2 warten" if locale == "de-DE" else "2 waiting"
    expect(page.locator("nav.navbar .visually-hidden")).to_have_text(f"({waiting})")
    ready_links = page.locator("#inbox-ready_for_approval a")
    expect(ready_links).to_have_attribute("href", f"/checklists/{ready}")
    expect(page.locator("#inbox-identity_requests a")).to_have_attribute(
        "href", f"/reviews/identities?request={asked.id}#identity-form"
    )
    expect(page.locator("#inbox-identity_requests")).to_contain_text("Liechtenstein")
    # The draft that waits for it is said, not counted again.
    expect(page.locator("#inbox-identity_requests")).to_contain_text(
        "1 Anzeige wartet darauf" if locale == "de-DE" else "1 ad waits for it"
    )
    assert_accessible(page)

    for email in (MANAGER, "auditor@example.org", "admin@example.org"):
        other = browser_context(locale=locale).new_page()
        sign_in(other, make_user, email)
        other.goto("/")
        expect(other.locator("#inbox")).to_be_visible()
        assert_accessible(other)
    # The queue with its filter and pages.
    page.goto("/reviews/?per_page=10")
    expect(page.locator("#to-approve a")).to_have_count(1)
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_refused_ad_reads_as_a_refusal_and_the_form_warns_first(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    owner = make_user(MANAGER, "manager")
    register_ad_account(live_app)
    assert owner.id is not None
    page = browser_context(locale=locale).new_page()
    sign_in(page, make_user, MANAGER)
    german = locale == "de-DE"

    page.goto("/checklists/new")
    fill_ad(page, EU_AD)
    save(page, "#checklist-form")
    warning = page.locator("#refusal-warning")
    expect(warning).to_contain_text("Deutschland" if german else "Germany")
    expect(page.locator("[name=save_anyway]")).to_be_visible()
    assert_accessible(page)
    page.locator("[name=save_anyway]").check()
    save(page, "#checklist-form")
    expect(page).to_have_url(re.compile(r"/checklists/\d+$"))

    refused = _draft(live_app, owner.id, countries="DE", dsa_payor="Stadt X",
                     dsa_beneficiary="Stadt X")  # fmt: skip
    page.goto(f"/checklists/{refused}")
    refusal = page.locator("#refusal")
    if german:
        expect(refusal).to_contain_text("Diese Anzeige kann in Deutschland nicht laufen")
        expect(refusal).to_contain_text("über die Transparenz und das Targeting politischer")
    else:
        expect(refusal).to_contain_text("This ad cannot run in Germany")
        expect(refusal).to_contain_text("on the transparency and targeting of political")
    expect(page.locator("tr[data-step=identity]")).to_have_attribute("data-moot", "true")
    expect(page.locator("#submit-blockers li")).to_have_count(1)
    assert "SIEP" not in page.content()
    assert_accessible(page)


def test_the_checklist_page_follows_an_ad_in_flight_without_a_reload(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
) -> None:
    owner = make_user(MANAGER, "manager")
    register_ad_account(live_app)
    assert owner.id is not None
    checklist_id = at_meta(live_app, owner.id, "queued")
    page = browser_context(locale="en-US").new_page()
    console = watch_csp(page)
    problems = watch_problems(page)
    sign_in(page, make_user, MANAGER)
    page.goto(f"/checklists/{checklist_id}")
    check_page_under_csp(page, console, f"/checklists/{checklist_id}")
    expect(page.locator("#state")).to_have_text("queued")
    loaded = page.evaluate("performance.timeOrigin")

    def move(state: str) -> None:
        with live_app.app_context(), transaction() as db:
            checklist = db.get(Checklist, checklist_id)
            assert checklist is not None
            checklist.state = State(state)

    move("submitted")
    expect(page.locator("#state")).to_have_text("in review at Meta")
    expect(page.locator("#state-changed")).to_contain_text("The ad is now: in review at Meta.")
    assert page.locator("#state-reload").count() == 0
    move("paused")
    expect(page.locator("#state")).to_have_attribute("data-state", "paused")
    expect(page.locator("#state-reload")).to_be_visible()
    # The same document all along: no reload happened.
    assert page.evaluate("performance.timeOrigin") == loaded
    assert csp_violations(page, console) == []
    assert problems.script_errors == []
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_manager_asks_for_a_verification_and_a_reviewer_fulfils_it(
    browser_context: Callable[..., BrowserContext],
    make_user: UserFactory,
    live_app: Flask,
    locale: str,
) -> None:
    german = locale == "de-DE"
    owner = make_user(MANAGER, "manager")
    make_user(REVIEWER, "reviewer")
    register_ad_account(live_app)
    assert owner.id is not None
    checklist_id = _draft(live_app, owner.id, title="Braucht LI", countries="CH,LI")

    manager = browser_context(locale=locale).new_page()
    sign_in(manager, make_user, MANAGER)
    manager.goto(f"/checklists/{checklist_id}")
    asks = manager.locator("#identity-asks button.identity-ask")
    expect(asks).to_have_count(2)
    assert_accessible(manager)
    manager.get_by_role(
        "button",
        name=(
            "Eine Prüfer:in bitten, meine Identität für Liechtenstein zu prüfen"
            if german
            else "Ask a reviewer to verify my identity for Liechtenstein"
        ),
    ).click()
    expect(manager).to_have_url(re.compile(rf"/checklists/{checklist_id}$"))
    expect(manager.locator("#identity-asks .identity-asked")).to_have_count(1)
    expect(asks).to_have_count(1)
    assert_accessible(manager)
    # The account page: the request listed, and the form with an error for every field.
    manager.goto("/account/identity/")
    expect(manager.locator('#requests li[data-state="open"]')).to_have_count(1)
    assert_accessible(manager)
    manager.locator("#identity-request-form [type=submit]").click()
    expect(manager.locator("#identity-request-form .is-invalid")).to_have_count(1)
    assert_accessible(manager)

    reviewer = browser_context(locale=locale).new_page()
    sign_in(reviewer, make_user, REVIEWER)
    reviewer.goto("/")
    reviewer.locator("#inbox-identity_requests a").click()
    expect(reviewer.locator("#identity-requests li[data-request]")).to_have_count(1)
    expect(reviewer.locator("#issuing_country")).to_have_value("LI")
    assert_accessible(reviewer)
    reviewer.locator("#document_type").select_option("passport")
    reviewer.locator("#expires_on").fill("2031-01-01")
    save(reviewer, "#identity-form")
    expect(reviewer.locator("#identity-requests li[data-request]")).to_have_count(0)
    manager.goto(f"/checklists/{checklist_id}")
    expect(manager.locator("#identity-asks .identity-asked")).to_have_count(0)
    expect(asks).to_have_count(1)  # CH is still missing
