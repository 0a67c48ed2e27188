"""Configuration: defaults, instance, environment; generated secrets; refusal of unsafe ones."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from app import create_app
from app.config import UnsafeConfigError


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty instance folder, selected through the environment as an installation would."""
    for key in ("ADGATE_SECRET_KEY", "ADGATE_IP_HMAC_KEY", "ADGATE_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    path = tmp_path / "instance"
    monkeypatch.setenv("ADGATE_INSTANCE_PATH", str(path))
    return path


def test_first_run_generates_secrets_into_the_instance(instance: Path) -> None:
    app = create_app()
    secrets_file = instance / "secrets.json"
    stored = json.loads(secrets_file.read_text())
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert app.config["SECRET_KEY"] == stored["SECRET_KEY"]
    assert len(stored["SECRET_KEY"]) >= 32
    assert len(stored["IP_HMAC_KEY"]) >= 32
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'adgate.sqlite3'}"
    # The second start reads what the first one wrote.
    assert create_app().config["SECRET_KEY"] == stored["SECRET_KEY"]


def test_instance_config_then_environment(instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    instance.mkdir()
    (instance / "config.py").write_text(
        'DATABASE_URL = "sqlite:////tmp/from-instance.sqlite3"\nPASSWORD_MIN_LENGTH = 14\n'
    )
    app = create_app()
    assert app.config["DATABASE_URL"] == "sqlite:////tmp/from-instance.sqlite3"
    assert app.config["PASSWORD_MIN_LENGTH"] == 14
    monkeypatch.setenv("ADGATE_PASSWORD_MIN_LENGTH", "16")
    monkeypatch.setenv("ADGATE_SECRET_KEY", "e" * 40)
    app = create_app()
    assert app.config["PASSWORD_MIN_LENGTH"] == 16
    assert app.config["SECRET_KEY"] == "e" * 40


@pytest.mark.parametrize("secret", ["", "short", "changeme", "dev"])
def test_refuses_to_start_with_an_unsafe_secret(
    instance: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("ADGATE_SECRET_KEY", secret)
    with pytest.raises(UnsafeConfigError, match="SECRET_KEY"):
        create_app()


def test_refuses_a_test_config_without_testing_and_secret(tmp_path: Path) -> None:
    with pytest.raises(UnsafeConfigError):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": None})


def test_production_defaults_are_safe(instance: Path) -> None:
    config = create_app().config
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["DEBUG"] is False
    assert config["WTF_CSRF_ENABLED"] is not False
