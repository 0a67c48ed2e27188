"""Property-based tests from the served OpenAPI document (schemathesis).

Every operation gets generated requests (valid and invalid) with a token that has the
operation's scope; every answer must be no 5xx, a status the document declares, the
declared media type and a body that matches the declared schema. The default run makes
a few hundred requests; set ADGATE_SCHEMATHESIS_EXAMPLES for a long run, e.g.
``ADGATE_SCHEMATHESIS_EXAMPLES=1000 .venv/bin/pytest tests/api/test_schemathesis.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from alembic import command
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.admin.ad_accounts import add as add_ad_account
from app.api import tokens
from app.db import alembic_config, transaction
from app.models import utcnow
from tests.api.conftest import NEW_CHECKLIST, issue_token
from tests.conftest import UserFactory, make_test_app

EXAMPLES = int(os.environ.get("ADGATE_SCHEMATHESIS_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SCOPE_HOLDER = {
    "checklists:read": "manager",
    "checklists:write": "manager",
    "submissions:write": "manager",
    "identity:write": "reviewer",
    "approvals:write": "reviewer",
    "audit:read": "auditor",
}


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, dict[str, str]]]:
    """One SQLite app for all generated cases, with people, tokens and a checklist."""
    root: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{root / 'adgate.sqlite3'}"
    app = make_test_app(url, root / "instance", API_RATE_LIMIT="1000000 per minute")
    command.upgrade(alembic_config(url), "head")
    users = UserFactory(app)
    held: dict[str, str] = {}
    for role in ("manager", "reviewer", "auditor"):
        users(f"{role}@example.org", role)
        held[role] = issue_token(app, f"{role}@example.org", tokens.ROLE_SCOPES[role])  # type: ignore[index]
    with app.app_context(), transaction() as db:
        add_ad_account(db, "act_1001", "2001", "Stadt Musterstadt", utcnow())
    client = app.test_client()
    created = client.post(
        "/api/v1/checklists",
        json=NEW_CHECKLIST,
        headers={"Authorization": f"Bearer {held['manager']}"},
    )
    assert created.status_code == 201
    yield app, held
    app.extensions["adgate.db"].dispose()


def _exercise(operation: Any, token: str | None, calls: dict[str, int]) -> None:
    """Run EXAMPLES generated requests against one operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=os.environ.get("ADGATE_SCHEMATHESIS_RANDOM") is None,
        database=None,
    )
    def check(case: Any) -> None:
        headers = dict(case.headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        case.call_and_validate(checks=CHECKS)
        calls[operation.label] += 1

    check()


def test_the_api_keeps_its_contract(served_app: tuple[Flask, dict[str, str]]) -> None:
    app, held = served_app
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        scope = operation.definition.raw.get("x-adgate-scope")
        calls[operation.label] = 0
        _exercise(operation, held[SCOPE_HOLDER[scope]] if scope else None, calls)
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations")
    assert len(calls) == 18
    assert sum(calls.values()) >= 13 * min(EXAMPLES, 10)
