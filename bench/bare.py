"""The baseline for bench/web.py: a bare Flask app with one JSON endpoint, served by the same
gunicorn settings as adgate. Whatever adgate costs beyond this is adgate's own."""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/json")
def json_endpoint() -> Response:
    """A small JSON document, as an API's cheapest answer."""
    return jsonify(status="ok", id=1, state="draft")
