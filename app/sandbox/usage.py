"""The sandbox's rate limits, as Meta's Marketing API counts them.

Per ad account, every call scores (a read 1, a write 3; a read of many ids one per id) in a
window of 300 seconds; above the tier's maximum the account is blocked for the tier's block
(development: 60 points, 300 s; standard: 9,000 points, 60 s — Meta's rate-limiting page,
docs/meta.md). Every answer carries ``X-Business-Use-Case-Usage`` for the accounts the call
touched (``call_count`` in percent of the maximum, ``estimated_time_to_regain_access`` in
minutes) and ``X-App-Usage``. A throttle can also be held for a set time
(``POST /__sandbox__/throttles``): then every call for the account is refused with code 80004
until it ends. ``GET /__sandbox__/usage`` tells, per account, the calls made, the highest
score reached in any window and the calls that arrived while it was throttled.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.sandbox.errors import GraphError

WINDOW = 300.0
READ, WRITE = 1, 3


@dataclass(frozen=True)
class Tier:
    """A Marketing API access tier: the score allowed per window, the block when exceeded."""

    name: str
    max_score: int
    block_seconds: float


TIERS = {
    "development": Tier("development_access", 60, 300.0),
    "standard": Tier("standard_access", 9000, 60.0),
}


def throttled_error(minutes: int) -> GraphError:
    """Meta's answer to a call for an ad account whose ads-management budget is used up."""
    return GraphError(
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
        " For more info, please refer to"
        " https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        code=80004,
        subcode=2446079,
        user_title="Too Many Calls to This Ad Account",
        user_msg=f"Too many calls to this ad account. Try again in about {minutes} minute(s).",
        transient=True,
    )


def _minutes(seconds: float) -> float:
    """Meta's estimate in minutes: whole minutes (rounded up); below a minute the sandbox says
    it to the second (as a fraction), so that tests need not wait a whole minute."""
    if seconds >= 60:
        return float(math.ceil(seconds / 60))
    return round(math.ceil(seconds) / 60, 4)


class Budget:
    """Scores, blocks and held throttles per ad account; every access holds the lock."""

    def __init__(self, tier: str | None) -> None:
        self.tier = TIERS[tier] if tier else None
        self._lock = threading.Lock()
        self._calls: dict[str, deque[tuple[float, int]]] = {}
        self._blocked: dict[str, float] = {}
        self._held: dict[str, float] = {}
        self._total: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._while_throttled: Counter[str] = Counter()
        self._app_calls = 0

    def _until(self, account: str, now: float) -> float | None:
        ends = [t for t in (self._blocked.get(account), self._held.get(account)) if t and t > now]
        return max(ends) if ends else None

    def admit(self, accounts: Iterable[str], now: float) -> GraphError | None:
        """The refusal of a call for a throttled account, if one of ``accounts`` is."""
        with self._lock:
            for account in accounts:
                until = self._until(account, now)
                if until is not None:
                    self._while_throttled[account] += 1
                    return throttled_error(max(1, math.ceil((until - now) / 60)))
        return None

    def count(self, scores: dict[str, int], now: float) -> None:
        """Add a performed call's scores; block an account whose window exceeds the tier."""
        with self._lock:
            self._app_calls += 1
            for account, score in scores.items():
                window = self._calls.setdefault(account, deque())
                window.append((now, score))
                while window and window[0][0] <= now - WINDOW:
                    window.popleft()
                total = sum(s for _, s in window)
                self._total[account] += 1
                self._peak[account] = max(self._peak[account], total)
                if self.tier is not None and total > self.tier.max_score:
                    self._blocked[account] = now + self.tier.block_seconds

    def headers(self, accounts: Iterable[str], now: float) -> dict[str, str]:
        """``X-Business-Use-Case-Usage`` for ``accounts`` and ``X-App-Usage``."""
        with self._lock:
            cases: dict[str, list[dict[str, Any]]] = {}
            for account in sorted(set(accounts)):
                window = self._calls.get(account, deque())
                # Without a tier nothing is enforced, so nothing is reported as spent either:
                # a header at 100 % for calls that are never refused would make a client
                # pause an account no limit blocks (only the worker benchmark runs so).
                score = sum(s for t, s in window if t > now - WINDOW) if self.tier else 0
                maximum = self.tier.max_score if self.tier else TIERS["standard"].max_score
                until = self._until(account, now)
                cases[account.removeprefix("act_")] = [
                    {
                        "type": "ads_management",
                        # Whole percent, rounded down: 100 only when the budget is spent.
                        "call_count": min(100, 100 * score // maximum),
                        "total_cputime": min(100, 50 * score // maximum),
                        "total_time": min(100, 50 * score // maximum),
                        "estimated_time_to_regain_access": _minutes(until - now) if until else 0,
                        "ads_api_access_tier": (self.tier or TIERS["standard"]).name,
                    }
                ]
            app = {"call_count": 0, "total_time": 0, "total_cputime": 0}
        found = {"X-App-Usage": json.dumps(app)}
        if cases:
            found["X-Business-Use-Case-Usage"] = json.dumps(cases)
        return found

    def hold(self, account: str, seconds: float, now: float) -> float:
        """Throttle ``account`` for ``seconds`` from ``now``; returns when it ends."""
        with self._lock:
            self._held[account] = now + seconds
            return self._held[account]

    def release(self) -> None:
        """End every held throttle and block (the counts stay)."""
        with self._lock:
            self._held.clear()
            self._blocked.clear()

    def report(self, now: float) -> dict[str, Any]:
        """Per account: calls made, the highest window score, calls while throttled."""
        with self._lock:
            accounts = set(self._total) | set(self._held) | set(self._blocked)
            return {
                "tier": self.tier.name if self.tier else None,
                "max_score": self.tier.max_score if self.tier else None,
                "accounts": {
                    a: {
                        "calls": self._total[a],
                        "peak_score": self._peak[a],
                        "calls_while_throttled": self._while_throttled[a],
                        "throttled_until": self._until(a, now),
                    }
                    for a in sorted(accounts)
                },
            }
