"""The home page as each role's inbox, and the navigation's count, through the client."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.app.conftest import Cast


def _count(html: str) -> int | None:
    """The navigation's count, or None when it shows none."""
    found = re.search(r'id="inbox-count" aria-hidden="true">(\d+)</span>', html)
    return int(found.group(1)) if found else None


def _section(html: str, name: str) -> str:
    return html.split(f'id="inbox-{name}"')[1].split('class="card h-100')[0]


def test_the_reviewer_sees_what_waits_and_the_navigation_counts_it(cast: Cast) -> None:
    assert _count(cast.reviewer.get("/").get_data(as_text=True)) is None
    checklist_id = cast.create()
    cast.ready(checklist_id)
    html = cast.reviewer.get("/").get_data(as_text=True)
    assert f'href="/checklists/{checklist_id}"' in _section(html, "ready_for_approval")
    assert 'data-count="1"' in html.split('id="inbox-ready_for_approval"')[1][:40]
    assert _count(html) == 1
    # The count is in the navigation of every page, with words for screen readers.
    other_page = cast.reviewer.get("/reviews/identities").get_data(as_text=True)
    assert _count(other_page) == 1
    assert '<span class="visually-hidden">(1 waiting)</span>' in other_page
    # Approved, nothing waits for the reviewer any more; the manager is to submit it.
    assert cast.approve(checklist_id).status_code == 302
    assert _count(cast.reviewer.get("/").get_data(as_text=True)) is None
    manager_home = cast.manager.get("/").get_data(as_text=True)
    assert f'href="/checklists/{checklist_id}"' in _section(manager_home, "needs_action")


def test_a_request_for_an_identity_verification_waits_for_reviewers_in_their_language(
    cast: Cast,
) -> None:
    checklist_id = cast.create()
    assert cast.classify(checklist_id).status_code == 302
    assert cast.attest(checklist_id).status_code == 302
    # Blocked on the identity, but nobody asked: nothing a reviewer can act on yet.
    english = _section(cast.reviewer.get("/").get_data(as_text=True), "identity_requests")
    assert "Nobody asks for an identity verification." in english
    # The owner asks from the checklist page's identity step.
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "Ask a reviewer to verify my identity for Switzerland" in page
    asked = cast.post(
        cast.manager,
        "/account/identity/requests",
        {"country": "CH", "next": f"/checklists/{checklist_id}"},
    )
    assert asked.headers["Location"] == f"/checklists/{checklist_id}"
    english = _section(cast.reviewer.get("/").get_data(as_text=True), "identity_requests")
    assert 'href="/reviews/identities?request=1#identity-form"' in english
    assert "manager@example.org asks to be verified for Switzerland" in english
    assert "1 ad waits for it" in english
    german = cast.reviewer.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "manager@example.org bittet um Prüfung für Schweiz" in german
    assert _count(cast.reviewer.get("/").get_data(as_text=True)) == 1
    # The manager waits too (nothing for them to do), so their inbox does not list it.
    manager = cast.manager.get("/").get_data(as_text=True)
    assert f'href="/checklists/{checklist_id}"' not in _section(manager, "needs_action")
    assert "No changes asked for." in _section(manager, "changes_requested")


def test_the_manager_sees_drafts_with_work_and_the_steps_to_do(cast: Cast) -> None:
    checklist_id = cast.create()
    html = cast.manager.get("/").get_data(as_text=True)
    section = _section(html, "needs_action")
    assert f'href="/checklists/{checklist_id}"' in section
    assert "To do: Two-factor authentication, Ad classified" in section
    assert _count(html) == 1


def test_an_auditor_and_an_admin_see_their_inbox(cast: Cast, auditor: FlaskClient) -> None:
    html = auditor.get("/").get_data(as_text=True)
    assert 'id="inbox-failed_verifications"' in html
    assert 'id="checkpoint-age"' in html
    assert "No checkpoint of the audit log has been taken yet." in html
    assert 'id="inbox-checkpoint"' in html
    admin = cast.admin.get("/").get_data(as_text=True)
    for name in ("unconfirmed_accounts", "ad_accounts", "held"):
        assert f'id="inbox-{name}"' in admin
