"""The checklist service on a session, without the HTTP client: who sees a checklist, the
suggestion, approving and a blocked submission (the operations both front doors call)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app import audit
from app.checklists import access, service
from app.models import Checklist, Submission, User, utcnow
from app.reviews import service as reviews
from app.suggester import get_suggester
from tests.app.conftest import CH_AD, People, ready_for_approval
from workflows.checks import Category
from workflows.machine import State, TransitionRefused


def _ad() -> service.AdInput:
    return service.AdInput(
        title=CH_AD["title"],
        page_id=CH_AD["page_id"],
        ad_account_id=CH_AD["ad_account_id"],
        message=CH_AD["message"],
        headline=CH_AD["headline"],
        link_url=CH_AD["link_url"],
        countries=[CH_AD["countries"]],
        paid_for_by=CH_AD["paid_for_by"],
    )


def _draft(db: Session, owner: User) -> Checklist:
    return service.create(db, owner, _ad(), utcnow())


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


# --- lists --------------------------------------------------------------------------------


def _bodies(db: Session, kind: str) -> list[dict[str, Any]]:
    """The bodies of the events of ``kind`` recorded in the session, as the log keeps them."""
    found = [p for p in db.info.get(audit.PENDING, []) if p.kind == kind]
    return [json.loads(p.body) for p in found]


def test_countries_and_topics_are_lists_kept_in_one_order(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    assert checklist.countries == ["CH"]
    edited = replace(_ad(), countries=["li", " CH", "LI", "at"])
    assert service.edit(db, checklist, people.owner, edited, checklist.version, utcnow()) == (
        ["countries"],
        [],
    )
    assert checklist.countries == ["AT", "CH", "LI"]
    # The same countries again, in another order and case: no change.
    again = replace(_ad(), countries=["ch", "LI", "AT"])
    assert service.edit(db, checklist, people.owner, again, checklist.version, utcnow()) == (
        [],
        [],
    )
    # The log keeps the forms it always had: a list when created, a text when changed.
    assert _bodies(db, "checklist.created")[0]["countries"] == ["CH"]
    [change] = _bodies(db, "checklist.edit")
    assert change["changed"] == {"countries": {"before": "CH", "after": "AT,CH,LI"}}
    service.classify(
        db, checklist, people.owner, category=Category.SOCIAL_ISSUE,
        social_issues=["health", "education"], digitally_created_media=False,
        justification=None, suggestion=service.suggestion(checklist),
        version=checklist.version, now=utcnow(),
    )  # fmt: skip
    assert checklist.social_issues == ["health", "education"]
    service.classify(
        db, checklist, people.owner, category=Category.POLITICAL, social_issues=["health"],
        digitally_created_media=False, justification=None,
        suggestion=service.suggestion(checklist), version=checklist.version, now=utcnow(),
    )  # fmt: skip
    assert checklist.social_issues == []
    db.flush()
    db.expire(checklist)
    assert (checklist.countries, checklist.social_issues) == (["AT", "CH", "LI"], [])


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
    ready_for_approval(db, checklist, people)
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
    ready_for_approval(db, checklist, people)
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
    ready_for_approval(db, checklist, people)
    with pytest.raises(TransitionRefused) as refused:
        service.submit(db, checklist, people.owner, utcnow())
    assert [u.step for u in refused.value.unmet] == ["approval"]
    assert checklist.state == State.DRAFT
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_an_approved_checklist_is_queued_once(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    ready_for_approval(db, checklist, people)
    reviews.approve(db, checklist, people.reviewer, utcnow(), version=checklist.version)
    submission = service.submit(db, checklist, people.owner, utcnow())
    assert (checklist.state, submission.status) == (State.QUEUED, State.QUEUED)
    assert service.latest_submission(db, checklist) is submission
    with pytest.raises(TransitionRefused):
        service.submit(db, checklist, people.owner, utcnow())


# --- what an edit voids, duplicating, withdrawing ------------------------------------------


def test_an_edit_of_the_disclaimer_keeps_the_classification(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    ready_for_approval(db, checklist, people)
    fields = {f: getattr(checklist, f) for f in service.FIELDS if f != "countries"}
    ad = service.AdInput(**{**fields, "paid_for_by": "Gemeinde X", "dsa_payor": "X"},
                         countries=list(checklist.countries))  # fmt: skip
    changed, voided = service.edit(db, checklist, people.owner, ad, checklist.version, utcnow())
    assert (sorted(changed), voided) == (["dsa_payor", "paid_for_by"], [])
    assert (checklist.category, checklist.content_version) == ("POLITICAL", 2)
    ad = service.AdInput(**{**fields, "headline": "Neu"}, countries=["CH"])
    _, voided = service.edit(db, checklist, people.owner, ad, checklist.version, utcnow())
    assert voided == ["classification"]
    assert (checklist.category, checklist.content_version) == (None, 3)


def test_every_problem_of_an_ad_is_raised_at_once(db: Session, people: People) -> None:
    ad = service.AdInput(
        title="t", page_id="2002", ad_account_id="act_1001", message="m", headline="h",
        link_url="ftp://x", countries=["SC"], image_id=999,
    )  # fmt: skip
    with pytest.raises(service.ChecklistError) as refused:
        service.create(db, people.owner, ad, utcnow())
    assert [(p.field, p.code) for p in refused.value.all] == [
        ("countries", "country_unsupported"),
        ("link_url", "link_invalid"),
        ("image", "image_unknown"),
        ("page_id", "page_mismatch"),
    ]
    assert db.scalars(select(Checklist)).all() == []


def test_a_duplicate_is_a_new_draft_of_the_owner_only(db: Session, people: People) -> None:
    source = _draft(db, people.owner)
    ready_for_approval(db, source, people)
    copy = service.duplicate(db, source, people.owner, utcnow())
    assert (copy.state, copy.category, copy.facebook_2fa_attested_at) == ("draft", None, None)
    assert (copy.message, copy.countries, copy.title) == (source.message, ["CH"], source.title)
    with pytest.raises(service.ChecklistError):
        service.duplicate(db, source, people.other, utcnow())


def test_a_withdrawal_records_its_reason(db: Session, people: People) -> None:
    checklist = _draft(db, people.owner)
    service.withdraw(db, checklist, people.owner, utcnow(), "  Termin abgesagt ")
    assert checklist.state == "withdrawn"
    # Recorded in the transaction, appended when it commits (this one rolls back).
    [event] = [e for e in db.info[audit.PENDING] if e.kind == "checklist.withdraw"]
    assert event.data["reason"] == "Termin abgesagt"
