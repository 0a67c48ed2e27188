"""The sandbox's HTTP face: the Graph API (``/v26.0/…``) and the test and control API
(``/__sandbox__/…``), both described in :mod:`app.sandbox`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, jsonify, request

from app.sandbox import GRAPH_VERSION
from app.sandbox.accounts import SandboxAccount
from app.sandbox.errors import (
    GraphError,
    nonexisting_edge_error,
    token_error,
    unknown_path_error,
    unsupported_request,
    version_error,
)
from app.sandbox.faults import DROP
from app.sandbox.params import decode_params
from app.sandbox.reviews import OUTCOMES
from app.sandbox.rules import APPSECRET_PROOF_REQUIRED, INVALID_VALUE
from app.sandbox.store import EDGES, SandboxState, select
from app.sandbox.usage import READ, WRITE, Budget


def init_app(app: Flask) -> None:
    """Route the control API and every Graph path to their views."""
    app.add_url_rule("/__sandbox__/objects", view_func=_objects)
    app.add_url_rule("/__sandbox__/reset", view_func=_reset, methods=["POST"])
    app.add_url_rule("/__sandbox__/review", view_func=_review, methods=["POST"])
    app.add_url_rule("/__sandbox__/faults", view_func=_faults, methods=["GET", "POST", "DELETE"])
    app.add_url_rule("/__sandbox__/reviews", view_func=_reviews, methods=["POST"])
    app.add_url_rule(
        "/__sandbox__/throttles", view_func=_throttles, methods=["GET", "POST", "DELETE"]
    )
    app.add_url_rule("/__sandbox__/usage", view_func=_usage)
    app.add_url_rule("/__sandbox__/webhooks", view_func=_webhooks, methods=["GET", "POST"])
    methods = ["GET", "POST", "DELETE"]
    app.add_url_rule("/", view_func=_graph, defaults={"path": ""}, methods=methods)
    app.add_url_rule("/<path:path>", view_func=_graph, methods=methods)


def appsecret_proof(app_secret: str, access_token: str) -> str:
    """Meta's appsecret_proof: the HMAC-SHA256 of the access token, keyed with the app secret."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _state() -> SandboxState:
    state = current_app.extensions["meta_sandbox"]
    assert isinstance(state, SandboxState)
    return state


# -- the test and control API --------------------------------------------------


def _control_error(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _objects() -> Response:
    return jsonify(_state().snapshot())


def _reset() -> Response:
    _state().reset()
    return jsonify({"reset": True})


def _review() -> Response | tuple[Response, int]:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict) or not isinstance(body.get("ad_id", ""), str):
        return _control_error('the body must be empty or {"ad_id": "<id>"}')
    try:
        reviewed = _state().review_now(body.get("ad_id"))
    except KeyError:
        return _control_error(f"no ad {body['ad_id']}", 404)
    return jsonify({"reviewed": reviewed})


def _reviews() -> Response | tuple[Response, int]:
    """Set an ad's next review outcome: {"ad_id", "effective_status", "feedback"}."""
    body = request.get_json(silent=True)
    if (
        not isinstance(body, dict)
        or set(body) - {"ad_id", "effective_status", "feedback"}
        or not isinstance(body.get("ad_id"), str)
        or body.get("effective_status") not in OUTCOMES
        or not isinstance(body.get("feedback", {}), dict)
    ):
        return _control_error(
            'the body must be {"ad_id": "<id>", "effective_status": '
            f'{"|".join(OUTCOMES)}, "feedback": {{...}}}}'
        )
    try:
        status = _state().set_outcome(
            body["ad_id"], body["effective_status"], body.get("feedback", {})
        )
    except KeyError:
        return _control_error(f"no ad {body['ad_id']}", 404)
    return jsonify({"ad_id": body["ad_id"], "effective_status": status})


def _throttles() -> Response | tuple[Response, int]:
    """Hold an ad account throttled: {"ad_account": "act_…", "seconds": N}; DELETE ends all."""
    budget, now = _budget(), time.time()
    if request.method == "DELETE":
        budget.release()
    elif request.method == "POST":
        body = request.get_json(silent=True)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        account = body.get("ad_account") if isinstance(body, dict) else None
        if (
            account not in _state().accounts
            or isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= 3600
        ):
            return _control_error('the body must be {"ad_account": "act_…", "seconds": 1-3600}')
        until = budget.hold(str(account), float(seconds), now)
        return jsonify({"ad_account": account, "until": until}), 201
    return jsonify(budget.report(now))


def _usage() -> Response:
    return jsonify(_budget().report(time.time()))


def _webhooks() -> Response | tuple[Response, int]:
    """Subscribe a URL to the sandbox's ads webhooks ({"url"}); GET lists the deliveries."""
    webhooks = current_app.extensions["meta_sandbox_webhooks"]
    if request.method == "POST":
        body = request.get_json(silent=True)
        try:
            webhooks.subscribe(str(body.get("url", "")) if isinstance(body, dict) else "")
        except ValueError as exc:
            return _control_error(str(exc))
        return jsonify({"subscribed": webhooks.urls}), 201
    return jsonify({"subscribed": webhooks.urls, "delivered": webhooks.delivered})


def _faults() -> Response | tuple[Response, int]:
    state = _state()
    if request.method == "POST":
        try:
            fault = state.add_fault(request.get_json(silent=True))
        except ValueError as exc:
            return _control_error(str(exc))
        return jsonify({"fault": asdict(fault)}), 201
    if request.method == "DELETE":
        state.clear_faults()
    return jsonify({"faults": [asdict(f) for f in state.faults()]})


# -- the Graph API -------------------------------------------------------------


def _graph(path: str) -> Response:
    """Every Graph call: faults, then the version, the token, and the object or edge."""
    segments = [s for s in path.split("/") if s]
    version = segments[0] if segments else ""
    fired = _state().draw_faults(request.method) if version == GRAPH_VERSION else []
    refusals = [e for e in (f.refusal() for f in fired) if e is not None]
    trace_id = secrets.token_urlsafe(17)
    try:
        if not version.startswith("v") or not version[1:].replace(".", "").isdigit():
            raise unknown_path_error(path)
        if version != GRAPH_VERSION:
            raise version_error(version)
        if refusals:
            raise refusals[0]
        token = request.values.get("access_token")
        if not token:
            raise token_error()
        secret = current_app.config["APP_SECRET"]
        if secret and not hmac.compare_digest(
            request.values.get("appsecret_proof", ""), appsecret_proof(secret, token)
        ):
            raise APPSECRET_PROOF_REQUIRED.error(
                "This app requires every call from a server to carry appsecret_proof, the"
                " HMAC-SHA256 of the access token with the app secret.",
                "API calls from the server require an appsecret_proof argument",
            )
        scores = _scores(segments[1:])
        refused = _budget().admit(scores, time.time())
        if refused is not None:
            raise refused
        response = jsonify(_dispatch(segments[1:]))
        _budget().count(scores, time.time())
    except GraphError as exc:
        response = jsonify(exc.body(trace_id))
        response.status_code = exc.http_status
    if version == GRAPH_VERSION:
        response.headers.update(_budget().headers(_scores(segments[1:]), time.time()))
    response.headers["x-fb-trace-id"] = trace_id
    delay = sum(f.delay for f in fired if f.kind == "slow")
    if delay:
        time.sleep(delay)
    if any(f.kind == "drop" for f in fired):
        request.environ[DROP] = True
    return response


def _budget() -> Budget:
    budget = current_app.extensions["meta_sandbox_budget"]
    assert isinstance(budget, Budget)
    return budget


def _scores(segments: list[str]) -> dict[str, int]:
    """The ad accounts a call touches and what it scores for each (read 1, write 3; a read
    of many ids: one per id)."""
    state = _state()
    cost = READ if request.method == "GET" else WRITE
    if not segments:
        ids = [i for i in request.args.get("ids", "").split(",") if i.strip()]
        scores: dict[str, int] = {}
        for object_id in ids:
            account = state.account_of(object_id.strip())
            if account is not None:
                scores[account] = scores.get(account, 0) + READ
        return scores
    if segments[0].startswith("act_"):
        return {segments[0]: cost}
    account = state.account_of(segments[0])
    return {account: cost} if account else {}


def _dispatch(segments: list[str]) -> dict[str, Any]:
    """Route ``<id>`` and ``act_<id>/<edge>`` (``segments`` after the version)."""
    path = "/".join([GRAPH_VERSION, *segments])
    params = decode_params(request.values.to_dict())
    state = _state()
    if not segments and request.method == "GET" and params.get("ids"):
        ids = [i.strip() for i in str(params["ids"]).split(",") if i.strip()]
        return state.read_many(ids, _fields(params))
    if len(segments) == 1:
        if request.method == "POST" and not segments[0].startswith("act_"):
            return state.update(segments[0], params)
        if request.method == "DELETE" and not segments[0].startswith("act_"):
            return state.delete(segments[0])
        if request.method != "GET":
            raise unsupported_request(request.method, segments[0])
        return _read_node(state, segments[0], params)
    if len(segments) != 2 or not segments[0].startswith("act_"):
        raise unknown_path_error(path)
    account = state.accounts.get(segments[0])
    if account is None:
        raise unsupported_request(request.method, segments[0])
    edge = segments[1]
    if edge not in EDGES:
        raise nonexisting_edge_error(edge)
    if request.method == "POST":
        object_id = state.create(edge, account, params)
        if edge == "adimages" and object_id is not None:
            # Meta keys the answer by the uploaded file's name; a ``bytes`` upload is "bytes".
            url = f"{request.host_url}__sandbox__/images/{object_id}"
            return {"images": {"bytes": {"hash": object_id, "url": url}}}
        return {"success": True} if object_id is None else {"id": object_id}
    if request.method != "GET":
        raise unsupported_request(request.method, path)
    return _read_edge(state, edge, account, params)


def _fields(params: Mapping[str, Any]) -> list[str]:
    return [f.strip() for f in str(params.get("fields", "")).split(",") if f.strip()]


def _read_node(state: SandboxState, node_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    account = state.accounts.get(node_id)
    if account is not None:
        view = account.as_dict()
    else:
        found = state.find(node_id)
        if found is None:
            raise unsupported_request("GET", node_id)
        view = found[1]
    return select(view, _fields(params))


def _read_edge(
    state: SandboxState, edge: str, account: SandboxAccount, params: Mapping[str, Any]
) -> dict[str, Any]:
    views = _filtered(state.listing(edge, account), params.get("filtering", []))
    try:
        limit = int(params.get("limit", 25))
    except (TypeError, ValueError):
        limit = 0
    if limit < 1:
        raise INVALID_VALUE.error("limit must be a positive integer.", "(#100) Invalid limit")
    after = params.get("after")
    if after is not None:
        try:
            last = int(base64.urlsafe_b64decode(str(after).encode()).decode())
        except (ValueError, binascii.Error):
            raise INVALID_VALUE.error(
                "The after cursor is not one this server gave.", "(#100) Invalid cursor"
            ) from None
        views = [v for v in views if int(v["id"]) < last]
    page, more = views[:limit], len(views) > limit
    fields = _fields(params)
    body: dict[str, Any] = {"data": [select(v, fields) for v in page]}
    if page:
        cursors = {"before": _cursor(page[0]["id"]), "after": _cursor(page[-1]["id"])}
        body["paging"] = {"cursors": cursors}
        if more:
            query = {k: v for k, v in request.args.items() if k != "access_token"}
            query["after"] = cursors["after"]
            body["paging"]["next"] = f"{request.base_url}?{urlencode(query)}"
    if str(params.get("summary", "")).lower() in ("true", "1"):
        body["summary"] = {"total_count": len(views)}
    return body


def _cursor(object_id: str) -> str:
    return base64.urlsafe_b64encode(object_id.encode()).decode()


def _filtered(views: list[dict[str, Any]], filtering: Any) -> list[dict[str, Any]]:
    """Apply ``filtering``: ``name`` with ``EQUAL`` or ``CONTAIN`` (case-insensitive)."""
    if not isinstance(filtering, list) or not all(isinstance(f, dict) for f in filtering):
        raise INVALID_VALUE.error(
            "filtering must be a list of {field, operator, value}.", "(#100) Invalid filtering"
        )
    for rule in filtering:
        field, operator, value = rule.get("field"), rule.get("operator"), rule.get("value")
        if field != "name" or operator not in ("EQUAL", "CONTAIN") or not isinstance(value, str):
            raise INVALID_VALUE.error(
                "The sandbox filters on name with EQUAL or CONTAIN only.",
                f"(#100) Filtering field {field} with operation {operator} is not supported",
            )
        if operator == "EQUAL":
            views = [v for v in views if v.get("name") == value]
        else:
            views = [v for v in views if value.lower() in str(v.get("name", "")).lower()]
    return views
