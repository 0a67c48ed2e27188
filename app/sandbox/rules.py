"""Meta's refusals as the sandbox applies them: one :class:`Rule` each, with its source.

Every refusal is a :class:`Rule` in :data:`RULES`, with the Meta source it comes from (a
documentation URL or an SDK file) and whether that source was read (``verified``) or the
rule is inferred (``believed``); ``docs/meta.md`` lists the same table, and a test keeps the
two equal. Where Meta publishes a subcode (the DSA rules) it is Meta's; the 18920xx subcodes
are the sandbox's own: key on the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sandbox.errors import GraphError

REVIEW_POLICY = "Ads about social issues, elections or politics"

DOCS = "https://developers.facebook.com/documentation/ads-commerce/marketing-api"
SDK = "facebook_business/adobjects"


@dataclass(frozen=True)
class Rule:
    """One of Meta's refusals: its code, subcode and user title, and where it comes from."""

    name: str
    code: int
    subcode: int | None
    title: str
    source: str
    verified: bool

    def error(
        self, user_msg: str, message: str = "Invalid parameter", blame: tuple[str, ...] = ()
    ) -> GraphError:
        """The :class:`GraphError` for this rule."""
        return GraphError(
            message,
            code=self.code,
            subcode=self.subcode,
            user_title=self.title,
            user_msg=user_msg,
            blame=blame,
        )


def _rule(
    name: str, subcode: int | None, title: str, source: str, *, verified: bool, code: int = 100
) -> Rule:
    return Rule(name, code, subcode, title, source, verified)


CAMPAIGNS = f"{DOCS}/reference/ad-campaign-group"
ADSETS = "https://developers.facebook.com/docs/graph-api/reference/ad-account/adsets/"
ADS = f"{DOCS}/reference/adgroup"
CREATIVES = f"{DOCS}/reference/ad-creative"
UNDECLARED = _rule(
    "undeclared_parameter", None, "Invalid parameter", f"{SDK}/adaccount.py (param_types)",
    verified=False,
)  # fmt: skip
APPSECRET_PROOF_REQUIRED = _rule(
    "appsecret_proof_required", None, "App Secret Proof Required",
    "https://developers.facebook.com/docs/graph-api/securing-requests", verified=True,
)  # fmt: skip
NAME_REQUIRED = _rule("name_required", None, "Invalid parameter", CAMPAIGNS, verified=False)
INVALID_VALUE = _rule("invalid_value", None, "Invalid parameter", f"{SDK}/", verified=True)
CATEGORY_REQUIRED = _rule(
    "campaign.category_required", 1892001, "Special Ad Categories Required", CAMPAIGNS,
    verified=True,
)  # fmt: skip
CATEGORY_COUNTRY_REQUIRED = _rule(
    "campaign.category_country_required", 1892002, "Special Ad Category Country Required",
    f"{DOCS}/audiences/special-ad-category", verified=True,
)  # fmt: skip
SIEP_STOPPED = _rule(
    "campaign.siep_stopped_in_eu", 1892003,
    "Ads About Social Issues, Elections or Politics Not Allowed",
    "https://about.fb.com/news/2025/07/ending-political-electoral-and-social-issue-advertising-in-the-eu/",
    verified=True,
)  # fmt: skip
BUDGET_SHARING_REQUIRED = _rule(
    "campaign.budget_sharing_required", None, "Budget Sharing Setting Required",
    f"{DOCS}/bidding/guides/adset-budget-sharing", verified=True,
)  # fmt: skip
INVALID_CAMPAIGN = _rule(
    "adset.campaign_unknown", 1892004, "Invalid Campaign", ADSETS, verified=False
)
TARGETING_REQUIRED = _rule(
    "adset.countries_required", 1892005, "Target Countries Required", ADSETS, verified=False
)
DSA_PAYOR_REQUIRED = _rule(
    "adset.dsa_payor_required", 3858079, "No payor provided in DSA regulated region",
    "https://developers.facebook.com/docs/graph-api/reference/adgroup/copies/", verified=True,
)  # fmt: skip
DSA_BENEFICIARY_REQUIRED = _rule(
    "adset.dsa_beneficiary_required", 3858081,
    "No payor/beneficiary provided in DSA regulated location",
    "https://developers.facebook.com/docs/graph-api/reference/adgroup/copies/", verified=True,
)  # fmt: skip
BUDGET_REQUIRED = _rule("adset.budget_required", 1892012, "Budget Required", ADSETS, verified=True)
BUDGET_MINIMUM = _rule(
    "adset.budget_below_minimum", 1892013, "Budget Too Low",
    "https://www.facebook.com/business/help/203183363050448", verified=False,
)  # fmt: skip
END_TIME_REQUIRED = _rule(
    "adset.end_time_required", 1892014, "End Time Required", ADSETS, verified=True
)
SCHEDULE_INVALID = _rule(
    "adset.schedule_invalid", 1892015, "Invalid Schedule", ADSETS, verified=True
)
PLACEMENT_INVALID = _rule(
    "adset.placement_invalid", 1892016, "Invalid Placement",
    f"{DOCS}/audiences/reference/placement-targeting", verified=True,
)  # fmt: skip
PAGE_NOT_ALLOWED = _rule(
    "creative.page_not_linked", 1892008, "Page Not Linked to This Ad Account", CREATIVES,
    verified=False,
)  # fmt: skip
IMAGE_UNKNOWN = _rule(
    "creative.image_unknown", 1892017, "Image Not Found", f"{DOCS}/reference/ad-image",
    verified=False,
)  # fmt: skip
IMAGE_INVALID = _rule(
    "image.not_an_image", 1892018, "Invalid Image", f"{DOCS}/reference/ad-image", verified=False
)
INVALID_ADSET = _rule("ad.adset_unknown", 1892009, "Invalid Ad Set", ADS, verified=False)
INVALID_CREATIVE = _rule("ad.creative_unknown", 1892010, "Invalid Ad Creative", ADS, verified=False)
AUTHORIZATION_MISMATCH = _rule(
    "ad.siep_creative_not_political", 1892011, "Authorization Category Does Not Match",
    CREATIVES, verified=True,
)  # fmt: skip
# Not refusals at creation: what Meta's review disapproves (``review_feedback``).
REVIEW_NOT_AUTHORIZED = _rule(
    "review.page_not_authorized", None, REVIEW_POLICY, f"{DOCS}/reference/ad-account",
    verified=True,
)  # fmt: skip
REVIEW_NO_DISCLAIMER = _rule(
    "review.no_disclaimer", None, REVIEW_POLICY,
    ADS, verified=False,
)  # fmt: skip

STATUS_CHANGE_INVALID = _rule(
    "update.status_invalid", 1892019, "Invalid Status Change",
    f"{DOCS}/best-practices/manage-your-ad-object-status", verified=True,
)  # fmt: skip

RULES: tuple[Rule, ...] = (
    APPSECRET_PROOF_REQUIRED, UNDECLARED, NAME_REQUIRED, INVALID_VALUE, CATEGORY_REQUIRED,
    CATEGORY_COUNTRY_REQUIRED, SIEP_STOPPED, BUDGET_SHARING_REQUIRED, INVALID_CAMPAIGN,
    TARGETING_REQUIRED, DSA_PAYOR_REQUIRED, DSA_BENEFICIARY_REQUIRED, BUDGET_REQUIRED,
    BUDGET_MINIMUM, END_TIME_REQUIRED, SCHEDULE_INVALID, PLACEMENT_INVALID, PAGE_NOT_ALLOWED,
    IMAGE_UNKNOWN, IMAGE_INVALID, INVALID_ADSET, INVALID_CREATIVE, AUTHORIZATION_MISMATCH,
    REVIEW_NOT_AUTHORIZED, REVIEW_NO_DISCLAIMER, STATUS_CHANGE_INVALID,
)  # fmt: skip
