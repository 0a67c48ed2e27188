"""Configuration: defaults, then the instance's secrets and ``config.py``, then ``ADGATE_*``.

Secrets are never shipped: on first run the keys adgate needs are generated into
``instance/secrets.json`` (mode 0600). Outside testing the app refuses to start
with a missing, short or well-known secret key.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": None,
    # None selects the SQLite file in the instance folder.
    "DATABASE_URL": None,
    "LANGUAGES": ("de", "fr", "it", "en"),
    "BABEL_DEFAULT_LOCALE": "de",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Berlin",
    "SESSION_COOKIE_NAME": "adgate_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": True,
    # Idle timeout: Flask checks the signed cookie's age on every request.
    "PERMANENT_SESSION_LIFETIME": timedelta(minutes=30),
    # Absolute lifetime of a login, whatever the activity.
    "LOGIN_SESSION_MAX_AGE": timedelta(hours=12),
    "PASSWORD_MIN_LENGTH": 12,
    # werkzeug's scrypt (N=2^15, r=8, p=1): about 0.1 s per check on one core.
    "PASSWORD_HASH_METHOD": "scrypt:32768:8:1",
    "BOOTSTRAP_SERVE_LOCAL": True,
    "BOOTSTRAP_BOOTSWATCH_THEME": None,
    # TLS is terminated by the reverse proxy; set this where adgate itself serves HTTPS.
    "FORCE_HTTPS": False,
    # How many reverse proxies stand in front of adgate (X-Forwarded-* is trusted that deep).
    "PROXY_COUNT": 0,
    "IP_HMAC_KEY": None,
    # Who answers data protection questions (the controller's contact or its DPO), shown on
    # the privacy page; None: the page tells people to ask their administrator.
    "PRIVACY_CONTACT": None,
    # The statement on accessibility (BITV 2.0 § 7, docs/accessibility.md): who takes feedback
    # on barriers (None: the page names the privacy contact, else the administrator), and when
    # the statement was last reviewed (an ISO date; None: the page says it is not reviewed).
    "ACCESSIBILITY_CONTACT": None,
    "ACCESSIBILITY_REVIEWED_ON": None,
    # Uploaded ad images (adgate's limit; Meta takes up to 30 MB) and whole request bodies:
    # forms and JSON are far smaller; a request that uploads an image may add the image,
    # base64-encoded (about 11 MB for 8 MB), to this (app.inputs.upload_limit).
    "IMAGE_MAX_BYTES": 8 * 1024 * 1024,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # The four-eyes principle: a reviewer approves every ad before it is submitted.
    "FOUR_EYES": True,
    # Which release this is, named in /readyz (None: the git commit of the code, if any).
    "RELEASE": None,
    # Meta: "sandbox" talks to adgate's own Graph server, "live" to graph.facebook.com.
    "META_MODE": "sandbox",
    "META_GRAPH_URL": "http://127.0.0.1:5001",
    "META_ACCESS_TOKEN": "sandbox-token",
    "META_API_VERSION": "v26.0",
    "META_TIMEOUT_SECONDS": 10.0,
    # The Meta app's secret: every call then carries appsecret_proof (required in live mode).
    "META_APP_SECRET": None,
    # An HTTPS proxy for the calls to Meta (e.g. "http://proxy.example:3128"), or None.
    "META_PROXY": None,
    # A CA bundle (PEM) to trust instead of the one the SDK pins: needed behind a proxy that
    # inspects TLS with a certificate of its own. A path, relative to the instance folder.
    "META_CA_BUNDLE": None,
    # Ads are created paused; an ad manager starts them in Meta's Ads Manager.
    "META_AD_STATUS": "PAUSED",
    # The submission worker.
    "WORKER_POLL_SECONDS": 0.5,
    "WORKER_LEASE_SECONDS": 60,
    "WORKER_MAX_ATTEMPTS": 6,
    "WORKER_BACKOFF_BASE_SECONDS": 2.0,
    "WORKER_BACKOFF_MAX_SECONDS": 300.0,
    # Submissions one worker process sends at a time (threads; the calls to Meta wait on the
    # network). 1 sends them one after the other.
    "WORKER_IN_FLIGHT": 4,
    # After an ambiguous create (timeout, dropped answer), look the object up this many times,
    # waiting this long before the first (doubling), before creating it again.
    "WORKER_LOOKUPS": 3,
    "WORKER_LOOKUP_WAIT_SECONDS": 10.0,
    # Meta's status of each ad is read again after this pause, which doubles while nothing
    # changes up to the maximum (Meta's rate limits: docs/meta.md).
    "REVIEW_POLL_SECONDS": 60.0,
    "REVIEW_POLL_MAX_SECONDS": 3600.0,
    # Reads that can wait (Meta's status of ads, reconciliation) wait while Meta last said an
    # ad account's rate budget is used to this percent or more: the rest is kept for sending.
    "META_USAGE_YIELD_PERCENT": 50.0,
    # How often the worker lists adgate's objects at Meta to find any it does not track.
    "RECONCILE_HOURS": 1.0,
    # Meta's ads webhooks: the verify token set in the app's webhook settings (None: the
    # endpoint is off). Payloads are accepted only when signed with META_APP_SECRET.
    "META_WEBHOOK_VERIFY_TOKEN": None,
    # Rejected ads after which an ad account loses its political-ad eligibility.
    "MAX_VIOLATIONS": 1,
    # Fernet keys for secrets at rest; the first encrypts (see app.crypto).
    "TOTP_KEYS": None,
    # Two-factor authentication (RFC 6238).
    "TWO_FACTOR_ROLES": ("manager", "reviewer", "admin"),
    "TWO_FACTOR_ISSUER": "adgate",
    # How long the state between password and code (or enrolment) lasts.
    "TWO_FACTOR_PENDING_SECONDS": 300,
    # How recent a TOTP code must be for approving and submitting (step-up).
    "STEP_UP_MAX_AGE_SECONDS": 300,
    # Failed passwords or codes before the account is locked; the lock doubles each time.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_BASE_SECONDS": 60,
    "LOGIN_LOCKOUT_MAX_SECONDS": 3600,
    # Per client IP, on the sign-in forms (Flask-Limiter syntax).
    "LOGIN_RATE_LIMIT": "30 per minute;300 per hour",
    # memory:// counts per process; several processes share redis://host:6379.
    "RATELIMIT_STORAGE_URI": "memory://",
    # Where that is a Redis, each process keeps API tokens and their owners this long (0: not
    # at all) and this many of them, and Redis holds the counter that revokes every process's
    # copies at once (app.api.token_cache). memory:// keeps no such cache.
    "TOKEN_CACHE_SECONDS": 10.0,
    "TOKEN_CACHE_SIZE": 1024,
    "TOKEN_CACHE_GENERATION_KEY": "adgate:token-cache:generation",
    # Per API token (per client address without a valid token), Flask-Limiter syntax.
    "API_RATE_LIMIT": "600 per minute;20000 per day",
    # How long an Idempotency-Key and its answer are kept (never less than 24 hours).
    "IDEMPOTENCY_TTL_HOURS": 24,
    "RATELIMIT_HEADERS_ENABLED": True,
    # The audit log: days each class of event is kept before `flask audit purge` may clear its
    # content (app.audit.kinds names the classes; "integrity" events are never cleared).
    # `audit verify` reports a purge that kept a class for fewer days than configured here.
    "AUDIT_RETENTION_DAYS": {"reads": 365, "security": 730, "evidence": 3650},
    # An Ed25519 private key (PEM, `flask audit keygen`) that signs checkpoints, export
    # manifests and purges; a path relative to the instance folder. Without it they are
    # unsigned, and `flask audit purge` refuses to run.
    "AUDIT_SIGNING_KEY_FILE": None,
    # Public halves (.pub) of earlier signing keys, relative to the instance folder:
    # verification trusts purges they signed besides those of the key above.
    "AUDIT_PUBLIC_KEY_FILES": [],
    # The worker appends a checkpoint when the newest is older than this.
    "AUDIT_CHECKPOINT_HOURS": 24,
    # The bearer token Prometheus sends to GET /metrics (at least 32 random characters).
    # None: only loopback clients (127.0.0.1, ::1, as the app sees them) may read the metrics.
    "METRICS_TOKEN": None,
    # Where people reach adgate: the links in mails (e.g. "https://adgate.example.org").
    "PUBLIC_URL": "http://127.0.0.1:5000",
    # Notifications by e-mail (app.notifications). None: no mail server, nothing is queued.
    # `make run` points them at its local sink (flask mail-sink, loopback, port 8025).
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    # STARTTLS on the submission port (587); MAIL_USE_SSL for implicit TLS (465) instead.
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "adgate <adgate@localhost>",
    "MAIL_TIMEOUT": 10.0,
    # The worker's claim on a mail: longer than any SMTP conversation (MAIL_TIMEOUT).
    "MAIL_LEASE_SECONDS": 60,
    "MAIL_BACKOFF_BASE_SECONDS": 30.0,
    "MAIL_BACKOFF_MAX_SECONDS": 3600.0,
    # Sent mails are kept this long (what was told to whom), then deleted by the worker.
    "MAIL_KEEP_DAYS": 90,
    # How long before a recorded identity document expires its person and the reviewers are told.
    "NOTIFY_IDENTITY_EXPIRY_DAYS": 30,
    # A throttle at Meta that keeps a submission waiting this long is told to its owner.
    "NOTIFY_THROTTLE_MINUTES": 60,
    # How long an invitation's link holds (app.auth.invitations), and how soon after sending
    # an invitation it may be sent again (a new link).
    "INVITATION_HOURS": 72,
    "INVITATION_RESEND_MINUTES": 5,
    # `flask stack` also starts the local SMTP sink (make run sets it).
    "MAIL_SINK": False,
}

# Keys generated into instance/secrets.json when neither it nor the environment has them.
GENERATED_SECRETS: dict[str, Callable[[], Any]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "IP_HMAC_KEY": lambda: secrets.token_urlsafe(32),
    "TOTP_KEYS": lambda: [Fernet.generate_key().decode()],
}
# Secrets that are strings and must be long; TOTP_KEYS is checked by app.crypto.
STRING_SECRETS = ("SECRET_KEY", "IP_HMAC_KEY")

WELL_KNOWN_SECRETS = frozenset(
    {"dev", "development", "secret", "changeme", "change-me", "test", "testing", "default"}
)
MIN_SECRET_LENGTH = 32
SECRETS_FILE = "secrets.json"
ENV_PREFIX = "ADGATE"


class UnsafeConfigError(RuntimeError):
    """The configuration must not be used to serve anyone."""


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in order: defaults, instance, environment (or the test config)."""
    app.config.from_mapping(DEFAULTS)
    if test_config is not None:
        app.config.from_mapping(test_config)
    else:
        env_keys = {
            k.removeprefix(f"{ENV_PREFIX}_") for k in os.environ if k.startswith(ENV_PREFIX)
        }
        missing = [k for k in GENERATED_SECRETS if k not in env_keys]
        if missing:
            app.config.from_mapping(ensure_secrets(Path(app.instance_path), missing))
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env(ENV_PREFIX)
    if not app.config.get("DATABASE_URL"):
        db_file = Path(app.instance_path) / "adgate.sqlite3"
        app.config["DATABASE_URL"] = f"sqlite:///{db_file}"
    reviewed = app.config.get("ACCESSIBILITY_REVIEWED_ON")
    if reviewed:
        try:
            date.fromisoformat(str(reviewed))
        except ValueError:
            raise ValueError(
                f"ACCESSIBILITY_REVIEWED_ON must be a date like 2026-12-02, not {reviewed!r}"
            ) from None
    bundle = app.config.get("META_CA_BUNDLE")
    if bundle and not Path(str(bundle)).is_absolute():
        app.config["META_CA_BUNDLE"] = str(Path(app.instance_path) / str(bundle))
    refuse_unsafe(app.config)


def refuse_unsafe(config: Mapping[str, Any]) -> None:
    """Raise when a setting would make a served instance unsafe (testing excepted)."""
    if config.get("TESTING"):
        return
    for key in STRING_SECRETS:
        value = config.get(key)
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            raise UnsafeConfigError(
                f"{key} is missing or shorter than {MIN_SECRET_LENGTH} characters; "
                f"remove it from the configuration to have one generated into instance/, "
                f"or set ADGATE_{key} to a long random value."
            )
        if value.lower() in WELL_KNOWN_SECRETS:
            raise UnsafeConfigError(f"{key} is a well-known default; set a random value.")
    if float(config.get("WORKER_LEASE_SECONDS", 60)) < 3 * float(
        config.get("META_TIMEOUT_SECONDS", 10)
    ):
        # A claim must outlive any single call to Meta, or two workers could send one ad.
        raise UnsafeConfigError("WORKER_LEASE_SECONDS must be at least 3 x META_TIMEOUT_SECONDS")
    if float(config.get("MAIL_LEASE_SECONDS", 60)) < 3 * float(config.get("MAIL_TIMEOUT", 10)):
        # Likewise for mails: a claim that ends mid-conversation would let a second worker
        # send the same mail.
        raise UnsafeConfigError("MAIL_LEASE_SECONDS must be at least 3 x MAIL_TIMEOUT")
    if not str(config.get("PUBLIC_URL") or "").startswith(("https://", "http://")):
        raise UnsafeConfigError("PUBLIC_URL must be adgate's address, e.g. https://adgate.example")
    if config.get("META_MODE") not in ("sandbox", "live"):
        raise UnsafeConfigError("META_MODE must be 'sandbox' or 'live'")
    # Live mode's settings are checked by the processes that call Meta (the worker, the
    # reconciliation, reading an account), not here: app servers, `db upgrade` and `users
    # create` never hold the Meta token (the guide keeps it in the workers' env file).


def refuse_meta_unready(config: Mapping[str, Any]) -> None:
    """Raise, naming what is missing, when a process that calls Meta lacks live settings."""
    if config.get("TESTING") or config.get("META_MODE") != "live":
        return
    missing = live_mode_missing(config)
    if missing:
        raise UnsafeConfigError(
            "META_MODE=live needs " + "; ".join(missing) + " in the environment of the"
            " processes that call Meta (the workers: /etc/adgate/worker.env)"
        )


def live_mode_missing(config: Mapping[str, Any]) -> list[str]:
    """What live mode lacks, each named with the setting that provides it."""
    missing = []
    token = config.get("META_ACCESS_TOKEN") or ""
    if not token or token == DEFAULTS["META_ACCESS_TOKEN"]:
        missing.append("ADGATE_META_ACCESS_TOKEN (a system user's access token)")
    if not config.get("META_APP_SECRET"):
        missing.append("ADGATE_META_APP_SECRET (the app's secret: calls carry appsecret_proof)")
    if not str(config.get("META_GRAPH_URL", "")).startswith("https://"):
        missing.append("an https ADGATE_META_GRAPH_URL (https://graph.facebook.com)")
    proxy = config.get("META_PROXY")
    if proxy and not str(proxy).startswith(("http://", "https://")):
        missing.append("ADGATE_META_PROXY as http://host:port or https://host:port")
    bundle = config.get("META_CA_BUNDLE")
    if bundle and not Path(str(bundle)).is_file():
        missing.append(f"ADGATE_META_CA_BUNDLE pointing at a PEM file ({bundle} is none)")
    return missing


def ensure_secrets(instance: Path, keys: list[str]) -> dict[str, Any]:
    """Return the instance's secrets for ``keys``, generating the missing ones once.

    Several processes may start at once (gunicorn workers, the worker, the CLI);
    an exclusive lock on the file makes the first one generate and the rest read.
    """

    def add_missing(stored: dict[str, Any]) -> None:
        for key in keys:
            if key not in stored:
                stored[key] = GENERATED_SECRETS[key]()

    stored = _edit_secrets(instance, add_missing)
    return {k: stored[k] for k in keys}


def update_secret(instance: Path, key: str, value: Any) -> None:
    """Replace one secret in ``instance/secrets.json`` (key rotation)."""
    _edit_secrets(instance, lambda stored: stored.__setitem__(key, value))


def _edit_secrets(instance: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    instance.mkdir(parents=True, exist_ok=True)
    fd = os.open(instance / SECRETS_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        text = fh.read()
        stored: dict[str, Any] = json.loads(text) if text.strip() else {}
        before = dict(stored)
        change(stored)
        if stored != before:
            fh.seek(0)
            fh.truncate()
            json.dump(stored, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
    return stored
