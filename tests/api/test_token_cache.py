"""The token cache (app.api.token_cache): one statement fewer per API call where a Redis is
shared, and a token revoked (or its owner disabled) anywhere is refused by every process on
its very next request."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from alembic import command
from flask import Flask
from sqlalchemy import create_engine, select, text, update
from sqlmodel import col

from app.api import token_cache, tokens
from app.auth import twofactor
from app.auth.accounts import find_user
from app.db import alembic_config, transaction
from app.models import ApiToken, User, utcnow
from tests.api.conftest import ApiCast, token_status
from tests.api.test_statements import counting
from tests.app.test_deploy import GUNICORN, ROOT, Served, gunicorn
from tests.conftest import AuthActions, csrf_token, make_test_app, require_or_skip

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Long enough that only the generation can explain a refusal within a test, never the age.
LONG = 300.0


def _redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis, removed afterwards."""
    require_or_skip(_redis_reachable(), f"Redis ({REDIS_URL})")
    prefix = f"test-{uuid.uuid4().hex[:16]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    # The counter's key, and the limiter's (LIMITS:LIMITER/<prefix>/…).
    keys = list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*keys)


def redis_config(prefix: str) -> dict[str, Any]:
    return {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "TOKEN_CACHE_GENERATION_KEY": f"{prefix}:token-cache:generation",
        "TOKEN_CACHE_SECONDS": LONG,
    }


@pytest.fixture
def app(database_url: str, tmp_path: Path, redis_prefix: str) -> Iterator[Flask]:
    """This module's apps count their rate limits in Redis, so they keep the token cache."""
    app = make_test_app(database_url, tmp_path / "instance", **redis_config(redis_prefix))
    command.upgrade(alembic_config(database_url), "head")
    yield app
    cache_of(app).client.close()
    app.extensions["adgate.db"].dispose()


def cache_of(app: Flask) -> token_cache.TokenCache:
    cache: token_cache.TokenCache = app.extensions[token_cache.EXTENSION]
    return cache


def generation(app: Flask) -> int:
    with app.app_context():
        value = cache_of(app).generation()
    assert value is not None
    return value


def token_id(app: Flask, secret: str) -> int:
    with app.app_context(), transaction(write=False) as db:
        found = tokens.find(db, secret)
        assert found is not None
        assert found[0].id is not None
        return found[0].id


# --- in one process -------------------------------------------------------------------------


def test_a_second_read_takes_one_statement_fewer_than_without_the_cache(api: ApiCast) -> None:
    checklist_id = api.create()["id"]
    assert api.manager.get(f"/checklists/{checklist_id}").status_code == 200  # fills the cache
    with counting(api.app) as cached:
        assert api.manager.get(f"/checklists/{checklist_id}").status_code == 200
    with api.app.app_context():
        cache_of(api.app).bump()  # what any change of a token or an account does
    with counting(api.app) as uncached:
        assert api.manager.get(f"/checklists/{checklist_id}").status_code == 200
    assert len(cached.statements) == len(uncached.statements) - 1, cached.statements
    token_reads = [s for s in uncached.of("SELECT") if "FROM api_token" in s]
    assert len(token_reads) == 1
    assert token_reads[0] not in cached.statements
    assert cached.of("UPDATE") == [] == uncached.of("UPDATE")


def test_without_a_shared_redis_there_is_no_cache(
    api: ApiCast, database_url: str, tmp_path: Path
) -> None:
    plain = make_test_app(database_url, tmp_path / "plain", API_RATE_LIMIT="100000 per minute")
    assert plain.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert token_cache.EXTENSION not in plain.extensions
    client = plain.test_client()
    headers = {"Authorization": f"Bearer {api.auditor.token}"}
    client.get("/api/v1/checklists/999999", headers=headers)
    for _ in range(2):
        with counting(plain) as counted:
            assert client.get("/api/v1/checklists/999999", headers=headers).status_code == 404
        assert len([s for s in counted.of("SELECT") if "FROM api_token" in s]) == 1
    plain.extensions["adgate.db"].dispose()


def test_a_cached_token_revoked_in_the_same_process_is_refused(api: ApiCast) -> None:
    assert token_status(api.app, api.auditor.token) == 404
    with api.app.app_context(), transaction() as db:
        token = db.get(ApiToken, token_id(api.app, api.auditor.token))
        assert token is not None
        assert tokens.revoke(db, token, None, utcnow())
    assert token_status(api.app, api.auditor.token) == 401


def test_recording_a_use_keeps_the_generation_and_other_changes_bump_it_twice(
    api: ApiCast,
) -> None:
    ident = token_id(api.app, api.auditor.token)
    before = generation(api.app)
    with api.app.app_context(), transaction() as db:
        token = db.get(ApiToken, ident)
        assert token is not None
        token.last_used_at = utcnow() - timedelta(hours=1)
        db.add(token)
    assert generation(api.app) == before
    with api.app.app_context(), transaction() as db:
        token = db.get(ApiToken, ident)
        assert token is not None
        token.name = "renamed"  # not flushed before the commit: the commit's own flush counts
        db.add(token)
    assert generation(api.app) == before + 2
    with api.app.app_context(), transaction() as db:
        db.execute(update(User).where(col(User.email) == "auditor@example.org").values(locale="fr"))
    assert generation(api.app) == before + 4


def test_a_rolled_back_change_does_not_bump(api: ApiCast) -> None:
    before = generation(api.app)

    def disable_then_fail() -> None:
        with api.app.app_context(), transaction() as db:
            user = find_user(db, "auditor@example.org")
            assert user is not None
            user.active = False
            db.add(user)
            db.flush()
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        disable_then_fail()
    assert generation(api.app) == before
    assert token_status(api.app, api.auditor.token) == 404


def test_without_redis_a_revocation_is_refused_and_changes_nothing(
    api: ApiCast, database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    # Port 1 on loopback: nothing listens; the connection is refused at once.
    away = make_test_app(
        database_url,
        tmp_path / "away",
        **{**redis_config(redis_prefix), "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"},
    )
    ident = token_id(api.app, api.auditor.token)
    result = away.test_cli_runner().invoke(args=["tokens", "revoke", str(ident)])
    assert result.exit_code != 0
    assert isinstance(result.exception, token_cache.GenerationUnavailable)
    with api.app.app_context(), transaction(write=False) as db:
        token = db.get(ApiToken, ident)
        assert token is not None
        assert token.revoked_at is None
    cache_of(away).client.close()
    away.extensions["adgate.db"].dispose()


# --- across processes -----------------------------------------------------------------------


def server_env(app: Flask, database_url: str, instance: Path, prefix: str) -> dict[str, str]:
    """The environment of another adgate process on the same database and Redis."""
    settings = {**redis_config(prefix), "API_RATE_LIMIT": "100000 per minute"}
    return {
        **os.environ,
        "ADGATE_DATABASE_URL": database_url,
        "ADGATE_INSTANCE_PATH": str(instance),
        "ADGATE_SECRET_KEY": "cache-test-" + os.urandom(24).hex(),
        "ADGATE_IP_HMAC_KEY": "cache-test-" + os.urandom(24).hex(),
        "ADGATE_TOTP_KEYS": json.dumps(app.config["TOTP_KEYS"]),
        **{f"ADGATE_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()},
        "FLASK_APP": "wsgi",
    }


@pytest.fixture
def server(app: Flask, database_url: str, tmp_path: Path, redis_prefix: str) -> Iterator[Served]:
    """Another process serving adgate (gunicorn, one worker: one cache)."""
    env = {
        **server_env(app, database_url, tmp_path / "server", redis_prefix),
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
    }
    with gunicorn(env) as served:
        yield served


def status_on(server: Served, secret: str) -> int:
    """404 from a view the token reaches, 401 when it does not authenticate."""
    response = requests.get(
        f"{server.url}/api/v1/checklists/999999",
        headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
        timeout=30,
    )
    return response.status_code


@pytest.mark.dialect("postgresql")
def test_a_change_in_one_process_is_refused_by_anothers_cache_on_its_next_request(
    api: ApiCast, server: Served, database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    for secret in (api.manager.token, api.reviewer.token, api.auditor.token, api.admin.token):
        assert status_on(server, secret) == 404, server.output  # now in the server's cache

    # The server does cache: a revocation written behind the application's back (plain SQL,
    # no session, no bump) goes unseen there, while a process without the row refuses.
    admin_id = token_id(api.app, api.admin.token)
    raw = create_engine(database_url)
    with raw.begin() as conn:
        conn.execute(
            text("UPDATE api_token SET revoked_at = :now WHERE id = :id"),
            {"now": utcnow(), "id": admin_id},
        )
    raw.dispose()
    assert status_on(server, api.admin.token) == 404
    assert token_status(api.app, api.admin.token) == 401

    # Revoked on the tokens page of this process.
    auditor_id = token_id(api.app, api.auditor.token)
    auth = AuthActions(api.app.test_client(), api.users)
    assert auth.login("auditor@example.org").status_code == 302
    response = auth.client.post(
        f"/tokens/{auditor_id}/revoke", data={"csrf_token": csrf_token(auth.client, "/tokens/")}
    )
    assert response.status_code == 302
    assert status_on(server, api.auditor.token) == 401

    # The owner disabled on the command line, a third process.
    env = server_env(api.app, database_url, tmp_path / "cli", redis_prefix)
    done = subprocess.run(
        [str(GUNICORN.parent / "flask"), "users", "disable", "manager@example.org"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert status_on(server, api.manager.token) == 401

    # The owner turned two-factor authentication off (the token itself is not revoked).
    with api.app.app_context(), transaction() as db:
        reviewer = find_user(db, "reviewer@example.org")
        assert reviewer is not None
        twofactor.disable(db, reviewer)
    with api.app.app_context(), transaction(write=False) as db:
        row = db.scalars(
            select(ApiToken).where(col(ApiToken.token_hash) == tokens.digest(api.reviewer.token))
        ).one()
        assert row.revoked_at is None
    assert status_on(server, api.reviewer.token) == 401


def test_a_redis_that_lost_the_counter_starts_it_where_no_entry_was_filled(api: ApiCast) -> None:
    api.auditor.get("/checklists/999999")  # cached under the current generation
    before = generation(api.app)
    cache = cache_of(api.app)
    cache.client.delete(cache.key)  # a restart without persistence
    cache.bump()
    cache.bump()  # counting up from nothing again would reach small numbers
    after = generation(api.app)
    assert after not in (before, 2)
    with counting(api.app) as counted:
        assert api.auditor.get("/checklists/999999").status_code == 404
    assert [s for s in counted.of("SELECT") if "FROM api_token" in s]


def test_a_savepoint_released_inside_a_transaction_bumps_only_with_its_commit(
    api: ApiCast,
) -> None:
    # The blocked submit runs its view in a savepoint: releasing one commits nothing yet.
    assert token_status(api.app, api.auditor.token) == 404  # its use recorded, and cached
    before = generation(api.app)
    with api.app.app_context(), transaction() as db:
        user = find_user(db, "auditor@example.org")
        assert user is not None
        with db.begin_nested():
            user.active = False
            db.add(user)
        assert generation(api.app) == before
        assert token_status(api.app, api.auditor.token) == 404  # not committed: still valid
    assert generation(api.app) == before + 2
    assert token_status(api.app, api.auditor.token) == 401
