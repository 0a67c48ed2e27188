"""Four eyes on privileged accounts: a reviewer or admin that one admin invites on the pages
acts in that role only once a second person has confirmed it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text
from sqlmodel import col

from app.api import tokens
from app.checklists.service import ChecklistError
from app.db import alembic_config, transaction
from app.models import AuditEvent, IdentityVerification, User, utcnow
from app.reviews import service
from tests.app.conftest import Cast
from tests.app.invite import Invitee, invite_and_accept
from tests.conftest import PASSWORD, AuthActions, english_client, make_test_app

WAITING = "waiting for confirmation by a second person"
REFUSED = "Your account is waiting for confirmation by a second person"


def _user(app: Flask, email: str) -> User:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(select(User).where(col(User.email) == email)).one()


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(col(AuditEvent.kind) == kind)))


def _make_sock(cast: Cast, admin: FlaskClient, email: str, role: str) -> Invitee:
    """The attack: invite the account, accept the invitation as it, enrol."""
    return invite_and_accept(cast.app, admin, email, role)


def _confirm(cast: Cast, client: FlaskClient, user_id: int | None, code: str) -> str:
    response = cast.post(client, "/admin/users/confirm", {"user": str(user_id), "code": code})
    return response.get_data(as_text=True) if response.status_code != 302 else ""


def test_one_admin_alone_gets_no_approval_through_a_reviewer_it_made(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    sock = _make_sock(cast, cast.admin, "sock-rev@x.example", "reviewer")
    sock_user = _user(cast.app, sock.email)
    assert sock_user.confirmed_at is None
    assert sock_user.created_by is not None
    assert WAITING in cast.admin.get("/admin/users").get_data(as_text=True)

    # Approving: refused, with the reason, and nothing approved.
    version = cast.version(checklist_id)
    approved = cast.post(
        sock.client, f"/reviews/checklists/{checklist_id}/approve", {"version": str(version)}
    )
    assert approved.headers["Location"] == f"/checklists/{checklist_id}"
    shown = sock.client.get(approved.headers["Location"]).get_data(as_text=True)
    assert REFUSED in shown
    assert cast.checklist(checklist_id).state == "draft"
    assert _events(cast.app, "checklist.approve") == []
    refusals = [json.loads(e.data) for e in _events(cast.app, "access.forbidden")]
    assert {"reason": "unconfirmed", "method": "POST"}.items() <= refusals[-1].items()

    # Verifying an identity: refused, nothing recorded.
    verified = cast.post(
        sock.client,
        "/reviews/identities",
        {
            "user": str(cast.manager_user.id),
            "document_type": "passport",
            "issuing_country": "CH",
            "expires_on": "2031-01-01",
        },
    )
    assert verified.headers["Location"] == "/reviews/identities"
    with cast.app.app_context(), transaction(write=False) as db:
        by_sock = select(IdentityVerification).where(
            col(IdentityVerification.verified_by) == sock_user.id
        )
        assert db.scalars(by_sock).all() == []
        # Every path to the review services refuses the account too (the API's among them).
        reviewer = db.get(User, sock_user.id)
        manager = db.get(User, cast.manager_user.id)
        assert reviewer is not None
        assert manager is not None
        checklist = cast.checklist(checklist_id)
        for attempt in (
            lambda: service.verify_identity(
                db,
                reviewer,
                manager,
                document_type="passport",
                issuing_country="CH",
                expires_on=date(2031, 1, 1),
                now=utcnow(),
            ),
            lambda: service.approve(db, checklist, reviewer, utcnow(), version=version),
            lambda: service.sign_off_classification(db, checklist, reviewer, utcnow()),
        ):
            with pytest.raises(ChecklistError) as refused:
                attempt()
            assert refused.value.code == "unconfirmed"
        # Nor does it get a token to try the API with.
        with pytest.raises(tokens.TokenError) as no_token:
            tokens.issue(
                db, reviewer, name="x", scopes=["approvals:write"],
                lifetime=timedelta(days=1), issued_by=reviewer, now=utcnow(),
            )  # fmt: skip
        assert no_token.value.code == "owner_unconfirmed"

    # The creator cannot confirm it, nor can it confirm itself.
    mine = _confirm(cast, cast.admin, sock_user.id, cast.code("admin@example.org"))
    assert "You created this account" in mine
    itself = cast.post(sock.client, "/admin/users/confirm", {"user": str(sock_user.id)})
    assert itself.status_code == 302
    assert REFUSED in sock.client.get(itself.headers["Location"]).get_data(as_text=True)
    assert _user(cast.app, sock.email).confirmed_at is None
    assert _events(cast.app, "account.confirmed") == []

    # A second person, a confirmed reviewer, confirms it on the accounts page (with a code):
    # audited with who; from then on the account acts as a reviewer.
    page = cast.reviewer.get("/admin/users").get_data(as_text=True)
    assert sock.email in page
    assert WAITING in page
    assert "admin@example.org" not in page  # a reviewer sees only the accounts that wait
    assert _confirm(cast, cast.reviewer, sock_user.id, cast.code("reviewer@example.org")) == ""
    [confirmed] = _events(cast.app, "account.confirmed")
    assert confirmed.subject_id == str(sock_user.id)
    assert confirmed.actor_id == str(cast.reviewer_user.id)
    assert json.loads(confirmed.data)["by"] == cast.reviewer_user.id
    assert _user(cast.app, sock.email).confirmed_by == cast.reviewer_user.id
    approved = cast.post(
        sock.client,
        f"/reviews/checklists/{checklist_id}/approve",
        {"version": str(version), "code": sock.code()},
    )
    assert approved.status_code == 302
    assert cast.checklist(checklist_id).state == "approved"


def test_an_admin_made_on_the_pages_manages_nothing_until_confirmed(cast: Cast) -> None:
    sock = _make_sock(cast, cast.admin, "sock-admin@x.example", "admin")
    rev = _make_sock(cast, cast.admin, "sock-rev@x.example", "reviewer")
    rev_id = _user(cast.app, rev.email).id
    assert rev_id is not None
    page = sock.client.get("/admin/users").get_data(as_text=True)
    assert 'id="unconfirmed"' in page
    assert 'id="confirm-account"' not in page  # nothing it could confirm

    # Neither confirming the other account of the same admin, nor creating, resetting or
    # issuing tokens: each refused with the reason, nothing changed.
    for path, data in (
        ("/admin/users/confirm", {"user": str(rev_id)}),
        ("/admin/invitations", {"email": "third@x.example", "role": "reviewer", "locale": "en"}),
        (f"/admin/users/{cast.manager_user.id}/reset-two-factor", {}),
        (f"/admin/users/{cast.manager_user.id}/disable", {}),
    ):
        response = cast.post(sock.client, path, data)
        assert response.headers["Location"] == "/admin/users", path
        assert REFUSED in sock.client.get("/admin/users").get_data(as_text=True), path
    issued = cast.post(
        sock.client,
        "/tokens/",
        {"name": "x", "scopes": ["checklists:read"], "days": "30"},
    )
    assert issued.status_code == 400
    assert REFUSED in issued.get_data(as_text=True)
    assert _user(cast.app, rev.email).confirmed_at is None
    assert _user(cast.app, cast.manager_user.email).totp_enabled
    assert _user(cast.app, cast.manager_user.email).active
    with cast.app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(User).where(col(User.email) == "third@x.example")).first() is None
        made_by_sock = select(User).where(col(User.created_by) == _user(cast.app, sock.email).id)
        assert db.scalars(made_by_sock).first() is None

    # Once a second admin confirmed it, it confirms the reviewer (which it did not create).
    cast.users("admin2@example.org", "admin")
    second = AuthActions(english_client(cast.app), cast.users)
    second.login("admin2@example.org")
    sock_id = _user(cast.app, sock.email).id
    assert sock_id is not None
    assert _confirm(cast, second.client, sock_id, cast.code("admin2@example.org")) == ""
    assert _confirm(cast, sock.client, rev_id, sock.code()) == ""
    assert _user(cast.app, rev.email).confirmed_by == sock_id


def test_accounts_that_need_no_second_person(cast: Cast, runner: FlaskCliRunner) -> None:
    # The shell is the trust root: its accounts are confirmed when created.
    created = runner.invoke(
        args=["users", "create", "cli-rev@example.org", "--role", "reviewer", "--password-stdin"],
        input=PASSWORD,
    )
    assert created.exit_code == 0, created.output
    assert _user(cast.app, "cli-rev@example.org").confirmed_at is not None
    # A manager or auditor made on the pages acts at once: it approves and verifies nothing.
    for email, role in (("m2@example.org", "manager"), ("aud@example.org", "auditor")):
        invite_and_accept(cast.app, cast.admin, email, role)
        assert _user(cast.app, email).confirmed_at is not None
    assert WAITING not in cast.admin.get("/admin/users").get_data(as_text=True)


def test_existing_accounts_count_as_confirmed_after_the_migration(
    database_url: str, tmp_path: Path
) -> None:
    app = make_test_app(database_url, tmp_path / "instance")
    config = alembic_config(database_url)
    command.upgrade(config, "0011")
    with app.app_context(), transaction() as db:
        db.execute(
            text(
                "INSERT INTO user_account (email, role, password_hash, active, created_at, "
                "failed_logins, lockouts, must_change_password) VALUES ('old@example.org', "
                "'reviewer', 'x', true, :now, 0, 0, false)"
            ),
            {"now": utcnow().replace(tzinfo=None)},
        )
    command.upgrade(config, "head")
    assert _user(app, "old@example.org").confirmed_at is not None
    app.extensions["adgate.db"].dispose()
