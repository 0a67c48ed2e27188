"""The Meta gateway: one interface, implemented on the real facebook-business SDK.

Built per gateway as ``FacebookAdsApi(FacebookSession(...))`` — never
``FacebookAdsApi.init()``, which would install Meta's crash reporter as
``sys.excepthook``. The Graph base URL is set on the session instance (the
sandbox's in sandbox mode). Strict mode makes a wrong enum raise instead of warn.
The access token travels in the query string: errors raised from here carry
Meta's code, subcode, messages and fbtrace_id, never a URL or the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests
from facebook_business import apiconfig  # type: ignore[import-untyped]
from facebook_business.adobjects.ad import Ad  # type: ignore[import-untyped]
from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]
from facebook_business.exceptions import (  # type: ignore[import-untyped]
    FacebookError,
    FacebookRequestError,
)

apiconfig.ads_api_config["STRICT_MODE"] = True

SIEP = "ISSUES_ELECTIONS_POLITICS"
# Meta's codes for errors that a later attempt may not meet (rate limits, temporary faults).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613, *range(80000, 80009)})
KINDS = ("campaign", "adset", "creative", "ad")


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
    daily_budget_cents: int = 1000

    def name(self, kind: str) -> str:
        """The object's name: it carries the submission id so the object can be found again."""
        return f"adgate-{self.submission_id}-{kind}"

    @property
    def authorization_category(self) -> str:
        if not self.siep:
            return "NONE"
        return (
            "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA"
            if self.digitally_created_media
            else "POLITICAL"
        )


@dataclass(frozen=True)
class Review:
    """Meta's review of an ad: ``pending``, ``approved`` or ``rejected``."""

    outcome: str
    effective_status: str
    feedback: dict[str, Any]


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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_message = user_title, user_message
        self.fbtrace_id, self.http_status = fbtrace_id, http_status
        self.transient = transient
        # The call may or may not have taken effect (timeout, dropped connection).
        self.ambiguous = ambiguous

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
        }


class Gateway(Protocol):
    """What adgate asks of Meta."""

    def validate(self, spec: AdSpec) -> None:
        """Run Meta's validation of the campaign and creative without creating anything."""

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        """Create one object (``KINDS``) and return its id; ``parents`` holds earlier ids."""

    def find(self, spec: AdSpec, kind: str) -> str | None:
        """The id of the object of ``kind`` named for this submission, if Meta has it."""

    def review(self, ad_id: str) -> Review:
        """Meta's review status of an ad."""


class SdkGateway:
    """The gateway on the facebook-business SDK (Graph API at ``graph_url``)."""

    def __init__(
        self, *, access_token: str, graph_url: str, api_version: str, timeout: float
    ) -> None:
        session = FacebookSession(access_token=access_token, timeout=timeout)
        session.GRAPH = graph_url.rstrip("/")
        self._api = FacebookAdsApi(session, api_version=api_version)

    # -- the four objects ------------------------------------------------------

    def _params(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> dict[str, Any]:
        if kind == "campaign":
            params: dict[str, Any] = {
                "name": spec.name(kind),
                "objective": "OUTCOME_TRAFFIC",
                "special_ad_categories": [SIEP] if spec.siep else [],
                "status": spec.status,
            }
            if spec.siep:
                params["special_ad_category_country"] = list(spec.countries)
            return params
        if kind == "adset":
            params = {
                "name": spec.name(kind),
                "campaign_id": parents["campaign"],
                "status": spec.status,
                "billing_event": "IMPRESSIONS",
                "optimization_goal": "LINK_CLICKS",
                "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
                "daily_budget": spec.daily_budget_cents,
                "targeting": {"geo_locations": {"countries": list(spec.countries)}},
            }
            if spec.dsa_payor or spec.dsa_beneficiary:
                params["dsa_payor"] = spec.dsa_payor
                params["dsa_beneficiary"] = spec.dsa_beneficiary
            return params
        if kind == "creative":
            return {
                "name": spec.name(kind),
                "object_story_spec": {
                    "page_id": spec.page_id,
                    "link_data": {
                        "message": spec.message,
                        "link": spec.link_url,
                        "name": spec.headline,
                    },
                },
                "authorization_category": spec.authorization_category,
            }
        return {
            "name": spec.name(kind),
            "adset_id": parents["adset"],
            "creative": {"creative_id": parents["creative"]},
            "status": spec.status,
            "authorization_category": spec.authorization_category,
        }

    def _account(self, spec: AdSpec) -> Any:
        return AdAccount(spec.ad_account_id, api=self._api)

    def _create_call(self, spec: AdSpec, kind: str, params: dict[str, Any]) -> Any:
        account = self._account(spec)
        call = {
            "campaign": account.create_campaign,
            "adset": account.create_ad_set,
            "creative": account.create_ad_creative,
            "ad": account.create_ad,
        }[kind]
        return _guard(lambda: call(params=params))

    def validate(self, spec: AdSpec) -> None:
        """validate_only on the campaign and the creative (the others need real parent ids)."""
        for kind in ("campaign", "creative"):
            params = {**self._params(spec, kind, {}), "execution_options": ["validate_only"]}
            self._create_call(spec, kind, params)

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        """Create the object and return its id."""
        created = self._create_call(spec, kind, self._params(spec, kind, parents))
        object_id = created.get("id") if created is not None else None
        if not object_id:
            raise MetaError(f"Meta returned no id for the {kind}", transient=True, ambiguous=True)
        return str(object_id)

    def find(self, spec: AdSpec, kind: str) -> str | None:
        """Look the object up by its name (after an ambiguous failure)."""
        account = self._account(spec)
        edge = {
            "campaign": account.get_campaigns,
            "adset": account.get_ad_sets,
            "creative": account.get_ad_creatives,
            "ad": account.get_ads,
        }[kind]
        name = spec.name(kind)
        filtering = [{"field": "name", "operator": "EQUAL", "value": name}]
        found = _guard(lambda: list(edge(fields=["id", "name"], params={"filtering": filtering})))
        ids = [str(o["id"]) for o in found if o.get("name") == name]
        return ids[0] if ids else None

    def review(self, ad_id: str) -> Review:
        """effective_status and ad_review_feedback of the ad."""
        ad = _guard(
            lambda: Ad(ad_id, api=self._api).api_get(
                fields=["effective_status", "ad_review_feedback"]
            )
        )
        status = str(ad.get("effective_status") or "")
        feedback = dict(ad.get("ad_review_feedback") or {})
        if status in ("DISAPPROVED", "WITH_ISSUES"):
            outcome = "rejected"
        elif status in ("PENDING_REVIEW", "IN_PROCESS", "PREAPPROVED", ""):
            outcome = "pending"
        else:
            outcome = "approved"
        return Review(outcome, status, feedback)


def _guard(call: Any) -> Any:
    """Run an SDK call; translate its failures into MetaError (never with the URL or token)."""
    try:
        return call()
    except FacebookRequestError as exc:
        error = (exc.body() or {}).get("error", {}) if isinstance(exc.body(), dict) else {}
        code = exc.api_error_code()
        status = exc.http_status()
        transient = (
            bool(exc.api_transient_error())
            or code in TRANSIENT_CODES
            or (status is not None and status >= 500)
        )
        raise MetaError(
            exc.api_error_message() or "Meta refused the request",
            code=code,
            subcode=exc.api_error_subcode(),
            user_title=error.get("error_user_title"),
            user_message=error.get("error_user_msg"),
            fbtrace_id=error.get("fbtrace_id"),
            http_status=status,
            transient=transient,
        ) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "lost the connection"
        raise MetaError(f"the call to Meta {kind}", transient=True, ambiguous=True) from None
    except FacebookError as exc:
        raise MetaError(f"the SDK refused the call: {type(exc).__name__}") from None
