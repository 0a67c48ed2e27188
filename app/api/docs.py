"""The OpenAPI document, and the interactive API page: Swagger UI 5, served from this host
(no CDN, no inline script)."""

from __future__ import annotations

from flask import abort, current_app, make_response, render_template, send_from_directory, url_for
from werkzeug.wrappers import Response

from app.api import bp, swagger_ui_files
from app.api.auth import public
from app.api.spec import document

# The files of Swagger UI that the page loads; nothing else from the package is served.
FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return make_response(current_app.json.response(document()))


@bp.get("/docs")
@public
def docs() -> str:
    """Swagger UI over /api/v1/openapi.json; "Authorize" takes a token."""
    return render_template("api/docs.html", spec_url=url_for("api.openapi"))


@bp.get("/docs/<path:filename>")
@public
def docs_file(filename: str) -> Response:
    if filename not in FILES:
        abort(404)
    return send_from_directory(swagger_ui_files(), filename, max_age=86400)
