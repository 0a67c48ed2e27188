"""The Meta gateway: one interface, implemented on the real facebook-business SDK.

Built per gateway as ``FacebookAdsApi(FacebookSession(...))`` — never
``FacebookAdsApi.init()``, which would install Meta's crash reporter as
``sys.excepthook``. The Graph base URL is set on the session instance (the
sandbox's in sandbox mode); with an app secret every call carries
``appsecret_proof``; a proxy and a CA bundle of the installation's replace the
SDK's pinned bundle where TLS is inspected. Strict mode makes a wrong type or enum
raise, and every call's parameters are checked against what the SDK method declares
before anything is sent (the SDK lets undeclared keys through). The access token
travels in the query string: errors raised from here carry Meta's code, subcode,
messages and fbtrace_id, never a URL or the token. docs/meta.md names the source of
every parameter.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests
from facebook_business import apiconfig  # type: ignore[import-untyped]
from facebook_business.adobjects.ad import Ad  # type: ignore[import-untyped]
from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.adobjects.adcreative import AdCreative  # type: ignore[import-untyped]
from facebook_business.adobjects.adset import AdSet  # type: ignore[import-untyped]
from facebook_business.adobjects.campaign import Campaign  # type: ignore[import-untyped]
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]
from facebook_business.exceptions import (  # type: ignore[import-untyped]
    FacebookError,
    FacebookRequestError,
)

from app.meta.declared import undeclared
from workflows.delivery import POSITIONS, BudgetType, Placement

apiconfig.ads_api_config["STRICT_MODE"] = True

log = logging.getLogger(__name__)
SIEP = "ISSUES_ELECTIONS_POLITICS"
# Meta's rate limits (docs/meta.md): throttling, not a fault of the call.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# Errors that a later attempt may not meet: rate limits and temporary faults. Code 368
# (blocked for policy reasons) is not among them: a person must look.
TRANSIENT_CODES = frozenset({1, 2, 341, *RATE_LIMIT_CODES})
POLICY_BLOCK = 368
# What the worker creates, in order: the image only when the ad has one.
KINDS = ("campaign", "adset", "image", "creative", "ad")
# How far back before its submission a look-up by name reads (an object of a submission is
# never older than it; the margin covers a difference between adgate's clock and Meta's).
FIND_HORIZON = timedelta(hours=1)
# adgate-<installation>-<submission>-<kind>
NAME = re.compile(r"adgate-([0-9a-f]{8})-(\d+)-(campaign|adset|creative|ad)")
# The fields read to follow an ad at Meta.
AD_STATUS_FIELDS = ("effective_status", "ad_review_feedback", "issues_info")
# Graph reads many objects by id in one call; adgate asks for at most this many at once.
IDS_PER_READ = 50


@dataclass(frozen=True)
class AdSpec:
    """Exactly what goes to Meta for one submission (derived from the approved checklist)."""

    submission_id: int
    ad_account_id: str
    page_id: str
    message: str
    headline: str
    link_url: str
    countries: tuple[str, ...]
    siep: bool
    digitally_created_media: bool = False
    dsa_payor: str = ""
    dsa_beneficiary: str = ""
    status: str = "PAUSED"
    budget_type: BudgetType = BudgetType.DAILY
    budget_amount: int = 1000
    start_time: datetime | None = None
    end_time: datetime | None = None
    placements: tuple[Placement, ...] = (Placement.FACEBOOK, Placement.INSTAGRAM)
    image: bytes | None = field(default=None, repr=False)
    # When the submission was made: a look-up by name reads no further back than this.
    created_at: datetime | None = None
    # This installation's name (``Installation.name``), in every object's name.
    installation: str = "00000000"

    def name(self, kind: str) -> str:
        """The object's name: the installation and the submission, to be found again by it."""
        return object_name(self.installation, self.submission_id, kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The objects this ad needs at Meta, in the order they are created."""
        return tuple(k for k in KINDS if k != "image" or self.image is not None)

    @property
    def authorization_category(self) -> str:
        if not self.siep:
            return "NONE"
        return (
            "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA"
            if self.digitally_created_media
            else "POLITICAL"
        )


def object_name(installation: str, submission_id: int, kind: str) -> str:
    """``adgate-<installation>-<submission>-<kind>``."""
    return f"adgate-{installation}-{submission_id}-{kind}"


@dataclass(frozen=True)
class AdStatus:
    """An ad as Meta reports it: its effective_status, review feedback and delivery issues."""

    ad_id: str
    effective_status: str
    feedback: dict[str, Any]
    issues: list[dict[str, Any]]


@dataclass(frozen=True)
class Named:
    """An object of an ad account found by its name."""

    kind: str
    id: str
    name: str
    created_time: datetime | None


@dataclass(frozen=True)
class Usage:
    """What Meta's usage headers said of one ad account (or of the app)."""

    # None: not throttled; else the moment Meta estimates access comes back.
    regain_at: datetime | None
    report: Mapping[str, Any]

    @property
    def percent(self) -> float:
        """The largest share of the budget used, in percent (of ``call_count``,
        ``total_cputime`` and ``total_time``, over every use case)."""
        entries = self.report.get("use_cases", [self.report])
        return max(
            (
                _number(entry.get(key))
                for entry in (entries if isinstance(entries, list) else [])
                if isinstance(entry, Mapping)
                for key in ("call_count", "total_cputime", "total_time")
            ),
            default=0.0,
        )


@dataclass(frozen=True)
class AccountReading:
    """What Meta answers about an ad account (``GET act_<id>``)."""

    page_authorized: bool | None
    currency: str | None
    min_daily_budget: int | None


class MetaError(Exception):
    """An error answered by Meta (or the network on the way); safe to log and to audit."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        user_title: str | None = None,
        user_message: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        transient: bool = False,
        ambiguous: bool = False,
        blame_fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_message = user_title, user_message
        self.fbtrace_id, self.http_status = fbtrace_id, http_status
        self.transient = transient
        # The call may or may not have taken effect (timeout, dropped connection).
        self.ambiguous = ambiguous
        # The fields Meta blames (error_data.blame_field_specs), dotted.
        self.blame_fields = list(blame_fields)

    @property
    def rate_limited(self) -> bool:
        """Meta throttles: wait as it says, without spending an attempt."""
        return self.code in RATE_LIMIT_CODES

    @property
    def policy_block(self) -> bool:
        """Code 368: blocked for policy reasons; hours or days, a person must look."""
        return self.code == POLICY_BLOCK

    @property
    def not_found(self) -> bool:
        """The object does not exist (any more), or the token may not use it."""
        return self.code == 100 and self.subcode == 33

    def as_dict(self) -> dict[str, Any]:
        """The fields recorded for the ad manager and the auditor."""
        return {
            "code": self.code,
            "subcode": self.subcode,
            "message": self.message,
            "user_title": self.user_title,
            "user_message": self.user_message,
            "fbtrace_id": self.fbtrace_id,
            "http_status": self.http_status,
            "transient": self.transient,
            "blame_fields": self.blame_fields,
        }


class Gateway(Protocol):
    """What adgate asks of Meta."""

    def validate(self, spec: AdSpec) -> None:
        """Run Meta's validation of the campaign and creative without creating anything."""

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        """Create one object (``KINDS``) and return its id; ``parents`` holds earlier ids."""

    def find(self, spec: AdSpec, kind: str) -> list[Named]:
        """The objects of ``kind`` named for this submission that Meta holds, oldest first."""

    def delete(self, kind: str, object_id: str) -> None:
        """Delete an object at Meta (one already gone counts as deleted)."""

    def set_status(self, kind: str, object_id: str, status: str) -> None:
        """Set a campaign's, ad set's or ad's status (ACTIVE, PAUSED)."""

    def read_ads(self, ad_ids: Sequence[str]) -> dict[str, AdStatus]:
        """The status of many ads, read in as few calls as Meta allows."""

    def list_named(self, ad_account_id: str, kind: str) -> list[Named]:
        """Every object of ``kind`` in the account whose name adgate gives."""

    def read_account(self, ad_account_id: str) -> AccountReading:
        """What Meta says of an ad account: its page's authorization, currency, minimum budget."""

    def take_usage(self) -> dict[str, Usage]:
        """What Meta's usage headers said since last asked, by ad account ("app": the app)."""


# --- what is sent: one function per object, from the spec alone ------------------------


def _time(moment: datetime) -> str:
    """A time as Meta's examples write it: ISO 8601 with the offset, e.g. +0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


def campaign_params(spec: AdSpec) -> dict[str, Any]:
    """The campaign: its special ad category; the budget sits on the ad set, not shared."""
    params: dict[str, Any] = {
        "name": spec.name("campaign"),
        "objective": "OUTCOME_TRAFFIC",
        "special_ad_categories": [SIEP] if spec.siep else [],
        "status": spec.status,
        # Required since v24.0 when the campaign has no budget of its own.
        "is_adset_budget_sharing_enabled": False,
    }
    if spec.siep:
        params["special_ad_category_country"] = list(spec.countries)
    return params


def adset_params(spec: AdSpec, campaign_id: str) -> dict[str, Any]:
    """The ad set: budget, schedule, and targeting exactly as approved (no audience widening)."""
    targeting: dict[str, Any] = {
        "geo_locations": {"countries": list(spec.countries)},
        "publisher_platforms": [p.value for p in spec.placements],
        # Since v23.0 Meta widens a countries-only audience unless this is 0.
        "targeting_automation": {"advantage_audience": 0},
    }
    for placement in spec.placements:
        key, position = POSITIONS[placement]
        targeting[key] = [position]
    params: dict[str, Any] = {
        "name": spec.name("adset"),
        "campaign_id": campaign_id,
        "status": spec.status,
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "LINK_CLICKS",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        f"{spec.budget_type.value}_budget": spec.budget_amount,
        "targeting": targeting,
    }
    if spec.start_time is not None:
        params["start_time"] = _time(spec.start_time)
    if spec.end_time is not None:
        params["end_time"] = _time(spec.end_time)
    if spec.dsa_payor or spec.dsa_beneficiary:
        params["dsa_payor"] = spec.dsa_payor
        params["dsa_beneficiary"] = spec.dsa_beneficiary
    return params


def image_params(spec: AdSpec) -> dict[str, Any]:
    """The image for the account's image library, as base64 ``bytes``."""
    assert spec.image is not None
    return {"bytes": base64.b64encode(spec.image).decode("ascii")}


def creative_params(spec: AdSpec, image_hash: str | None) -> dict[str, Any]:
    """The creative: the page's link post and Meta's authorization category (creative level)."""
    link_data: dict[str, Any] = {
        "message": spec.message,
        "link": spec.link_url,
        "name": spec.headline,
    }
    if image_hash is not None:
        link_data["image_hash"] = image_hash
    return {
        "name": spec.name("creative"),
        "object_story_spec": {"page_id": spec.page_id, "link_data": link_data},
        "authorization_category": spec.authorization_category,
    }


def ad_params(spec: AdSpec, adset_id: str, creative_id: str) -> dict[str, Any]:
    """The ad: its ad set and creative (authorization_category is the creative's, not its)."""
    return {
        "name": spec.name("ad"),
        "adset_id": adset_id,
        "creative": {"creative_id": creative_id},
        "status": spec.status,
    }


def params_for(spec: AdSpec, kind: str, parents: dict[str, str]) -> dict[str, Any]:
    """The parameters of the create call for ``kind``, given the ids created before it."""
    if kind == "campaign":
        return campaign_params(spec)
    if kind == "adset":
        return adset_params(spec, parents["campaign"])
    if kind == "image":
        return image_params(spec)
    if kind == "creative":
        return creative_params(spec, parents.get("image"))
    return ad_params(spec, parents["adset"], parents["creative"])


# The SDK method that creates each kind, on an AdAccount.
CREATE_METHODS = {
    "campaign": "create_campaign",
    "adset": "create_ad_set",
    "image": "create_ad_image",
    "creative": "create_ad_creative",
    "ad": "create_ad",
}
LIST_METHODS = {
    "campaign": "get_campaigns",
    "adset": "get_ad_sets",
    "creative": "get_ad_creatives",
    "ad": "get_ads",
}


# The SDK class of each object adgate creates (to update, delete or read it by id).
OBJECT_CLASSES = {"campaign": Campaign, "adset": AdSet, "creative": AdCreative, "ad": Ad}


class SdkGateway:
    """The gateway on the facebook-business SDK (Graph API at ``graph_url``)."""

    def __init__(
        self,
        *,
        access_token: str,
        graph_url: str,
        api_version: str,
        timeout: float,
        app_secret: str | None = None,
        proxy: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        session = FacebookSession(
            access_token=access_token,
            app_secret=app_secret or None,
            proxies={"http": proxy, "https": proxy} if proxy else None,
            timeout=timeout,
        )
        session.GRAPH = graph_url.rstrip("/")
        if ca_bundle:
            session.requests.verify = ca_bundle
        # Every answer, errors included, says how much of Meta's budget is used.
        session.requests.hooks["response"].append(self._observe)
        self._api = FacebookAdsApi(session, api_version=api_version)
        self._usage: dict[str, Usage] = {}
        self._usage_lock = threading.Lock()

    # -- usage -----------------------------------------------------------------

    def _observe(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        """Keep what X-Business-Use-Case-Usage and X-App-Usage report (never the URL)."""
        found = usage_from_headers(response.headers, datetime.now(UTC))
        if found:
            with self._usage_lock:
                self._usage.update(found)

    def take_usage(self) -> dict[str, Usage]:
        """What the usage headers said since last asked, by ad account ("app": the app)."""
        with self._usage_lock:
            taken, self._usage = self._usage, {}
        return taken

    # -- creating --------------------------------------------------------------

    def _account(self, ad_account_id: str) -> Any:
        return AdAccount(ad_account_id, api=self._api)

    def pending_create(self, spec: AdSpec, kind: str, params: dict[str, Any]) -> Any:
        """The SDK's request for creating ``kind``, built and type-checked but not sent."""
        method = getattr(self._account(spec.ad_account_id), CREATE_METHODS[kind])
        return _guard(lambda: method(params=params, pending=True))

    def _create_call(self, spec: AdSpec, kind: str, params: dict[str, Any]) -> Any:
        return send_checked(self.pending_create(spec, kind, params))

    def validate(self, spec: AdSpec) -> None:
        """validate_only on the campaign and the creative (the others need real parent ids;
        the creative is validated without its image, which is uploaded only when sending)."""
        for kind in ("campaign", "creative"):
            params = {**params_for(spec, kind, {}), "execution_options": ["validate_only"]}
            self._create_call(spec, kind, params)

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        """Create the object and return its id (an image: its hash)."""
        created = self._create_call(spec, kind, params_for(spec, kind, parents))
        key = "hash" if kind == "image" else "id"
        object_id = created.get(key) if created is not None else None
        if not object_id:
            raise MetaError(f"Meta returned no id for the {kind}", transient=True, ambiguous=True)
        return str(object_id)

    # -- finding ---------------------------------------------------------------

    def find(self, spec: AdSpec, kind: str) -> list[Named]:
        """The objects named for this submission's ``kind``, oldest first.

        The account's edge is read newest first, with declared parameters only (the SDK's
        list methods declare no name filter), until objects older than the submission.
        An image needs no look-up: uploading the same bytes again gives the same hash.
        """
        if kind == "image":
            return []
        name = spec.name(kind)
        horizon = (spec.created_at - FIND_HORIZON) if spec.created_at else None
        found = [n for n in self._scan(spec.ad_account_id, kind, horizon) if n.name == name]
        return sorted(found, key=_age)

    def list_named(self, ad_account_id: str, kind: str) -> list[Named]:
        """Every object of ``kind`` in the account whose name adgate gives (any installation)."""
        return [n for n in self._scan(ad_account_id, kind, None) if NAME.fullmatch(n.name)]

    def _scan(self, ad_account_id: str, kind: str, horizon: datetime | None) -> list[Named]:
        method = getattr(self._account(ad_account_id), LIST_METHODS[kind])
        # Creatives have no created_time (AdCreative's fields): their edge is read whole.
        fields = ["id", "name"] if kind == "creative" else ["id", "name", "created_time"]

        def scan() -> list[Named]:
            found = []
            for obj in method(fields=fields):
                created = _time_of(obj.get("created_time"))
                if horizon is not None and created is not None and created < horizon:
                    break
                found.append(Named(kind, str(obj["id"]), str(obj.get("name", "")), created))
            return found

        scanned: list[Named] = _guard(scan)
        return scanned

    # -- changing and removing -------------------------------------------------

    def set_status(self, kind: str, object_id: str, status: str) -> None:
        """Set a campaign's, ad set's or ad's status (only ``status`` is sent)."""
        obj = OBJECT_CLASSES[kind](object_id, api=self._api)
        request = _guard(lambda: obj.api_update(params={"status": status}, pending=True))
        send_checked(request)

    def delete(self, kind: str, object_id: str) -> None:
        """Delete an object (Meta keeps it readable by id, as DELETED); gone already is fine."""
        obj = OBJECT_CLASSES[kind](object_id, api=self._api)
        try:
            send_checked(_guard(lambda: obj.api_delete(pending=True)))
        except MetaError as error:
            if not error.not_found:
                raise

    # -- reading ---------------------------------------------------------------

    def read_ads(self, ad_ids: Sequence[str]) -> dict[str, AdStatus]:
        """Many ads' status in one call per IDS_PER_READ (Graph's ``?ids=`` read).

        No SDK method wraps ``?ids=``: the call goes through the SDK's ``FacebookAdsApi.call``
        with Graph's own ``ids`` and ``fields`` parameters (docs/meta.md).
        """
        found: dict[str, AdStatus] = {}
        for start in range(0, len(ad_ids), IDS_PER_READ):
            chunk = list(ad_ids[start : start + IDS_PER_READ])
            params = {"ids": ",".join(chunk), "fields": ",".join(AD_STATUS_FIELDS)}

            def call(params: dict[str, str] = params) -> Any:
                return self._api.call("GET", ("",), params=params)

            response = _guard(call)
            for ad_id, data in response.json().items():
                found[str(ad_id)] = AdStatus(
                    ad_id=str(ad_id),
                    effective_status=str(data.get("effective_status") or ""),
                    feedback=dict(data.get("ad_review_feedback") or {}),
                    issues=list(data.get("issues_info") or []),
                )
        return found

    def read_account(self, ad_account_id: str) -> AccountReading:
        """``has_page_authorized_adaccount``, ``currency`` and ``min_daily_budget``."""
        account = _guard(
            lambda: self._account(ad_account_id).api_get(
                fields=["has_page_authorized_adaccount", "currency", "min_daily_budget"]
            )
        )
        authorized = account.get("has_page_authorized_adaccount")
        minimum = account.get("min_daily_budget")
        return AccountReading(
            page_authorized=bool(authorized) if authorized is not None else None,
            currency=str(account["currency"]) if account.get("currency") else None,
            min_daily_budget=int(minimum) if minimum is not None else None,
        )


def usage_from_headers(headers: Mapping[str, str], now: datetime) -> dict[str, Usage]:
    """Meta's usage headers as throttles: by ad account (``act_…``) and for the app.

    ``X-Business-Use-Case-Usage`` is JSON keyed by the business object (the ad account's
    number) with a list of use cases, each with ``estimated_time_to_regain_access`` in
    minutes; ``X-App-Usage`` gives percentages for the app. A use case at 100 % without
    an estimate is treated as throttled for ``DEFAULT_BLOCK``.
    """
    found: dict[str, Usage] = {}
    raw = headers.get("x-business-use-case-usage")
    if raw:
        try:
            cases = json.loads(raw)
        except ValueError:
            cases = {}
        for key, entries in cases.items() if isinstance(cases, dict) else ():
            if not isinstance(entries, list):
                continue
            account = key if str(key).startswith("act_") else f"act_{key}"
            waits = [_wait(e) for e in entries if isinstance(e, dict)]
            longest = max((w for w in waits if w is not None), default=None)
            regain = now + longest if longest is not None else None
            found[account] = Usage(regain, {"use_cases": entries})
    app_raw = headers.get("x-app-usage")
    if app_raw:
        try:
            report = json.loads(app_raw)
        except ValueError:
            report = {}
        if isinstance(report, dict):
            full = any(_number(v) >= 100 for v in report.values())
            found["app"] = Usage(now + DEFAULT_BLOCK if full else None, report)
    return found


# How long a use case at 100 % without Meta's estimate is waited out (the development tier's
# block: docs/meta.md).
DEFAULT_BLOCK = timedelta(seconds=300)


def _wait(entry: Mapping[str, Any]) -> timedelta | None:
    minutes = _number(entry.get("estimated_time_to_regain_access"))
    if minutes > 0:
        return timedelta(minutes=minutes)
    if max(_number(entry.get(k)) for k in ("call_count", "total_cputime", "total_time")) >= 100:
        return DEFAULT_BLOCK
    return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _time_of(created_time: Any) -> datetime | None:
    """Meta's ``created_time`` (2026-01-31T12:00:00+0000), or None."""
    try:
        return datetime.strptime(str(created_time), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _age(named: Named) -> tuple[datetime, int]:
    """Oldest first: by creation time, then by id (Meta's ids grow)."""
    created = named.created_time or datetime.max.replace(tzinfo=UTC)
    return created, int(named.id) if named.id.isdigit() else 0


def send_checked(request: Any) -> Any:
    """Send a prepared SDK request once its parameters are all declared by its method."""
    checker = request._param_checker  # the SDK keeps each method's declaration here
    extra = undeclared(request.get_params(), checker._type_check_info)
    if extra:
        raise MetaError(
            f"adgate refused to send {', '.join(extra)}: not declared by the SDK for "
            f"{request._method} {request._endpoint}"
        )
    return _guard(request.execute)


def _guard(call: Callable[[], Any]) -> Any:
    """Run an SDK call; translate its failures into MetaError (never with the URL or token)."""
    try:
        return call()
    except FacebookRequestError as exc:
        body = exc.body()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code = exc.api_error_code()
        status = exc.http_status()
        transient = (
            bool(exc.api_transient_error())
            or code in TRANSIENT_CODES
            or (status is not None and status >= 500)
        )
        blamed = exc.api_blame_field_specs() or []
        raise MetaError(
            exc.api_error_message() or "Meta refused the request",
            code=code,
            subcode=exc.api_error_subcode(),
            user_title=error.get("error_user_title"),
            user_message=error.get("error_user_msg"),
            fbtrace_id=error.get("fbtrace_id"),
            http_status=status,
            transient=transient,
            blame_fields=[".".join(map(str, spec)) for spec in blamed if isinstance(spec, list)],
        ) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "lost the connection"
        raise MetaError(f"the call to Meta {kind}", transient=True, ambiguous=True) from None
    except FacebookError as exc:
        raise MetaError(f"the SDK refused the call: {type(exc).__name__}") from None
