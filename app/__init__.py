"""adgate: the authorization checklist for political and social-issue ads on Meta."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, request
from flask_bootstrap import Bootstrap5
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

csrf = CSRFProtect()
bootstrap = Bootstrap5()

# No inline script or style anywhere: everything comes from /static.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: configuration, database, extensions, blueprints."""
    # Imported here, not above: ``import app.sandbox`` then loads nothing else of adgate.
    from app import config, crypto, db, errors, i18n, inputs, readiness

    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "ADGATE_INSTANCE_PATH"
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    config.load(app, test_config)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))
    if app.config["META_MODE"] == "live" and config.live_mode_missing(app.config):
        # The app servers, `db upgrade` and `users create` do not call Meta and, as the guide
        # suggests, do not hold its token: say so once instead of refusing to start.
        app.logger.info(
            "META_MODE=live without Meta's settings here: this process does not call Meta"
            " (the workers do, and refuse to start without them)"
        )

    if app.config["PROXY_COUNT"]:
        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    app.before_request(_assign_request_id)
    app.after_request(_expose_request_id)

    db.init_app(app)
    readiness.init_app(app)
    crypto.init_app(app)
    i18n.init_app(app)
    bootstrap.init_app(app)
    Talisman(
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=True,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy={"camera": "()", "microphone": "()", "geolocation": "()"},
    )

    from app.auth import access

    # Before CSRFProtect: a role that may not call a view learns nothing about its form.
    app.before_request(access.enforce)
    # Before CSRFProtect too: the body's limit is set, and a NUL refused, before it is read.
    inputs.init_app(app)
    csrf.init_app(app)

    from app import (
        admin,
        api,
        auditors,
        auth,
        checklists,
        main,
        metrics,
        notifications,
        reviews,
        tokens,
    )

    auth.init_app(app)
    api.init_app(app)
    tokens.init_app(app)
    main.init_app(app)
    checklists.init_app(app)
    reviews.init_app(app)
    admin.init_app(app)
    auditors.init_app(app)
    notifications.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)

    from app.meta import webhooks

    webhooks.init_app(app)

    from app.sandbox.server import meta_sandbox_command
    from app.stack import stack_command
    from app.submissions.cli import meta_cli, worker_command

    app.cli.add_command(worker_command)
    app.cli.add_command(meta_cli)
    app.cli.add_command(meta_sandbox_command)
    app.cli.add_command(stack_command)
    return app


def _assign_request_id() -> None:
    # Behind a proxy, its request id ties adgate's events to the proxy's logs.
    incoming = request.headers.get("X-Request-ID", "")
    trusted = bool(current_app.config["PROXY_COUNT"]) and _REQUEST_ID.fullmatch(incoming)
    g.request_id = incoming if trusted else uuid.uuid4().hex


def _expose_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    # Pages carry personal data, TOTP secrets and recovery codes: no cache may keep them.
    if not (request.endpoint or "").endswith("static"):
        response.headers["Cache-Control"] = "no-store"
    return response
