"""Meta's ads webhooks: the fast path to a status change, where an installation can receive them.

``GET /meta/webhooks`` answers Meta's verification (``hub.mode=subscribe``, the verify token
set in the app's webhook settings, echoing ``hub.challenge``). ``POST /meta/webhooks``
accepts only a payload whose ``X-Hub-Signature-256`` is the HMAC-SHA256 of its bytes with
``META_APP_SECRET``; refusals are audited. A notification about an ad (``with_issues_ad_objects``,
``in_process_ad_objects``; an ad set or campaign stands for its ads) only makes the ad due
for a read: what changed is read from Meta itself, so a forged or replayed notification can
at most cause a read. Polling stays the default and the fallback. Off unless
``META_WEBHOOK_VERIFY_TOKEN`` (and, for payloads, ``META_APP_SECRET``) is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from sqlalchemy import or_, select
from sqlmodel import col
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import public
from app.db import get_session
from app.inputs import json_too_deep
from app.models import Submission, utcnow
from app.submissions import follow

bp = Blueprint("webhooks", __name__, url_prefix="/meta")
FIELDS = frozenset({"with_issues_ad_objects", "in_process_ad_objects"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def init_app(app: Flask) -> None:
    """Register the blueprint; Meta signs its payloads, it sends no CSRF token."""
    from app import csrf

    app.register_blueprint(bp)
    csrf.exempt(bp)


@bp.get("/webhooks")
@public
def verify() -> Response | tuple[str, int]:
    """Answer Meta's verification of the webhook endpoint."""
    token = current_app.config["META_WEBHOOK_VERIFY_TOKEN"]
    if not token:
        abort(404)
    given = request.args.get("hub.verify_token", "")
    if request.args.get("hub.mode") != "subscribe" or not hmac.compare_digest(
        given.encode(), str(token).encode()
    ):
        audit.defer("meta.webhook_refused", data={"reason": "verify_token"})
        abort(403)
    challenge = request.args.get("hub.challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        abort(400)
    return Response(challenge, mimetype="text/plain")


@bp.post("/webhooks")
@public
def receive() -> Response | tuple[Response, int]:
    """Accept a notification signed with the app secret; make the ads it names due."""
    secret = current_app.config["META_APP_SECRET"]
    if not current_app.config["META_WEBHOOK_VERIFY_TOKEN"] or not secret:
        abort(404)
    body = request.get_data(cache=False)
    expected = "sha256=" + hmac.new(str(secret).encode(), body, hashlib.sha256).hexdigest()
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        audit.defer("meta.webhook_refused", data={"reason": "signature", "bytes": len(body)})
        abort(403)
    if json_too_deep(body):
        abort(400)
    try:
        payload = json.loads(body)
    except ValueError:
        abort(400)
    objects = _objects(payload)
    db, now = get_session(), utcnow()
    ad_ids = _ads_of(objects)
    due = follow.read_soon(db, ad_ids, now) if ad_ids else 0
    audit.record(
        db,
        "meta.webhook",
        data={"objects": [{"id": i, "level": lv, "field": f} for i, lv, f in objects][:100],
              "ads_due": due},
    )  # fmt: skip
    return jsonify({"received": len(objects), "ads_due": due}), 200


def _objects(payload: Any) -> list[tuple[str, str, str]]:
    """(object id, level, field) of every change an ``ad_account`` notification names."""
    if not isinstance(payload, dict) or payload.get("object") != "ad_account":
        return []
    found = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if not isinstance(change, dict) or change.get("field") not in FIELDS:
                continue
            value = change.get("value")
            if isinstance(value, dict) and re.fullmatch(r"[0-9]{1,32}", str(value.get("id", ""))):
                found.append((str(value["id"]), str(value.get("level", "")), change["field"]))
    return found


def _ads_of(objects: list[tuple[str, str, str]]) -> list[str]:
    """The ads the changed objects stand for: an ad itself, an ad set's or campaign's ads."""
    ids = [object_id for object_id, _, _ in objects]
    rows = (
        get_session()
        .scalars(
            select(col(Submission.ad_id)).where(
                col(Submission.ad_id).is_not(None),
                or_(
                    col(Submission.ad_id).in_(ids),
                    col(Submission.adset_id).in_(ids),
                    col(Submission.campaign_id).in_(ids),
                    col(Submission.creative_id).in_(ids),
                ),
            )
        )
        .all()
    )
    return [str(ad_id) for ad_id in rows]
