"""Data protection: erasing a person, rotating the key of client pseudonyms, the privacy page.

The requirement proved here: erasing a person leaves the audit chain valid and their
e-mail address nowhere in the database (every column of every table is searched).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import inspect, select
from sqlmodel import SQLModel, col
from werkzeug.security import check_password_hash

from app import audit
from app.audit import kinds, verification
from app.auth.erasure import ErasureError, erase
from app.db import engine, transaction
from app.models import (
    ApiToken,
    AuditEvent,
    IdempotencyKey,
    IdentityVerification,
    LoginSession,
    RecoveryCode,
    Role,
    TotpUse,
    User,
    utcnow,
)
from tests.api.conftest import NEW_CHECKLIST, Api, issue_token
from tests.app.conftest import Cast, signed_in
from tests.conftest import (
    PASSWORD,
    AuthActions,
    UserFactory,
    csrf_token,
    english_client,
)
from tools.sandbox_accounts import register_sandbox_accounts

PERSON = "Hanna.Beispiel@Musterstadt.example"
ADDRESS = PERSON.lower()
LOCAL_PART = ADDRESS.split("@")[0]
T = TypeVar("T", bound=SQLModel)
MANAGER_SCOPES = ["checklists:read", "checklists:write", "submissions:write"]


# --- helpers -----------------------------------------------------------------------------


def user_by_id(app: Flask, user_id: int | None) -> User:
    with app.app_context(), transaction(write=False) as db:
        user = db.get(User, user_id)
        assert user is not None
        return user


def events(app: Flask, kind: str | None = None) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if kind is not None:
            query = query.where(col(AuditEvent.kind) == kind)
        return list(db.scalars(query))


def rows(app: Flask, model: type[T], user_id: int | None) -> list[T]:
    """The rows of ``model`` that belong to an account."""
    with app.app_context(), transaction(write=False) as db:
        owner = getattr(model, "user_id")  # noqa: B009  (every personal table has one)
        return list(db.scalars(select(model).where(owner == user_id)))


def places_holding(app: Flask, *needles: str) -> list[str]:
    """Every ``table.column`` whose value contains a needle (case-insensitive), in any row."""
    eng = app.extensions["adgate.db"]
    wanted = [n.lower() for n in needles]
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    # A table the models do not know would escape the search: there must be none.
    assert set(inspect(eng).get_table_names()) <= tables | {"alembic_version"}
    found = []
    with eng.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    text = str(value).lower()
                    found += [f"{table.name}.{column.name}" for n in wanted if n in text]
    return found


def chain_ok(app: Flask) -> verification.VerifyResult:
    with app.app_context():
        return verification.verify(engine())


# --- erasing a person --------------------------------------------------------------------


def test_an_erased_person_is_nowhere_in_the_database_and_the_chain_stays_valid(
    app: Flask, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    """The person signs in, fails once, enrols 2FA, drafts ads, uses the API; then is erased."""
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    person = make_user(PERSON, "manager")
    reviewer = make_user("reviewer@example.org", "reviewer")
    make_user("admin@example.org", "admin")
    make_user("auditor@example.org", "auditor")
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")

    browser = english_client(app)
    auth = AuthActions(browser, make_user)
    assert auth.password(PERSON, "not the password at all").status_code == 200
    assert auth.login(PERSON).status_code == 302
    cast = Cast(
        app, make_user, browser, signed_in(app, make_user, "reviewer@example.org"),
        signed_in(app, make_user, "admin@example.org"), person, reviewer,
    )  # fmt: skip
    checklist_id = cast.create()
    cast.ready(checklist_id)  # classified, 2FA attested, identity verified by the reviewer
    assert cast.approve(checklist_id).status_code == 302
    assert ADDRESS in cast.reviewer.get("/reviews/identities").get_data(as_text=True)
    assert ADDRESS in cast.admin.get("/admin/users").get_data(as_text=True)
    auditor = signed_in(app, make_user, "auditor@example.org")
    assert auditor.get(f"/audit/?actor=user:{person.id}").status_code == 200

    # The API: a token named after its owner, and answers kept for Idempotency-Keys that
    # quote the owner's address.
    api = Api(app.test_client(), issue_token(app, PERSON, MANAGER_SCOPES, name=f"für {PERSON}"))
    created = api.post("/checklists", NEW_CHECKLIST, headers={"Idempotency-Key": "create-1"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["owner"] == ADDRESS
    submitted = api.post(f"/checklists/{checklist_id}/submit", headers={"Idempotency-Key": "s-1"})
    assert submitted.status_code == 202, submitted.get_json()
    assert set(places_holding(app, ADDRESS)) >= {
        "user_account.email",
        "api_token.name",
        "idempotency_key.response_body",
    }

    result = runner.invoke(args=["users", "erase", PERSON, "--yes"])

    assert result.exit_code == 0, result.output
    assert f"erased account {person.id}, now erased-{person.id}@invalid" in result.output
    assert chain_ok(app).ok, chain_ok(app)
    assert places_holding(app, ADDRESS, LOCAL_PART) == []
    # What the erasure did is in the chain, with counts only.
    [event] = events(app, "account.erased")
    assert (event.actor_type, event.subject_type, event.subject_id) == (
        "system", "user", str(person.id),
    )  # fmt: skip
    assert json.loads(event.data) == {
        "logins": 1,
        "totp_uses": 1,
        "recovery_codes": 10,
        "tokens": 1,
        "tokens_revoked": 1,
        "idempotency_keys": 2,
        "mails": 0,
        "identity_verifications_kept": 1,
    }
    # The evidence of the ads stays, referring to the account by number.
    assert cast.checklist(checklist_id).owner_id == person.id
    assert rows(app, IdentityVerification, person.id) != []
    # The person's browser and token are out; the pages show the placeholder.
    assert browser.get("/").headers["Location"].startswith("/login")
    assert api.get(f"/checklists/{checklist_id}").status_code == 401
    # Nothing more of theirs reaches Meta: an owner without 2FA fails the two_factor check.
    assert cast.steps(cast.reviewer, checklist_id)["two_factor"] == "failed"
    page = cast.admin.get("/admin/users").get_data(as_text=True)
    assert f"erased-{person.id}@invalid" in page
    assert f"erased-{person.id}@invalid" in cast.reviewer.get(
        f"/checklists/{checklist_id}"
    ).get_data(as_text=True)


def test_an_auditors_filter_by_address_does_not_keep_the_address(
    app: Flask, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    make_user(PERSON, "manager")
    make_user("admin@example.org", "admin")
    make_user("auditor@example.org", "auditor")
    auditor = signed_in(app, make_user, "auditor@example.org")
    assert auditor.get("/audit/", query_string={"actor": PERSON}).status_code == 200
    assert runner.invoke(args=["users", "erase", PERSON, "--yes"]).exit_code == 0
    assert places_holding(app, ADDRESS) == []


def test_erase_service_clears_the_account_and_keeps_the_references(
    app: Flask, make_user: UserFactory
) -> None:
    person = make_user(PERSON, "reviewer")
    admin = make_user("admin@example.org", "admin")
    issue_token(app, PERSON, ["checklists:read"], name="laptop")
    issue_token(app, PERSON, ["approvals:write"], name="cms")
    now = utcnow()
    with app.test_request_context(), transaction() as db:
        user = db.get(User, person.id)
        assert user is not None
        user.locale, user.failed_logins = "de", 2
        [revoked] = db.scalars(select(ApiToken).where(col(ApiToken.name) == "cms"))
        revoked.revoked_at = now - timedelta(days=1)
        report = erase(db, user, audit.Actor("user", str(admin.id)), now)
    assert report.counts() == {
        "logins": 0,
        "totp_uses": 0,
        "recovery_codes": 10,
        "tokens": 2,
        "tokens_revoked": 1,
        "idempotency_keys": 0,
        "mails": 0,
        "identity_verifications_kept": 0,
    }
    user = user_by_id(app, person.id)
    assert user.email == report.placeholder == f"erased-{person.id}@invalid"
    assert (user.active, user.erased_at, user.role) == (False, now, "reviewer")
    assert (user.totp_secret, user.totp_pending, user.totp_enabled_at) == (None, None, None)
    assert (user.locale, user.failed_logins) == (None, 0)
    assert user.password_hash.startswith("scrypt:")
    assert not check_password_hash(user.password_hash, PASSWORD)
    assert rows(app, RecoveryCode, person.id) == []
    tokens = rows(app, ApiToken, person.id)
    assert {(t.name, t.revoked_at is not None) for t in tokens} == {("erased", True)}
    # Revoked now by whoever erased the person; the token revoked before keeps its record.
    assert sorted((t.revoked_at == now, t.revoked_by) for t in tokens) == [
        (False, None),
        (True, admin.id),
    ]
    [event] = events(app, "account.erased")
    assert (event.actor_type, event.actor_id) == ("user", str(admin.id))
    # Erasing again changes nothing and records nothing.
    with app.app_context(), transaction() as db:
        again = erase(db, db.get(User, person.id), None, utcnow())  # type: ignore[arg-type]
    assert again.already_erased
    assert len(events(app, "account.erased")) == 1
    assert chain_ok(app).ok


def test_an_erased_person_cannot_sign_in(
    app: Flask, client: FlaskClient, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    person = make_user(PERSON, "auditor")
    make_user("admin@example.org", "admin")
    assert runner.invoke(args=["users", "erase", PERSON, "--yes"]).exit_code == 0
    auth = AuthActions(client, make_user)
    for email in (PERSON, f"erased-{person.id}@invalid"):
        response = auth.password(email)
        assert response.status_code == 200
        assert "Location" not in response.headers
    assert rows(app, LoginSession, person.id) == []
    assert rows(app, TotpUse, person.id) == []


def test_the_last_active_admin_is_not_erased(
    app: Flask, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    first = make_user("first@example.org", "admin")
    second = make_user("second@example.org", "admin")
    assert runner.invoke(args=["users", "disable", "second@example.org"]).exit_code == 0
    before = events(app)

    refused = runner.invoke(args=["users", "erase", "first@example.org", "--yes"])

    assert refused.exit_code == 1
    assert "last active administrator" in refused.output
    assert user_by_id(app, first.id).email == "first@example.org"
    assert events(app) == before
    with app.app_context(), transaction() as db:
        user = db.get(User, first.id)
        assert user is not None
        with pytest.raises(ErasureError) as caught:
            erase(db, user, None, utcnow())
    assert caught.value.code == "last_admin"
    # A disabled admin may go, and so may one of two active ones.
    assert runner.invoke(args=["users", "erase", "second@example.org", "--yes"]).exit_code == 0
    make_user("third@example.org", "admin")
    assert runner.invoke(args=["users", "erase", "first@example.org", "--yes"]).exit_code == 0
    assert user_by_id(app, second.id).erased_at is not None


def test_erase_command_errors_and_confirmation(
    app: Flask, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    person = make_user(PERSON, "manager")
    make_user("admin@example.org", "admin")
    before = events(app)

    unknown = runner.invoke(args=["users", "erase", "nobody@example.org", "--yes"])
    assert unknown.exit_code == 1
    assert "no account for nobody@example.org" in unknown.output
    declined = runner.invoke(args=["users", "erase", PERSON], input="n\n")
    assert declined.exit_code == 1
    assert f"Erase {ADDRESS} (manager) for good?" in declined.output
    assert "Aborted" in declined.output
    assert events(app) == before
    assert user_by_id(app, person.id).email == ADDRESS

    confirmed = runner.invoke(args=["users", "erase", PERSON], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    placeholder = f"erased-{person.id}@invalid"
    again = runner.invoke(args=["users", "erase", placeholder, "--yes"])
    assert again.exit_code == 0
    assert f"{placeholder} was erased already" in again.output
    gone = runner.invoke(args=["users", "erase", PERSON, "--yes"])
    assert gone.exit_code == 1
    assert "no account for" in gone.output
    assert f"{placeholder}\tmanager\terased" in runner.invoke(args=["users", "list"]).output
    enabled = runner.invoke(args=["users", "enable", placeholder])
    assert enabled.exit_code == 1
    assert "cannot be enabled again" in enabled.output
    assert [e.kind for e in events(app)[len(before) :]] == ["account.erased"]
    assert chain_ok(app).ok


def test_an_erased_account_cannot_be_enabled_on_the_accounts_page(
    app: Flask, client: FlaskClient, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    person = make_user(PERSON, "manager")
    make_user("admin@example.org", "admin")
    assert AuthActions(client, make_user).login("admin@example.org").status_code == 302
    assert runner.invoke(args=["users", "erase", PERSON, "--yes"]).exit_code == 0

    page = client.get("/admin/users")
    assert page.status_code == 200
    assert f"erased-{person.id}@invalid" in page.get_data(as_text=True)
    token = csrf_token(client, "/admin/users")
    response = client.post(f"/admin/users/{person.id}/enable", data={"csrf_token": token})

    assert response.status_code == 302
    assert "An erased account cannot be enabled again." in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    assert user_by_id(app, person.id).active is False
    assert events(app, "account.enabled") == []


def test_idempotency_answers_of_the_person_are_forgotten(
    app: Flask, make_user: UserFactory, runner: FlaskCliRunner
) -> None:
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    person = make_user(PERSON, "manager")
    make_user("admin@example.org", "admin")
    with app.app_context(), transaction() as db:
        register_sandbox_accounts(db, "act_1001")
    api = Api(app.test_client(), issue_token(app, PERSON, MANAGER_SCOPES))
    key = {"Idempotency-Key": "k-1"}
    assert api.post("/checklists", NEW_CHECKLIST, headers=key).status_code == 201
    with app.app_context(), transaction(write=False) as db:
        assert len(db.scalars(select(IdempotencyKey)).all()) == 1
    assert runner.invoke(args=["users", "erase", PERSON, "--yes"]).exit_code == 0
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(IdempotencyKey)).all() == []
    assert rows(app, ApiToken, person.id) != []


# --- rotating the key of client pseudonyms -----------------------------------------------


def client_ref(app: Flask, address: str = "203.0.113.7") -> str | None:
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return audit.client_ref()


def test_rotate_ip_key_changes_the_pseudonym_and_records_the_rotation(
    app: Flask, runner: FlaskCliRunner
) -> None:
    old_key = app.config["IP_HMAC_KEY"]
    before = client_ref(app)

    result = runner.invoke(args=["audit", "rotate-ip-key"])

    assert result.exit_code == 0, result.output
    assert "restart every app server and worker" in result.output
    stored = json.loads((Path(app.instance_path) / "secrets.json").read_text())
    new_key = stored["IP_HMAC_KEY"]
    assert new_key != old_key
    assert len(new_key) >= 32
    assert app.config["IP_HMAC_KEY"] == new_key
    after = client_ref(app)
    assert after is not None
    assert after != before
    assert client_ref(app, "203.0.113.8") != after
    [event] = events(app, "audit.ip_key_rotated")
    key_id = hashlib.sha256(f"adgate-ip-key-id:{new_key}".encode()).hexdigest()[:8]
    assert json.loads(event.data) == {"key_id": key_id}
    assert (event.actor_type, event.actor_id) == ("system", "adgate")
    assert key_id in result.output
    assert new_key not in result.output
    assert kinds.lookup(event.kind).retention == kinds.INTEGRITY
    assert chain_ok(app).ok


def test_rotate_ip_key_refuses_a_key_from_the_environment(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADGATE_IP_HMAC_KEY", "k" * 40)
    before = client_ref(app)

    result = runner.invoke(args=["audit", "rotate-ip-key"])

    assert result.exit_code == 1
    assert "ADGATE_IP_HMAC_KEY" in result.output
    assert "environment" in result.output
    assert not (Path(app.instance_path) / "secrets.json").exists()
    assert client_ref(app) == before
    assert events(app) == []


def test_rotate_ip_key_refuses_a_key_from_the_instance_config(
    app: Flask, runner: FlaskCliRunner
) -> None:
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "config.py").write_text("IP_HMAC_KEY = 'set-by-hand-" + "x" * 32 + "'\n")

    result = runner.invoke(args=["audit", "rotate-ip-key"])

    assert result.exit_code == 1
    assert "config.py" in result.output
    assert not (instance / "secrets.json").exists()
    assert events(app) == []


# --- the privacy page --------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_privacy_page_for_every_role(
    app: Flask, client: FlaskClient, make_user: UserFactory, role: Role
) -> None:
    app.config["AUDIT_RETENTION_DAYS"] = {"reads": 111, "security": 222, "evidence": 3333}
    make_user(f"{role.value}@example.org", role.value)
    assert AuthActions(client, make_user).login(f"{role.value}@example.org").status_code == 302

    response = client.get("/privacy")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/privacy"' in html  # in the menu
    for name, days in (("reads", "111 days"), ("security", "222 days"), ("evidence", "3333 days")):
        row = html.split(f'data-class="{name}"', 1)[1].split("</tr>", 1)[0]
        assert days in row
        for kind in kinds.in_class(name):
            assert f"<code>{kind}</code>" in row
    integrity = html.split('data-class="integrity"', 1)[1].split("</tr>", 1)[0]
    assert "for as long as the installation exists" in integrity
    assert "<code>audit.ip_key_rotated</code>" in integrity
    assert "<details>" in integrity
    categories = (
        "accounts",
        "logins",
        "identity",
        "ads",
        "tokens",
        "mail",
        "audit",
        "clients",
        "meta",
    )
    for category in categories:
        assert f'id="category-{category}"' in html
    assert "Art. 6(1)(e) and (c)" in html
    assert "DSA Art. 26" in html
    assert "ask your administrator" in html


def test_privacy_page_names_the_configured_contact(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    app.config["PRIVACY_CONTACT"] = "Datenschutz Stadt Musterstadt, dsb@musterstadt.example"
    make_user("auditor@example.org", "auditor")
    AuthActions(client, make_user).login("auditor@example.org")
    html = client.get("/privacy").get_data(as_text=True)
    assert "Datenschutz Stadt Musterstadt, dsb@musterstadt.example" in html
    assert "ask your administrator" not in html


def test_privacy_page_needs_a_sign_in(client: FlaskClient) -> None:
    response = client.get("/privacy")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
