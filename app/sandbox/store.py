"""What the sandbox holds: the accounts, the objects created through it (in memory, or in a JSON
file of its own) and the faults in force; every access holds :attr:`SandboxState.lock`."""

from __future__ import annotations

import copy
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.sandbox.accounts import INITIAL_ACCOUNTS, SandboxAccount
from app.sandbox.checks import (
    UPDATABLE,
    check_ad,
    check_adset,
    check_campaign,
    check_creative,
    check_image,
    check_update,
    image_hash,
)
from app.sandbox.errors import unsupported_request
from app.sandbox.faults import Fault, parse_fault
from app.sandbox.params import graph_time
from app.sandbox.reviews import decide

EDGES = ("campaigns", "adsets", "adimages", "adcreatives", "ads")
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
        """Meta's review of one ad (:func:`~app.sandbox.reviews.decide`), told by webhook."""
        account = self.accounts["act_" + ad["account_id"]]
        adset = self._objects["adsets"][ad["adset_id"]]
        campaign = self._objects["campaigns"][ad["campaign_id"]]
        decide(ad, account, campaign, adset)
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
