"""The review conversation on the checklist page: the thread, commenting, and a reviewer
sending the ad back with a reason that its owner then reads at the top."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.db import transaction
from app.models import User
from tests.app.conftest import CH_FORM, Cast, signed_in
from tests.conftest import UserFactory, csrf_token

REASON = "Der Absender fehlt im Text: ergänzen Sie „Stadt Musterstadt“."


def _page(client: FlaskClient, checklist_id: int) -> str:
    return client.get(f"/checklists/{checklist_id}").get_data(as_text=True)


def _comment(cast: Cast, client: FlaskClient, checklist_id: int, body: str) -> int:
    return cast.post(
        client, f"/reviews/checklists/{checklist_id}/comments", {"body": body}
    ).status_code


def _request_changes(
    cast: Cast, checklist_id: int, reason: str = REASON, version: int | None = None
) -> tuple[int, str]:
    shown = cast.version(checklist_id) if version is None else version
    response = cast.post(
        cast.reviewer,
        f"/reviews/checklists/{checklist_id}/change-requests",
        {"comment": reason, "version": str(shown)},
    )
    return response.status_code, response.get_data(as_text=True)


def _thread(page: str) -> list[tuple[str, str]]:
    """The thread's entries as (kind, body)."""
    found = re.findall(
        r'<li [^>]*id="comment-\d+" data-kind="(\w+)">.*?<p class="text-prewrap mb-0">(.*?)</p>',
        page,
        re.DOTALL,
    )
    return [(kind, html.unescape(body)) for kind, body in found]


def test_owner_reviewer_and_admin_write_the_auditor_reads(cast: Cast, auditor: FlaskClient) -> None:
    checklist_id = cast.create()
    assert 'id="no-comments"' in _page(cast.manager, checklist_id)
    response = cast.post(
        cast.manager, f"/reviews/checklists/{checklist_id}/comments", {"body": "Passt das Datum?"}
    )
    assert response.status_code == 302
    assert re.search(rf"/checklists/{checklist_id}#comment-\d+$", response.headers["Location"])
    assert _comment(cast, cast.reviewer, checklist_id, "Ja, <b>8. März</b>.") == 302
    assert _comment(cast, cast.admin, checklist_id, "Notiert.") == 302
    page = _page(auditor, checklist_id)
    assert _thread(page) == [
        ("comment", "Passt das Datum?"),
        ("comment", "Ja, <b>8. März</b>."),  # shown as text, not as markup
        ("comment", "Notiert."),
    ]
    assert "<b>8. März</b>" not in page
    assert "reviewer@example.org</strong> (Reviewer)" in page
    assert 'id="comment-form"' not in page  # an auditor reads only
    for client in (cast.manager, cast.reviewer, cast.admin):
        assert 'id="comment-form"' in _page(client, checklist_id)
    events = cast.events("checklist.commented")
    assert [json.loads(e.data)["author"] for e in events][:2] == [
        cast.manager_user.id,
        cast.reviewer_user.id,
    ]
    assert [(e.subject_type, e.subject_id) for e in events] == [
        ("checklist", str(checklist_id))
    ] * 3
    assert [e.actor_id for e in events][:2] == [
        str(cast.manager_user.id),
        str(cast.reviewer_user.id),
    ]


def test_an_auditor_and_another_manager_cannot_comment(
    cast: Cast, auditor: FlaskClient, app: Flask, make_user: UserFactory
) -> None:
    checklist_id = cast.create()
    assert _comment(cast, auditor, checklist_id, "Looks fine.") == 403
    make_user("other@example.org", "manager")
    other = signed_in(app, make_user, "other@example.org")
    assert _comment(cast, other, checklist_id, "Mine now.") == 404
    assert _thread(_page(cast.manager, checklist_id)) == []
    assert cast.events("checklist.commented") == []
    [probe] = cast.events("access.forbidden", checklist_id)
    assert json.loads(probe.data)["reason"] == "not_visible"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "Write a comment."),
        ("   \n  ", "Write a comment."),
        ("x" * 4001, "At most 4000 characters."),
        ("Bitte\x1bändern", "Remove the control character U+001B at position 6."),
        ("Bitte \u202eändern", "Remove the invisible character U+202E at position 7"),
    ],
)
def test_an_empty_oversized_or_control_character_comment_is_refused(
    cast: Cast, body: str, message: str
) -> None:
    checklist_id = cast.create()
    response = cast.post(
        cast.reviewer, f"/reviews/checklists/{checklist_id}/comments", {"body": body}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert cast.events("checklist.commented") == []


def test_a_comment_without_the_csrf_token_is_refused(cast: Cast) -> None:
    checklist_id = cast.create()
    response = cast.reviewer.post(
        f"/reviews/checklists/{checklist_id}/comments", data={"body": "Hallo"}
    )
    assert response.status_code == 400
    assert cast.events("checklist.commented") == []


def test_a_reviewer_sends_an_approved_ad_back_and_the_owner_reads_why(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    assert cast.approve(checklist_id).status_code == 302
    assert 'id="change-request-form"' in _page(cast.reviewer, checklist_id)
    assert 'id="change-request-form"' not in _page(cast.manager, checklist_id)
    status, _ = _request_changes(cast, checklist_id)
    assert status == 302
    checklist = cast.checklist(checklist_id)
    assert (checklist.state, checklist.approved_by) == ("draft", None)
    [event] = cast.events("checklist.request_changes", checklist_id)
    data = json.loads(event.data)
    assert (data["reason"], data["author"], data["voided"]) == (
        REASON,
        cast.reviewer_user.id,
        ["approval"],
    )
    assert event.actor_id == str(cast.reviewer_user.id)
    page = _page(cast.manager, checklist_id)
    top = page.split('id="change-request"')[1].split("</section>")[0]
    assert REASON in top
    assert "reviewer@example.org asked for these changes" in top
    assert "Change the ad, or answer in the conversation below." in top
    assert _thread(page) == [("change_request", REASON)]
    assert "Change request</span>" in page
    # The reviewer sees the request too, without the owner's instruction.
    reviewer_page = _page(cast.reviewer, checklist_id)
    assert 'id="change-request"' in reviewer_page
    assert "Change the ad, or answer" not in reviewer_page


def test_the_request_stays_at_the_top_until_the_owner_answers_or_edits(cast: Cast) -> None:
    checklist_id = cast.create()
    assert _request_changes(cast, checklist_id)[0] == 302
    assert _comment(cast, cast.reviewer, checklist_id, "Und kürzer, bitte.") == 302
    assert 'id="change-request"' in _page(cast.manager, checklist_id)
    assert _comment(cast, cast.manager, checklist_id, "Ist ergänzt.") == 302
    assert 'id="change-request"' not in _page(cast.manager, checklist_id)
    assert _request_changes(cast, checklist_id, "Noch einmal: der Absender.")[0] == 302
    assert 'id="change-request"' in _page(cast.manager, checklist_id)
    edited = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "message": "Stadt Musterstadt: Abstimmung am 8. März.",
         "version": cast.version(checklist_id)},
    )  # fmt: skip
    assert edited.status_code == 302
    assert 'id="change-request"' not in _page(cast.manager, checklist_id)


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Say what must change."),
        ("x" * 4001, "At most 4000 characters."),
        ("Bitte\x07ändern", "Remove the control character U+0007"),
    ],
)
def test_a_change_request_needs_a_reason_that_fits(cast: Cast, reason: str, message: str) -> None:
    checklist_id = cast.create()
    status, page = _request_changes(cast, checklist_id, reason)
    assert status == 400
    assert message in page
    assert cast.events("checklist.request_changes") == []
    assert cast.version(checklist_id) == 1


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_the_owner_and_an_admin_cannot_request_changes(cast: Cast, who: str) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    response = cast.post(
        getattr(cast, who),
        f"/reviews/checklists/{checklist_id}/change-requests",
        {"comment": "No.", "version": str(cast.version(checklist_id))},
    )
    assert response.status_code == 403
    assert cast.checklist(checklist_id).state == "approved"
    assert cast.events("checklist.request_changes") == []


def test_a_change_request_on_a_changed_ad_keeps_the_reason_and_sends_nothing(
    cast: Cast,
) -> None:
    checklist_id = cast.create()
    shown = cast.version(checklist_id)
    # The owner edits between the reviewer's look and the click.
    edited = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "headline": "Neues Schulhaus", "version": shown},
    )  # fmt: skip
    assert edited.status_code == 302
    status, page = _request_changes(cast, checklist_id, version=shown)
    assert status == 409
    assert "The ad changed after you opened it, so it was not sent back." in page
    form = page.split('id="change-request-form"')[1].split("</form>")[0]
    assert html.escape(REASON, quote=False) in form  # the reason is kept
    assert f'name="version" value="{shown + 1}"' in form  # what the page shows now
    assert cast.events("checklist.request_changes") == []
    assert 'id="change-request"' not in _page(cast.manager, checklist_id)
    # Sent again from the page as it is now, it goes through.
    assert _request_changes(cast, checklist_id, version=shown + 1)[0] == 302


def test_a_submitted_ad_is_not_sent_back(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    assert cast.submit(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "queued"
    assert 'id="change-request-form"' not in _page(cast.reviewer, checklist_id)
    status, _ = _request_changes(cast, checklist_id)
    assert status == 302
    page = _page(cast.reviewer, checklist_id)
    assert "cannot be sent back for changes" in page
    assert cast.checklist(checklist_id).state == "queued"
    assert cast.events("checklist.request_changes") == []
    [refused] = cast.events("checklist.refused", checklist_id)
    assert json.loads(refused.data)["event"] == "request_changes"


def test_the_conversation_speaks_german(cast: Cast) -> None:
    checklist_id = cast.create()
    assert _request_changes(cast, checklist_id)[0] == 302
    cast.manager.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    with cast.app.app_context(), transaction() as db:
        manager = db.get(User, cast.manager_user.id)
        assert manager is not None
        manager.locale = "de"
        db.add(manager)
    page = _page(cast.manager, checklist_id)
    assert "Änderungen verlangt" in page
    assert "reviewer@example.org hat am" in page
    assert "Unterhaltung" in page
    assert "Änderungswunsch</span>" in page
    assert "(Prüfer:in)" in page
    assert "Kommentar hinzufügen" in page
    assert "Conversation" not in page
    token = csrf_token(cast.manager, f"/checklists/{checklist_id}")
    refused = cast.manager.post(
        f"/reviews/checklists/{checklist_id}/comments", data={"body": " ", "csrf_token": token}
    )
    assert "Schreiben Sie einen Kommentar." in refused.get_data(as_text=True)
