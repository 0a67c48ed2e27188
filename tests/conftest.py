"""Fixtures: an app per test on SQLite and (with TEST_DATABASE_URL) PostgreSQL, clients, users."""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from PIL import Image
from sqlalchemy import create_engine, make_url, text
from sqlmodel import Session
from werkzeug.test import TestResponse

from app import create_app, crypto
from app.auth import totp, twofactor
from app.auth.accounts import create_user
from app.db import alembic_config, transaction
from app.models import User, utcnow

IN_CI = os.environ.get("CI") == "true"
PG_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def require_or_skip(available: bool, what: str) -> None:
    """Skip when ``what`` is missing on a developer's machine; in CI that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {what} is not available: these tests must run in CI")
    pytest.skip(f"{what} is not available")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the database parameter a ``dialect`` mark rules out (it is not a skip)."""
    kept, dropped = [], []
    for item in items:
        mark = item.get_closest_marker("dialect")
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("database_url") if callspec else None
        if mark is not None and param is not None and param != mark.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'adgate.sqlite3'}"
        return
    require_or_skip(bool(PG_URL), "PostgreSQL (TEST_DATABASE_URL)")
    assert PG_URL is not None
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_test_app(database_url: str, instance: Path, **overrides: object) -> Flask:
    """An app in testing mode on ``database_url`` (not migrated)."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        "IP_HMAC_KEY": "test-ip-key-" + uuid.uuid4().hex,
        "TOTP_KEYS": [crypto.new_key()],
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "SESSION_COOKIE_SECURE": False,
        # Real scrypt at a lower cost, so that hundreds of logins stay fast.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A migrated app on a fresh database."""
    app = make_test_app(database_url, tmp_path / "instance")
    command.upgrade(alembic_config(database_url), "head")
    yield app
    app.extensions["adgate.db"].dispose()


def english_client(app: Flask) -> FlaskClient:
    """A test client whose browser asks for English unless a request says otherwise."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's test client (English, see ``english_client``)."""
    return english_client(app)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on ``path``."""
    response = client.get(path, follow_redirects=True)
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {response.status_code})"
    return match.group(1)


@dataclass
class TwoFactor:
    """A test account's TOTP secret and recovery codes, and the time steps its codes used."""

    secret: str
    recovery_codes: list[str]
    used_steps: set[int] = field(default_factory=set)

    def next_code(self) -> str:
        """A code the server accepts now: an unused step of the ±1 window, else a recovery code."""
        now = totp.time_step(utcnow())
        for step in (now, now + 1, now - 1):
            if step not in self.used_steps:
                self.used_steps.add(step)
                return totp.code_at(self.secret, step)
        return self.recovery_codes.pop()


@dataclass
class UserFactory:
    app: Flask
    two_factor: dict[str, TwoFactor] = field(default_factory=dict)

    def __call__(
        self,
        email: str,
        role: str = "manager",
        password: str = PASSWORD,
        *,
        enrolled: bool | None = None,
    ) -> User:
        """An account; roles that require 2FA are enrolled unless ``enrolled=False``."""
        with self.app.app_context(), transaction() as db:
            user = create_user(db, email, role, password)
            if enrolled or (enrolled is None and twofactor.required_for(user)):
                self.two_factor[user.email] = enrol(db, user)
            return user


def enrol(db: Session, user: User) -> TwoFactor:
    """Turn on 2FA for ``user`` as a confirmed enrolment would (needs an app context)."""
    secret = totp.new_secret()
    user.totp_secret = crypto.encrypt(secret)
    user.totp_enabled_at = utcnow()
    db.add(user)
    return TwoFactor(secret, twofactor.regenerate_recovery_codes(db, user))


@pytest.fixture
def make_user(app: Flask) -> UserFactory:
    """Create accounts: ``make_user("a@example.org", "reviewer")``."""
    return UserFactory(app)


@dataclass
class AuthActions:
    client: FlaskClient
    users: UserFactory

    def login(
        self, email: str, password: str = PASSWORD, next_url: str | None = None
    ) -> TestResponse:
        """Sign in through the forms, with a code when the account has 2FA."""
        response = self.password(email, password, next_url)
        if response.status_code == 302 and response.headers["Location"] == "/login/code":
            return self.code(self.users.two_factor[email.lower()].next_code())
        return response

    def password(
        self, email: str, password: str = PASSWORD, next_url: str | None = None
    ) -> TestResponse:
        """Only the password step."""
        path = "/login" + (f"?next={next_url}" if next_url else "")
        token = csrf_token(self.client, path)
        return self.client.post(
            path, data={"email": email, "password": password, "csrf_token": token}
        )

    def code(self, code: str) -> TestResponse:
        """Only the code step."""
        token = csrf_token(self.client, "/login/code")
        return self.client.post("/login/code", data={"code": code, "csrf_token": token})

    def logout(self) -> TestResponse:
        return self.client.post("/logout", data={"csrf_token": csrf_token(self.client, "/")})


@pytest.fixture
def auth(client: FlaskClient, make_user: UserFactory) -> AuthActions:
    """Sign in and out through the forms, as ``make_user``'s accounts."""
    return AuthActions(client, make_user)


def png(width: int, height: int) -> bytes:
    """A PNG image of the given size."""
    return _image(width, height, "PNG")


def jpeg(width: int, height: int) -> bytes:
    """A JPEG image of the given size."""
    return _image(width, height, "JPEG")


def _image(width: int, height: int, kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 84, 159)).save(out, format=kind)
    return out.getvalue()
