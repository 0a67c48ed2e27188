"""Fixtures for the checklist tests: the cast (manager, reviewer, admin) and an ad account."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import or_, select
from sqlmodel import Session, col
from werkzeug.test import TestResponse

from app.admin import ad_accounts
from app.checklists import service as checklists
from app.db import transaction
from app.models import AuditEvent, Checklist, Installation, Submission, User, utcnow
from app.reviews.service import verify_identity
from app.sandbox.server import create_sandbox_app, make_sandbox_server
from app.submissions.worker import Worker, make_gateway
from tests.conftest import (
    AuthActions,
    UserFactory,
    csrf_token,
    english_client,
)
from tools.sandbox_accounts import register_sandbox_accounts
from workflows.checks import Category

CH_AD = {
    "title": "Abstimmung 8. März",
    "page_id": "2001",
    "ad_account_id": "act_1001",
    "headline": "Volksabstimmung über das neue Schulhaus",
    "message": "Am 8. März stimmen Sie über das neue Schulhaus ab. Alles zur Abstimmung.",
    "link_url": "https://www.musterstadt.ch/abstimmung",
    "countries": "CH",
    "paid_for_by": "Stadt Musterstadt",
    "dsa_payor": "",
    "dsa_beneficiary": "",
}
# The ad as the page's form sends it: with the delivery fields a browser always sends.
CH_FORM: dict[str, object] = {
    **CH_AD,
    "budget_type": "daily",
    "budget_amount": "10.00",
    "placements": ["facebook", "instagram"],
}


@dataclass
class Cast:
    """Signed-in clients for the people of a checklist's story."""

    app: Flask
    users: UserFactory
    manager: FlaskClient
    reviewer: FlaskClient
    admin: FlaskClient
    manager_user: User
    reviewer_user: User

    def code(self, email: str) -> str:
        return self.users.two_factor[email].next_code()

    def create(self, **changes: Any) -> int:
        """A new checklist through the form; returns its id (``image=(name, bytes)`` uploads)."""
        token = csrf_token(self.manager, "/checklists/new")
        data = {**CH_FORM, **changes, "csrf_token": token}
        if "image" in data:
            name, content = data["image"]
            data["image"] = (io.BytesIO(content), name)
        response = self.manager.post("/checklists/new", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)
        match = re.search(r"/checklists/(\d+)$", response.headers["Location"])
        assert match
        return int(match.group(1))

    def post(
        self, client: FlaskClient, path: str, data: Mapping[str, object] | None = None
    ) -> TestResponse:
        """POST a form (the session's CSRF token is the same on every page)."""
        token = csrf_token(client, "/")
        return client.post(path, data={**(data or {}), "csrf_token": token})

    def version(self, checklist_id: int) -> int:
        return self.checklist(checklist_id).version

    def checklist(self, checklist_id: int) -> Checklist:
        with self.app.app_context(), transaction(write=False) as db:
            checklist = db.get(Checklist, checklist_id)
            assert checklist is not None
            return checklist

    def classify(
        self, checklist_id: int, category: str = "POLITICAL", **extra: object
    ) -> TestResponse:
        return self.post(
            self.manager,
            f"/checklists/{checklist_id}/classification",
            {"category": category, "version": self.version(checklist_id), **extra},
        )

    def attest(self, checklist_id: int) -> TestResponse:
        return self.post(self.manager, f"/checklists/{checklist_id}/attest", {"confirm": "y"})

    def verify_identity(self, country: str = "CH", expires: date = date(2031, 1, 1)) -> None:
        with self.app.app_context(), transaction() as db:
            reviewer = db.get(User, self.reviewer_user.id)
            manager = db.get(User, self.manager_user.id)
            assert reviewer
            assert manager
            verify_identity(
                db, reviewer, manager, document_type="passport", issuing_country=country,
                expires_on=expires, now=utcnow(),
            )  # fmt: skip

    def approve(self, checklist_id: int, version: int | None = None) -> TestResponse:
        """Approve as the page does: the version shown (default: the current one)."""
        shown = self.version(checklist_id) if version is None else version
        return self._stepped_up(
            self.reviewer,
            f"/reviews/checklists/{checklist_id}/approve",
            "reviewer@example.org",
            {"version": str(shown)},
        )

    def submit(self, checklist_id: int) -> TestResponse:
        return self._stepped_up(
            self.manager, f"/checklists/{checklist_id}/submit", "manager@example.org"
        )

    def _stepped_up(
        self, client: FlaskClient, path: str, email: str, data: dict[str, str] | None = None
    ) -> TestResponse:
        """POST an action that needs a fresh code; send one only when the server asks."""
        response = self.post(client, path, data)
        if response.status_code == 400 and "Enter a current code" in response.get_data(
            as_text=True
        ):
            response = self.post(client, path, {**(data or {}), "code": self.code(email)})
        return response

    def ready(self, checklist_id: int) -> None:
        """Every step but the approval done."""
        assert self.classify(checklist_id).status_code == 302
        assert self.attest(checklist_id).status_code == 302
        self.verify_identity()

    def events(self, kind: str | None = None, subject: int | None = None) -> list[AuditEvent]:
        with self.app.app_context(), transaction(write=False) as db:
            query = select(AuditEvent).order_by(col(AuditEvent.seq))
            if kind:
                query = query.where(col(AuditEvent.kind) == kind)
            if subject is not None:
                query = query.where(col(AuditEvent.subject_id) == str(subject))
            return list(db.scalars(query))

    def steps(self, client: FlaskClient, checklist_id: int) -> dict[str, str]:
        """The checklist page's steps: name → status."""
        html = client.get(f"/checklists/{checklist_id}").get_data(as_text=True)
        return dict(re.findall(r'data-step="(\w+)" data-status="(\w+)"', html))


def register_unknown_at_meta(app: Flask, account_id: str, page_id: str) -> None:
    """An ad account adgate records as authorized in CH ("Stadt Musterstadt") that Meta does
    not know: only Meta can refuse what is sent to it."""
    with app.app_context(), transaction() as db:
        now = utcnow()
        account = ad_accounts.add(db, account_id, page_id, "Unbekannt bei Meta", now, "CHF")
        evidence = "a record that Meta does not share"
        ad_accounts.authorize(
            db, account, "CH", since=now.date(), evidence=evidence, by=None, now=now
        )
        ad_accounts.register_disclaimer(
            db, account, "CH", "Stadt Musterstadt", evidence=evidence, by=None, now=now
        )


def signed_in(app: Flask, make_user: UserFactory, email: str) -> FlaskClient:
    """A client signed in through the forms as ``email`` (made by ``make_user``), in English."""
    client = english_client(app)
    assert AuthActions(client, make_user).login(email).status_code == 302
    return client


@pytest.fixture
def auditor(app: Flask, make_user: UserFactory) -> FlaskClient:
    """An auditor, signed in (auditors need no 2FA), pages in English."""
    make_user("auditor@example.org", "auditor")
    return signed_in(app, make_user, "auditor@example.org")


@pytest.fixture
def cast(app: Flask, make_user: UserFactory) -> Cast:
    """A manager, a reviewer and an admin, signed in; act_1001 registered as Meta has it
    (page 2001, CHF, authorized in CH and LI with the disclaimer "Stadt Musterstadt")."""
    manager = make_user("manager@example.org", "manager")
    reviewer = make_user("reviewer@example.org", "reviewer")
    make_user("admin@example.org", "admin")
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")
    clients = {
        email.split("@")[0]: signed_in(app, make_user, email)
        for email in ("manager@example.org", "reviewer@example.org", "admin@example.org")
    }
    return Cast(
        app, make_user, clients["manager"], clients["reviewer"], clients["admin"], manager, reviewer
    )


# --- Meta: the sandbox Graph server and the worker ---------------------------------------


@dataclass
class Sandbox:
    """A running sandbox: its base URL and its Flask app (state)."""

    url: str
    app: Flask

    def objects(self) -> dict[str, list[dict[str, Any]]]:
        response = requests.get(f"{self.url}/__sandbox__/objects", timeout=5)
        response.raise_for_status()
        body: dict[str, list[dict[str, Any]]] = response.json()
        return body

    def faults(self, **fault: Any) -> None:
        requests.post(f"{self.url}/__sandbox__/faults", json=fault, timeout=5).raise_for_status()

    def review_now(self) -> None:
        requests.post(f"{self.url}/__sandbox__/review", json={}, timeout=5).raise_for_status()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The sandbox Graph server on a free loopback port."""
    app = create_sandbox_app(review_delay=3600, seed=7)
    server = make_sandbox_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Sandbox(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def worker(app: Flask, sandbox: Sandbox) -> Worker:
    """A worker whose gateway talks to the sandbox, with retries that do not wait long."""
    app.config.update(
        META_GRAPH_URL=sandbox.url,
        META_TIMEOUT_SECONDS=2.0,
        WORKER_BACKOFF_BASE_SECONDS=0.01,
        WORKER_BACKOFF_MAX_SECONDS=0.05,
        # Generous: at a 30 % fault rate some submissions need many attempts (each is cheap here).
        WORKER_MAX_ATTEMPTS=60,
        # Look an object up again after a lost answer at once (a real Meta: seconds).
        WORKER_LOOKUP_WAIT_SECONDS=0.01,
        REVIEW_POLL_SECONDS=0,
    )
    return Worker(make_gateway(app), name="test-worker")


def queued(cast: Cast, **changes: Any) -> int:
    """A checklist through every step to the queue; returns its id."""
    checklist_id = cast.create(**changes)
    cast.ready(checklist_id)
    for country in changes.get("countries", "CH").split(","):
        if country.strip() != "CH":
            cast.verify_identity(country.strip())
    assert cast.approve(checklist_id).status_code == 302
    assert cast.submit(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "queued"
    return checklist_id


def queued_many(cast: Cast, count: int) -> list[int]:
    """``count`` checklists in the queue; the manager's identity is verified once for all."""
    ids = [queued(cast, title="Ad 0")]
    for i in range(1, count):
        checklist_id = cast.create(title=f"Ad {i}")
        cast.classify(checklist_id)
        cast.attest(checklist_id)
        cast.approve(checklist_id)
        cast.submit(checklist_id)
        ids.append(checklist_id)
    return ids


def run(app: Flask, worker: Worker, rounds: int = 200) -> None:
    """Run the worker until nothing is ready (retries wait a few milliseconds)."""
    with app.app_context():
        for _ in range(rounds):
            if not worker.run_once() and not _pending(app):
                return
            threading.Event().wait(0.02)
    raise AssertionError("the worker did not finish")


def _pending(app: Flask) -> bool:
    """Work the worker has yet to do: sending, a status to set at Meta, a removal."""
    with transaction(write=False) as db:
        return bool(
            db.scalars(
                select(Submission).where(
                    or_(
                        col(Submission.status).in_(["queued", "sending"]),
                        col(Submission.status_change).is_not(None),
                        col(Submission.cleanup) == "pending",
                    )
                )
            ).first()
        )


def submission_of(app: Flask, checklist_id: int) -> Submission:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(
            select(Submission).where(col(Submission.checklist_id) == checklist_id)
        ).one()


def installation(app: Flask) -> str:
    """This installation's name, which every object's name at Meta carries."""
    with app.app_context(), transaction(write=False) as db:
        found = db.get(Installation, 1)
        assert found is not None
        return found.name


@dataclass
class People:
    """The cast of the service tests: an owner, another manager, a reviewer, an admin and an
    auditor; act_1001 registered."""

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


def ready_for_approval(db: Session, checklist: Checklist, people: People) -> None:
    """Every step but the approval done: classified, attested, the owner's identity verified."""
    now = utcnow()
    checklists.classify(
        db, checklist, people.owner, category=Category.POLITICAL, social_issues=[],
        digitally_created_media=False, justification=None,
        suggestion=checklists.suggestion(checklist), version=checklist.version, now=now,
    )  # fmt: skip
    checklists.attest_facebook_2fa(db, checklist, people.owner, "2FA is on", now)
    verify_identity(
        db, people.reviewer, people.owner, document_type="passport", issuing_country="CH",
        expires_on=now.date().replace(year=now.year + 5), now=now,
    )  # fmt: skip
