"""RFC 9457 problem details: every error under /api/v1 is ``application/problem+json``.

``type`` is a stable URI per kind of problem (``urn:adgate:problem:<name>``); clients
branch on it, never on ``title`` or ``detail``. The kinds are listed in ``TYPES`` and
in the README.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flask import g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:adgate:problem:"
# name → (status, title)
TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request could not be understood"),
    "invalid-json": (400, "The body is not valid JSON"),
    "idempotency-key-required": (400, "This request needs an Idempotency-Key header"),
    "unauthorized": (401, "A valid API token is required"),
    "forbidden": (403, "The token's owner may not do this"),
    "insufficient-scope": (403, "The token lacks the scope this request needs"),
    "otp-required": (403, "A current code from the authenticator app is required (X-OTP)"),
    "otp-invalid": (403, "The code from the authenticator app is not valid"),
    "otp-locked": (403, "Too many wrong codes: the account is locked for a while"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "The resource does not accept this method"),
    "not-acceptable": (406, "adgate answers in JSON only"),
    "version-conflict": (409, "The checklist has changed since you read it"),
    "checklist-blocked": (409, "Not every step of the checklist is met"),
    "transition-refused": (409, "The checklist cannot make this step in its current state"),
    "idempotency-in-progress": (409, "A request with this Idempotency-Key is still running"),
    "payload-too-large": (413, "The request is larger than adgate accepts"),
    "unsupported-media-type": (415, "Send the body as application/json"),
    "validation-failed": (422, "The request has invalid fields"),
    "idempotency-key-reused": (422, "This Idempotency-Key was used for another request"),
    "precondition-required": (428, "This request needs an If-Match header with the version"),
    "rate-limited": (429, "Too many requests for this token"),
    "internal-error": (500, "An unexpected error occurred"),
}
BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "rate-limited",
}


def type_uri(name: str) -> str:
    return TYPE_PREFIX + name


class ApiProblem(Exception):
    """Raised anywhere in an API request; rendered as a problem document."""

    def __init__(
        self,
        name: str,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.name = name
        self.status, self.title = TYPES[name]
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(f"{name}: {detail or self.title}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": type_uri(self.name),
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "instance": request.path,
            "request_id": g.get("request_id"),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self) -> Response:
        response = Response(
            json.dumps(self.body(), ensure_ascii=False), self.status, mimetype=MEDIA_TYPE
        )
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def from_http(exc: HTTPException) -> ApiProblem:
    """An HTTP error raised by Flask or an extension, as a problem."""
    code = exc.code or 500
    name = BY_STATUS.get(code, "internal-error" if code >= 500 else "bad-request")
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if code == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    detail = None if code >= 500 else exc.description
    return ApiProblem(name, detail, headers=headers)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as ``{field, code, detail}``: every bad field, by its dotted path."""
    listed = []
    for error in errors:
        path = ".".join(str(part) for part in error.get("loc", ()))
        listed.append(
            {
                "field": path or "body",
                "code": str(error.get("type", "invalid")),
                "detail": str(error.get("msg", "invalid value")),
            }
        )
    return listed
