"""Parameters as the SDK sends them (lists, maps and booleans as JSON text), the values the
checks read from them, and Graph's time format."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.sandbox.rules import INVALID_VALUE, NAME_REQUIRED

# Text parameters that may look like JSON (a name may start with "["); never decoded.
TEXT_PARAMS = frozenset(
    {"name", "dsa_payor", "dsa_beneficiary", "status", "title", "body", "bytes", "start_time",
     "end_time"}
)  # fmt: skip
_ISO2 = re.compile(r"[A-Z]{2}")


def decode_params(raw: Mapping[str, str]) -> dict[str, Any]:
    """Form or query parameters as the SDK sends them: lists, maps and booleans as JSON text."""
    params: dict[str, Any] = {}
    for key, value in raw.items():
        params[key] = value
        looks_like_json = value.startswith(("[", "{")) or value in ("true", "false")
        if key in TEXT_PARAMS or not looks_like_json:
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            continue
    return params


def required_text(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise NAME_REQUIRED.error(
            f"The parameter {key} is required.", f"(#100) The parameter {key} is required"
        )
    return value


def one_of(params: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(key, default)
    if value not in allowed:
        raise INVALID_VALUE.error(
            f"{key} must be one of: {', '.join(allowed)}.",
            f"(#100) param {key} must be one of {{{', '.join(allowed)}}} - got {value!r}",
        )
    return str(value)


def country_codes(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(c, str) and _ISO2.fullmatch(c) for c in value
    ):
        raise INVALID_VALUE.error(
            f"{key} must be a list of ISO 3166-1 alpha-2 country codes.",
            f"(#100) param {key} must be an array of country codes",
        )
    return list(value)


def minor_units(params: Mapping[str, Any], key: str) -> int | None:
    """A budget parameter as an integer in minor units (None when absent or zero)."""
    value = params.get(key)
    if value in (None, "", "0", 0):
        return None
    try:
        amount = int(str(value))
    except ValueError:
        amount = -1
    if amount < 0:
        raise INVALID_VALUE.error(f"{key} must be a whole amount in minor units.")
    return amount


def parse_time(value: Any, key: str) -> datetime | None:
    """A Graph time parameter: ISO 8601 with an offset, or a UNIX timestamp; "0" means none."""
    if value in (None, "", "0", 0):
        return None
    text = str(value)
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except (ValueError, OverflowError):
        raise INVALID_VALUE.error(
            f"{key} must be a time such as 2026-03-30T17:17:34+0000 or a UNIX timestamp.",
        ) from None


def graph_time(epoch: float) -> str:
    """A time in Meta's format, e.g. ``2026-01-31T12:00:00+0000``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
