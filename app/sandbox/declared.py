"""What the facebook-business SDK declares a call may carry, and Meta's refusal of the rest.

Each SDK method lists its parameters (``param_types``); nested objects are typed by an
``adobjects`` class whose ``_field_types`` list their keys (``Targeting``,
``AdCreativeLinkData``, …). The SDK's type checker lets an undeclared key through silently:
``undeclared`` finds them, at the top level and inside every nested object the SDK types.
Free-form values (``map``, ``Object``) and references to other objects are not looked into.

The gateway reads the same declaration for what it sends (``app.meta.declared``); the
sandbox, standing in for Meta, keeps a reading of its own and imports nothing of adgate.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount  # type: ignore[import-untyped]
from facebook_business.api import FacebookAdsApi, FacebookSession  # type: ignore[import-untyped]

from app.sandbox import GRAPH_VERSION
from app.sandbox.rules import UNDECLARED

# Types whose keys the SDK does not list (free-form maps), or that reference another object
# by id (an ad's ``creative`` is {"creative_id": …}, which AdCreative's fields do not name).
OPAQUE = frozenset({"map", "Object", "AdCreative", "AdSet", "Campaign"})
_LIST = re.compile(r"list<(.+)>")


@cache
def field_types(type_name: str) -> Mapping[str, str] | None:
    """The keys the SDK declares for objects of ``type_name``, or None for a free-form type."""
    if type_name in OPAQUE or not type_name[:1].isupper():
        return None
    try:
        module = importlib.import_module(f"facebook_business.adobjects.{type_name.lower()}")
    except ImportError:
        return None
    cls = getattr(module, type_name, None)
    types = getattr(cls, "_field_types", None)
    return dict(types) if isinstance(types, dict) else None


def undeclared(params: Mapping[str, Any], types: Mapping[str, str], path: str = "") -> list[str]:
    """The dotted names of every key in ``params`` that ``types`` (and nested types) lack."""
    found = []
    for key, value in params.items():
        where = f"{path}{key}"
        if key not in types:
            found.append(where)
            continue
        type_name = types[key]
        match = _LIST.fullmatch(type_name)
        items = value if match and isinstance(value, list) else [value]
        nested = field_types(match.group(1) if match else type_name)
        if nested is None:
            continue
        for item in items:
            if isinstance(item, Mapping):
                found += undeclared(item, nested, where + ".")
    return found


# The SDK method whose declaration covers each create call of the sandbox.
CREATE_METHODS = {
    "campaigns": "create_campaign",
    "adsets": "create_ad_set",
    "adimages": "create_ad_image",
    "adcreatives": "create_ad_creative",
    "ads": "create_ad",
}


@cache
def declared(edge: str) -> Mapping[str, str]:
    """The parameters the SDK declares for creating objects on ``edge`` (``param_types``).

    The request is built and never sent: the SDK keeps the declaration on it.
    """
    # No call is made: a placeholder token only satisfies the session's constructor.
    api = FacebookAdsApi(FacebookSession(access_token="-"), api_version=GRAPH_VERSION)  # noqa: S106
    request = getattr(AdAccount("act_0", api=api), CREATE_METHODS[edge])(pending=True)
    return dict(request._param_checker._type_check_info)


@cache
def declared_update(kind: str) -> Mapping[str, str]:
    """The parameters the SDK declares for updating a ``campaign``, ``adset`` or ``ad``."""
    from facebook_business.adobjects.ad import Ad  # type: ignore[import-untyped]
    from facebook_business.adobjects.adset import AdSet  # type: ignore[import-untyped]
    from facebook_business.adobjects.campaign import Campaign  # type: ignore[import-untyped]

    api = FacebookAdsApi(FacebookSession(access_token="-"), api_version=GRAPH_VERSION)  # noqa: S106
    cls = {"campaign": Campaign, "adset": AdSet, "ad": Ad}[kind]
    request = cls("0", api=api).api_update(pending=True)
    return dict(request._param_checker._type_check_info)


def check_declared(edge: str, params: Mapping[str, Any]) -> None:
    """Refuse a parameter the SDK does not declare for the call (nested keys included)."""
    extra = undeclared(params, declared(edge))
    if extra:
        raise UNDECLARED.error(
            f"The parameter {extra[0]} is not a parameter of this call.",
            f"(#100) Param {extra[0]} is not a valid parameter",
            blame=tuple(extra),
        )
