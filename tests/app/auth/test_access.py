"""Every route times every role → the status it must answer, generated from the URL map.

EXPECTED is the specification: a route missing from it (a new view) fails the
test, so no view can be added without deciding who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.auth.access import PUBLIC, rule_for
from app.models import Role
from tests.conftest import AuthActions, UserFactory

ANYONE = "anyone"
SIGNED_IN = frozenset(Role)
EXPECTED: dict[str, str | frozenset[Role]] = {
    "auth.login": ANYONE,
    "auth.logout": SIGNED_IN,
    "auth.login_code": ANYONE,
    "auth.enrol": ANYONE,
    "auth.two_factor": SIGNED_IN,
    "auth.regenerate_recovery_codes": SIGNED_IN,
    "auth.disable_two_factor": SIGNED_IN,
    "auth.confirm": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    # The invited person has no account yet: the token in the link is what admits them.
    "auth.invitation_open": ANYONE,
    "auth.invitation": ANYONE,
    # The kinds of mail a person receives: only managers and reviewers receive any.
    "notifications.settings": frozenset({Role.MANAGER, Role.REVIEWER}),
    "notifications.save_settings": frozenset({Role.MANAGER, Role.REVIEWER}),
    "main.index": SIGNED_IN,
    "main.privacy": SIGNED_IN,
    # The statement on accessibility (BITV 2.0 § 7) must be reachable before signing in.
    "main.accessibility": ANYONE,
    "main.set_language": ANYONE,
    "main.healthz": ANYONE,
    "main.readyz": ANYONE,
    # Public as far as sessions go: the view itself wants METRICS_TOKEN, or loopback without
    # one (tests/app/test_metrics.py); the test client is on loopback.
    "metrics.scrape": ANYONE,
    # Meta calls these: the verify token and the payload's signature guard them.
    "webhooks.verify": ANYONE,
    "webhooks.receive": ANYONE,
    # Reviewers open the accounts page to confirm a reviewer or admin made there.
    "admin.users": frozenset({Role.ADMIN, Role.REVIEWER}),
    "admin.invitations_page": frozenset({Role.ADMIN}),
    "admin.invite": frozenset({Role.ADMIN}),
    "admin.resend_invitation": frozenset({Role.ADMIN}),
    "admin.revoke_invitation": frozenset({Role.ADMIN}),
    "admin.confirm_account": frozenset({Role.ADMIN, Role.REVIEWER}),
    "admin.disable": frozenset({Role.ADMIN}),
    "admin.enable": frozenset({Role.ADMIN}),
    "admin.reset_two_factor": frozenset({Role.ADMIN}),
    "audits.events": frozenset({Role.AUDITOR}),
    "audits.dashboard": frozenset({Role.AUDITOR}),
    "audits.timeline": frozenset({Role.AUDITOR}),
    "audits.export_events": frozenset({Role.AUDITOR}),
    "audits.integrity_page": frozenset({Role.AUDITOR}),
    "audits.start_verification": frozenset({Role.AUDITOR}),
    "audits.verification": frozenset({Role.AUDITOR}),
    "audits.take_checkpoint": frozenset({Role.AUDITOR}),
    "audits.checkpoints_file": frozenset({Role.AUDITOR}),
    "checklists.index": frozenset({Role.MANAGER, Role.ADMIN}),
    "checklists.create": frozenset({Role.MANAGER}),
    "checklists.show": frozenset(Role),
    "checklists.image": frozenset(Role),
    "checklists.state": frozenset(Role),
    "checklists.edit": frozenset({Role.MANAGER}),
    "checklists.classify": frozenset({Role.MANAGER}),
    "checklists.attest": frozenset({Role.MANAGER}),
    "checklists.submit": frozenset({Role.MANAGER}),
    "checklists.withdraw": frozenset({Role.MANAGER, Role.ADMIN}),
    "checklists.duplicate": frozenset({Role.MANAGER}),
    "checklists.activate": frozenset({Role.MANAGER}),
    "checklists.pause": frozenset({Role.MANAGER, Role.ADMIN}),
    "checklists.resume": frozenset({Role.MANAGER, Role.ADMIN}),
    "reviews.queue": frozenset({Role.REVIEWER}),
    "reviews.approve": frozenset({Role.REVIEWER}),
    "reviews.sign_off": frozenset({Role.REVIEWER}),
    "reviews.comment": frozenset({Role.MANAGER, Role.REVIEWER, Role.ADMIN}),
    "reviews.request_changes": frozenset({Role.REVIEWER}),
    "reviews.identities": frozenset({Role.REVIEWER}),
    "reviews.verify_identity": frozenset({Role.REVIEWER}),
    "reviews.revoke_identity": frozenset({Role.REVIEWER}),
    # Only ad managers own ads, so only they ask for a verification of their identity.
    "identity.mine": frozenset({Role.MANAGER}),
    "identity.ask": frozenset({Role.MANAGER}),
    "identity.withdraw": frozenset({Role.MANAGER}),
    "admin.ad_accounts": frozenset({Role.ADMIN}),
    "admin.add_ad_account": frozenset({Role.ADMIN}),
    "admin.restore_ad_account": frozenset({Role.ADMIN}),
    "admin.ad_account": frozenset({Role.ADMIN}),
    "admin.set_ad_account_currency": frozenset({Role.ADMIN}),
    "admin.authorize_ad_account": frozenset({Role.ADMIN}),
    "admin.register_disclaimer": frozenset({Role.ADMIN}),
    "admin.revoke_authorization": frozenset({Role.ADMIN}),
    "admin.remove_disclaimer": frozenset({Role.ADMIN}),
    "admin.check_ad_account_at_meta": frozenset({Role.ADMIN}),
    "tokens.index": SIGNED_IN,
    "tokens.create": SIGNED_IN,
    "tokens.revoke": SIGNED_IN,
}
# The JSON API authenticates by bearer token, never by the session: its table of endpoint
# by scope is tests/api/test_scopes.py. Here it only matters that every API view has a rule.
API = "api."
STATIC = {"static", "bootstrap.static"}


def routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, path) for every rule but the API's, with 1 for each URL parameter."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in STATIC or rule.endpoint.startswith(API):
            continue
        built = rule.build(dict.fromkeys(rule.arguments, 1), append_unknown=False)
        assert built is not None
        path = built[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def test_every_route_has_an_expected_access_rule(app: Flask) -> None:
    endpoints = {endpoint for endpoint, _, _ in routes(app)}
    assert endpoints == set(EXPECTED), "decide who may call each new route: add it to EXPECTED"
    with app.test_request_context():
        for endpoint, expected in EXPECTED.items():
            rule = rule_for(endpoint)
            assert rule is not None, f"{endpoint} has no access rule"
            assert rule == PUBLIC if expected == ANYONE else rule.roles == expected
            # Only signing out and the password are open to an account that still has to set
            # up 2FA or to replace a password someone else chose.
            first_steps = endpoint in {"auth.logout", "auth.change_password"}
            assert rule.before_enrolment == first_steps
            assert rule.before_password_change == first_steps


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r or "anonymous")
def test_route_role_table(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory, role: Role | None
) -> None:
    # Every account exists, so that a URL's "1" names a real user for the admin routes.
    for r in Role:
        make_user(f"{r.value}@example.org", r.value)
    if role is not None:
        assert auth.login(f"{role.value}@example.org").status_code == 302
    failures = []
    for endpoint, method, path in routes(app):
        expected = EXPECTED[endpoint]
        response = client.open(path, method=method)
        status = response.status_code
        to_login = status == 302 and response.headers["Location"].startswith("/login")
        if expected == ANYONE:
            # A public step may still send the visitor back to the sign-in page (no state).
            ok = status not in (401, 403)
        elif role is None:
            ok = to_login
        elif role in expected:
            # Admitted: whatever the view answers (400 for a POST without token), not a refusal.
            ok = status not in (401, 403) and not to_login
        else:
            ok = status == 403
        if not ok:
            failures.append(f"{method} {path} as {role or 'anonymous'}: {status}")
    assert failures == []


def test_every_api_view_declares_its_rule_and_ignores_the_session(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    api_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(API)]
    assert api_rules
    for rule in api_rules:
        assert getattr(app.view_functions[rule.endpoint], "api_rule", None) is not None
    # A signed-in browser gets no access to the API through its cookie (hence no CSRF there).
    make_user("manager@example.org", "manager")
    assert auth.login("manager@example.org").status_code == 302
    response = client.get("/api/v1/checklists")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_a_view_without_access_rule_is_refused(app: Flask, client: FlaskClient) -> None:
    app.add_url_rule("/undeclared", "undeclared", lambda: "secret")
    response = client.get("/undeclared")
    assert response.status_code == 403
    assert "secret" not in response.get_data(as_text=True)
