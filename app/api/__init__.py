"""The JSON API under /api/v1 (blueprint): bearer tokens, problem details, OpenAPI 3.1."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from flask import Blueprint, Flask, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app import inputs
from app.api.problems import ApiProblem

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("adgate.api")
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


def init_app(app: Flask) -> None:
    """Register the blueprint without CSRF (no cookie is ever read), with per-token limits."""
    from app import csrf
    from app.api import (  # noqa: F401  (registers the routes)
        approvals,
        audit,
        checklists,
        cli,
        comments,
        docs,
        identities,
        images,
        spec,
        submissions,
        token_cache,
    )

    csrf.exempt(bp)
    app.register_blueprint(bp)
    token_cache.init_app(app)
    spec.init_app(app)
    app.cli.add_command(cli.tokens_cli)


@bp.before_request
def _guard() -> None:
    from app.api import auth

    auth.enforce()
    _refuse_nul(next((k for k, v in request.args.items(multi=True) if "\x00" in k + v), None))
    if request.method in JSON_METHODS and request.content_length:
        if not request.is_json:
            raise ApiProblem("unsupported-media-type", "send the body as application/json")
        # Checked before parsing: the parser recurses once per level.
        if inputs.json_too_deep(request.get_data(cache=True)):
            raise ApiProblem(
                "invalid-json", f"the JSON nests deeper than {inputs.MAX_JSON_DEPTH} levels"
            )
        body = request.get_json(silent=True)
        if body is None:
            raise ApiProblem("invalid-json", "the body is not valid JSON")
        _refuse_nul(inputs.nul_in(body))


def _refuse_nul(field: str | None) -> None:
    """No NUL reaches a model or the database, wherever it sits."""
    if field is None:
        return
    detail = "remove the NUL character (\\u0000): adgate does not accept it"
    raise ApiProblem(
        "bad-request",
        f"{field or 'the body'} contains a NUL character",
        errors=[{"field": field or "body", "code": "nul_character", "detail": detail}],
    )


@bp.after_request
def _log_call(response: Response) -> Response:
    # One line per call with the token's id (never the token) for operations' logs;
    # changes and refusals are in the audit log as well.
    caller = g.get("api_caller")
    log.info(
        "api %s %s -> %s token=%s request=%s",
        request.method,
        request.path,
        response.status_code,
        caller.token_id if caller is not None else "-",
        g.get("request_id"),
    )
    return response


@bp.errorhandler(ApiProblem)
def _problem(problem: ApiProblem) -> Response:
    return problem.response()


def handles(path: str) -> bool:
    """Whether an error at ``path`` is answered as a problem document (API) or a page."""
    return path == bp.url_prefix or path.startswith(f"{bp.url_prefix}/")


def http_problem(exc: HTTPException) -> Response:
    """Flask's and the extensions' HTTP errors under /api/v1, as problem documents."""
    from app.api.problems import from_http

    # Flask-Limiter adds Retry-After and X-RateLimit-* to a 429 after the handler.
    return from_http(exc).response()


def swagger_ui_files() -> Path:
    """Swagger UI's files as shipped by the swagger-ui-py package (not imported, only served)."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "static"
