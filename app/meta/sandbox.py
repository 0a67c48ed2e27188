"""The Meta sandbox: a local HTTP server that speaks the Graph API v26.0 adgate uses.

The real facebook-business SDK runs against it unchanged (``session.GRAPH`` set to
its base URL). It is a Flask app of its own, not adgate's: it keeps its state in
memory, or in a JSON file of its own (``state_file``), never in adgate's database.

Graph paths (all under ``/v26.0``; the access token comes as ``access_token``):

- ``POST act_<id>/campaigns|adsets|adcreatives|ads`` create an object and answer
  ``{"id": ...}``; with ``execution_options=["validate_only"]`` every rule runs,
  nothing is created, and the answer is ``{"success": true}``.
- ``GET act_<id>/campaigns|adsets|adcreatives|ads`` list the account's objects, newest
  first: ``fields`` (comma-separated; ``id`` always), ``filtering`` (``name`` with
  ``EQUAL`` or ``CONTAIN``, case-insensitive), ``limit`` (default 25) and ``after``
  (``paging.cursors.after``; ``paging.next`` only when more pages follow).
- ``GET <id>`` (an object or an ad account) answers the requested ``fields``.
  Ads have ``effective_status``: ``PENDING_REVIEW``, then their ``status`` once
  approved, or ``DISAPPROVED`` with ``ad_review_feedback`` ``{"global": {policy: text}}``.
  A field the object does not have is left out, as Meta does.

Errors (HTTP 400 unless noted; body ``{"error": {"message", "type", "code",
"error_subcode" (when there is one), "error_user_title", "error_user_msg",
"fbtrace_id", "is_transient"}}``). Codes are Meta's; the 18920xx subcodes are
the sandbox's own (Meta does not publish one per rule): key on the code.

- 190: no (or an empty) ``access_token``;
- 2635: a version other than v26.0; 2500: a path that names no object or edge;
- 100/33 (GraphMethodException): an unknown ad account or object;
- 100: an edge other than the four; a missing ``name`` (campaign, ad set, ad);
  a bad value: status not ACTIVE|PAUSED, an unknown category or NONE with
  another, a country list that is not ISO2 codes, a missing
  ``object_story_spec.page_id`` or ``authorization_category`` on a creative;
- 100/1892001: a campaign without ``special_ad_categories`` (send [] or ["NONE"]);
- 100/1892002: a SIEP campaign without ``special_ad_category_country``;
- 100/1892003: a SIEP campaign listing an EU member state (Meta's stop since
  2025-10-06, Regulation (EU) 2024/900);
- 100/1892004: an ad set whose ``campaign_id`` is no campaign of the account;
- 100/1892005: an ad set without ``targeting.geo_locations.countries``;
- 100/1892006: an ad set reaching the EU without ``dsa_payor`` and ``dsa_beneficiary``;
- 100/1892007: a SIEP campaign's ad set targeting a country its campaign's
  ``special_ad_category_country`` does not list;
- 100/1892008: a creative whose ``object_story_spec.page_id`` is not the account's page;
- 100/1892009: an ad whose ``adset_id`` is no ad set of the account;
- 100/1892010: an ad whose ``creative`` is not ``{"creative_id": <a creative of the
  account>}``;
- 100/1892011: an ``authorization_category`` inconsistent with the campaign: a
  SIEP campaign needs POLITICAL or POLITICAL_WITH_DIGITALLY_CREATED_MEDIA on the
  ad and its creative, any other campaign NONE on the creative and NONE or
  nothing on the ad; the ad's, when given, must equal the creative's.

Review: ``review_delay`` seconds after its creation (evaluated lazily whenever
the sandbox is read) an ad is approved, unless it is a SIEP ad whose page is not
authorized for political ads in every country its ad set targets, or whose ad
account has no "paid for by" disclaimer: then it is ``DISAPPROVED``.
``POST /__sandbox__/review`` (``{"ad_id": ...}`` optional) reviews pending ads now.

Faults (``POST /__sandbox__/faults``; ``GET`` lists, ``DELETE`` clears; only Graph
paths are affected). A fault is active for the ``next`` N Graph calls whose method
is in ``methods`` (all methods when absent), or indefinitely without ``next``; in
each of them it fires with probability ``rate`` (default 1). Of the faults that
fire on a call:

- ``rate_limit`` (``code`` 4 or 17: HTTP 403; 613 or 80004: HTTP 400; default 17)
  and ``server_error`` (``code`` 1 or 2, default 2: HTTP 500) refuse the call
  without performing it (``is_transient`` true); the first one listed wins;
- ``slow`` performs the call, then waits ``delay`` seconds before answering (a
  client that timed out does not know that the object exists);
- ``drop`` performs the call, then closes the TCP connection without an answer.

``GET /__sandbox__/objects`` lists everything held (with the sandbox's own
``created_at``, ``review_status``, ``reviewed_time``, and ``effective_status`` for
ads); ``POST /__sandbox__/reset`` removes every object and fault (the initial
accounts stay, ids keep counting). With a ``state_file`` the objects and the id
counter survive a restart (faults do not). Request log lines carry no query
string, so the access token never reaches a log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import click
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.meta.sandbox_rules import (
    APPSECRET_PROOF_REQUIRED,
    GRAPH_VERSION,
    INITIAL_ACCOUNTS,
    INVALID_VALUE,
    RATE_LIMITS,
    REVIEW_POLICY,
    SERVER_ERRORS,
    UPDATABLE,
    GraphError,
    SandboxAccount,
    check_ad,
    check_adset,
    check_campaign,
    check_creative,
    check_image,
    check_update,
    decode_params,
    graph_time,
    image_hash,
    nonexisting_edge_error,
    policy_block_error,
    rate_limit_error,
    review_feedback,
    server_error,
    token_error,
    unknown_path_error,
    unsupported_request,
    version_error,
)
from app.meta.sandbox_usage import READ, WRITE, Budget, Webhooks

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EDGES = ("campaigns", "adsets", "adimages", "adcreatives", "ads")
FAULT_KINDS = ("rate_limit", "server_error", "policy_block", "slow", "drop")
FAULT_CODES = {"rate_limit": sorted(RATE_LIMITS), "server_error": sorted(SERVER_ERRORS)}
FIRST_ID = 120210000000000001
STATE_VERSION = 1
MAX_DELAY = 60.0
# Request parameters that configure the call and are not stored with the object.
CALL_PARAMS = frozenset({"access_token", "appsecret_proof", "execution_options", "fields"})
# What every Graph call may carry besides its own parameters: the session's credentials
# (never stored) and the fields to read back.
GRAPH_PARAMS = frozenset({"access_token", "appsecret_proof", "fields"})
# Stored for the sandbox's own use, not Graph fields ("params": the call as received).
INTERNAL_FIELDS = frozenset({"created_at", "review_status", "params", "bytes", "next_outcome"})
# What the review control (``POST /__sandbox__/reviews``) may set as an ad's next outcome.
OUTCOMES = ("DISAPPROVED", "WITH_ISSUES", "ACTIVE", "PAUSED")
# A delivery problem as Meta describes one in ``issues_info`` (AdgroupIssuesInfo).
DEFAULT_ISSUE = {
    "error_code": 2446173,
    "error_summary": "Ad not delivering",
    "error_message": "Your ad isn't delivering because its audience is too small.",
    "error_type": "SOFT_ERROR",
    "level": "AD",
    "mid": "sandbox",
}
_DROP = "meta_sandbox.drop"
_TOKEN = re.compile(r"access(?:_|%5f)token=[^&\s\"']*", re.IGNORECASE)


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


def effective_status(
    record: Mapping[str, Any],
    adset: Mapping[str, Any] | None = None,
    campaign: Mapping[str, Any] | None = None,
) -> str:
    """An ad's ``effective_status``, as Meta derives it: removed, in review, disapproved or with
    issues, then its own status unless its campaign or ad set is paused."""
    own = str(record["status"])
    if own in ("DELETED", "ARCHIVED"):
        return own
    review = str(record["review_status"])
    if review != "APPROVED":
        return review
    if own == "ACTIVE" and campaign is not None and campaign["status"] != "ACTIVE":
        return "CAMPAIGN_PAUSED" if campaign["status"] == "PAUSED" else str(campaign["status"])
    if own == "ACTIVE" and adset is not None and adset["status"] != "ACTIVE":
        return "ADSET_PAUSED" if adset["status"] == "PAUSED" else str(adset["status"])
    return own


def graph_view(
    kind: str, record: Mapping[str, Any], effective: str | None = None
) -> dict[str, Any]:
    """Every Graph field of a stored object, as Meta reads it back."""
    view = {k: copy.deepcopy(v) for k, v in record.items() if k not in INTERNAL_FIELDS}
    if kind == "adimages":
        return view
    if kind == "adsets":
        # Since v23.0 an ad set that does not say otherwise gets Advantage+ audience.
        automation = view["targeting"].setdefault("targeting_automation", {})
        automation.setdefault("advantage_audience", 1)
    if kind != "adcreatives":
        view["configured_status"] = record["status"]
        view["effective_status"] = effective or record["status"]
    if kind == "ads":
        view["creative"] = {"id": record["creative"]["creative_id"]}
    return view


def select(view: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The requested fields the object has, and always its ``id``."""
    chosen = {"id": view["id"]}
    chosen.update({f: view[f] for f in fields if f in view})
    return chosen


class SandboxState:
    """The sandbox's accounts, objects and faults; every access holds :attr:`lock`."""

    def __init__(
        self,
        *,
        review_delay: float,
        state_file: Path | None,
        seed: int | None,
        visibility_delay: float = 0.0,
    ) -> None:
        self.lock = threading.RLock()
        self.review_delay = review_delay
        # New objects stay invisible to reads this long (Meta's reads lag behind its writes).
        self.visibility_delay = visibility_delay
        # Called with (field, value) when an ad's review or delivery changes (webhooks).
        self.notify: Callable[[str, str, dict[str, Any]], None] = lambda *_: None
        self.state_file = state_file
        self.accounts = {account.id: account for account in INITIAL_ACCOUNTS}
        self._rng = random.Random(seed)  # noqa: S311 - fault sampling, not security
        self._objects: dict[str, dict[str, dict[str, Any]]] = {edge: {} for edge in EDGES}
        self._next_id = FIRST_ID
        self._faults: list[Fault] = []
        self._next_fault_id = 1
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # -- persistence -----------------------------------------------------------

    def _load(self, path: Path) -> None:
        """Read a state file written by :meth:`_save`; ValueError when it is not one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["version"] != STATE_VERSION:
                raise ValueError(f"version {data['version']}")
            self._next_id = int(data["next_id"])
            for edge in EDGES:
                self._objects[edge] = {r["id"]: r for r in data["objects"][edge]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path} is not a Meta sandbox state file (version {STATE_VERSION}): {exc!r}"
            ) from None

    def _save(self) -> None:
        """Write the state atomically (a temporary file, then ``os.replace``)."""
        if self.state_file is None:
            return
        data = {
            "version": STATE_VERSION,
            "next_id": self._next_id,
            "objects": {edge: list(records.values()) for edge, records in self._objects.items()},
        }
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.state_file.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- objects ---------------------------------------------------------------

    def _of_account(self, edge: str, account: SandboxAccount) -> dict[str, dict[str, Any]]:
        account_id = account.id.removeprefix("act_")
        return {i: r for i, r in self._objects[edge].items() if r["account_id"] == account_id}

    def create(self, edge: str, account: SandboxAccount, received: Mapping[str, Any]) -> str | None:
        """Apply Meta's rules and create the object; ``None`` for ``validate_only``.

        Raises :class:`GraphError` when a rule refuses the object.
        """
        params = {k: v for k, v in received.items() if k not in GRAPH_PARAMS}
        with self.lock:
            now = time.time()
            moment = datetime.fromtimestamp(now, UTC)
            extra: dict[str, Any] = {}
            if edge == "campaigns":
                check_campaign(params, moment.date())
            elif edge == "adsets":
                campaign = check_adset(
                    params, self._of_account("campaigns", account), account, moment
                )
                extra["campaign_id"] = campaign["id"]
            elif edge == "adimages":
                return self._add_image(account, check_image(params), now)
            elif edge == "adcreatives":
                images = self._of_images(account)
                check_creative(params, account, images)
            else:
                adset, _creative = check_ad(
                    params,
                    self._of_account("adsets", account),
                    self._of_account("adcreatives", account),
                    self._objects["campaigns"],
                )
                extra |= {
                    "adset_id": adset["id"],
                    "campaign_id": adset["campaign_id"],
                    "review_status": "PENDING_REVIEW",
                }
            options = params.get("execution_options")
            if isinstance(options, list) and "validate_only" in options:
                return None
            object_id = str(self._next_id)
            self._next_id += 1
            record = {k: v for k, v in params.items() if k not in CALL_PARAMS}
            if edge != "adcreatives":
                record["status"] = params.get("status", "ACTIVE")
            record |= extra | {
                "id": object_id,
                "account_id": account.id.removeprefix("act_"),
                "created_time": graph_time(now),
                "created_at": now,
                "params": params,
            }
            self._objects[edge][object_id] = record
            self._save()
            return object_id

    def _add_image(self, account: SandboxAccount, data: bytes, now: float) -> str:
        """Keep an image in the account's library: the same bytes are the same image."""
        digest = image_hash(data)
        key = f"{account.id}:{digest}"
        if key not in self._objects["adimages"]:
            self._objects["adimages"][key] = {
                "id": key,
                "hash": digest,
                "account_id": account.id.removeprefix("act_"),
                "created_time": graph_time(now),
                "created_at": now,
                "bytes": len(data),
            }
            self._save()
        return digest

    def _of_images(self, account: SandboxAccount) -> frozenset[str]:
        return frozenset(r["hash"] for r in self._of_account("adimages", account).values())

    def _visible(self, record: Mapping[str, Any], now: float) -> bool:
        return bool(record["created_at"] + self.visibility_delay <= now)

    def _view(self, edge: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return graph_view(edge, record, self._effective(edge, record))

    def _effective(self, edge: str, record: Mapping[str, Any]) -> str | None:
        if edge == "ads":
            return effective_status(
                record,
                self._objects["adsets"].get(record["adset_id"]),
                self._objects["campaigns"].get(record["campaign_id"]),
            )
        if edge == "adsets":
            campaign = self._objects["campaigns"].get(record["campaign_id"])
            if record["status"] == "ACTIVE" and campaign and campaign["status"] == "PAUSED":
                return "CAMPAIGN_PAUSED"
        return None

    def record_of(self, object_id: str) -> tuple[str, dict[str, Any]] | None:
        """The edge and stored record of a visible object (None: unknown or not visible yet)."""
        now = time.time()
        for edge, records in self._objects.items():
            record = records.get(object_id)
            if record is not None and self._visible(record, now):
                return edge, record
        return None

    def find(self, object_id: str) -> tuple[str, dict[str, Any]] | None:
        """The edge and Graph view of an object, or ``None``."""
        with self.lock:
            self._review(time.time())
            found = self.record_of(object_id)
            return (found[0], self._view(*found)) if found else None

    def account_of(self, object_id: str) -> str | None:
        """The ad account (``act_…``) an object belongs to, visible or not (rate accounting)."""
        with self.lock:
            for records in self._objects.values():
                record = records.get(object_id)
                if record is not None:
                    return "act_" + str(record["account_id"])
        return None

    def listing(self, edge: str, account: SandboxAccount) -> list[dict[str, Any]]:
        """The Graph views of the account's visible objects on ``edge``, newest first; deleted
        and archived ones are left out, as Meta's edges do by default."""
        with self.lock:
            now = time.time()
            self._review(now)
            views = [
                self._view(edge, r)
                for r in self._of_account(edge, account).values()
                if self._visible(r, now) and r.get("status") not in ("DELETED", "ARCHIVED")
            ]
        return sorted(views, key=lambda v: int(v["id"]), reverse=True)

    def update(self, object_id: str, received: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /<id>``: change a campaign's, ad set's or ad's status (Meta's other fields
        stay as created); GraphError when the object is unknown or the change is refused."""
        params = {k: v for k, v in received.items() if k not in GRAPH_PARAMS}
        with self.lock:
            self._review(time.time())
            found = self.record_of(object_id)
            if found is None or found[0] not in UPDATABLE:
                raise unsupported_request("POST", object_id)
            edge, record = found
            check_update(UPDATABLE[edge], params, record)
            before = self._effective(edge, record) or record["status"]
            record["status"] = params["status"]
            self._save()
            self._notify_status(edge, record, before)
            return {"success": True}

    def delete(self, object_id: str) -> dict[str, Any]:
        """``DELETE /<id>``: the object becomes DELETED (still readable by its id)."""
        with self.lock:
            found = self.record_of(object_id)
            if found is None or found[0] == "adimages":
                raise unsupported_request("DELETE", object_id)
            found[1]["status"] = "DELETED"
            self._save()
            return {"success": True}

    def read_many(self, ids: list[str], fields: list[str]) -> dict[str, Any]:
        """``GET /?ids=…``: each object's requested fields, keyed by id (any unknown: refused)."""
        with self.lock:
            self._review(time.time())
            answer = {}
            for object_id in ids:
                found = self.record_of(object_id)
                if found is None:
                    raise unsupported_request("GET", object_id)
                answer[object_id] = select(self._view(*found), fields)
            return answer

    def set_outcome(self, ad_id: str, outcome: str, feedback: Mapping[str, Any]) -> str:
        """The ad's next review outcome; an ad reviewed already is reviewed again now.
        Returns its effective_status afterwards."""
        with self.lock:
            ad = self._objects["ads"].get(ad_id)
            if ad is None:
                raise KeyError(ad_id)
            ad["next_outcome"] = {"effective_status": outcome, "feedback": dict(feedback)}
            if ad["review_status"] != "PENDING_REVIEW":
                ad["review_status"] = "PENDING_REVIEW"
            self._review(float("inf"), only=ad_id)
            return self._effective("ads", ad) or ""

    def snapshot(self) -> dict[str, Any]:
        """Everything held, for ``GET /__sandbox__/objects`` (creation order)."""
        with self.lock:
            self._review(time.time())
            result: dict[str, Any] = {}
            for edge, records in self._objects.items():
                result[edge] = []
                for record in records.values():
                    item = copy.deepcopy(record)
                    effective = self._effective(edge, record)
                    if effective is not None:
                        item["effective_status"] = effective
                    result[edge].append(item)
            result["accounts"] = [a.as_dict() for a in self.accounts.values()]
        return result

    def reset(self) -> None:
        """Forget every object and fault (the initial accounts stay; ids keep counting)."""
        with self.lock:
            self._objects = {edge: {} for edge in EDGES}
            self._faults.clear()
            self._save()

    # -- review ----------------------------------------------------------------

    def _review(self, now: float, only: str | None = None) -> list[str]:
        """Decide on pending ads that are due (all of them when ``now`` is infinite)."""
        reviewed = []
        for ad in self._objects["ads"].values():
            pending = ad["review_status"] == "PENDING_REVIEW"
            due = ad["created_at"] + self.review_delay <= now
            if not pending or not due or (only is not None and ad["id"] != only):
                continue
            self._decide(ad)
            reviewed.append(ad["id"])
        if reviewed:
            self._save()
        return reviewed

    def _decide(self, ad: dict[str, Any]) -> None:
        """Meta's review of one ad: the outcome set for it, else its rules' verdict."""
        account = self.accounts["act_" + ad["account_id"]]
        adset = self._objects["adsets"][ad["adset_id"]]
        campaign = self._objects["campaigns"][ad["campaign_id"]]
        ad.pop("ad_review_feedback", None)
        ad.pop("issues_info", None)
        chosen = ad.pop("next_outcome", None)
        if chosen is None:
            feedback = review_feedback(account, campaign, adset)
            outcome = "DISAPPROVED" if feedback is not None else None
        else:
            outcome, feedback = chosen["effective_status"], chosen["feedback"]
        if outcome == "DISAPPROVED":
            ad["review_status"] = "DISAPPROVED"
            ad["ad_review_feedback"] = feedback or {
                "global": {REVIEW_POLICY: "Your ad doesn't follow our advertising policies."}
            }
        elif outcome == "WITH_ISSUES":
            ad["review_status"] = "WITH_ISSUES"
            ad["issues_info"] = list((feedback or {}).get("issues_info") or [DEFAULT_ISSUE])
        else:
            ad["review_status"] = "APPROVED"
            if outcome in ("ACTIVE", "PAUSED"):
                # As if someone had set it so: the whole way down delivers (or not).
                for record in (campaign, adset, ad):
                    if outcome == "ACTIVE" or record is ad:
                        record["status"] = outcome
        ad["reviewed_time"] = graph_time(time.time())
        status = self._effective("ads", ad) or ""
        if ad["review_status"] == "WITH_ISSUES":
            self.notify("with_issues_ad_objects", ad["id"], {**ad["issues_info"][0], "level": "AD"})
        else:
            self.notify("in_process_ad_objects", ad["id"], {"level": "AD", "status_name": status})

    def _notify_status(self, edge: str, record: Mapping[str, Any], before: str) -> None:
        level = {"campaigns": "CAMPAIGN", "adsets": "AD_SET", "ads": "AD"}[edge]
        status = self._effective(edge, record) or str(record["status"])
        if status != before:
            self.notify(
                "in_process_ad_objects", record["id"], {"level": level, "status_name": status}
            )

    def review_now(self, ad_id: str | None = None) -> list[dict[str, str]]:
        """Review pending ads (or only ``ad_id``) at once; KeyError for an unknown ad."""
        with self.lock:
            if ad_id is not None and ad_id not in self._objects["ads"]:
                raise KeyError(ad_id)
            reviewed = self._review(float("inf"), only=ad_id)
            ads = self._objects["ads"]
            return [
                {"id": i, "effective_status": self._effective("ads", ads[i]) or ""}
                for i in reviewed
            ]

    # -- faults ----------------------------------------------------------------

    def add_fault(self, payload: Any) -> Fault:
        """Activate a fault described by ``payload``; ValueError when it is malformed."""
        with self.lock:
            fault = parse_fault(payload, self._next_fault_id)
            self._next_fault_id += 1
            self._faults.append(fault)
            return fault

    def faults(self) -> list[Fault]:
        """The active faults, in the order they were added."""
        with self.lock:
            return [copy.copy(f) for f in self._faults]

    def clear_faults(self) -> None:
        """Deactivate every fault."""
        with self.lock:
            self._faults.clear()

    def draw_faults(self, method: str) -> list[Fault]:
        """The faults that fire on one Graph call (each in scope counts the call)."""
        with self.lock:
            fired = []
            for fault in self._faults:
                if not fault.matches(method):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                if fault.rate >= 1 or self._rng.random() < fault.rate:
                    fired.append(copy.copy(fault))
            self._faults = [f for f in self._faults if f.remaining != 0]
            return fired


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
    app.wsgi_app = _DropConnection(app.wsgi_app)  # type: ignore[method-assign]
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
    return app


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
        request.environ[_DROP] = True
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


class _DropConnection:
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
        if not environ.get(_DROP):
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("Meta sandbox: connection dropped on purpose")


# -- serving -------------------------------------------------------------------


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
