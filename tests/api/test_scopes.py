"""Every API endpoint x every scope, generated from the URL map so that none is forgotten.

For each operation and each single scope a token is issued to an owner whose role the
operation admits: the operation's own scope gets past the guard (whatever the view then
answers), every other scope gets 403 insufficient-scope, and no token gets 401.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app.api import tokens
from app.api.auth import ApiRule
from app.models import Role
from tests.api.conftest import Api, issue_token
from tests.conftest import UserFactory

PROBLEM = "urn:adgate:problem:"
REFUSALS = ("unauthorized", "insufficient-scope", "forbidden")
# What each operation needs. The test fails when a route is added without deciding this.
EXPECTED: dict[str, tuple[str | None, frozenset[Role]]] = {
    "api.openapi": (None, frozenset(Role)),
    "api.docs": (None, frozenset(Role)),
    "api.docs_file": (None, frozenset(Role)),
    "api.list_checklists": ("checklists:read", frozenset(Role)),
    "api.create_checklist": ("checklists:write", frozenset({Role.MANAGER})),
    "api.upload_image": ("checklists:write", frozenset({Role.MANAGER})),
    "api.activate_checklist": ("submissions:write", frozenset({Role.MANAGER})),
    "api.pause_checklist": ("submissions:write", frozenset({Role.MANAGER})),
    "api.get_checklist": ("checklists:read", frozenset(Role)),
    "api.edit_checklist": ("checklists:write", frozenset({Role.MANAGER})),
    "api.classify_checklist": ("checklists:write", frozenset({Role.MANAGER})),
    "api.attest_two_factor": ("checklists:write", frozenset({Role.MANAGER})),
    "api.withdraw_checklist": ("checklists:write", frozenset({Role.MANAGER, Role.ADMIN})),
    "api.verify_identity": ("identity:write", frozenset({Role.REVIEWER})),
    "api.approve_checklist": ("approvals:write", frozenset({Role.REVIEWER})),
    "api.request_changes": ("approvals:write", frozenset({Role.REVIEWER})),
    "api.comment_checklist": (
        "checklists:write",
        frozenset({Role.MANAGER, Role.REVIEWER, Role.ADMIN}),
    ),
    "api.submit_checklist": ("submissions:write", frozenset({Role.MANAGER})),
    "api.get_submission": ("checklists:read", frozenset(Role)),
    "api.audit_events": ("audit:read", frozenset({Role.AUDITOR})),
    "api.audit_verify": ("audit:read", frozenset({Role.AUDITOR})),
}
# Where a role needs another scope than the operation's (a reviewer's token writes with
# approvals:write, which is what it carries to act).
BY_ROLE: dict[str, dict[Role, str]] = {
    "api.comment_checklist": {Role.REVIEWER: "approvals:write"},
}


def operations(app: Flask) -> Iterator[tuple[str, str, str]]:
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        built = rule.build(dict.fromkeys(rule.arguments, 1), append_unknown=False)
        assert built is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, built[1]


def test_every_api_route_has_an_expected_rule(app: Flask) -> None:
    assert {endpoint for endpoint, _, _ in operations(app)} == set(EXPECTED)
    for endpoint, (scope, roles) in EXPECTED.items():
        rule: ApiRule = getattr(app.view_functions[endpoint], "api_rule")  # noqa: B009
        assert (rule.scope, rule.roles) == (scope, roles), endpoint
        assert dict(rule.by_role) == BY_ROLE.get(endpoint, {}), endpoint


def test_roles_may_only_be_given_scopes_some_operation_admits_them_for() -> None:
    for role, allowed in tokens.ROLE_SCOPES.items():
        useful = {
            BY_ROLE.get(endpoint, {}).get(role, scope)
            for endpoint, (scope, roles) in EXPECTED.items()
            if scope and role in roles
        }
        assert allowed == useful, role


@pytest.mark.dialect("sqlite")
def test_every_endpoint_times_every_scope(app: Flask, make_user: UserFactory) -> None:
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    for role in Role:
        make_user(f"{role.value}@example.org", role.value)
    client = app.test_client()
    # One token per (role, scope) the role may hold.
    holders = {
        (role, scope): Api(client, issue_token(app, f"{role.value}@example.org", [scope]))
        for role, scopes in tokens.ROLE_SCOPES.items()
        for scope in scopes
    }
    failures, checked = [], 0
    for endpoint, method, path in operations(app):
        needed, roles = EXPECTED[endpoint]
        path = path.removeprefix("/api/v1")
        anonymous = client.open("/api/v1" + path, method=method)
        if needed is None:
            if anonymous.status_code in (401, 403):
                failures.append(f"{method} {path}: public but {anonymous.status_code}")
            continue
        if anonymous.status_code != 401 or anonymous.mimetype != "application/problem+json":
            failures.append(f"{method} {path} without a token: {anonymous.status_code}")
        for (role, scope), api in holders.items():
            needed = BY_ROLE.get(endpoint, {}).get(role, EXPECTED[endpoint][0])
            response = api.call(method, path, json={} if method != "GET" else None)
            status, kind = response.status_code, (response.get_json() or {}).get("type", "")
            checked += 1
            if scope != needed:
                ok = status == 403 and kind == f"{PROBLEM}insufficient-scope"
            elif role in roles:
                # Admitted: the view decides (404, 409, 422, 403 otp-required …).
                ok = kind not in {f"{PROBLEM}{n}" for n in REFUSALS}
            else:
                ok = status == 403 and kind == f"{PROBLEM}forbidden"  # a role not admitted
            if not ok:
                failures.append(f"{method} {path} as {role.value} with {scope}: {status}")
    assert failures == []
    assert checked == sum(len(s) for s in tokens.ROLE_SCOPES.values()) * 18
