"""A refusal shown as a refusal (and warned of before saving), the state the checklist page
follows, and the ads list and review queue filtered, ordered and paged."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import Checklist, User, utcnow
from tests.app.conftest import CH_FORM, Cast, signed_in
from tests.conftest import csrf_token
from workflows.machine import State

EU = {"countries": "DE", "dsa_payor": "Stadt X", "dsa_beneficiary": "Stadt X"}


def _rows(html: str) -> dict[str, tuple[str, bool]]:
    """The checklist page's steps: name → (status, shown as not needed)."""
    return {
        name: (status, bool(moot))
        for name, status, moot in re.findall(
            r'data-step="(\w+)" data-status="(\w+)" data-code="[\w.]+"( data-moot="true")?', html
        )
    }


def test_a_refused_ad_says_where_it_cannot_run_and_which_steps_no_longer_matter(
    cast: Cast,
) -> None:
    checklist_id = cast.create(**EU, save_anyway="y")
    # Before the kind is known, nothing is refused yet.
    assert 'id="refusal"' not in cast.manager.get(f"/checklists/{checklist_id}").get_data(
        as_text=True
    )
    assert cast.classify(checklist_id).status_code == 302
    html = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    refusal = html.split('id="refusal"')[1].split("</section>")[0]
    assert "This ad cannot run in Germany" in refusal
    assert "since 6 October 2025" in refusal
    assert (
        "Regulation (EU) 2024/900 of the European Parliament and of the Council of 13 March "
        "2024 on the transparency and targeting of political advertising" in refusal
    )
    assert "SIEP" not in html
    rows = _rows(html)
    assert rows["jurisdiction"] == ("failed", False)
    assert rows["classification"] == ("passed", False)
    # The German identity document and Facebook's 2FA cannot make it run: not tasks now.
    assert rows["identity"] == ("pending", True)
    assert rows["two_factor"] == ("failed", True)
    assert rows["approval"] == ("pending", True)
    assert "not needed: the ad cannot run" in html
    assert 'class="badge status-refused"' in html
    # Only the refusal is listed as still open under the submit button.
    blockers = re.findall(r'<li data-step="(\w+)">', html.split('id="submit-blockers"')[1])
    assert blockers == ["jurisdiction"]


def test_the_refusal_speaks_german_with_the_regulations_german_title(cast: Cast) -> None:
    checklist_id = cast.create(**EU, save_anyway="y")
    assert cast.classify(checklist_id).status_code == 302
    html = cast.manager.get(
        f"/checklists/{checklist_id}", headers={"Accept-Language": "de"}
    ).get_data(as_text=True)
    refusal = html.split('id="refusal"')[1].split("</section>")[0]
    assert "Diese Anzeige kann in Deutschland nicht laufen" in refusal
    assert "seit dem 06.10.2025" in refusal
    assert (
        "Verordnung (EU) 2024/900 des Europäischen Parlaments und des Rates vom 13. März 2024 "
        "über die Transparenz und das Targeting politischer Werbung" in refusal
    )
    assert "nicht nötig: die Anzeige kann nicht laufen" in html
    assert "SIEP" not in html


def test_the_form_warns_before_saving_an_ad_its_countries_refuse(cast: Cast) -> None:
    token = csrf_token(cast.manager, "/checklists/new")
    form = {**CH_FORM, **EU, "csrf_token": token}
    warned = cast.manager.post("/checklists/new", data=form)
    assert warned.status_code == 200
    html = warned.get_data(as_text=True)
    assert "Not saved yet: this ad cannot run in Germany" in html
    assert "Meta decides by the content" in html
    assert 'name="save_anyway"' in html
    with cast.app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(Checklist)).first() is None
    # Told, the manager saves it anyway.
    saved = cast.manager.post("/checklists/new", data={**form, "save_anyway": "y"})
    assert saved.status_code == 302
    checklist_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    # An ad that was refused there already is saved without a new warning.
    assert cast.classify(checklist_id).status_code == 302
    edit = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, **EU, "headline": "Neu", "version": cast.version(checklist_id)},
    )  # fmt: skip
    assert edit.status_code == 302
    assert cast.classify(checklist_id).status_code == 302  # the changed text voided it
    # A country that refuses it newly is warned of on editing too (by its classification).
    edit = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, **EU, "countries": "DE, AT", "version": cast.version(checklist_id)},
    )  # fmt: skip
    assert edit.status_code == 200
    assert "this ad cannot run in Austria, Germany" in edit.get_data(as_text=True)
    assert "The ad is classified as being about" in edit.get_data(as_text=True)
    assert cast.checklist(checklist_id).countries == ["DE"]


def test_a_swiss_ad_is_saved_without_a_warning_and_the_field_says_why(cast: Cast) -> None:
    page = cast.manager.get("/checklists/new").get_data(as_text=True)
    assert "cannot run in EU countries" in page
    cast.create()  # asserts the redirect: no warning for CH


def test_the_state_endpoint_answers_whoever_sees_the_ad(cast: Cast) -> None:
    checklist_id = cast.create()
    answer = cast.manager.get(f"/checklists/{checklist_id}/state")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "id": checklist_id, "state": "draft", "label": "draft",
        "version": cast.version(checklist_id), "in_flight": False,
    }  # fmt: skip
    with cast.app.app_context(), transaction() as db:
        checklist = db.get(Checklist, checklist_id)
        assert checklist is not None
        checklist.state = State.SUBMITTED
    found = cast.reviewer.get(
        f"/checklists/{checklist_id}/state", headers={"Accept-Language": "de"}
    ).get_json()
    assert (found["state"], found["label"], found["in_flight"]) == (
        "submitted", "in Prüfung bei Meta", True
    )  # fmt: skip
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'data-in-flight="true"' in page
    assert 'aria-live="polite"' in page
    assert '<script src="/static/js/checklist-state.js"></script>' in page


def test_the_state_of_another_managers_ad_is_not_found(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.users("other@example.org", "manager")
    other = signed_in(cast.app, cast.users, "other@example.org")
    assert other.get(f"/checklists/{checklist_id}/state").status_code == 404


def _listed(client: FlaskClient, query: str) -> list[int]:
    html = client.get(f"/checklists/?{query}").get_data(as_text=True)
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', html)]


def test_the_ads_list_filters_orders_and_pages(cast: Cast) -> None:
    ids = [cast.create(title=f"Ad {i:02d}") for i in range(12)]
    li = cast.create(title="Liechtenstein", countries="LI")
    with cast.app.app_context(), transaction() as db:
        checklist = db.get(Checklist, ids[0])
        assert checklist is not None
        checklist.state = State.WITHDRAWN
    assert _listed(cast.manager, "country=li") == [li]
    assert _listed(cast.manager, "state=withdrawn") == [ids[0]]
    assert _listed(cast.manager, "sort=title&per_page=10") == ids[:10]
    html = cast.manager.get("/checklists/?sort=title&per_page=10&page=2").get_data(as_text=True)
    assert _listed(cast.manager, "sort=title&per_page=10&page=2") == [*ids[10:], li]
    # Accessible page links that keep the filter: the current page is marked.
    nav = html.split('<nav aria-label="Pages of the ads">')[1].split("</nav>")[0]
    assert 'aria-current="page" href="/checklists/?page=2&amp;sort=title&amp;per_page=10"' in nav
    assert 'rel="prev" href="/checklists/?page=1&amp;sort=title&amp;per_page=10"' in nav
    assert "Rows 11\u201313 of 13" in html
    # Bad input is said, and lists nothing.
    bad = cast.manager.get("/checklists/?country=Schweiz&page=0")
    assert bad.status_code == 400
    assert "Use an ISO country code such as CH." in bad.get_data(as_text=True)


def test_an_admin_filters_the_ads_by_owner(cast: Cast) -> None:
    mine = cast.create()
    cast.users("other@example.org", "manager")
    with cast.app.app_context(), transaction() as db:
        other = db.scalars(select(User).where(col(User.email) == "other@example.org")).one()
        theirs = Checklist(**{**cast.checklist(mine).model_dump(), "id": None, "owner_id": other.id,
                              "created_at": utcnow()})  # fmt: skip
        db.add(theirs)
        db.flush()
        theirs_id, other_id = theirs.id, other.id
    assert set(_listed(cast.admin, "")) == {mine, theirs_id}
    assert _listed(cast.admin, f"owner={other_id}") == [theirs_id]
    assert _listed(cast.manager, f"owner={other_id}") == [mine]  # a manager sees their own


def test_the_review_queue_filters_by_country_and_pages_the_other_drafts(cast: Cast) -> None:
    ids = [cast.create(title=f"Ad {i}") for i in range(3)]
    li = cast.create(title="Liechtenstein", countries="LI")
    html = cast.reviewer.get("/reviews/?per_page=10&country=LI").get_data(as_text=True)
    waiting = html.split('id="waiting"')[1].split("</ul>")[0]
    assert f"/checklists/{li}" in waiting
    assert all(f'/checklists/{i}"' not in waiting for i in ids)
    page_2 = cast.reviewer.get("/reviews/?per_page=10&page=2").get_data(as_text=True)
    assert "None." in page_2.split('id="waiting"')[1].split("</ul>")[0]
    assert cast.reviewer.get("/reviews/?country=XX").status_code == 400
