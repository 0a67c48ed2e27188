"""What waits for whom (app.main.inbox) on a session: the counts of each role, and that
counting costs the same few queries for three drafts as for twelve."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event
from sqlmodel import Session

from app.checklists import service
from app.db import transaction
from app.main import inbox
from app.models import (
    AdAccount,
    AuditVerification,
    Checklist,
    LoginSession,
    Role,
    RunStatus,
    User,
    utcnow,
)
from app.reviews import conversation, requests
from app.reviews import service as reviews
from tests.app.conftest import CH_AD
from tests.conftest import UserFactory
from tools.sandbox_accounts import register_sandbox_accounts
from workflows.checks import Category
from workflows.machine import State


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session in a request's context (deferred audit events need one), rolled back."""
    with app.test_request_context("/"), transaction() as session:
        yield session
        session.rollback()


@pytest.fixture
def people(app: Flask, make_user: UserFactory) -> dict[str, User]:
    found = {
        "owner": make_user("manager@example.org", "manager"),
        "other": make_user("other@example.org", "manager"),
        "reviewer": make_user("reviewer@example.org", "reviewer"),
        "second": make_user("second@example.org", "reviewer"),
        "admin": make_user("admin@example.org", "admin"),
        "auditor": make_user("auditor@example.org", "auditor"),
    }
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")
    return found


def _draft(db: Session, owner: User, *, countries: str = "CH", title: str = "Ad") -> Checklist:
    ad = service.AdInput(
        title=title, page_id=CH_AD["page_id"], ad_account_id=CH_AD["ad_account_id"],
        message=CH_AD["message"], headline=CH_AD["headline"], link_url=CH_AD["link_url"],
        countries=countries.split(","), paid_for_by=CH_AD["paid_for_by"],
        dsa_payor="Stadt X", dsa_beneficiary="Stadt X",
    )  # fmt: skip
    return service.create(db, owner, ad, utcnow())


def _classified(
    db: Session, checklist: Checklist, owner: User, category: str = "POLITICAL"
) -> None:
    now = utcnow()
    service.classify(
        db, checklist, owner, category=Category(category), social_issues=[],
        digitally_created_media=False, justification=None,
        suggestion=service.suggestion(checklist), version=checklist.version, now=now,
    )  # fmt: skip
    service.attest_facebook_2fa(db, checklist, owner, "2FA is on", now)


def _verified(db: Session, reviewer: User, person: User, country: str = "CH") -> None:
    now = utcnow()
    reviews.verify_identity(
        db, reviewer, person, document_type="passport", issuing_country=country,
        expires_on=now.date().replace(year=now.year + 5), now=now,
    )  # fmt: skip


def _ids(box: inbox.Inbox, section: str) -> list[int]:
    [found] = [s for s in box.sections if s.name == section]
    return [int(i.id) for i in found.items]


def test_a_reviewer_counts_approvals_identities_and_sign_offs(
    db: Session, people: dict[str, User]
) -> None:
    owner, reviewer = people["owner"], people["reviewer"]
    ready = _draft(db, owner, title="ready")
    _classified(db, ready, owner)
    _verified(db, people["second"], owner)
    # Waits for an identity document from Liechtenstein (CH is verified already).
    needs_li = _draft(db, owner, countries="CH,LI", title="needs LI")
    _classified(db, needs_li, owner)
    # A NONE the suggester finds political, justified: waits for a sign-off.
    flagged = _draft(db, owner, title="flagged")
    now = utcnow()
    service.classify(
        db, flagged, owner, category=Category.NONE, social_issues=[],
        digitally_created_media=False, justification="Amtliche Information",
        suggestion=service.suggestion(flagged), version=flagged.version, now=now,
    )  # fmt: skip
    assert flagged.flagged
    # Refused in Germany: no identity document can make it run there, so none is asked for.
    refused = _draft(db, owner, countries="DE", title="refused")
    _classified(db, refused, owner)
    # Not yet classified: nothing a reviewer can do.
    _draft(db, owner, title="fresh")

    box = inbox.for_reviewer(db, reviewer, utcnow())
    assert _ids(box, "ready_for_approval") == [ready.id]
    # A draft blocked on the identity is no request: nobody asked yet.
    assert _ids(box, "identity_requests") == []
    assert _ids(box, "sign_offs") == [flagged.id]
    assert box.count == 2

    # The owner asks: the request is counted, with the one draft that waits for it.
    asked = requests.ask(db, owner, "LI", utcnow())
    box = inbox.for_reviewer(db, reviewer, utcnow())
    assert _ids(box, "identity_requests") == [asked.id]
    [item] = next(s for s in box.sections if s.name == "identity_requests").items
    assert (item.kind, item.title, item.details) == ("identity_request", owner.email, ("LI", "1"))
    assert box.count == 3
    # Verified, the request is fulfilled and no longer waits.
    _verified(db, reviewer, owner, "LI")
    assert _ids(inbox.for_reviewer(db, reviewer, utcnow()), "identity_requests") == []

    # Approved, it no longer waits for anyone's approval.
    reviews.approve(db, ready, reviewer, utcnow(), version=ready.version)
    # (the draft that waited for LI is ready now, its owner verified)
    assert _ids(inbox.for_reviewer(db, people["second"], utcnow()), "ready_for_approval") == [
        needs_li.id
    ]


def test_a_reviewer_never_counts_their_own_ad(db: Session, people: dict[str, User]) -> None:
    reviewer = people["reviewer"]
    own = _draft(db, reviewer, title="mine")
    _classified(db, own, reviewer)
    _verified(db, people["second"], reviewer)
    assert inbox.for_reviewer(db, reviewer, utcnow()).count == 0
    assert _ids(inbox.for_reviewer(db, people["second"], utcnow()), "ready_for_approval") == [
        own.id
    ]


@pytest.mark.parametrize("role", ["reviewer", "owner"])
def test_counting_costs_the_same_few_queries_for_3_drafts_as_for_12(
    app: Flask, db: Session, people: dict[str, User], role: str
) -> None:
    owners = (people["owner"], people["other"])
    for i in range(3):
        _classified(db, _draft(db, owners[i % 2], title=f"a{i}"), owners[i % 2])
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = app.extensions["adgate.db"]
    event.listen(engine, "before_cursor_execute", seen)
    for owner in owners:  # open requests, so that the reviewer has some to count
        requests.ask(db, owner, "LI", utcnow())
    try:
        inbox.inbox(db, people[role], utcnow())  # after the requests' writes are flushed
        statements.clear()
        inbox.inbox(db, people[role], utcnow())
        few = len(statements)
        for i in range(9):
            owner = owners[i % 2]
            draft = _draft(db, owner, countries="CH,LI", title=f"b{i}")
            if role == "reviewer":  # else left unclassified: work for the manager
                _classified(db, draft, owner)
        statements.clear()
        box = inbox.inbox(db, people[role], utcnow())
        assert len(statements) == few, statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert few <= 10
    assert box.count > 0


def test_a_manager_counts_ads_that_need_them_and_metas_recent_news(
    db: Session, people: dict[str, User]
) -> None:
    owner = people["owner"]
    now = utcnow()
    todo = _draft(db, owner, title="to do")  # not classified: the manager has something to do
    waiting = _draft(db, owner, title="waits for a reviewer")
    _classified(db, waiting, owner)
    _verified(db, people["reviewer"], owner)

    def at(state: str, title: str, age: timedelta) -> Checklist:
        checklist = _draft(db, owner, title=title)
        checklist.state, checklist.updated_at = State(state), now - age
        db.add(checklist)
        db.flush()
        return checklist

    held = at("held", "held", timedelta(days=40))
    failed = at("failed", "failed", timedelta(days=2))
    at("failed", "failed long ago", timedelta(days=90))
    rejected = at("rejected", "rejected", timedelta(days=1))
    issues = at("with_issues", "issues", timedelta(hours=3))
    approved = at("paused", "approved by Meta", timedelta(hours=1))
    at("paused", "paused last month", timedelta(days=30))
    at("live", "running", timedelta(hours=1))
    _draft(db, people["other"], title="someone else's")

    box = inbox.for_manager(db, owner, now)
    assert set(_ids(box, "needs_action")) == {todo.id, held.id, failed.id, rejected.id}
    assert waiting.id not in _ids(box, "needs_action")
    assert _ids(box, "changes_requested") == []
    assert set(_ids(box, "meta_outcomes")) == {rejected.id, issues.id, approved.id}
    # The rejected ad is in both sections, and counted once.
    assert box.count == 6


def test_news_from_meta_reach_back_to_the_previous_sign_in(
    db: Session, people: dict[str, User]
) -> None:
    owner, now = people["owner"], utcnow()
    assert owner.id is not None
    old = _draft(db, owner, title="rejected three weeks ago")
    old.state, old.updated_at = State.REJECTED, now - timedelta(days=21)
    db.add(old)
    assert old.id not in _ids(inbox.for_manager(db, owner, now), "meta_outcomes")
    for age in (30, 0):  # the previous sign-in a month ago, and this one
        db.add(LoginSession(id_hash=f"{age:064d}", user_id=owner.id,
                            created_at=now - timedelta(days=age),
                            expires_at=now + timedelta(hours=1)))  # fmt: skip
    db.flush()
    assert inbox.recent_since(db, owner, now) == now - timedelta(days=30)
    assert old.id in _ids(inbox.for_manager(db, owner, now), "meta_outcomes")


def test_an_auditor_counts_broken_verifications_and_an_overdue_checkpoint(
    app: Flask, db: Session, people: dict[str, User]
) -> None:
    now = utcnow()
    box = inbox.for_auditor(db, now)
    # Events exist (accounts were created) but no checkpoint was ever taken.
    assert [i.id for i in box.sections[1].items] == ["none"]
    assert box.checkpoint_at is None

    def run(status: str) -> AuditVerification:
        found = AuditVerification(status=RunStatus(status), started_at=now, heartbeat_at=now,
                                  first_bad_event=7 if status == "broken" else None)  # fmt: skip
        db.add(found)
        db.flush()
        return found

    run("broken")
    run("ok")
    late = run("broken")
    box = inbox.for_auditor(db, now)
    assert [int(i.id) for i in box.sections[0].items] == [late.id]
    assert box.sections[0].items[0].details == ("7",)

    from app.audit import integrity

    integrity.take_checkpoint(db, now, None)
    box = inbox.for_auditor(db, now)
    assert box.sections[1].items == ()
    assert box.checkpoint_at == now
    hours = app.config["AUDIT_CHECKPOINT_HOURS"]
    later = inbox.for_auditor(db, now + timedelta(hours=2 * hours + 1))
    assert [i.id for i in later.sections[1].items] == ["overdue"]
    assert later.count == 2


def test_an_admin_counts_accounts_to_confirm_and_ad_accounts_that_need_them(
    db: Session, people: dict[str, User]
) -> None:
    admin = people["admin"]
    second = User(email="second-admin@example.org", role=Role.ADMIN, password_hash="x",
                  confirmed_at=utcnow())  # fmt: skip
    db.add(second)
    db.flush()
    made_by_me = User(email="mine@example.org", role=Role.REVIEWER, password_hash="x",
                      created_by=admin.id)  # fmt: skip
    made_by_other = User(email="theirs@example.org", role=Role.REVIEWER, password_hash="x",
                         created_by=second.id)  # fmt: skip
    db.add_all([made_by_me, made_by_other])
    db.add(AdAccount(id="act_7", page_id="7", name="Ohne Währung"))
    db.flush()
    box = inbox.for_admin(db, admin, utcnow())
    [waiting] = box.sections[0].items
    assert waiting.title == "theirs@example.org"
    [account] = box.sections[1].items
    assert (account.id, account.details) == ("act_7", ("currency_missing",))
    assert box.count == 2
    assert [i.title for i in inbox.for_admin(db, second, utcnow()).sections[0].items] == [
        "mine@example.org"
    ]


def test_a_change_request_waits_for_its_owner_until_answered_or_the_ad_changed(
    db: Session, people: dict[str, User]
) -> None:
    owner, reviewer = people["owner"], people["reviewer"]
    sent_back = _draft(db, owner, title="sent back")
    answered = _draft(db, owner, title="answered")
    edited = _draft(db, owner, title="edited")
    _draft(db, people["other"], title="someone else's")
    for checklist in (sent_back, answered, edited):
        conversation.request_changes(db, checklist, reviewer, "Bitte kürzen.", utcnow())
    conversation.comment(db, answered, owner, "Erledigt, siehe Text.", utcnow())
    ad = service.AdInput(
        title=edited.title, page_id=edited.page_id, ad_account_id=edited.ad_account_id,
        message=edited.message, headline="Kürzer", link_url=edited.link_url,
        countries=list(edited.countries), paid_for_by=edited.paid_for_by,
        dsa_payor=edited.dsa_payor, dsa_beneficiary=edited.dsa_beneficiary,
    )  # fmt: skip
    service.edit(db, edited, owner, ad, edited.version, utcnow())

    items = inbox.changes_requested(db, owner)
    assert [i.id for i in items] == [str(sent_back.id)]
    assert items[0].details == ("Bitte kürzen.",)
    assert inbox.changes_requested(db, people["other"]) == []
