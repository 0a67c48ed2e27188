"""Error pages in every language adgate speaks; a 500 shows a request id, never a stack trace."""

from __future__ import annotations

from flask import Flask, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from app import api, audit

TITLES = {
    400: _l("Bad request"),
    401: _l("Sign-in required"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    413: _l("Request too large"),
    429: _l("Too many requests"),
    500: _l("Something went wrong"),
}
MESSAGES = {
    400: _l("The request could not be understood. Please check your input and try again."),
    401: _l("Please sign in to continue."),
    403: _l("Your role does not allow you to open this page."),
    404: _l("There is no page at this address."),
    405: _l("This page does not accept this kind of request."),
    413: _l("The request is larger than adgate accepts."),
    429: _l("Too many attempts. Please wait a moment and try again."),
    500: _l(
        "An unexpected error occurred. It has been logged; "
        "please quote the request ID when reporting it."
    ),
}
CSRF_MESSAGE = _l(
    "The form has expired or did not come from adgate. Please reload the page and try again."
)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)


def render_error(code: int, message: str | None = None) -> tuple[str, int]:
    """The error page for ``code``."""
    title = TITLES.get(code, TITLES[500 if code >= 500 else 400])
    text = message or MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    return render_template(
        "errors/error.html", code=code, title=title, message=text, request_id=g.get("request_id")
    ), code


def _http_error(exc: HTTPException) -> tuple[str, int] | Response:
    code = exc.code or 500
    if api.handles(request.path):
        if code == 429:
            audit.defer("access.rate_limited", data={"endpoint": request.endpoint,
                                                     "client": audit.client_ref()})  # fmt: skip
        return api.http_problem(exc)
    if code in (403, 429):
        # Refusals are audited; a rate limit's record also names the (pseudonymous) client.
        data = {"endpoint": request.endpoint, "method": request.method}
        if code == 429:
            data["client"] = audit.client_ref()
        audit.defer("access.forbidden" if code == 403 else "access.rate_limited", data=data)
    return render_error(code)


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    audit.defer(
        "access.csrf_refused",
        data={
            "endpoint": request.endpoint,
            "reason": exc.description,
            "client": audit.client_ref(),
        },
    )
    return render_error(400, str(CSRF_MESSAGE))


def _server_error(
    exc: InternalServerError,
) -> tuple[str, int] | tuple[str, int, dict[str, str]] | Response:
    # Flask has logged the original exception with its traceback; the user gets none of it.
    if api.handles(request.path):
        return api.http_problem(exc)
    try:
        return render_error(500)
    except Exception:  # the error page itself failed: answer plainly rather than not at all
        body = f"Internal Server Error (request id {g.get('request_id')})\n"
        return body, 500, {"Content-Type": "text/plain; charset=utf-8"}
