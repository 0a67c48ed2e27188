"""The review conversation on a session, without the HTTP client: who writes, what is kept,
a reviewer's request for changes and when it stops being shown (the operations both front
doors call)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app import audit, inputs
from app.checklists import gate, service
from app.models import Checklist, Comment, User, utcnow
from app.reviews import conversation
from app.reviews import service as reviews
from tests.app.conftest import CH_AD, People, ready_for_approval
from workflows.machine import State, TransitionRefused


def _draft(db: Session, owner: User) -> Checklist:
    ad = service.AdInput(
        title=CH_AD["title"],
        page_id=CH_AD["page_id"],
        ad_account_id=CH_AD["ad_account_id"],
        message=CH_AD["message"],
        headline=CH_AD["headline"],
        link_url=CH_AD["link_url"],
        countries=[CH_AD["countries"]],
        paid_for_by=CH_AD["paid_for_by"],
    )
    return service.create(db, owner, ad, utcnow())


def _approved(db: Session, people: People) -> Checklist:
    """A checklist a reviewer approved: classified, attested, the owner's identity verified."""
    checklist, now = _draft(db, people.owner), utcnow()
    ready_for_approval(db, checklist, people)
    reviews.approve(db, checklist, people.reviewer, now, version=checklist.version)
    assert checklist.state == State.APPROVED.value
    return checklist


def _edited(checklist: Checklist, **changes: Any) -> service.AdInput:
    """The checklist's ad with ``changes``, as the edit form or a PATCH gives it."""
    current = {f: getattr(checklist, f) for f in service.FIELDS}
    current["countries"] = list(checklist.countries)
    return service.AdInput(**{**current, **changes})


def _recorded(db: Session, kind: str) -> list[dict[str, Any]]:
    """The data of the events of ``kind`` the session will append at commit."""
    return [dict(p.data) for p in db.info.get(audit.PENDING, []) if p.kind == kind]


def _comments(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Comment)) or 0


# --- comments -----------------------------------------------------------------------------


def test_the_owner_reviewers_and_admins_write_everyone_who_sees_reads(
    db: Session, people: People
) -> None:
    checklist = _draft(db, people.owner)
    now = utcnow()
    for person, text in (
        (people.owner, "Is the date in the headline right?"),
        (people.reviewer, "Yes, 8 March."),
        (people.admin, "The ad account's currency is recorded now."),
    ):
        conversation.comment(db, checklist, person, text, now)
    thread = conversation.thread(db, checklist)
    assert [(e.author, e.author_role, e.kind) for e in thread] == [
        ("manager@example.org", "manager", "comment"),
        ("reviewer@example.org", "reviewer", "comment"),
        ("admin@example.org", "admin", "comment"),
    ]
    assert thread[1].body == "Yes, 8 March."
    assert [d["author"] for d in _recorded(db, "checklist.commented")] == [
        people.owner.id,
        people.reviewer.id,
        people.admin.id,
    ]
    assert _recorded(db, "checklist.commented")[0] == {
        "comment": thread[0].id,
        "author": people.owner.id,
        "kind": "comment",
    }
    # A comment is no change of the ad: an approval of the version read still holds.
    assert checklist.version == 1
    assert conversation.open_change_request(db, checklist) is None


@pytest.mark.parametrize("who", ["auditor", "other"])
def test_an_auditor_and_another_manager_write_nothing(
    db: Session, people: People, who: str
) -> None:
    checklist = _draft(db, people.owner)
    person = getattr(people, who)
    assert conversation.may_write(person, checklist) is False
    with pytest.raises(service.ChecklistError) as refused:
        conversation.comment(db, checklist, person, "Looks fine.", utcnow())
    assert (refused.value.field, refused.value.code) == ("user", "not_participant")
    assert _comments(db) == 0
    assert _recorded(db, "checklist.commented") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "empty"),
        ("  \n\t ", "empty"),
        ("x" * 4001, "too_long"),
        ("Bitte \x07 ändern", "control_character"),
        ("Bitte \u202eändern", "invisible_character"),
        ("zero\u200bwidth", "invisible_character"),
    ],
)
def test_a_body_that_is_empty_too_long_or_hides_characters_is_refused(
    db: Session, people: People, body: str, code: str
) -> None:
    checklist = _draft(db, people.owner)
    with pytest.raises(service.ChecklistError) as refused:
        conversation.comment(db, checklist, people.reviewer, body, utcnow())
    assert (refused.value.field, refused.value.code) == ("body", code)
    assert _comments(db) == 0


def test_a_body_is_kept_as_written_without_surrounding_blanks(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    text = "First line\n\n\tindented 👩\u200d👩\u200d👧 line"
    text += "y" * (inputs.FIELDS["comment"].max - len(text))  # the longest there may be
    written = conversation.comment(db, checklist, people.reviewer, f"\n  {text}  \n", utcnow())
    assert written.body == text


def test_a_thread_takes_no_more_than_its_limit(
    db: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversation, "MAX_ENTRIES", 2)
    checklist = _draft(db, people.owner)
    conversation.comment(db, checklist, people.owner, "one", utcnow())
    conversation.comment(db, checklist, people.reviewer, "two", utcnow())
    with pytest.raises(service.ChecklistError) as refused:
        conversation.comment(db, checklist, people.owner, "three", utcnow())
    assert refused.value.code == "thread_full"
    with pytest.raises(service.ChecklistError):
        conversation.request_changes(db, checklist, people.reviewer, "four", utcnow())
    assert (checklist.version, _comments(db)) == (1, 2)


def test_an_unconfirmed_reviewer_writes_nothing(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    people.reviewer.confirmed_at = None
    for act in (conversation.comment, conversation.request_changes):
        with pytest.raises(service.ChecklistError) as refused:
            act(db, checklist, people.reviewer, "Bitte ändern.", utcnow())
        assert refused.value.code == "unconfirmed"
    assert (checklist.version, _comments(db)) == (1, 0)


# --- change requests ----------------------------------------------------------------------


def test_a_change_request_voids_the_approval_and_makes_the_ad_a_draft(
    db: Session, people: People
) -> None:
    checklist = _approved(db, people)
    read = checklist.version
    request = conversation.request_changes(
        db, checklist, people.reviewer, "  Der Absender fehlt im Text.  ", utcnow(), version=read
    )
    assert checklist.state == State.DRAFT.value
    assert (checklist.approved_by, checklist.approved_hash, checklist.approved_at) == (
        None,
        None,
        None,
    )
    assert checklist.version == read + 1
    assert (request.kind, request.body, request.author_id) == (
        "change_request",
        "Der Absender fehlt im Text.",
        people.reviewer.id,
    )
    assert request.checklist_version == checklist.version
    [event] = _recorded(db, "checklist.request_changes")
    assert event == {
        "from": "approved",
        "to": "draft",
        "author": people.reviewer.id,
        "reason": "Der Absender fehlt im Text.",
        "voided": ["approval"],
    }
    approval = {r.name: r for r in gate.evaluate(db, checklist, utcnow())}["approval"]
    assert not approval.passed
    assert conversation.open_change_request(db, checklist) is request


def test_a_draft_can_be_sent_back_before_any_approval(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    conversation.request_changes(db, checklist, people.reviewer, "Bitte kürzen.", utcnow())
    assert (checklist.state, checklist.version) == (State.DRAFT.value, 2)
    [event] = _recorded(db, "checklist.request_changes")
    assert (event["from"], event["to"], event["voided"]) == ("draft", "draft", [])


@pytest.mark.parametrize("who", ["owner", "admin", "auditor"])
def test_only_a_reviewer_requests_changes(db: Session, people: People, who: str) -> None:
    checklist = _approved(db, people)
    with pytest.raises(service.ChecklistError) as refused:
        conversation.request_changes(db, checklist, getattr(people, who), "No.", utcnow())
    assert refused.value.code == "not_reviewer"
    assert (checklist.state, checklist.approved_by) == (State.APPROVED.value, people.reviewer.id)
    assert _comments(db) == 0


def test_a_reviewer_never_sends_back_their_own_ad(db: Session, people: People) -> None:
    # Four eyes: a reviewer who owns an ad (made a reviewer after drafting it) is its owner.
    checklist = _draft(db, people.reviewer)
    with pytest.raises(service.ChecklistError) as refused:
        conversation.request_changes(db, checklist, people.reviewer, "Mine.", utcnow())
    assert refused.value.code == "not_reviewer"
    assert (checklist.version, _comments(db)) == (1, 0)


@pytest.mark.parametrize("state", [s for s in State if s not in (State.DRAFT, State.APPROVED)])
def test_an_ad_past_approval_is_not_sent_back(db: Session, people: People, state: State) -> None:
    checklist = _approved(db, people)
    checklist.state = state
    version = checklist.version
    with pytest.raises(TransitionRefused) as refused:
        conversation.request_changes(db, checklist, people.reviewer, "Too late?", utcnow())
    assert [u.code for u in refused.value.unmet] == ["state.not_allowed"]
    assert (checklist.state, checklist.version) == (state.value, version)
    assert checklist.approved_by == people.reviewer.id
    assert _comments(db) == 0
    assert _recorded(db, "checklist.request_changes") == []


def test_a_submitted_ad_is_not_sent_back(db: Session, people: People) -> None:
    checklist = _approved(db, people)
    service.submit(db, checklist, people.owner, utcnow())
    with pytest.raises(TransitionRefused):
        conversation.request_changes(db, checklist, people.reviewer, "Stop it.", utcnow())
    assert checklist.state == State.QUEUED.value
    assert _comments(db) == 0


def test_a_change_request_on_a_version_the_owner_changed_since_is_refused(
    db: Session, people: People
) -> None:
    checklist = _approved(db, people)
    read = checklist.version
    edited = _edited(checklist, headline="Neues Schulhaus: Abstimmung")
    service.edit(db, checklist, people.owner, edited, read, utcnow())
    with pytest.raises(service.Conflict) as stale:
        conversation.request_changes(
            db, checklist, people.reviewer, "The headline is wrong.", utcnow(), version=read
        )
    assert stale.value.current_version == read + 1
    assert _comments(db) == 0
    # And the other way round: the owner's edit of the version before the request is stale.
    conversation.request_changes(
        db, checklist, people.reviewer, "Still wrong.", utcnow(), version=read + 1
    )
    with pytest.raises(service.Conflict):
        service.edit(db, checklist, people.owner, edited, read + 1, utcnow())


def test_an_open_change_request_ends_with_a_change_or_the_owners_answer(
    db: Session, people: People
) -> None:
    checklist = _draft(db, people.owner)
    first = conversation.request_changes(db, checklist, people.reviewer, "Kürzer.", utcnow())
    # A reviewer's or an admin's comment leaves it open; the owner's answer settles it.
    conversation.comment(db, checklist, people.reviewer, "Max. 125 Zeichen.", utcnow())
    conversation.comment(db, checklist, people.admin, "Noted.", utcnow())
    assert conversation.open_change_request(db, checklist) is first
    conversation.comment(db, checklist, people.owner, "Done, see the new text.", utcnow())
    assert conversation.open_change_request(db, checklist) is None
    # A new request is open again, until the owner changes the ad.
    second = conversation.request_changes(db, checklist, people.reviewer, "Kürzer!", utcnow())
    assert conversation.open_change_request(db, checklist) is second
    service.attest_facebook_2fa(db, checklist, people.owner, "2FA is on", utcnow())
    assert conversation.open_change_request(db, checklist) is None
    assert [e.kind for e in conversation.thread(db, checklist)] == [
        "change_request",
        "comment",
        "comment",
        "comment",
        "change_request",
    ]
