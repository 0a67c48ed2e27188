"""Account administration and the audit log page, through the browser-facing views."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import AuditEvent, User
from tests.conftest import PASSWORD, AuthActions, UserFactory, csrf_token


def _user(app: Flask, email: str) -> User | None:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(select(User).where(col(User.email) == email)).first()


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(col(AuditEvent.kind) == kind)))


def _as_admin(client: FlaskClient, make_user: UserFactory) -> User:
    admin = make_user("admin@example.org", "admin")
    AuthActions(client, make_user).login("admin@example.org")
    return admin


def test_the_page_sets_no_passwords(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    """People are invited and choose their own password (tests/app/admin/test_invitations.py);
    the page offers no password field, and the old form's POST creates nothing."""
    _as_admin(client, make_user)
    page = client.get("/admin/users").get_data(as_text=True)
    assert 'type="password"' not in page
    assert 'href="/admin/invitations"' in page
    token = csrf_token(client, "/admin/users")
    data = {"email": "x@example.org", "role": "reviewer", "password": PASSWORD}
    assert client.post("/admin/users", data={**data, "csrf_token": token}).status_code == 405
    assert _user(app, "x@example.org") is None
    assert len(_events(app, "account.created")) == 1  # the admin's own


def test_admin_disables_and_enables(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    admin = _as_admin(client, make_user)
    other = make_user("m@example.org")
    other_client = app.test_client()
    AuthActions(other_client, make_user).login("m@example.org")
    token = csrf_token(client, "/admin/users")
    assert (
        client.post(f"/admin/users/{other.id}/disable", data={"csrf_token": token}).status_code
        == 302
    )
    disabled = _user(app, "m@example.org")
    assert disabled is not None
    assert not disabled.active
    # The disabled user's open login is gone.
    assert other_client.get("/").status_code == 302
    assert (
        client.post(f"/admin/users/{other.id}/enable", data={"csrf_token": token}).status_code
        == 302
    )
    enabled = _user(app, "m@example.org")
    assert enabled is not None
    assert enabled.active
    # An admin cannot lock themself out.
    client.post(f"/admin/users/{admin.id}/disable", data={"csrf_token": token})
    me = _user(app, "admin@example.org")
    assert me is not None
    assert me.active
    assert client.post("/admin/users/999/disable", data={"csrf_token": token}).status_code == 404
    assert [e.kind for e in _events(app, "account.disabled")] == ["account.disabled"]


def test_forbidden_access_is_audited(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    manager = make_user("m@example.org")
    AuthActions(client, make_user).login("m@example.org")
    assert client.get("/admin/users").status_code == 403
    [refusal] = _events(app, "access.forbidden")
    assert (refusal.actor_type, refusal.actor_id) == ("user", str(manager.id))
    assert json.loads(refusal.data) == {"endpoint": "admin.users", "method": "GET"}


def test_reading_the_audit_log_is_audited(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("aud@example.org", "auditor")
    AuthActions(client, make_user).login("aud@example.org")
    page = client.get("/audit/").get_data(as_text=True)
    assert "auth.login" in page
    assert len(_events(app, "audit.read")) == 1
