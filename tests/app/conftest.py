"""Fixtures for the checklist tests: the cast (manager, reviewer, admin) and an ad account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col
from werkzeug.test import TestResponse

from app.admin.ad_accounts import add as add_ad_account
from app.db import transaction
from app.models import AuditEvent, Checklist, User, utcnow
from app.reviews.service import verify_identity
from tests.conftest import AuthActions, UserFactory, csrf_token, english_client

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

    def create(self, **changes: str) -> int:
        """A new checklist through the form; returns its id."""
        token = csrf_token(self.manager, "/checklists/new")
        response = self.manager.post(
            "/checklists/new", data={**CH_AD, **changes, "csrf_token": token}
        )
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

    def approve(self, checklist_id: int) -> TestResponse:
        return self.post(
            self.reviewer,
            f"/reviews/checklists/{checklist_id}/approve",
            {"code": self.code("reviewer@example.org")},
        )

    def submit(self, checklist_id: int) -> TestResponse:
        return self.post(
            self.manager,
            f"/checklists/{checklist_id}/submit",
            {"code": self.code("manager@example.org")},
        )

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


@pytest.fixture
def cast(app: Flask, make_user: UserFactory) -> Cast:
    """A manager, a reviewer and an admin, signed in; act_1001 registered for page 2001."""
    manager = make_user("manager@example.org", "manager")
    reviewer = make_user("reviewer@example.org", "reviewer")
    make_user("admin@example.org", "admin")
    with app.app_context(), transaction() as db:
        add_ad_account(db, "act_1001", "2001", "Stadt Musterstadt", utcnow())
    clients = {}
    for email in ("manager@example.org", "reviewer@example.org", "admin@example.org"):
        client = english_client(app)
        assert AuthActions(client, make_user).login(email).status_code == 302
        clients[email.split("@")[0]] = client
    return Cast(
        app, make_user, clients["manager"], clients["reviewer"], clients["admin"], manager, reviewer
    )
