"""Two-factor authentication: RFC 6238 vectors, drift, replay, lockout, recovery codes,
secrets at rest, key rotation, enrolment, step-up, disable and reset."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update
from sqlmodel import col
from werkzeug.test import TestResponse

from app.auth import totp, twofactor
from app.db import engine, transaction
from app.models import AuditEvent, LoginSession, User, utcnow
from tests.api.conftest import issue_token, token_status
from tests.conftest import (
    PASSWORD,
    AuthActions,
    UserFactory,
    csrf_token,
    english_client,
    make_test_app,
)

# RFC 6238, appendix B: the seeds are ASCII, 20 bytes for SHA-1, 32 for SHA-256, 64 for SHA-512.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


SIGN_IN_REFUSED = "Wrong e-mail address or password, or the account is locked for a while"
SAME_ANSWER = "The password or the code is not correct."


def _b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode()


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC_VECTORS)
def test_rfc6238_appendix_b_vectors(unix_time: int, sha1: str, sha256: str, sha512: str) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    for name, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        digest = getattr(hashlib, name)
        secret = _b32(SEEDS[name])
        step = totp.verify(secret, expected, at, digits=8, digest=digest)
        assert step == unix_time // 30, (unix_time, name)
        wrong = f"{(int(expected) + 1) % 10**8:08d}"
        assert totp.verify(secret, wrong, at, digits=8, digest=digest) is None


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_drift_of_one_step_is_accepted_and_two_refused(offset: int, accepted: bool) -> None:
    secret = totp.new_secret()
    now = datetime(2026, 11, 21, 12, 0, 15, tzinfo=UTC)
    code = totp.code_at(secret, totp.time_step(now) + offset)
    assert (totp.verify(secret, code, now) is not None) is accepted


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.verify(totp.new_secret(), code, utcnow()) is None


def test_secrets_have_160_bits() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) * 8 >= 160


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(col(AuditEvent.kind) == kind)))


def _user(app: Flask, email: str) -> User:
    with app.app_context(), transaction(write=False) as db:
        return db.scalars(select(User).where(col(User.email) == email)).one()


def test_login_needs_password_and_code(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    first = auth.password("m@example.org")
    assert first.headers["Location"] == "/login/code"
    # Half-way there: nothing but the code page is open.
    assert client.get("/").headers["Location"].startswith("/login")
    done = auth.code(make_user.two_factor["m@example.org"].next_code())
    assert done.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    [login] = _events(app, "auth.login")
    assert json.loads(login.data)["second_factor"] == "totp"


def test_half_login_expires(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.password("m@example.org")
    with client.session_transaction() as sess:
        sess["pending_login"] = {**sess["pending_login"], "until": utcnow().timestamp() - 1}
    response = auth.code(make_user.two_factor["m@example.org"].next_code())
    assert response.headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")


def test_wrong_code_is_refused_and_audited(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.password("m@example.org")
    response = auth.code("000000" if make_user.two_factor["m@example.org"].secret else "")
    assert response.status_code == 200
    assert "The code is not valid" in response.get_data(as_text=True)
    [failure] = _events(app, "auth.code_failed")
    assert json.loads(failure.data)["reason"] == "invalid"
    assert client.get("/").status_code == 302


def test_replayed_code_is_refused(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    code = make_user.two_factor["m@example.org"].next_code()
    auth.password("m@example.org")
    assert auth.code(code).headers["Location"] == "/"
    auth.logout()
    auth.password("m@example.org")
    replay = auth.code(code)
    assert replay.status_code == 200
    assert "used already" in replay.get_data(as_text=True)
    [failure] = _events(app, "auth.code_failed")
    assert json.loads(failure.data)["reason"] == "replayed"


def test_replay_through_a_second_app_instance_is_refused(
    app: Flask, database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    # Another process on the same database: its own app, engine and keys (shared config).
    other = make_test_app(
        database_url,
        tmp_path / "other-instance",
        SECRET_KEY=app.config["SECRET_KEY"],
        TOTP_KEYS=app.config["TOTP_KEYS"],
    )
    try:
        code = two_factor.next_code()
        first, second = (
            AuthActions(english_client(app), make_user),
            AuthActions(english_client(other), make_user),
        )
        first.password("m@example.org")
        second.password("m@example.org")
        assert first.code(code).headers["Location"] == "/"
        replay = second.code(code)
        assert replay.status_code == 200
        assert "used already" in replay.get_data(as_text=True)
    finally:
        other.extensions["adgate.db"].dispose()


def test_lockout_after_failures_and_release_after_backoff(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        response = auth.password("m@example.org", "a wrong password")
    # The page says no more than for an unknown address (see test_auth): the lock is silent.
    assert SIGN_IN_REFUSED in response.get_data(as_text=True)
    [lock] = _events(app, "auth.locked")
    assert json.loads(lock.data) == {"seconds": 60, "lockouts": 1, "stage": "password"}
    # Locked: even the right password does not get through.
    refused = auth.password("m@example.org")
    assert refused.status_code == 200
    assert SIGN_IN_REFUSED in refused.get_data(as_text=True)
    assert client.get("/").headers["Location"].startswith("/login")
    # The backoff passes (the lock moved into the past), and the account opens again.
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User)).one()
        user.locked_until = utcnow() - timedelta(seconds=1)
        db.add(user)
    assert auth.login("m@example.org").headers["Location"] == "/"
    assert _user(app, "m@example.org").lockouts == 0


def test_backoff_grows_with_each_lock(
    app: Flask, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _lock in range(3):
        for _ in range(limit):
            auth.password("m@example.org", "a wrong password")
        with app.app_context(), transaction() as db:
            user = db.scalars(select(User)).one()
            user.locked_until = utcnow() - timedelta(seconds=1)
            db.add(user)
    seconds = [json.loads(e.data)["seconds"] for e in _events(app, "auth.locked")]
    assert seconds == [60, 120, 240]


def test_wrong_codes_lock_too(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.password("m@example.org")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        response = auth.code("000000")
    assert response.headers["Location"] == "/login"
    [lock] = _events(app, "auth.locked")
    assert json.loads(lock.data)["stage"] == "code"
    page = client.get("/login").get_data(as_text=True)
    assert "this account is locked" in page


def test_recovery_code_works_once(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    code = make_user.two_factor["m@example.org"].recovery_codes[0]
    auth.password("m@example.org")
    assert auth.code(code.upper()).headers["Location"] == "/"
    [used] = _events(app, "twofactor.recovery_code_used")
    assert json.loads(used.data) == {"remaining": 9}
    auth.logout()
    auth.password("m@example.org")
    again = auth.code(code)
    assert again.status_code == 200
    assert client.get("/").status_code == 302


def test_secrets_are_unreadable_in_the_database(app: Flask, make_user: UserFactory) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    with app.app_context(), engine().connect() as conn:
        rows = conn.execute(text("SELECT * FROM user_account")).mappings().all()
        codes = conn.execute(text("SELECT * FROM recovery_code")).mappings().all()
    dump = json.dumps([dict(r) for r in rows], default=str)
    assert two_factor.secret not in dump
    assert base64.b32decode(two_factor.secret).hex() not in dump
    assert rows[0]["totp_secret"].startswith("gAAAA")  # a Fernet token
    code_dump = json.dumps([dict(r) for r in codes], default=str)
    for code in two_factor.recovery_codes:
        assert code not in code_dump
        assert code.replace("-", "") not in code_dump


def test_rotation_reencrypts_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADGATE_TOTP_KEYS", raising=False)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    instance = tmp_path / "instance"
    from alembic import command

    from app.config import ensure_secrets
    from app.db import alembic_config

    keys = ensure_secrets(instance, ["TOTP_KEYS"])["TOTP_KEYS"]
    app = make_test_app(url, instance, TOTP_KEYS=keys)
    command.upgrade(alembic_config(url), "head")
    users = UserFactory(app)
    for i in range(3):
        users(f"m{i}@example.org")
    before = {u.email: u.totp_secret for u in _all(app)}
    result = app.test_cli_runner().invoke(args=["twofactor", "rotate-key", "--drop-old"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 3 accounts" in result.output
    stored = json.loads((instance / "secrets.json").read_text())["TOTP_KEYS"]
    assert len(stored) == 1
    assert stored[0] not in keys
    after = {u.email: u.totp_secret for u in _all(app)}
    assert all(after[e] != before[e] for e in before)
    # Only the new key is needed now: an app started with it alone reads every secret.
    fresh = make_test_app(url, tmp_path / "fresh", TOTP_KEYS=stored)
    with fresh.app_context(), transaction() as db:
        for user in db.scalars(select(User)):
            code = users.two_factor[user.email].next_code()
            assert twofactor.check_code(db, user, code, utcnow()).ok
    for a in (app, fresh):
        a.extensions["adgate.db"].dispose()


def _all(app: Flask) -> list[User]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(User)))


def test_enrolment_then_login_with_the_new_secret(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("r@example.org", "reviewer", enrolled=False)
    assert auth.password("r@example.org").headers["Location"] == "/two-factor/enrol"
    page = client.get("/two-factor/enrol").get_data(as_text=True)
    secret = page.split('id="totp-secret"')[1].split(">")[1].split("<")[0]
    assert f"secret={secret}" in page.replace("&amp;", "&") or "<svg" in page
    # Reloading shows the same secret until it is confirmed.
    assert secret in client.get("/two-factor/enrol").get_data(as_text=True)
    token = csrf_token(client, "/two-factor/enrol")
    wrong = client.post("/two-factor/enrol", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 200
    assert not _user(app, "r@example.org").totp_enabled
    step = totp.time_step(utcnow())
    done = client.post(
        "/two-factor/enrol", data={"code": totp.code_at(secret, step), "csrf_token": token}
    )
    body = done.get_data(as_text=True)
    assert body.count("<li><code>") == 10
    assert client.get("/").status_code == 200
    assert _user(app, "r@example.org").totp_enabled
    assert len(_events(app, "twofactor.enabled")) == 1
    auth.logout()
    auth.password("r@example.org")
    assert auth.code(totp.code_at(secret, step + 1)).headers["Location"] == "/"


def test_roles_that_need_2fa_enrol_before_anything_else(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("a@example.org", "admin")
    auth.login("a@example.org")
    token = csrf_token(client, "/account/two-factor")
    code = make_user.two_factor["a@example.org"].next_code()
    off = client.post(
        "/account/two-factor/disable",
        data={"password": PASSWORD, "code": code, "csrf_token": token},
    )
    assert off.headers["Location"] == "/account/two-factor"
    assert _user(app, "a@example.org").totp_enabled is False
    for path in ("/", "/admin/users", "/account/two-factor"):
        assert client.get(path).headers["Location"] == "/two-factor/enrol", path
    assert client.get("/two-factor/enrol").status_code == 200
    assert auth.logout().headers["Location"] == "/login"


def test_auditors_may_go_without_2fa(
    client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("aud@example.org", "auditor")
    assert auth.login("aud@example.org").headers["Location"] == "/"
    assert client.get("/audit/").status_code == 200
    assert "Set up two-factor" in client.get("/account/two-factor").get_data(as_text=True)


def test_disabling_needs_password_and_code(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("aud@example.org", "auditor", enrolled=True)
    auth.login("aud@example.org")
    token = csrf_token(client, "/account/two-factor")
    code = make_user.two_factor["aud@example.org"].next_code()
    for data in (
        {"password": "not the password", "code": code},
        {"password": PASSWORD, "code": "000000"},
        {"password": PASSWORD, "code": ""},
    ):
        response = client.post("/account/two-factor/disable", data={**data, "csrf_token": token})
        assert response.status_code == 400
        assert _user(app, "aud@example.org").totp_enabled
    assert _events(app, "twofactor.disabled") == []


def test_regenerating_recovery_codes_voids_the_old_ones(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    two_factor = make_user.two_factor["m@example.org"]
    old = list(two_factor.recovery_codes)
    auth.login("m@example.org")
    token = csrf_token(client, "/account/two-factor")
    response = client.post(
        "/account/two-factor/recovery-codes",
        data={"code": two_factor.next_code(), "csrf_token": token},
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("<li><code>") == 10
    auth.logout()
    auth.password("m@example.org")
    assert auth.code(old[0]).status_code == 200  # refused
    assert len(_events(app, "twofactor.recovery_codes_generated")) == 2


def test_admin_resets_another_accounts_2fa(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("a@example.org", "admin")
    manager = make_user("m@example.org")
    manager_client = english_client(app)
    AuthActions(manager_client, make_user).login("m@example.org")
    auth.login("a@example.org")
    token = csrf_token(client, "/admin/users")
    assert (
        client.post(
            f"/admin/users/{manager.id}/reset-two-factor", data={"csrf_token": token}
        ).headers["Location"]
        == "/admin/users"
    )
    assert not _user(app, "m@example.org").totp_enabled
    [reset] = _events(app, "twofactor.reset")
    assert reset.subject_id == str(manager.id)
    # The manager's login ended; signing in again leads to a new enrolment.
    assert manager_client.get("/").headers["Location"].startswith("/login")
    assert (
        AuthActions(manager_client, make_user).password("m@example.org").headers["Location"]
        == "/two-factor/enrol"
    )


def test_step_up_makes_the_login_fresh(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("r@example.org", "reviewer")
    auth.login("r@example.org")

    def login_row() -> LoginSession:
        with app.app_context(), transaction(write=False) as db:
            return db.scalars(select(LoginSession)).one()

    with app.app_context():
        assert twofactor.is_fresh(login_row())
        later = utcnow() + timedelta(seconds=app.config["STEP_UP_MAX_AGE_SECONDS"] + 1)
        assert not twofactor.is_fresh(login_row(), later)
    token = csrf_token(client, "/account/two-factor/confirm")
    response = client.post(
        "/account/two-factor/confirm?next=/admin/users",
        data={"code": make_user.two_factor["r@example.org"].next_code(), "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/users"
    first = login_row().second_factor_at
    assert first is not None
    assert utcnow() - first < timedelta(seconds=5)


def test_sign_in_forms_are_rate_limited_per_ip(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert auth.password("nobody@example.org", "x").status_code == 200
    limited = auth.password("nobody@example.org", "x")
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    assert len(_events(app, "access.rate_limited")) == 1
    # Another address is not affected.
    other = english_client(app)
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert AuthActions(other, make_user).password("nobody@example.org", "x").status_code == 200


# --- one second-factor operation: locks first, refusals counted and kept -------------------


def _lock(app: Flask, email: str, minutes: int = 60) -> None:
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == email)).one()
        user.locked_until = utcnow() + timedelta(minutes=minutes)
        db.add(user)


def _unlock(app: Flask, email: str) -> None:
    with app.app_context(), transaction() as db:
        user = db.scalars(select(User).where(col(User.email) == email)).one()
        user.locked_until = None
        db.add(user)


def _feedback(response: TestResponse) -> list[str]:
    """The messages the page shows beside its fields."""
    return re.findall(
        r'class="invalid-feedback[^"]*"[^>]*>\s*([^<]*?)\s*<', response.get_data(True)
    )


def test_step_up_is_refused_while_locked_without_looking_at_the_code(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("r@example.org", "reviewer")
    auth.login("r@example.org")
    with app.app_context(), transaction() as db:
        db.execute(update(LoginSession).values(second_factor_at=None))  # not fresh any more
    _lock(app, "r@example.org")
    two_factor = make_user.two_factor["r@example.org"]
    code = two_factor.next_code()
    token = csrf_token(client, "/account/two-factor/confirm")
    refused = client.post(
        "/account/two-factor/confirm?next=/reviews/", data={"code": code, "csrf_token": token}
    )
    assert refused.status_code == 200
    assert "this account is locked" in refused.get_data(as_text=True)
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(LoginSession)).one().second_factor_at is None
    [failure] = _events(app, "auth.code_failed")
    assert json.loads(failure.data)["reason"] == "locked"
    # The code was not looked at: once the lock is over, the same code is still good.
    _unlock(app, "r@example.org")
    done = client.post(
        "/account/two-factor/confirm?next=/reviews/", data={"code": code, "csrf_token": token}
    )
    assert done.headers["Location"] == "/reviews/"


def test_wrong_passwords_and_codes_on_disable_count_lock_are_audited_and_read_alike(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("aud@example.org", "auditor", enrolled=True)
    two_factor = make_user.two_factor["aud@example.org"]
    auth.login("aud@example.org")
    token = csrf_token(client, "/account/two-factor")
    limit = app.config["LOGIN_MAX_FAILURES"]
    answers = []
    for attempt in range(limit):
        data = (
            {"password": "a guessed password", "code": two_factor.next_code()}
            if attempt % 2 == 0
            else {"password": PASSWORD, "code": "000000"}
        )
        response = client.post("/account/two-factor/disable", data={**data, "csrf_token": token})
        assert response.status_code == 400
        answers.append((response.status_code, _feedback(response)))
    # A wrong password reads exactly as a wrong code: the page confirms no guess.
    assert answers[0] == answers[1] == answers[2] == answers[3]
    assert answers[0][1] == [SAME_ANSWER + " Each code works only once."]
    # The 400 rolled each request back; the failures were kept and counted all the same.
    assert len(_events(app, "auth.password_failed")) == (limit + 1) // 2
    assert len(_events(app, "auth.code_failed")) == limit // 2
    [lock] = _events(app, "auth.locked")
    assert json.loads(lock.data)["stage"] in {"password", "code"}
    assert "this account is locked" in " ".join(answers[-1][1])
    # Locked: the right password and a right code do not turn it off.
    right = {"password": PASSWORD, "code": two_factor.next_code(), "csrf_token": token}
    assert client.post("/account/two-factor/disable", data=right).status_code == 400
    assert _user(app, "aud@example.org").totp_enabled
    assert _events(app, "twofactor.disabled") == []


def test_wrong_codes_for_new_recovery_codes_are_counted_and_audited(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    token = csrf_token(client, "/account/two-factor")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        response = client.post(
            "/account/two-factor/recovery-codes", data={"code": "000000", "csrf_token": token}
        )
        assert response.status_code == 400
    assert len(_events(app, "auth.code_failed")) == app.config["LOGIN_MAX_FAILURES"]
    assert len(_events(app, "auth.locked")) == 1
    assert _user(app, "m@example.org").locked_until is not None
    assert len(_events(app, "twofactor.recovery_codes_generated")) == 1  # the fixture's


def test_a_success_resets_the_count(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("m@example.org")
    auth.login("m@example.org")
    token = csrf_token(client, "/account/two-factor")
    for _ in range(2):
        client.post(
            "/account/two-factor/recovery-codes", data={"code": "000000", "csrf_token": token}
        )
    assert _user(app, "m@example.org").failed_logins == 2
    code = make_user.two_factor["m@example.org"].next_code()
    client.post("/account/two-factor/recovery-codes", data={"code": code, "csrf_token": token})
    assert _user(app, "m@example.org").failed_logins == 0


def test_each_enrolment_gets_its_own_secret_and_only_it_can_confirm(
    app: Flask, make_user: UserFactory
) -> None:
    make_user("r@example.org", "reviewer", enrolled=False)
    first, second = english_client(app), english_client(app)

    def shown(client: FlaskClient) -> tuple[str, str]:
        """The secret the enrolment page shows this client, and the page's CSRF token."""
        assert AuthActions(client, make_user).password("r@example.org").headers["Location"] == (
            "/two-factor/enrol"
        )
        page = client.get("/two-factor/enrol").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token is not None
        return page.split('id="totp-secret"')[1].split(">")[1].split("<")[0], token.group(1)

    early, early_token = shown(first)  # whoever else knows the password, signing in first
    mine, my_token = shown(second)
    assert early != mine
    step = totp.time_step(utcnow())
    # The first enrolment's secret was voided by the second: confirming it fails.
    refused = first.post(
        "/two-factor/enrol", data={"code": totp.code_at(early, step), "csrf_token": early_token}
    )
    assert refused.headers["Location"] == "/login"  # that sign-in is over
    assert not _user(app, "r@example.org").totp_enabled
    [failed] = _events(app, "twofactor.enrolment_failed")
    assert json.loads(failed.data)["reason"] == "not_this_enrolment"
    done = second.post(
        "/two-factor/enrol", data={"code": totp.code_at(mine, step), "csrf_token": my_token}
    )
    assert done.get_data(as_text=True).count("<li><code>") == 10
    assert _user(app, "r@example.org").totp_enabled
    # The first one's copy opens nothing: its codes are refused at sign-in.
    other = AuthActions(english_client(app), make_user)
    assert other.password("r@example.org").headers["Location"] == "/login/code"
    assert other.code(totp.code_at(early, step + 1)).status_code == 200
    assert other.client.get("/").headers["Location"].startswith("/login")
    assert other.code(totp.code_at(mine, step + 1)).headers["Location"] == "/"


def test_admin_reset_of_2fa_revokes_the_accounts_tokens(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: UserFactory
) -> None:
    make_user("a@example.org", "admin")
    manager = make_user("m@example.org")
    secret = issue_token(app, "m@example.org", ["checklists:read"])
    assert token_status(app, secret) == 404
    auth.login("a@example.org")
    token = csrf_token(client, "/admin/users")
    client.post(f"/admin/users/{manager.id}/reset-two-factor", data={"csrf_token": token})
    assert token_status(app, secret) == 401
    [revoked] = _events(app, "token.revoked")
    assert json.loads(revoked.data) == {"owner": manager.id, "reason": "two_factor_reset"}
    [reset] = _events(app, "twofactor.reset")
    assert json.loads(reset.data) == {"tokens_revoked": 1, "credentials_version": 1}
