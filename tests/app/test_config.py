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


def test_mail_settings_come_from_the_environment(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADGATE_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("ADGATE_MAIL_PORT", "587")
    monkeypatch.setenv("ADGATE_MAIL_USE_TLS", "true")
    monkeypatch.setenv("ADGATE_PUBLIC_URL", "https://adgate.example.org")
    config = create_app().config
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == (
        "smtp.example.org", 587, True,
    )  # fmt: skip
    assert config["PUBLIC_URL"] == "https://adgate.example.org"


@pytest.mark.parametrize(
    ("key", "value", "refusal"),
    [
        ("ADGATE_MAIL_LEASE_SECONDS", "20", "MAIL_LEASE_SECONDS"),
        ("ADGATE_PUBLIC_URL", "adgate.example.org", "PUBLIC_URL"),
    ],
)
def test_refuses_mail_settings_that_would_send_twice_or_link_nowhere(
    instance: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, refusal: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(UnsafeConfigError, match=refusal):
        create_app()


def test_live_mode_names_everything_it_lacks_where_meta_is_called(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.submissions.worker import make_gateway

    monkeypatch.setenv("ADGATE_META_MODE", "live")
    # The app servers and the commands that do not call Meta start without its settings ...
    app = create_app()
    # ... the gateway, which only the processes that call Meta build, refuses.
    with pytest.raises(UnsafeConfigError) as refused:
        make_gateway(app)
    message = str(refused.value)
    for setting in ("ADGATE_META_ACCESS_TOKEN", "ADGATE_META_APP_SECRET", "ADGATE_META_GRAPH_URL"):
        assert setting in message
    monkeypatch.setenv("ADGATE_META_ACCESS_TOKEN", "EAAB-system-user-token")
    monkeypatch.setenv("ADGATE_META_APP_SECRET", "the-apps-secret")
    monkeypatch.setenv("ADGATE_META_GRAPH_URL", "https://graph.facebook.com")
    monkeypatch.setenv("ADGATE_META_CA_BUNDLE", "proxy-ca.pem")
    with pytest.raises(UnsafeConfigError, match="ADGATE_META_CA_BUNDLE"):
        make_gateway(create_app())
    instance.mkdir(exist_ok=True)
    (instance / "proxy-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    app = create_app()
    # A bundle named relative to the instance folder is found there.
    assert app.config["META_CA_BUNDLE"] == str(instance / "proxy-ca.pem")
    make_gateway(app)


def test_the_gateway_takes_the_proxy_the_ca_bundle_and_the_app_secret(tmp_path: Path) -> None:
    from app.meta.sdk import SdkGateway

    bundle = tmp_path / "ca.pem"
    gateway = SdkGateway(
        access_token="token",
        graph_url="https://graph.facebook.com",
        api_version="v26.0",
        timeout=5,
        app_secret="secret",
        proxy="http://proxy.example:3128",
        ca_bundle=str(bundle),
    )
    session = gateway._api._session
    assert session.requests.verify == str(bundle)
    assert session.requests.proxies["https"] == "http://proxy.example:3128"
    # The SDK sends appsecret_proof with every call: HMAC-SHA256 of the token with the secret.
    import hashlib
    import hmac

    proof = hmac.new(b"secret", b"token", hashlib.sha256).hexdigest()
    assert session.requests.params["appsecret_proof"] == proof
    plain = SdkGateway(
        access_token="token", graph_url="https://graph.facebook.com", api_version="v26.0", timeout=5
    )
    assert plain._api._session.requests.verify.endswith("fb_ca_chain_bundle.crt")
    assert "appsecret_proof" not in plain._api._session.requests.params
