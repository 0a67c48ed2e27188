"""Faults injected into Graph calls (``POST /__sandbox__/faults``, see :mod:`app.sandbox`):
refusals, slow answers and dropped connections."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sandbox.errors import (
    RATE_LIMITS,
    SERVER_ERRORS,
    GraphError,
    policy_block_error,
    rate_limit_error,
    server_error,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FAULT_KINDS = ("rate_limit", "server_error", "policy_block", "slow", "drop")
FAULT_CODES = {"rate_limit": sorted(RATE_LIMITS), "server_error": sorted(SERVER_ERRORS)}
MAX_DELAY = 60.0
# Set in a request's environ to drop its connection (:class:`DropConnection`).
DROP = "meta_sandbox.drop"


@dataclass
class Fault:
    """An injected fault (see the module docstring); ``remaining`` counts its ``next`` calls."""

    id: int
    kind: str
    rate: float
    remaining: int | None
    code: int | None
    delay: float
    methods: tuple[str, ...] | None

    def matches(self, method: str) -> bool:
        """Whether a Graph call with this HTTP method is in the fault's scope."""
        return self.methods is None or method in self.methods

    def refusal(self) -> GraphError | None:
        """The error this fault answers instead of performing the call, if any."""
        if self.kind == "rate_limit":
            return rate_limit_error(self.code or 17)
        if self.kind == "server_error":
            return server_error(self.code or 2)
        if self.kind == "policy_block":
            return policy_block_error()
        return None


def parse_fault(payload: Any, fault_id: int) -> Fault:
    """A :class:`Fault` from the JSON body of ``POST /__sandbox__/faults``; ValueError if bad."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(payload) - {"kind", "code", "rate", "next", "delay", "methods"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    kind = payload.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    codes = FAULT_CODES.get(kind, [])
    code = payload.get("code")
    if code is not None and code not in codes:
        raise ValueError(f"code for {kind} must be one of {codes or 'nothing'}")
    rate, remaining = payload.get("rate"), payload.get("next")
    if rate is None and remaining is None:
        raise ValueError("give rate (0.0-1.0) or next (a number of calls), or both")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1
    ):
        raise ValueError("rate must be a number from 0.0 to 1.0")
    if remaining is not None and (
        isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 1
    ):
        raise ValueError("next must be a positive integer")
    delay = payload.get("delay")
    if (kind == "slow") != (delay is not None):
        raise ValueError("delay is required for slow faults, and only for them")
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 < delay <= MAX_DELAY
    ):
        raise ValueError(f"delay must be a number of seconds in (0, {MAX_DELAY:g}]")
    methods = payload.get("methods")
    if methods is not None and (
        not isinstance(methods, list)
        or not methods
        or not all(m in ("GET", "POST", "DELETE") for m in methods)
    ):
        raise ValueError("methods must be a non-empty list of GET, POST, DELETE")
    return Fault(
        id=fault_id,
        kind=kind,
        rate=1.0 if rate is None else float(rate),
        remaining=remaining,
        code=code,
        delay=float(delay or 0.0),
        methods=tuple(methods) if methods else None,
    )


class DropConnection:
    """WSGI middleware: after a call marked for ``drop``, close the socket, answer nothing.

    Raising a ``ConnectionError`` before the first byte is written makes werkzeug's
    server treat the request as a connection the client dropped: it writes nothing
    and closes the socket. The explicit shutdown makes the client see the end of the
    stream at once.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if not environ.get(DROP):
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("Meta sandbox: connection dropped on purpose")
