"""Requests for an identity verification: asked by an ad manager (once per country), fulfilled
by a reviewer's verification, withdrawn by the manager; on a session and through the pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlmodel import Session, col

from app.checklists.service import ChecklistError
from app.db import transaction
from app.models import AuditEvent, IdentityRequest, RequestState, User, utcnow
from app.reviews import requests
from app.reviews import service as reviews
from tests.app.conftest import Cast
from tests.conftest import UserFactory


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session in a request's context (deferred audit events need one), rolled back."""
    with app.test_request_context("/"), transaction() as session:
        yield session
        session.rollback()


@pytest.fixture
def people(app: Flask, make_user: UserFactory) -> dict[str, User]:
    return {
        "manager": make_user("manager@example.org", "manager"),
        "reviewer": make_user("reviewer@example.org", "reviewer"),
        "second": make_user("second@example.org", "reviewer"),
        "auditor": make_user("auditor@example.org", "auditor"),
        "admin": make_user("admin@example.org", "admin"),
    }


def _kinds(db: Session) -> list[str]:
    from app import audit

    pending = db.info.get(audit.PENDING, [])
    return [p.kind for p in pending]


def _verify(db: Session, reviewer: User, person: User, country: str = "CH") -> None:
    now = utcnow()
    reviews.verify_identity(
        db, reviewer, person, document_type="passport", issuing_country=country,
        expires_on=now.date() + timedelta(days=800), now=now,
    )  # fmt: skip


# --- the service ------------------------------------------------------------------------


def test_a_manager_asks_once_per_country_and_a_verification_fulfils_it(
    db: Session, people: dict[str, User]
) -> None:
    manager, reviewer = people["manager"], people["reviewer"]
    asked = requests.ask(db, manager, " ch ", utcnow(), note="Dienstags im Büro")
    assert (asked.country, asked.state, asked.note) == (
        "CH",
        RequestState.OPEN,
        "Dienstags im Büro",
    )
    assert "identity.requested" in _kinds(db)
    with pytest.raises(requests.AlreadyAsked) as again:
        requests.ask(db, manager, "CH", utcnow())
    assert again.value.request.id == asked.id
    other = requests.ask(db, manager, "LI", utcnow())
    assert [r for r, _ in requests.open_requests(db)] == [asked, other]

    _verify(db, reviewer, manager, "CH")
    db.refresh(asked)
    assert asked.state == RequestState.FULFILLED
    assert asked.fulfilled_by is not None
    assert asked.closed_at is not None
    assert "identity.request_fulfilled" in _kinds(db)
    assert [r.id for r, _ in requests.open_requests(db)] == [other.id]
    # Verified for long: asking again is refused.
    with pytest.raises(ChecklistError) as verified:
        requests.ask(db, manager, "CH", utcnow())
    assert verified.value.code == "verified_already"


@pytest.mark.parametrize(
    ("country", "code"),
    [("XX", "country_invalid"), ("Schweiz", "country_invalid"), ("", "country_invalid"),
     ("US", "country_not_targetable"), ("JP", "country_not_targetable")],
)  # fmt: skip
def test_a_country_that_is_no_iso_code_or_not_targetable_is_refused(
    db: Session, people: dict[str, User], country: str, code: str
) -> None:
    with pytest.raises(ChecklistError) as refused:
        requests.ask(db, people["manager"], country, utcnow())
    assert refused.value.code == code
    assert db.scalars(select(IdentityRequest)).all() == []


@pytest.mark.parametrize("role", ["reviewer", "auditor", "admin"])
def test_only_ad_managers_ask(db: Session, people: dict[str, User], role: str) -> None:
    with pytest.raises(ChecklistError) as refused:
        requests.ask(db, people[role], "CH", utcnow())
    assert refused.value.code == "not_manager"
    assert db.scalars(select(IdentityRequest)).all() == []


@pytest.mark.parametrize("note", ["Pass X0123456", "Ausweis C01X00T47", "x" * 501])
def test_a_note_never_carries_a_document_number(
    db: Session, people: dict[str, User], note: str
) -> None:
    with pytest.raises(ChecklistError) as refused:
        requests.ask(db, people["manager"], "CH", utcnow(), note=note)
    assert refused.value.field == "note"
    assert db.scalars(select(IdentityRequest)).all() == []


def test_a_reviewer_never_verifies_themself_and_never_sees_their_own_request(
    db: Session, people: dict[str, User]
) -> None:
    reviewer = people["reviewer"]
    with pytest.raises(ChecklistError) as refused:
        _verify(db, reviewer, reviewer)
    assert refused.value.code == "self_verification"
    # A request from a manager who became a reviewer later is not shown to them.
    manager = people["manager"]
    asked = requests.ask(db, manager, "CH", utcnow())
    manager.role = reviewer.role
    db.add(manager)
    db.flush()
    assert requests.open_requests(db, besides=manager.id) == []
    with pytest.raises(ChecklistError):
        _verify(db, manager, manager)
    db.refresh(asked)
    assert asked.state == RequestState.OPEN


def test_withdrawing_ends_the_request_once_and_only_the_requester_may(
    db: Session, people: dict[str, User]
) -> None:
    manager = people["manager"]
    asked = requests.ask(db, manager, "CH", utcnow())
    with pytest.raises(ChecklistError):
        requests.withdraw(db, people["reviewer"], asked, utcnow())
    assert requests.withdraw(db, manager, asked, utcnow()) is True
    assert asked.state == RequestState.WITHDRAWN
    assert requests.withdraw(db, manager, asked, utcnow()) is False
    assert _kinds(db).count("identity.request_withdrawn") == 1
    # A verification after the withdrawal fulfils nothing; asking anew is possible.
    again = requests.ask(db, manager, "LI", utcnow())
    assert again.state == RequestState.OPEN


def test_two_requests_racing_make_one_row(app: Flask, people: dict[str, User]) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ask() -> None:
        with app.test_request_context("/"):
            barrier.wait(timeout=5)
            try:
                # PostgreSQL: both insert at once, the index makes the second wait and give way;
                # SQLite: the writer's lock puts them one after the other.
                with transaction() as db:
                    manager = db.get(User, people["manager"].id)
                    assert manager is not None
                    requests.ask(db, manager, "CH", utcnow())
                outcomes.append("asked")
            except requests.AlreadyAsked:
                outcomes.append("already")

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["already", "asked"], outcomes
    with app.app_context(), transaction(write=False) as db:
        assert len(db.scalars(select(IdentityRequest)).all()) == 1
        kinds = db.scalars(
            select(col(AuditEvent.kind)).where(col(AuditEvent.kind) == "identity.requested")
        ).all()
        assert len(kinds) == 1


# --- the pages --------------------------------------------------------------------------


def test_the_checklist_page_asks_per_missing_country_and_the_verification_passes_the_step(
    cast: Cast,
) -> None:
    checklist_id = cast.create(countries="CH,LI")
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "Ask a reviewer to verify my identity for Switzerland" in page
    assert "Ask a reviewer to verify my identity for Liechtenstein" in page
    back = f"/checklists/{checklist_id}"
    asked = cast.post(cast.manager, "/account/identity/requests", {"country": "LI", "next": back})
    assert asked.status_code == 302
    assert asked.headers["Location"] == back
    page = cast.manager.get(back).get_data(as_text=True)
    assert "You asked a reviewer on" in page
    assert "Ask a reviewer to verify my identity for Liechtenstein" not in page
    # Asking again says so, and adds nothing.
    again = cast.post(cast.manager, "/account/identity/requests", {"country": "LI", "next": back})
    assert again.status_code == 302
    assert "already on" in cast.manager.get(back).get_data(as_text=True)
    assert len(cast.events("identity.requested")) == 1
    # The reviewer sees it, the form filled in, and records the verification.
    identities = cast.reviewer.get("/reviews/identities?request=1").get_data(as_text=True)
    assert "manager@example.org asks to be verified for Liechtenstein" in identities
    assert '<option selected value="LI">' in identities or 'value="LI" selected' in identities
    cast.verify_identity("LI")
    assert len(cast.events("identity.request_fulfilled")) == 1
    cast.verify_identity("CH")
    assert cast.steps(cast.manager, checklist_id)["identity"] == "passed"
    page = cast.manager.get(back).get_data(as_text=True)
    assert 'id="identity-asks"' not in page


def test_the_account_page_asks_lists_and_withdraws(cast: Cast) -> None:
    page = cast.manager.get("/account/identity/")
    assert page.status_code == 200
    assert "My identity" in page.get_data(as_text=True)
    # By name, as the country field takes it; a country no ad can target is refused.
    refused = cast.post(cast.manager, "/account/identity/requests", {"country": "Japan"})
    assert refused.status_code == 400
    assert "is not a country in the list" in refused.get_data(as_text=True)
    number = cast.post(
        cast.manager, "/account/identity/requests", {"country": "CH", "note": "Pass X0123456"}
    )
    assert number.status_code == 400
    assert "Do not write a document&#39;s number in the note." in number.get_data(as_text=True)
    asked = cast.post(cast.manager, "/account/identity/requests", {"country": "Schweiz"})
    assert asked.headers["Location"] == "/account/identity/"
    html = cast.manager.get("/account/identity/").get_data(as_text=True)
    assert 'data-state="open" data-country="CH"' in html
    # Nobody else can withdraw it; the manager can.
    assert cast.post(cast.reviewer, "/account/identity/requests/1/withdraw").status_code == 403
    assert cast.post(cast.manager, "/account/identity/requests/99/withdraw").status_code == 404
    assert cast.post(cast.manager, "/account/identity/requests/1/withdraw").status_code == 302
    html = cast.manager.get("/account/identity/").get_data(as_text=True)
    assert 'data-state="withdrawn" data-country="CH"' in html
    assert len(cast.events("identity.request_withdrawn")) == 1


def test_reviewers_auditors_and_admins_cannot_ask(cast: Cast) -> None:
    for client in (cast.reviewer, cast.admin):
        assert cast.post(client, "/account/identity/requests", {"country": "CH"}).status_code == 403
    assert cast.events("identity.requested") == []


def test_asking_without_the_csrf_token_is_refused(cast: Cast) -> None:
    cast.manager.get("/account/identity/")
    response = cast.manager.post("/account/identity/requests", data={"country": "CH"})
    assert response.status_code == 400
    assert cast.events("identity.requested") == []


def test_erasing_the_person_withdraws_their_open_request_and_deletes_every_note(
    db: Session, people: dict[str, User]
) -> None:
    from app.auth.erasure import erase

    manager = people["manager"]
    done = requests.ask(db, manager, "CH", utcnow(), note="Montags")
    requests.withdraw(db, manager, done, utcnow())
    still = requests.ask(db, manager, "LI", utcnow(), note="Dienstags")
    erase(db, manager, None, utcnow())
    for found in (done, still):
        db.refresh(found)
        assert found.note is None
        assert found.state == RequestState.WITHDRAWN
