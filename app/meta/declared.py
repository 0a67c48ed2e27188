"""What the facebook-business SDK declares a call may carry, and what a call carries beyond it.

Each SDK method lists its parameters (``param_types``); nested objects are typed by an
``adobjects`` class whose ``_field_types`` list their keys (``Targeting``,
``AdCreativeLinkData``, …). The SDK's type checker lets an undeclared key through silently:
``undeclared`` finds them, at the top level and inside every nested object the SDK types.
Free-form values (``map``, ``Object``) and references to other objects are not looked into.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

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
