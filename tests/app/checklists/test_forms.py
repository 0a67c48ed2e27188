"""Forms that cannot record a wrong fact: countries and ad accounts chosen from lists, every
error at once with a summary and the fields marked for assistive technology; what voids a
classification; the content version; duplicating; withdrawing with a reason; the preview."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.db import transaction
from app.models import Checklist, IdentityVerification, User
from tests.app.conftest import CH_FORM, Cast
from tests.conftest import csrf_token


def _create(cast: Cast, **changes: object) -> tuple[int, str]:
    token = csrf_token(cast.manager, "/checklists/new")
    response = cast.manager.post(
        "/checklists/new", data={**CH_FORM, **changes, "csrf_token": token}
    )
    return response.status_code, response.get_data(as_text=True)


def _checklists(cast: Cast) -> list[Checklist]:
    with cast.app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(Checklist)).all())


@pytest.mark.parametrize(
    "typed", ["CH", "Schweiz", "Switzerland", "schweiz", "Suisse", "svizzera", "CH, Liechtenstein"]
)
def test_a_country_typed_by_name_or_code_records_its_code(cast: Cast, typed: str) -> None:
    checklist_id = cast.create(countries=typed)
    expected = ("CH", "LI") if "Liechtenstein" in typed else ("CH",)
    assert cast.checklist(checklist_id).countries == list(expected)


@pytest.mark.parametrize("typed", ["Sc", "SC", "Schweden und Schweiz", "US", "ch"])
def test_a_country_not_in_the_list_is_refused_never_guessed(cast: Cast, typed: str) -> None:
    status, html = _create(cast, countries=typed)
    assert status == 400
    assert f"Not a country adgate can target: “{typed}”" in html
    assert _checklists(cast) == []


def test_the_countries_are_listed_by_name_in_the_users_language(cast: Cast) -> None:
    english = cast.manager.get("/checklists/new").get_data(as_text=True)
    assert re.search(r'value="CH"[^>]*>\s*<label[^>]*>Switzerland</label>', english)
    assert "Seychelles" not in english  # only countries adgate knows the rules of
    cast.manager.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    with cast.app.app_context(), transaction() as db:
        manager = db.get(User, cast.manager_user.id)
        assert manager is not None
        manager.locale = "de"
    german = cast.manager.get("/checklists/new").get_data(as_text=True)
    assert re.search(r'value="CH"[^>]*>\s*<label[^>]*>Schweiz</label>', german)
    assert german.index(">Österreich<") < german.index(">Polen<")


def test_the_ad_account_is_chosen_from_the_registered_ones_with_its_page(cast: Cast) -> None:
    html = cast.manager.get("/checklists/new").get_data(as_text=True)
    assert '<option value="act_1001">Stadt Musterstadt · act_1001 · page 2001</option>' in html
    assert 'name="page_id"' not in html
    # The page is the account's, whatever a client posts as page_id.
    checklist_id = cast.create(page_id="9999")
    assert cast.checklist(checklist_id).page_id == "2001"
    status, html = _create(cast, ad_account_id="act_9999")
    assert status == 400
    assert "Not a valid choice" in html


def test_every_error_is_shown_at_once_with_a_summary_and_marked_fields(cast: Cast) -> None:
    status, html = _create(
        cast,
        headline="",
        countries="XX",
        link_url="ftp://example.org",
        budget_type="lifetime",
        start_time="2030-05-02T10:00",
        end_time="2030-05-01T10:00",
    )
    assert status == 400
    summary = html.split("data-error-summary>")[1].split("</div>")[0]
    links = re.findall(r'<a class="alert-link" href="#([\w-]+)" data-field="(\w+)">', summary)
    assert [field for _, field in links] == ["headline", "link_url", "countries", "end_time"]
    assert ("countries-0", "countries") in links
    for target, field in links:
        # Each invalid control says so and names its error text, which carries that id.
        control = re.search(rf'<[^>]*\bid="{target}"[^>]*>', html)
        assert control, target
        assert 'aria-invalid="true"' in control.group(0)
        described = re.search(r'aria-describedby="([^"]+)"', control.group(0))
        assert described
        assert f"{field}-error" in described.group(1).split()
        assert f'id="{field}-error"' in html
    title = re.search(r'<input[^>]*id="title"[^>]*>', html)
    assert title
    assert "aria-invalid" not in title.group(0)
    assert _checklists(cast) == []


def test_the_identity_form_records_the_country_named_or_refuses(cast: Cast) -> None:
    page = cast.reviewer.get("/reviews/identities").get_data(as_text=True)
    assert '<option value="CH">Switzerland</option>' in page
    assert '<option value="SC">Seychelles</option>' in page  # any ISO 3166 country

    def post(country: str) -> int:
        form = {"user": cast.manager_user.id, "document_type": "passport",
                "issuing_country": country, "expires_on": "2031-01-01"}  # fmt: skip
        return cast.post(cast.reviewer, "/reviews/identities", form).status_code

    def recorded() -> list[str]:
        with cast.app.app_context(), transaction(write=False) as db:
            return [v.issuing_country for v in db.scalars(select(IdentityVerification))]

    assert post("Sc") == 400
    assert post("Schweizz") == 400
    assert recorded() == []
    response = cast.post(cast.reviewer, "/reviews/identities", {"issuing_country": "Sc"})
    assert "“Sc” is not a country in the list." in response.get_data(as_text=True)
    assert post("Schweiz") == 302
    assert post("Switzerland") == 302
    assert post("LI") == 302
    assert recorded() == ["CH", "CH", "LI"]


def test_the_disclaimer_leaves_the_classification_and_the_version_counts_changes(
    cast: Cast,
) -> None:
    checklist_id = cast.create(paid_for_by="")
    cast.ready(checklist_id)
    assert cast.checklist(checklist_id).content_version == 1

    def edit(**changes: str) -> None:
        form = {**CH_FORM, **changes, "version": cast.version(checklist_id)}
        assert cast.post(cast.manager, f"/checklists/{checklist_id}/edit", form).status_code == 302

    edit(paid_for_by="Stadt Musterstadt", dsa_payor="Stadt", budget_amount="20.00")
    checklist = cast.checklist(checklist_id)
    assert checklist.category == "POLITICAL"
    assert checklist.content_version == 2
    edit(paid_for_by="Stadt Musterstadt", dsa_payor="Stadt", budget_amount="20.00",
         countries="CH, LI")  # fmt: skip
    assert cast.checklist(checklist_id).category == "POLITICAL"
    assert json.loads(cast.events("checklist.edit", checklist_id)[-1].data)["voided"] == []
    edit(message="Ein anderer Text.", countries="CH, LI")
    checklist = cast.checklist(checklist_id)
    assert checklist.category is None
    assert checklist.content_version == 4
    # Steps taken (classify, attest) made versions for locking, not for people.
    assert checklist.version > 4
    html = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert '<span id="content-version">version 4</span>' in html


def test_duplicate_copies_the_content_and_none_of_the_steps(cast: Cast) -> None:
    source_id = cast.create()
    cast.ready(checklist_id=source_id)
    cast.approve(source_id)
    cast.post(cast.manager, f"/checklists/{source_id}/withdraw", {"reason": "Termin verschoben"})
    response = cast.post(cast.manager, f"/checklists/{source_id}/duplicate")
    assert response.status_code == 302
    copy_id = int(response.headers["Location"].rsplit("/", 1)[1])
    source, copy = cast.checklist(source_id), cast.checklist(copy_id)
    for field in ("title", "page_id", "ad_account_id", "message", "headline", "link_url",
                  "countries", "paid_for_by", "budget_amount", "placements"):  # fmt: skip
        assert getattr(copy, field) == getattr(source, field)
    assert (copy.state, copy.category, copy.approved_by, copy.facebook_2fa_attested_at) == (
        "draft", None, None, None,
    )  # fmt: skip
    assert (copy.content_version, copy.owner_id) == (1, cast.manager_user.id)
    created = json.loads(cast.events("checklist.created", copy_id)[0].data)
    assert created["duplicated_from"] == source_id
    # Only the owner duplicates.
    assert cast.post(cast.reviewer, f"/checklists/{source_id}/duplicate").status_code == 403


def test_withdrawing_asks_for_confirmation_and_a_reason(cast: Cast) -> None:
    checklist_id = cast.create()
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert f'href="/checklists/{checklist_id}/withdraw"' in page
    confirm = cast.manager.get(f"/checklists/{checklist_id}/withdraw")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.get_data(as_text=True)
    assert cast.checklist(checklist_id).state == "draft"
    refused = cast.post(cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": " "})
    assert refused.status_code == 400
    assert "data-error-summary" in refused.get_data(as_text=True)
    assert cast.checklist(checklist_id).state == "draft"
    done = cast.post(cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"})
    assert done.status_code == 302
    assert cast.checklist(checklist_id).state == "withdrawn"
    event = json.loads(cast.events("checklist.withdraw", checklist_id)[-1].data)
    assert event["reason"] == "Abgesagt"


def test_the_preview_shows_the_paid_for_by_label_in_the_users_language(cast: Cast) -> None:
    checklist_id = cast.create()
    html = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    preview = html.split('id="preview"')[1].split("</section>")[0]
    assert "Sponsored · Paid for by Stadt Musterstadt" in preview
    assert "www.musterstadt.ch" in preview
    assert "Volksabstimmung über das neue Schulhaus" in preview
    assert "http" not in preview.replace('src="/checklists', "")  # nothing external
    cast.classify(checklist_id, "NONE", justification="Reine Information")
    cast.manager.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    with cast.app.app_context(), transaction() as db:
        manager = db.get(User, cast.manager_user.id)
        assert manager is not None
        manager.locale = "de"
    other = cast.create(title="Zweite")
    german = cast.manager.get(f"/checklists/{other}").get_data(as_text=True)
    assert "Gesponsert · Finanziert durch Stadt Musterstadt" in german
    # Meta shows no disclaimer on an ad that is none of these.
    none = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "Finanziert durch" not in none.split('id="preview"')[1].split("</section>")[0]
