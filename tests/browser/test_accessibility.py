"""WCAG 2.1 AA on every page: axe-core in a real browser, for every role and the public pages,
in German, French, Italian and English, at a desktop's width (1280 px) and a phone's (390 px).

The pages come from the app's URL map: every GET route is checked unless ``NOT_PAGES`` says
why it is not a page, so a new page is covered the day it is added. Beside axe-core, each
page must reflow at 390 px without a horizontal scroll bar (WCAG 1.4.10), start with the
skip link as its first tab stop, and show "Sign out" on a 1280 px screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask, url_for
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select
from sqlmodel import col

from app.api import tokens
from app.auth import invitations
from app.auth.access import rule_for
from app.db import transaction
from app.models import Invitation, Role, User, utcnow
from tests.app.conftest import Cast, signed_in
from tests.browser.helpers import WCAG_21_AA, enter_password, register_ad_account, sign_in
from tests.conftest import UserFactory

pytestmark = pytest.mark.browser

# Each language with a browser that asks for it as its speakers do (French and Italian from
# Switzerland).
LANGUAGES = {"de": "de-DE", "fr": "fr-CH", "it": "it-CH", "en": "en-GB"}
WIDTHS = (1280, 390)
HEIGHT = 900
EMAILS = {role: f"{role.value}@example.org" for role in Role}

# GET routes that do not answer with a page, and why axe-core has nothing to check there.
NOT_PAGES = {
    "static": "adgate's CSS and scripts",
    "bootstrap.static": "Bootstrap's CSS and scripts",
    "api.*": "the JSON API (its documentation page, api.docs, is checked)",
    "api.docs_file": "the API documentation's script and stylesheet",
    "main.healthz": "JSON for the load balancer",
    "main.readyz": "JSON for the load balancer",
    "metrics.scrape": "Prometheus' text format",
    "webhooks.verify": "Meta's subscription handshake, answered in plain text",
    "checklists.image": "the ad's image file",
    "audits.export_events": "a ZIP download",
    "audits.checkpoints_file": "a JSON download",
    "audits.verification": "JSON polled by the integrity page",
    "checklists.state": "JSON polled by the checklist page's script",
}
# Public pages that need a sign-in half-way through (the password step of this account: one
# with 2FA, one whose role needs it but who has not enrolled); the others are opened as such.
UNENROLLED = "new-reviewer@example.org"
HALF_SIGNED_IN = {"auth.login_code": EMAILS[Role.MANAGER], "auth.enrol": UNENROLLED}
# Public pages that answer another status when opened as such: the invitation page without an
# opened link shows that the link does not work (auth.invitation_open, a link of a pending
# invitation in the run's language, redirects to it and shows the form).
STATUS = {"auth.invitation": 404}
# URL arguments that go into the query string (the invitation's token, which no log keeps).
QUERY = {"auth.invitation_open": ("token",)}
# Pages in English whatever the language: Swagger UI and the API's description.
ENGLISH_ONLY = {"/api/v1/docs"}
# Pages drawn by a script after loading: what shows that they are complete.
DRAWN = {"/api/v1/docs": ".opblock"}
# The innermost elements that reach past the right edge, for the message of a failed reflow.
WIDEST = """width => [...document.body.querySelectorAll("*")]
  .filter(e => e.getBoundingClientRect().right > width
    && ![...e.children].some(c => c.getBoundingClientRect().right > width))
  .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (typeof e.className === "string" && e.className ? "." + e.className.split(" ").join(".")
       : ""))"""
# The smallest text in the page's charts as drawn: its font size times the drawing's scale.
CHART_TEXT = """() => {
  const sizes = [...document.querySelectorAll("svg.bar-chart text")].map(text => {
    const svg = text.ownerSVGElement;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return parseFloat(getComputedStyle(text).fontSize) * scale;
  });
  return sizes.length ? Math.min(...sizes) : null;
}"""
FOCUSABLE = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary,"
    " [tabindex]:not([tabindex='-1'])"
)


def not_a_page(endpoint: str) -> bool:
    return endpoint in NOT_PAGES or (
        endpoint.startswith("api.") and endpoint != "api.docs" and "api.*" in NOT_PAGES
    )


@dataclass(frozen=True)
class Visit:
    """A page to open: who opens it, where, and what status it answers."""

    who: str  # a role's value, "anonymous", or "half:<e-mail>" (after the password step)
    path: str
    status: int = 200


@dataclass
class Tally:
    """What axe-core and the other checks found, page view by page view."""

    views: int = 0
    charts: int = 0  # views at a phone's width with charts, whose text was measured
    problems: list[str] = field(default_factory=list)


def page_routes(app: Flask) -> dict[str, list[str]]:
    """endpoint → the roles that may open it ("public" for everyone), for every page route."""
    routes: dict[str, list[str]] = {}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()) or not_a_page(rule.endpoint):
                continue
            access = rule_for(rule.endpoint)
            if rule.endpoint == "api.docs":
                routes[rule.endpoint] = ["public"]  # the API's own guard, open to all
                continue
            assert access is not None, f"{rule.endpoint} declares no access rule"
            routes[rule.endpoint] = (
                ["public"] if access.public else sorted(r.value for r in access.roles)
            )
    return routes


def seed(app: Flask, users: UserFactory) -> dict[str, Any]:
    """Accounts of every role, two ads (one with every step open, one ready for approval),
    an identity check, an API token; returns the values of the routes' URL arguments."""
    for role in Role:
        users(EMAILS[role], role.value)
    users(UNENROLLED, "reviewer", enrolled=False)
    register_ad_account(app)
    cast = Cast(
        app=app,
        users=users,
        manager=signed_in(app, users, EMAILS[Role.MANAGER]),
        reviewer=signed_in(app, users, EMAILS[Role.REVIEWER]),
        admin=signed_in(app, users, EMAILS[Role.ADMIN]),
        manager_user=_user(app, EMAILS[Role.MANAGER]),
        reviewer_user=_user(app, EMAILS[Role.REVIEWER]),
    )
    ready = cast.create(title="Bereit zur Freigabe")
    cast.ready(ready)
    draft = cast.create()
    # A refused submission: the auditors' dashboard then draws its charts.
    assert cast.submit(draft).status_code == 302  # back to the page, which says why
    # An open request for a verification: the reviewers' inbox and identities page, and the
    # manager's account page, list it.
    asked = cast.post(cast.manager, "/account/identity/requests", {"country": "LI", "note": "Mo"})
    assert asked.status_code == 302
    with app.app_context(), transaction() as db:
        owner = db.get(User, cast.manager_user.id)
        assert owner is not None
        tokens.issue(
            db, owner, name="CI", scopes=["checklists:read"], lifetime=timedelta(days=30),
            issued_by=owner, now=utcnow(),
        )  # fmt: skip
    # Pending invitations, one in each language (the page opens in the invitation's).
    links = {}
    with app.app_context(), transaction() as db:
        admin_id = _user(app, EMAILS[Role.ADMIN]).id
        assert admin_id is not None
        now = utcnow()
        for language in LANGUAGES:
            links[language] = token = f"invitation-link-for-the-axe-check-{language}".ljust(43, "x")
            db.add(
                Invitation(
                    email=f"invited-{language}@example.org", role=Role.REVIEWER, locale=language,
                    token_hash=invitations.token_digest(token), created_at=now,
                    created_by=admin_id, sent_at=now, sent_by=admin_id,
                    expires_at=now + timedelta(hours=72),
                )
            )  # fmt: skip
    return {
        "checklist_id": draft,
        "account_id": "act_1001",
        "ready_id": ready,
        "token": links["en"],
        "links": links,
    }


def _user(app: Flask, email: str) -> User:
    with app.app_context(), transaction(write=False) as db:
        found = db.scalars(select(User).where(col(User.email) == email)).one()
        db.expunge(found)
        return found


def visits(app: Flask, args: dict[str, Any]) -> list[Visit]:
    """Every page for everyone who may open it, plus the error pages."""
    out: list[Visit] = []
    with app.test_request_context():
        for endpoint, roles in sorted(page_routes(app).items()):
            rule = next(app.url_map.iter_rules(endpoint))
            missing = set(rule.arguments) - set(args)
            assert not missing, f"{endpoint}: seed() gives no value for {missing}"
            names = (*rule.arguments, *QUERY.get(endpoint, ()))
            path = url_for(endpoint, **{a: args[a] for a in names})
            if roles == ["public"]:
                half = HALF_SIGNED_IN.get(endpoint)
                who = f"half:{half}" if half else "anonymous"
                out.append(Visit(who, path, STATUS.get(endpoint, 200)))
            else:
                out.extend(Visit(role, path) for role in roles)
            if endpoint == "checklists.show":  # the ad ready for approval: its own forms
                ready = url_for(endpoint, checklist_id=args["ready_id"])
                out.extend(Visit(role, ready) for role in roles)
    out.append(Visit("anonymous", "/no-such-page", 404))
    out.append(Visit(Role.MANAGER.value, "/no-such-page", 404))
    out.append(Visit(Role.MANAGER.value, "/admin/users", 403))
    return out


def check_view(page: Page, axe: Axe, tally: Tally, label: str, signed_in: bool) -> None:
    """axe-core at each width; reflow at the phone's width, the skip link and "Sign out"
    on the desktop's."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        where = f"{label} @ {width}px"
        tally.views += 1
        results = axe.run(page, options=WCAG_21_AA)
        for v in results.response["violations"]:
            targets = "; ".join(str(n["target"][0]) for n in v["nodes"][:3])
            tally.problems.append(f"{where}: {v['id']} ({v['impact']}) {v['help']} — {targets}")
        if width == 1280:
            first = page.locator(FOCUSABLE).first
            if "skip-link" not in (first.get_attribute("class") or ""):
                tally.problems.append(f"{where}: the first tab stop is not the skip link")
            else:
                first.focus()
                box = first.bounding_box()
                if box is None or box["y"] < 0:
                    tally.problems.append(f"{where}: the focused skip link is not visible")
                first.blur()
            if signed_in and not page.locator("#logout").is_visible():
                tally.problems.append(f"{where}: no visible Sign out button")
            elif signed_in:
                box = page.locator("#logout").bounding_box()
                if box is None or box["x"] + box["width"] > width:
                    tally.problems.append(f"{where}: Sign out is off the screen ({box})")
        else:
            smallest = page.evaluate(CHART_TEXT)
            tally.charts += smallest is not None
            if smallest is not None and smallest < 12:
                tally.problems.append(f"{where}: chart text is {smallest:.1f}px high (< 12px)")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            if overflow > width:
                wide = page.evaluate(WIDEST, width)
                tally.problems.append(f"{where}: the page is {overflow}px wide (no reflow): {wide}")


def open_as(
    who: str,
    language: str,
    make: Callable[..., BrowserContext],
    users: UserFactory,
    cache: dict[str, Page],
) -> Page:
    """A tab for ``who`` in ``language``: signed in once and reused, or a fresh half sign-in."""
    if who.startswith("half:"):
        page = make(locale=LANGUAGES[language]).new_page()
        enter_password(page, who.removeprefix("half:"))
        return page
    if who not in cache:
        page = make(locale=LANGUAGES[language]).new_page()
        if who != "anonymous":
            sign_in(page, users, EMAILS[Role(who)])
        cache[who] = page
    return cache[who]


def say(config: pytest.Config, line: str) -> None:
    """Write ``line`` to the terminal whether or not pytest captures the test's output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")


@pytest.fixture(scope="module")
def views_of_the_module(request: pytest.FixtureRequest) -> Iterator[list[Tally]]:
    """Every test's tally, summed up when the module's tests are done."""
    tallies: list[Tally] = []
    yield tallies
    views = sum(t.views for t in tallies)
    problems = sum(len(t.problems) for t in tallies)
    say(request.config, f"axe: {views} page views checked in all, {problems} violations")


@pytest.fixture
def tally(request: pytest.FixtureRequest, views_of_the_module: list[Tally]) -> Iterator[Tally]:
    """This test's count, written to the terminal."""
    counted = Tally()
    views_of_the_module.append(counted)
    yield counted
    say(
        request.config,
        f"axe: {counted.views} page views checked ({request.node.callspec.id}), "
        f"{len(counted.problems)} violations",
    )


@pytest.mark.parametrize("audience", ["public", *(r.value for r in Role)])
def test_every_page_passes_axe_in_every_language_and_width(
    audience: str,
    live_app: Flask,
    make_user: UserFactory,
    browser_context: Callable[..., BrowserContext],
    tally: Tally,
) -> None:
    args = seed(live_app, make_user)
    roles = {r.value for r in Role}
    chosen = [
        v
        for v in visits(live_app, args)
        if v.who == audience or (audience == "public" and v.who not in roles)
    ]
    assert chosen, f"no page for {audience}"
    axe = Axe()
    for language in LANGUAGES:
        tabs: dict[str, Page] = {}
        for visit in chosen:
            page = open_as(visit.who, language, browser_context, make_user, tabs)
            path = visit.path.replace(args["token"], args["links"][language])
            if not visit.who.startswith("half:") or urlpath(page.url) != visit.path:
                response = page.goto(path)
                assert response is not None
                assert response.status == visit.status, f"{visit} answered {response.status}"
                assert response.headers["content-type"].startswith("text/html"), visit
            page.wait_for_load_state("load")
            if visit.path in DRAWN:
                page.locator(DRAWN[visit.path]).first.wait_for()
            lang = "en" if visit.path in ENGLISH_ONLY else language
            assert page.evaluate("document.documentElement.lang") == lang, visit
            label = f"{visit.who} {language} {visit.path}"
            check_view(page, axe, tally, label, signed_in=visit.who in roles)
    assert tally.problems == [], "\n".join(tally.problems)
    if audience == Role.AUDITOR.value:
        assert tally.charts == len(LANGUAGES), "the dashboard drew no chart to measure"


def urlpath(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0]


def test_every_get_route_is_a_checked_page_or_says_why_not(live_app: Flask) -> None:
    """A route the axe test leaves out is listed in NOT_PAGES with a reason."""
    with live_app.test_request_context():
        endpoints = {
            r.endpoint for r in live_app.url_map.iter_rules() if "GET" in (r.methods or ())
        }
    checked = set(page_routes(live_app))
    assert {e for e in endpoints if not_a_page(e)} | checked == endpoints
    assert {"main.index", "checklists.show", "audits.dashboard", "auth.login"} <= checked
    assert {"auth.invitation_open", "auth.invitation", "admin.invitations_page"} <= checked
    assert all(reason for reason in NOT_PAGES.values())
