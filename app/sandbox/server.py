"""The sandbox as a server: its Flask app, a threaded werkzeug server whose log lines carry no
access token, and ``flask meta-sandbox``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.sandbox import GRAPH_VERSION, routes
from app.sandbox.faults import DropConnection
from app.sandbox.store import SandboxState
from app.sandbox.usage import Budget
from app.sandbox.webhooks import Webhooks

_TOKEN = re.compile(r"access(?:_|%5f)token=[^&\s\"']*", re.IGNORECASE)


def create_sandbox_app(
    *,
    review_delay: float = 2.0,
    state_file: Path | None = None,
    seed: int | None = None,
    app_secret: str | None = None,
    rate_tier: str | None = "standard",
    visibility_delay: float = 0.0,
) -> Flask:
    """The sandbox Graph server as a Flask app (its state in ``extensions["meta_sandbox"]``).

    With ``app_secret`` it behaves as a Meta app with "Require App Secret" on: every Graph
    call must carry the matching ``appsecret_proof``, and webhooks are signed with it.
    ``rate_tier`` (``development``, ``standard`` or None) sets the rate limits it enforces;
    ``visibility_delay`` keeps new objects from reads for that many seconds.
    """
    if review_delay < 0 or visibility_delay < 0:
        raise ValueError("delays must not be negative")
    app = Flask(__name__)
    app.config["APP_SECRET"] = app_secret
    state = SandboxState(
        review_delay=review_delay,
        state_file=state_file,
        seed=seed,
        visibility_delay=visibility_delay,
    )
    webhooks = Webhooks(app_secret)
    state.notify = lambda field, object_id, value: webhooks.notify(
        state.account_of(object_id) or "", field, object_id, value
    )
    app.extensions["meta_sandbox"] = state
    app.extensions["meta_sandbox_budget"] = Budget(rate_tier)
    app.extensions["meta_sandbox_webhooks"] = webhooks
    app.wsgi_app = DropConnection(app.wsgi_app)  # type: ignore[method-assign]
    routes.init_app(app)
    return app


def redact(text: str) -> str:
    """``text`` with every access token replaced (for log lines)."""
    return _TOKEN.sub("access_token=[redacted]", text)


class SandboxRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging paths without their query string.

    The SDK sends the access token in the query string: it never reaches a log.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: method, path (no query string), status."""
        path = urlsplit(self.path).path
        self.log("info", '"%s %s %s" %s %s', self.command, path, self.request_version, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        """Log the formatted line with any access token redacted (e.g. a bad request line)."""
        super().log(type, "%s", redact(message % args if args else message))


def make_sandbox_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` (``port`` 0 picks a free port)."""
    return make_server(host, port, app, threaded=True, request_handler=SandboxRequestHandler)


def base_url(server: BaseWSGIServer) -> str:
    """The server's base URL, e.g. ``http://127.0.0.1:5001`` (set as ``session.GRAPH``)."""
    host = server.host
    return f"http://[{host}]:{server.port}" if ":" in host else f"http://{host}:{server.port}"


@click.command("meta-sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5001, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--review-delay",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds before Meta's review of a new ad is decided.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file keeping the sandbox's objects across restarts (default: memory only).",
)
@click.option(
    "--app-secret",
    envvar="ADGATE_META_APP_SECRET",
    default=None,
    help="Require appsecret_proof made with this app secret (read from the environment).",
)
@click.option(
    "--rate-tier",
    type=click.Choice(["development", "standard", "none"]),
    default="standard",
    show_default=True,
    help="The Marketing API access tier whose rate limits it enforces.",
)
def meta_sandbox_command(
    host: str,
    port: int,
    review_delay: float,
    state_file: Path | None,
    app_secret: str | None,
    rate_tier: str,
) -> None:
    """Serve the local Meta Graph API sandbox (v26.0) until interrupted."""
    try:
        app = create_sandbox_app(
            review_delay=review_delay,
            state_file=state_file,
            app_secret=app_secret or None,
            rate_tier=None if rate_tier == "none" else rate_tier,
        )
        server = make_sandbox_server(app, host, port)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Meta sandbox: Graph API {GRAPH_VERSION} at {base_url(server)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
