"""Fixtures for the JSON API: people with tokens, and a client that speaks bearer JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.api import tokens
from app.auth.accounts import find_user
from app.db import transaction
from app.models import utcnow
from tests.app.conftest import sandbox, worker  # noqa: F401  (shared fixtures)
from tests.conftest import UserFactory
from tools.sandbox_accounts import register_sandbox_accounts

AD = {
    "page_id": "2001",
    "ad_account_id": "act_1001",
    "headline": "Volksabstimmung über das neue Schulhaus",
    "message": "Am 8. März stimmen Sie über das neue Schulhaus ab. Alles zur Abstimmung.",
    "link_url": "https://www.musterstadt.ch/abstimmung",
    "countries": ["CH"],
    "paid_for_by": "Stadt Musterstadt",
}
NEW_CHECKLIST: dict[str, Any] = {"title": "Abstimmung 8. März", "ad": AD}


def issue_token(app: Flask, email: str, scopes: Iterable[str], **kw: Any) -> str:
    """A token for ``email``, issued by its owner (as on the tokens page, with their code)."""
    with app.app_context(), transaction() as db:
        owner = find_user(db, email)
        assert owner is not None
        issued = tokens.issue(
            db,
            owner,
            name=kw.get("name", "test"),
            scopes=scopes,
            lifetime=kw.get("lifetime", timedelta(days=30)),
            issued_by=owner,
            now=utcnow(),
        )
        return issued.secret


def token_status(app: Flask, token: str) -> int:
    """401 for a token that does not authenticate; a valid one reaches the view (404)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    return client.get("/api/v1/checklists/999999", headers=headers).status_code


@dataclass
class Api:
    """Calls the API as one token."""

    client: FlaskClient
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> TestResponse:
        return self.client.open(
            "/api/v1" + path,
            method=method,
            json=json,
            headers={"Authorization": f"Bearer {self.token}", **self.headers, **(headers or {})},
            **kw,
        )

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> TestResponse:
        return self.call("POST", path, json, **kw)


@dataclass
class ApiCast:
    """A manager, a reviewer, an auditor and an admin, each with a token of every scope their
    role allows; act_1001 registered."""

    app: Flask
    users: UserFactory
    manager: Api
    reviewer: Api
    auditor: Api
    admin: Api

    def code(self, email: str) -> str:
        return self.users.two_factor[email].next_code()

    def create(self, **changes: Any) -> dict[str, Any]:
        response = self.manager.post("/checklists", {**NEW_CHECKLIST, **changes})
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def ready(self, checklist_id: int, country: str = "CH") -> None:
        """Classified, attested, identity verified: everything but the approval."""
        response = self.manager.call(
            "PUT", f"/checklists/{checklist_id}/classification", {"category": "POLITICAL"}
        )
        assert response.status_code == 200, response.get_json()
        response = self.manager.post(f"/checklists/{checklist_id}/attestations/two-factor")
        assert response.status_code == 200, response.get_json()
        response = self.reviewer.post(
            "/identity-verifications",
            {
                "user": "manager@example.org",
                "document_type": "passport",
                "issuing_country": country,
                "expires_on": "2031-01-01",
            },
        )
        assert response.status_code == 201, response.get_json()

    def approve(self, checklist_id: int) -> TestResponse:
        """The reviewer reads the checklist and approves the version read."""
        read = self.reviewer.get(f"/checklists/{checklist_id}")
        return self.reviewer.post(
            f"/checklists/{checklist_id}/approval",
            headers={
                "X-OTP": self.code("reviewer@example.org"),
                "If-Match": read.headers.get("ETag", '"0"'),
            },
        )

    def submit(self, checklist_id: int, key: str = "key-1") -> TestResponse:
        return self.manager.post(
            f"/checklists/{checklist_id}/submit", headers={"Idempotency-Key": key}
        )


@pytest.fixture
def api(app: Flask, make_user: UserFactory) -> ApiCast:
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    people = {
        "manager": "manager@example.org",
        "reviewer": "reviewer@example.org",
        "auditor": "auditor@example.org",
        "admin": "admin@example.org",
    }
    for role, email in people.items():
        make_user(email, role)
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")
    clients = {
        role: Api(app.test_client(), issue_token(app, email, tokens.ROLE_SCOPES[role]))  # type: ignore[index]
        for role, email in people.items()
    }
    return ApiCast(app, make_user, **clients)
