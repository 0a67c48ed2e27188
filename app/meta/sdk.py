"""The Meta gateway on the real facebook-business SDK (:class:`SdkGateway`).

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

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

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
from app.meta.gateway import (
    AD_STATUS_FIELDS,
    FIND_HORIZON,
    IDS_PER_READ,
    NAME,
    TRANSIENT_CODES,
    AccountReading,
    AdSpec,
    AdStatus,
    MetaError,
    Named,
    Usage,
    usage_from_headers,
)
from app.meta.params import params_for

apiconfig.ads_api_config["STRICT_MODE"] = True

log = logging.getLogger(__name__)

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
