"""How an ad is delivered: its budget, its schedule and its placements, as Meta takes them.

Plain values and rules, no I/O. ``shape_errors`` holds the rules that depend on the ad
alone (a form or the API refuses such input field by field); ``problems`` adds those that
depend on the ad account's currency and on the time (the checklist's ``budget`` step).
Every rule names its source in ``docs/meta.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BudgetType(StrEnum):
    """Meta's two ad set budgets: per day, or for the whole schedule."""

    DAILY = "daily"
    LIFETIME = "lifetime"


class Placement(StrEnum):
    """Where the ad appears: Meta's ``targeting.publisher_platforms``."""

    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"


# The positions adgate asks for on each platform: a link ad with a picture in the feed.
POSITIONS: dict[Placement, tuple[str, str]] = {
    Placement.FACEBOOK: ("facebook_positions", "feed"),
    Placement.INSTAGRAM: ("instagram_positions", "stream"),
}
ALL_PLACEMENTS = (Placement.FACEBOOK, Placement.INSTAGRAM)


@dataclass(frozen=True)
class Currency:
    """An ad account currency: its minor units and Meta's smallest daily budget in them."""

    code: str
    # Meta's amounts are integers in the currency's smallest unit ("offset" 100: cents).
    offset: int
    # The smallest daily budget of an ad set billed per impression, in minor units.
    min_daily: int


# Meta's "offset" and minimum daily budgets for ads billed per impression (docs/meta.md).
CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("CHF", 100, 100),
        Currency("EUR", 100, 100),
        Currency("USD", 100, 100),
        Currency("GBP", 100, 100),
    )
}
# What an ad without a budget of its own gets: 10.00 a day in the account's currency.
DEFAULT_DAILY_BUDGET = 1000
# The largest amount adgate takes (Meta's budgets are unsigned 32-bit integers).
MAX_BUDGET = 2**31 - 1
# adgate refuses an end closer than this to the time of the check, so that the ad still
# ends in the future when Meta receives it a moment later (stricter than Meta).
END_MARGIN = timedelta(hours=1)
# Meta takes a daily budget only for an ad set that runs longer than this; adgate asks it of
# lifetime budgets too, and adds END_MARGIN for an ad that starts when it is created.
MIN_RUN = timedelta(hours=24)


@dataclass(frozen=True)
class Budget:
    """An ad set budget in the ad account's currency, in minor units (cents)."""

    type: BudgetType = BudgetType.DAILY
    amount: int = DEFAULT_DAILY_BUDGET


@dataclass(frozen=True)
class Schedule:
    """When the ad runs: ``start`` None starts it when it is activated; ``end`` None never ends."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Problem:
    """One rule the delivery settings break; ``field`` names the input, ``code`` is stable."""

    field: str
    code: str
    detail: str
    params: tuple[tuple[str, str], ...] = ()


def shape_errors(
    budget: Budget, schedule: Schedule, placements: tuple[Placement, ...]
) -> list[Problem]:
    """The rules that depend on the ad alone (times must be aware)."""
    errors = []
    if not 0 < budget.amount <= MAX_BUDGET:
        errors.append(
            Problem("budget", "amount_invalid", "The budget must be a positive whole amount.")
        )
    for name, moment in (("start_time", schedule.start), ("end_time", schedule.end)):
        if moment is not None and moment.tzinfo is None:
            errors.append(Problem(name, "naive_time", "Give the time with its time zone."))
    if budget.type is BudgetType.LIFETIME and schedule.end is None:
        errors.append(Problem("end_time", "end_missing", "A lifetime budget needs an end time."))
    if (
        schedule.start is not None
        and schedule.end is not None
        and schedule.start.tzinfo is not None
        and schedule.end.tzinfo is not None
        and schedule.end <= schedule.start
    ):
        errors.append(Problem("end_time", "end_before_start", "The end must be after the start."))
    if not placements:
        errors.append(Problem("placements", "placements_missing", "Choose at least one placement."))
    if len(set(placements)) != len(placements):
        errors.append(Problem("placements", "placements_repeated", "Name each placement once."))
    return errors


def _start(schedule: Schedule, now: datetime) -> datetime:
    """When the ad set starts at Meta: its start time, or (none given, or past) when created,
    which is ``now`` plus the margin for the way there."""
    if schedule.start is not None and schedule.start > now + END_MARGIN:
        return schedule.start
    return now + END_MARGIN


def minimum(budget_type: BudgetType, currency: Currency, schedule: Schedule, now: datetime) -> int:
    """The smallest budget Meta takes: the daily minimum, times the days a lifetime budget spans."""
    if budget_type is BudgetType.DAILY or schedule.end is None:
        return currency.min_daily
    # The earliest the ad set can start, so that Meta never counts more days than adgate.
    start = schedule.start if schedule.start is not None and schedule.start > now else now
    days = max(1, math.ceil((schedule.end - start) / timedelta(days=1)))
    return currency.min_daily * days


def problems(
    budget: Budget,
    schedule: Schedule,
    placements: tuple[Placement, ...],
    currency_code: str | None,
    now: datetime,
    meta_min_daily: int | None = None,
) -> list[Problem]:
    """Every rule the settings break for an ad account in ``currency_code``, checked at ``now``.

    ``meta_min_daily`` is the account's minimum daily budget as Meta last answered it: the
    higher of it and adgate's table applies.
    """
    found = shape_errors(budget, schedule, placements)
    if found:
        return found
    if schedule.end is not None and schedule.end < now + END_MARGIN:
        found.append(
            Problem(
                "end_time",
                "end_passed",
                "The end time has passed or is less than an hour away.",
                (("end", schedule.end.isoformat(timespec="minutes")),),
            )
        )
    elif schedule.end is not None and schedule.end - _start(schedule, now) <= MIN_RUN:
        found.append(
            Problem(
                "end_time",
                "too_short",
                "The ad must run for more than 24 hours (counted from now when it starts "
                "on activation, plus an hour).",
            )
        )
    currency = CURRENCIES.get(currency_code or "")
    if currency is None:
        found.append(
            Problem(
                "budget",
                "currency_unknown",
                "The ad account's currency is not recorded; an admin must record it.",
                (("currency", currency_code or "—"),),
            )
        )
        return found
    if meta_min_daily is not None and meta_min_daily > currency.min_daily:
        currency = replace(currency, min_daily=meta_min_daily)
    smallest = minimum(budget.type, currency, schedule, now)
    if budget.amount < smallest:
        found.append(
            Problem(
                "budget",
                "below_minimum",
                f"The {budget.type.value} budget must be at least "
                f"{format_amount(smallest, currency)} {currency.code}.",
                (("minimum", format_amount(smallest, currency)), ("currency", currency.code)),
            )
        )
    return found


def format_amount(amount: int, currency: Currency) -> str:
    """An amount in minor units as a decimal number (``1050`` → ``10.50``)."""
    digits = round(math.log10(currency.offset))
    return f"{amount / currency.offset:.{digits}f}"
