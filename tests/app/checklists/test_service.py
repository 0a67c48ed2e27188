"""The checklist service on a session, without the HTTP client: who sees a checklist, the
suggestion, approving and a blocked submission (the operations both front doors call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlmodel import Session

from app import audit
from app.checklists import access, service
from app.db import transaction
from app.models import Checklist, Submission, User, utcnow
from app.reviews import service as reviews
from app.suggester import get_suggester
from tests.app.conftest import CH_AD
from tests.conftest import UserFactory
from tools.sandbox_accounts import register_sandbox_accounts
from workflows.checks import Category
from workflows.machine import State, TransitionRefused


@dataclass
class People:
    owner: User
    other: User
    reviewer: User
    admin: User
    auditor: User


@pytest.fixture
def people(app: Flask, make_user: UserFactory) -> People:
    found = People(
        make_user("manager@example.org", "manager"),
        make_user("other@example.org", "manager"),
        make_user("reviewer@example.org", "reviewer"),
        make_user("admin@example.org", "admin"),
        make_user("auditor@example.org", "auditor"),
    )
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")
    return found


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session in a request's context (deferred audit events need one), rolled back."""
    with app.test_request_context("/checklists/1"), transaction() as session:
        yield session
        session.rollback()


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


def _ready(db: Session, checklist: Checklist, people: People) -> None:
    """Every step but the approval done: classified, attested, the owner's identity verified."""
    now = utcnow()
    service.classify(
        db, checklist, people.owner, category=Category.POLITICAL, social_issues=[],
        digitally_created_media=False, justification=None,
        suggestion=service.suggestion(checklist), version=checklist.version, now=now,
    )  # fmt: skip
    service.attest_facebook_2fa(db, checklist, people.owner, "2FA is on", now)
    reviews.verify_identity(
        db, people.reviewer, people.owner, document_type="passport", issuing_country="CH",
        expires_on=now.date().replace(year=now.year + 5), now=now,
    )  # fmt: skip


# --- visibility ---------------------------------------------------------------------------


def test_the_owner_and_every_other_role_see_a_checklist(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    assert checklist.id is not None
    for person in (people.owner, people.reviewer, people.admin, people.auditor):
        assert access.load(db, checklist.id, person) is checklist
        assert access.sees(person, checklist)
    assert audit.pop_deferred() == []


def test_another_managers_probe_is_not_found_and_audited(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    assert checklist.id is not None
    assert not access.sees(people.other, checklist)
    with pytest.raises(access.NotVisible):
        access.load(db, checklist.id, people.other, for_update=True)
    [probe] = audit.pop_deferred()
    assert (probe.kind, probe.subject) == ("access.forbidden", ("checklist", str(checklist.id)))
    assert probe.data == {"endpoint": "checklists.show", "method": "GET", "reason": "not_visible"}


@pytest.mark.parametrize("checklist_id", [0, -1, 999_999, access.MAX_ID + 1])
def test_an_unknown_checklist_is_not_found_and_not_audited(
    db: Session, people: People, checklist_id: int
) -> None:
    with pytest.raises(access.NotVisible):
        access.load(db, checklist_id, people.reviewer)
    assert audit.pop_deferred() == []


def test_only_the_owner_acts_as_owner(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    assert checklist.id is not None
    assert access.load_owned(db, checklist.id, people.owner) is checklist
    for person in (people.reviewer, people.admin):
        with pytest.raises(access.NotOwner):
            access.load_owned(db, checklist.id, person)
    with pytest.raises(access.NotVisible):
        access.load_owned(db, checklist.id, people.other)


def test_a_manager_lists_their_own_checklists_others_list_all(db: Session, people: People) -> None:
    mine, theirs = _draft(db, people.owner), _draft(db, people.other)

    def listed(person: User) -> set[int | None]:
        return {c.id for c in db.scalars(access.visible(person))}

    assert listed(people.owner) == {mine.id}
    assert listed(people.other) == {theirs.id}
    for person in (people.reviewer, people.admin, people.auditor):
        assert listed(person) == {mine.id, theirs.id}


# --- the suggestion -----------------------------------------------------------------------


def test_the_suggestion_reads_the_headline_and_the_message(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    suggestion = service.suggestion(checklist)
    expected = get_suggester().suggest(f"{checklist.headline}\n{checklist.message}")
    assert suggestion == expected
    assert suggestion.label == "political"


def test_a_none_against_a_political_suggestion_is_flagged(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    service.classify(
        db, checklist, people.owner, category=Category.NONE, social_issues=[],
        digitally_created_media=False, justification="A notice of the vote's date only.",
        suggestion=service.suggestion(checklist), version=checklist.version, now=utcnow(),
    )  # fmt: skip
    assert checklist.flagged
    assert checklist.suggested_probability == round(service.suggestion(checklist).probability, 4)


# --- approval -----------------------------------------------------------------------------


def test_a_reviewer_approves_exactly_the_version_read(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    _ready(db, checklist, people)
    read = checklist.version
    with pytest.raises(service.Conflict):
        reviews.approve(db, checklist, people.reviewer, utcnow(), version=read - 1)
    assert checklist.approved_by is None
    reviews.approve(db, checklist, people.reviewer, utcnow(), version=read)
    assert checklist.state == State.APPROVED
    assert checklist.approved_by == people.reviewer.id
    assert checklist.approved_hash is not None


def test_only_a_reviewer_approves(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    _ready(db, checklist, people)
    for person in (people.owner, people.admin):
        with pytest.raises(service.ChecklistError) as refused:
            reviews.approve(db, checklist, person, utcnow(), version=checklist.version)
        assert refused.value.code == "not_reviewer"
    assert checklist.state == State.DRAFT


def test_an_approval_with_steps_open_is_refused_with_each(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    with pytest.raises(TransitionRefused) as refused:
        reviews.approve(db, checklist, people.reviewer, utcnow(), version=checklist.version)
    unmet = {u.step for u in refused.value.unmet}
    assert {"classification", "two_factor", "identity"} <= unmet
    assert checklist.approved_by is None


# --- submission ---------------------------------------------------------------------------


def test_a_blocked_submission_queues_nothing_and_names_every_open_step(
    db: Session, people: People
) -> None:
    checklist = _draft(db, people.owner)
    _ready(db, checklist, people)
    with pytest.raises(TransitionRefused) as refused:
        service.submit(db, checklist, people.owner, utcnow())
    assert [u.step for u in refused.value.unmet] == ["approval"]
    assert checklist.state == State.DRAFT
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_an_approved_checklist_is_queued_once(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    _ready(db, checklist, people)
    reviews.approve(db, checklist, people.reviewer, utcnow(), version=checklist.version)
    submission = service.submit(db, checklist, people.owner, utcnow())
    assert (checklist.state, submission.status) == (State.QUEUED, State.QUEUED)
    assert service.latest_submission(db, checklist) is submission
    with pytest.raises(TransitionRefused):
        service.submit(db, checklist, people.owner, utcnow())
