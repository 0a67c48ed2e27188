"""API tokens: issued on the command line and the page, stored hashed, refused when invalid."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text, update
from sqlmodel import col

from app.api import tokens
from app.auth.accounts import set_active
from app.db import engine, transaction
from app.models import ApiToken, AuditEvent, User, utcnow
from tests.api.conftest import Api, ApiCast, issue_token
from tests.conftest import AuthActions, UserFactory, csrf_token


def _token_row(app: Flask, secret: str) -> ApiToken:
    with app.app_context(), transaction(write=False) as db:
        found = tokens.find(db, secret)
        assert found is not None
        return found[0]


def test_the_command_prints_the_token_alone_on_its_last_line(
    app: Flask, runner: FlaskCliRunner, make_user: UserFactory
) -> None:
    make_user("manager@example.org", "manager")
    result = runner.invoke(
        args=[
            "tokens",
            "create",
            "manager@example.org",
            "--scope",
            "checklists:read",
            "--scope",
            "checklists:write",
            "--name",
            "CMS",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"adg_[A-Za-z0-9_-]{43}", secret)
    client = app.test_client()
    answer = client.get("/api/v1/checklists", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    listed = runner.invoke(args=["tokens", "list", "manager@example.org"])
    assert "checklists:read,checklists:write" in listed.output
    assert secret not in listed.output
    assert secret[:10] in listed.output  # the prefix, to recognise it


def test_the_command_refuses_scopes_the_role_does_not_allow(
    runner: FlaskCliRunner, make_user: UserFactory
) -> None:
    make_user("manager@example.org", "manager")
    result = runner.invoke(
        args=["tokens", "create", "manager@example.org", "--scope", "approvals:write"]
    )
    assert result.exit_code != 0
    assert "cannot have the scopes approvals:write" in result.output
    unknown = runner.invoke(
        args=["tokens", "create", "nobody@example.org", "--scope", "audit:read"]
    )
    assert unknown.exit_code != 0
    assert "no account" in unknown.output


def test_only_the_hash_is_stored(app: Flask, api: ApiCast) -> None:
    with app.app_context(), engine().connect() as conn:
        dump = "\n".join(str(row) for row in conn.execute(text("SELECT * FROM api_token")))
    assert api.manager.token not in dump
    assert tokens.digest(api.manager.token) in dump


@pytest.mark.parametrize("how", ["revoked", "expired", "owner_disabled", "unknown", "missing"])
def test_an_invalid_token_gets_401_and_the_refusal_is_audited(
    app: Flask, api: ApiCast, runner: FlaskCliRunner, how: str
) -> None:
    row = _token_row(app, api.manager.token)
    client = api.manager
    if how == "revoked":
        assert runner.invoke(args=["tokens", "revoke", str(row.id)]).exit_code == 0
    elif how == "expired":
        with app.app_context(), transaction() as db:
            db.execute(
                update(ApiToken)
                .where(col(ApiToken.id) == row.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    elif how == "owner_disabled":
        with app.app_context(), transaction() as db:
            owner = db.get(User, row.user_id)
            assert owner is not None
            set_active(db, owner, False)
    elif how == "unknown":
        client = Api(client.client, tokens.PREFIX + "x" * 43)
    else:
        client = Api(client.client, "")
    response = client.get("/checklists")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:adgate:problem:unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with app.app_context(), transaction(write=False) as db:
        refused = db.scalars(
            select(AuditEvent).where(col(AuditEvent.kind) == "api.unauthorized")
        ).all()
    assert refused
    assert how in refused[-1].data


def test_calls_are_audited_with_the_token_id_and_never_the_token(app: Flask, api: ApiCast) -> None:
    created = api.create()
    row = _token_row(app, api.manager.token)
    with app.app_context(), transaction(write=False) as db:
        event = db.scalars(
            select(AuditEvent).where(col(AuditEvent.kind) == "checklist.created")
        ).one()
        everything = "\n".join(e.data + (e.actor_id or "") for e in db.scalars(select(AuditEvent)))
    assert (event.actor_type, event.actor_id) == ("token", str(row.id))
    assert event.subject_id == str(created["id"])
    assert api.manager.token not in everything
    assert _token_row(app, api.manager.token).last_used_at is not None


def test_a_token_never_does_more_than_its_scopes(api: ApiCast, app: Flask) -> None:
    read_only = Api(
        api.manager.client, issue_token(app, "manager@example.org", ["checklists:read"])
    )
    response = read_only.post("/checklists", {"title": "x"})
    assert response.status_code == 403
    assert response.get_json()["type"] == "urn:adgate:problem:insufficient-scope"
    assert 'scope="checklists:write"' in response.headers["WWW-Authenticate"]


# --- the page -----------------------------------------------------------------------------


def _signed_in(app: Flask, users: UserFactory, email: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert AuthActions(client, users).login(email).status_code == 302
    return client


def test_an_owner_creates_a_token_with_a_fresh_code_and_sees_it_once(
    app: Flask, make_user: UserFactory
) -> None:
    make_user("manager@example.org", "manager")
    client = _signed_in(app, make_user, "manager@example.org")
    # The sign-in code made the login fresh; age it so that a code is asked again.
    with app.app_context(), transaction() as db:
        db.execute(text("UPDATE login_session SET second_factor_at = NULL"))
    form = {
        "csrf_token": csrf_token(client, "/tokens/"),
        "name": "Planner",
        "scopes": ["checklists:read", "submissions:write"],
        "days": "30",
    }
    refused = client.post("/tokens/", data=form)
    assert refused.status_code == 400
    assert "Enter a current code" in refused.get_data(as_text=True)
    code = make_user.two_factor["manager@example.org"].next_code()
    created = client.post("/tokens/", data={**form, "code": code})
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    secret = re.search(r'id="new-token"[^>]*>([^<]+)<', html)
    assert secret
    assert (
        client.get(
            "/api/v1/checklists", headers={"Authorization": f"Bearer {secret.group(1)}"}
        ).status_code
        == 200
    )
    again = client.get("/tokens/").get_data(as_text=True)
    assert secret.group(1) not in again
    assert "Planner" in again


def test_a_scope_outside_the_role_is_refused_on_the_page(
    app: Flask, make_user: UserFactory
) -> None:
    make_user("manager@example.org", "manager")
    client = _signed_in(app, make_user, "manager@example.org")
    response = client.post(
        "/tokens/",
        data={
            "csrf_token": csrf_token(client, "/tokens/"),
            "name": "x",
            "scopes": ["audit:read"],
            "days": "30",
        },
    )
    assert response.status_code == 400
    assert "cannot have the scopes audit:read" in response.get_data(as_text=True)
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(ApiToken)).all() == []


def test_owners_revoke_their_own_tokens_and_admins_any(app: Flask, api: ApiCast) -> None:
    manager_page = _signed_in(app, api.users, "manager@example.org")
    other = _signed_in(app, api.users, "reviewer@example.org")
    row = _token_row(app, api.manager.token)
    token = csrf_token(other, "/tokens/")
    assert other.post(f"/tokens/{row.id}/revoke", data={"csrf_token": token}).status_code == 404
    assert api.manager.get("/checklists").status_code == 200
    assert f'data-token="{row.id}"' not in other.get("/tokens/").get_data(as_text=True)
    assert f'data-token="{row.id}"' in manager_page.get("/tokens/").get_data(as_text=True)
    admin = _signed_in(app, api.users, "admin@example.org")
    assert f'data-token="{row.id}"' in admin.get("/tokens/").get_data(as_text=True)
    token = csrf_token(admin, "/tokens/")
    assert admin.post(f"/tokens/{row.id}/revoke", data={"csrf_token": token}).status_code == 302
    assert api.manager.get("/checklists").status_code == 401


# --- separation of duties ------------------------------------------------------------------


def test_an_admin_issues_no_token_for_anyone_else(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    manager = make_user("manager@example.org", "manager")
    auditor = make_user("auditor@example.org", "auditor")
    make_user("admin@example.org", "admin")
    # (a) An auditor who never signed in (the password an admin set is still to be changed).
    with app.app_context(), transaction() as db:
        db.execute(update(User).where(col(User.id) == auditor.id).values(must_change_password=True))
    assert auth.login("admin@example.org").status_code == 302
    form = {
        "name": "planner",
        "days": 90,
        "code": auth.users.two_factor["admin@example.org"].next_code(),
        "csrf_token": csrf_token(client, "/tokens/"),
    }
    page = client.get("/tokens/").get_data(as_text=True)
    assert 'name="user"' not in page  # no owner to choose
    # The attacks: a token for the auditor that reads the audit log, and one for the manager
    # that makes the manager's own statements. An owner sent anyway is ignored: the token is
    # the admin's own, which reads no audit log and acts as nobody else.
    page_refused = client.post(
        "/tokens/", data={**form, "user": auditor.id, "scopes": ["audit:read", "checklists:read"]}
    )
    assert page_refused.status_code == 400
    assert "cannot have the scopes audit:read" in page_refused.get_data(as_text=True)
    own = client.post(
        "/tokens/", data={**form, "code": "", "user": manager.id, "scopes": ["checklists:write"]}
    )
    assert own.status_code == 201
    with app.app_context(), transaction(write=False) as db:
        owners = {t.user_id for t in db.scalars(select(ApiToken))}
        admin_id = db.scalars(select(User).where(col(User.email) == "admin@example.org")).one().id
    assert owners == {admin_id}
    # The service refuses an issuer other than the owner for every scope, and an owner who
    # cannot sign in as themself yet.
    with app.app_context(), transaction() as db:
        admin = db.scalars(select(User).where(col(User.email) == "admin@example.org")).one()
        for owner, scope in ((manager, "checklists:write"), (manager, "checklists:read"),
                             (auditor, "audit:read"), (manager, "submissions:write")):  # fmt: skip
            row = db.get(User, owner.id)
            assert row is not None
            with pytest.raises(tokens.TokenError) as refused:
                tokens.issue(
                    db, row, name="x", scopes=[scope], lifetime=timedelta(days=1),
                    issued_by=admin, now=utcnow(),
                )  # fmt: skip
            assert refused.value.code == "not_owner"
        issued_before = len(db.scalars(select(ApiToken)).all())
        row = db.get(User, auditor.id)
        assert row is not None
        for issuer in (row, None):
            with pytest.raises(tokens.TokenError) as refused:
                tokens.issue(
                    db, row, name="x", scopes=["audit:read"], lifetime=timedelta(days=1),
                    issued_by=issuer, now=utcnow(),
                )  # fmt: skip
            assert refused.value.code == "owner_must_change_password"
        # Acting scopes need the owner even on the command line (None: the shell admin).
        manager_row = db.get(User, manager.id)
        assert manager_row is not None
        with pytest.raises(tokens.TokenError, match="only the owner"):
            tokens.issue(
                db, manager_row, name="x", scopes=["submissions:write"],
                lifetime=timedelta(days=1), issued_by=None, now=utcnow(),
            )  # fmt: skip
        assert len(db.scalars(select(ApiToken)).all()) == issued_before


def test_the_command_refuses_an_owner_who_has_not_signed_in_yet(
    app: Flask, runner: FlaskCliRunner
) -> None:
    created = runner.invoke(
        args=["users", "create", "aud@example.org", "--role", "auditor", "--password-stdin"],
        input="correct horse battery staple\n",
    )
    assert created.exit_code == 0, created.output
    refused = runner.invoke(args=["tokens", "create", "aud@example.org", "--scope", "audit:read"])
    assert refused.exit_code != 0
    assert "has not yet replaced the password" in refused.output
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(ApiToken)).all() == []


def test_the_command_issues_an_acting_token_only_with_the_owners_code(
    app: Flask, runner: FlaskCliRunner, make_user: UserFactory
) -> None:
    make_user("manager@example.org", "manager")
    args = ["tokens", "create", "manager@example.org", "--scope", "submissions:write"]
    without = runner.invoke(args=args)
    assert without.exit_code != 0
    assert "only the owner may create a token with submissions:write" in without.output
    assert "--code-stdin" in without.output
    wrong = runner.invoke(args=[*args, "--code-stdin"], input="000000\n")
    assert wrong.exit_code != 0
    assert "the code is not valid" in wrong.output
    with app.app_context(), transaction(write=False) as db:
        owner = db.scalars(select(User).where(col(User.email) == "manager@example.org")).one()
        assert owner.failed_logins == 1
        assert db.scalars(select(ApiToken)).all() == []
        kinds = [e.kind for e in db.scalars(select(AuditEvent))]
    assert "auth.code_failed" in kinds
    code = make_user.two_factor["manager@example.org"].next_code()
    right = runner.invoke(args=[*args, "--code-stdin"], input=f"{code}\n")
    assert right.exit_code == 0, right.output
    secret = right.output.strip().splitlines()[-1]
    row = _token_row(app, secret)
    assert row.created_by == row.user_id


def test_a_token_of_a_manager_or_reviewer_works_only_while_its_owner_has_2fa(
    app: Flask, api: ApiCast
) -> None:
    assert api.manager.get("/checklists").status_code == 200
    for client, email in ((api.manager, "manager@example.org"),
                          (api.reviewer, "reviewer@example.org")):  # fmt: skip
        with app.app_context(), transaction() as db:
            owner = db.scalars(select(User).where(col(User.email) == email)).one()
            owner.totp_secret = None
            db.add(owner)
        response = client.get("/checklists")
        assert response.status_code == 401
        assert response.get_json()["type"] == "urn:adgate:problem:unauthorized"
        assert "no two-factor authentication" in response.get_json()["detail"]
    # An auditor's token needs none (auditors have no second factor to lose here).
    assert api.auditor.get("/audit/events").status_code == 200
    events = api.auditor.get("/audit/events?kind=api.unauthorized").get_json()["events"]
    assert {e["data"]["reason"] for e in events} == {"owner_no_two_factor"}


def test_an_admin_never_approves_nor_verifies_identities(app: Flask, api: ApiCast) -> None:
    from app.checklists.service import ChecklistError
    from app.models import Checklist
    from app.reviews import service as reviews

    checklist_id = api.create()["id"]
    api.ready(checklist_id)
    # A token row that claims the scopes anyway (written past the issuer): the role decides.
    with app.app_context(), transaction() as db:
        admin = db.scalars(select(User).where(col(User.email) == "admin@example.org")).one()
        row = _token_row(app, api.admin.token)
        stored = db.get(ApiToken, row.id)
        assert stored is not None
        stored.scopes = ["approvals:write", "checklists:read", "identity:write"]
        db.add(stored)
    etag = api.admin.get(f"/checklists/{checklist_id}").headers["ETag"]
    approve = api.admin.post(
        f"/checklists/{checklist_id}/approval",
        headers={"X-OTP": api.code("admin@example.org"), "If-Match": etag},
    )
    assert approve.status_code == 403
    verify = api.admin.post(
        "/identity-verifications",
        {"user": "manager@example.org", "document_type": "passport",
         "issuing_country": "CH", "expires_on": "2031-01-01"},
    )  # fmt: skip
    assert verify.status_code == 403
    # And the services refuse an admin whatever path calls them.
    with app.app_context(), transaction() as db:
        admin = db.scalars(select(User).where(col(User.email) == "admin@example.org")).one()
        manager = db.scalars(select(User).where(col(User.email) == "manager@example.org")).one()
        checklist = db.get(Checklist, checklist_id)
        assert checklist is not None
        with pytest.raises(ChecklistError):
            reviews.approve(db, checklist, admin, utcnow(), version=checklist.version)
        with pytest.raises(ChecklistError):
            reviews.verify_identity(
                db, admin, manager, document_type="passport", issuing_country="CH",
                expires_on=utcnow().date() + timedelta(days=365), now=utcnow(),
            )  # fmt: skip
    assert api.admin.get(f"/checklists/{checklist_id}").get_json()["approved_by"] is None
