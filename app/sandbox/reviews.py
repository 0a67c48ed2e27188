"""Meta's review of an ad: the verdict by its rules (a SIEP ad needs its page authorized and a
"paid for by" disclaimer in every country it targets), or the outcome set for it through
``POST /__sandbox__/reviews``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from app.sandbox.accounts import SandboxAccount
from app.sandbox.checks import is_siep, target_countries
from app.sandbox.params import graph_time
from app.sandbox.rules import REVIEW_POLICY

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


def review_feedback(
    account: SandboxAccount, campaign: Mapping[str, Any], adset: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Meta's review of an ad: ``None`` when approved, else its ``ad_review_feedback``.

    A SIEP ad is disapproved when its page is not authorized for SIEP ads in every country
    it targets, or has no "paid for by" disclaimer registered in one of them.
    """
    if not is_siep(campaign):
        return None
    countries = target_countries(adset)
    problems = []
    unauthorized = sorted(c for c in countries if c not in account.authorizations)
    if unauthorized:
        problems.append(
            f"the Page {account.page_id} is not authorized to run ads about social issues,"
            f" elections or politics in {', '.join(unauthorized)}"
        )
    no_disclaimer = sorted(
        c for c in countries if c in account.authorizations and not account.authorizations[c]
    )
    if unauthorized or no_disclaimer:
        problems.append(
            f'the ad account {account.id} has no "Paid for by" disclaimer in'
            f" {', '.join(sorted(set(unauthorized) | set(no_disclaimer)))}"
        )
    if not problems:
        return None
    return {
        "global": {REVIEW_POLICY: "Your ad was rejected because " + " and ".join(problems) + "."}
    }


def decide(
    ad: dict[str, Any],
    account: SandboxAccount,
    campaign: dict[str, Any],
    adset: dict[str, Any],
) -> None:
    """Review one ad: the outcome set for it, else its rules' verdict (an outcome that delivers
    sets its campaign and ad set too)."""
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
