"""The checks about the ad: its classification and disclaimer, the rules of its target
countries, its ad account's standing, and its budget, schedule and placements."""

from __future__ import annotations

from workflows import delivery, policy
from workflows.checks.facts import Category, CheckContext
from workflows.checks.result import CheckResult, Provenance, Status, result
from workflows.policy import AdKind


def classification(ctx: CheckContext) -> CheckResult:
    """Classified; social issues name topics; a flagged NONE is justified and signed off."""
    c = ctx.classification
    if c is None:
        return result(
            "classification",
            Status.FAILED,
            "missing",
            "Classify the ad: political, electoral, social issue, or none of these.",
            Provenance.ATTESTED,
        )
    if c.category is Category.SOCIAL_ISSUE and not c.social_issues:
        return result(
            "classification",
            Status.FAILED,
            "topics_missing",
            "A social-issue ad must name at least one of Meta's social-issue topics.",
            Provenance.ATTESTED,
        )
    if c.category is Category.NONE and c.flagged:
        if not (c.justification or "").strip():
            return result(
                "classification",
                Status.FAILED,
                "justification_missing",
                "adgate's suggester finds this text political: justify the classification NONE.",
                Provenance.ATTESTED,
            )
        if c.signed_off_by is None or c.signed_off_by == ctx.owner_id:
            return result(
                "classification",
                Status.PENDING,
                "sign_off_pending",
                "A reviewer must sign off the justification for classifying this ad as NONE.",
                Provenance.VERIFIED,
            )
        return result(
            "classification",
            Status.PASSED,
            "ok",
            "Classified NONE, justified and signed off by a reviewer.",
            Provenance.VERIFIED,
        )
    return result(
        "classification",
        Status.PASSED,
        "ok",
        f"Classified {c.category.value}.",
        Provenance.ATTESTED,
        category=c.category.value,
    )


def disclaimer(ctx: CheckContext) -> CheckResult:
    """A SIEP ad (or one not yet classified) says who paid, in a text registered at Meta for its
    ad account in every target country; an EU ad names payor and beneficiary."""
    missing, codes = [], []
    siep = ctx.kind is not AdKind.OTHER
    paid_for_by = ctx.ad.paid_for_by.strip()
    if siep and not paid_for_by:
        missing.append("the 'paid for by' text")
        codes.append("paid_for_by")
    today = ctx.now.date()
    if any(policy.needs_dsa_fields(c, today) for c in ctx.ad.countries) and not (
        ctx.ad.dsa_payor.strip() and ctx.ad.dsa_beneficiary.strip()
    ):
        missing.append("the DSA payor and beneficiary (the ad targets the EU)")
        codes.append("dsa")
    if missing:
        return result(
            "disclaimer",
            Status.FAILED,
            "missing",
            f"Enter {' and '.join(missing)}.",
            Provenance.ATTESTED,
            missing=",".join(codes),
        )
    if not siep:
        return result(
            "disclaimer",
            Status.PASSED,
            "not_required",
            "A non-political ad needs no disclaimer.",
            Provenance.ATTESTED,
        )
    registered = ctx.standing.disclaimers
    unmatched = sorted(c for c in ctx.ad.countries if paid_for_by not in registered.get(c, ()))
    if unmatched:
        texts = sorted({t for c in unmatched for t in registered.get(c, ())})
        shown = "; ".join(f"“{t}”" for t in texts) or "none"
        return result(
            "disclaimer",
            Status.FAILED,
            "not_registered",
            f"“{paid_for_by}” is not a disclaimer registered at Meta for "
            f"{ctx.ad.ad_account_id} in {', '.join(unmatched)} (registered there: {shown}).",
            Provenance.VERIFIED,
            text=paid_for_by,
            countries=", ".join(unmatched),
            registered=shown,
        )
    return result(
        "disclaimer",
        Status.PASSED,
        "ok",
        f"“{paid_for_by}” is registered at Meta for every target country.",
        Provenance.VERIFIED,
        text=paid_for_by,
    )


def jurisdiction(ctx: CheckContext) -> CheckResult:
    """No target country refuses this kind of ad today (see workflows.policy)."""
    kind = ctx.kind
    if kind is None:
        return result(
            "jurisdiction",
            Status.PENDING,
            "unclassified",
            "The rules of the target countries depend on the classification.",
            Provenance.SYSTEM,
        )
    if not ctx.ad.countries:
        return result(
            "jurisdiction",
            Status.FAILED,
            "no_countries",
            "Choose at least one target country.",
            Provenance.SYSTEM,
        )
    today = ctx.now.date()
    refused, unknown, refused_rules = [], [], []
    for country in sorted(ctx.ad.countries):
        rule = policy.rule_for(country, kind, today)
        if rule is None:
            unknown.append(country)
        elif not rule.allowed:
            refused.append(f"{country} refuses since {rule.since.isoformat()} ({rule.reference})")
            refused_rules.append((country, rule))
    if refused:
        return result(
            "jurisdiction",
            Status.FAILED,
            "refused",
            f"This {kind.value.upper()} ad cannot run: " + "; ".join(refused) + ".",
            Provenance.SYSTEM,
            countries=", ".join(c for c, _ in refused_rules),
            since=", ".join(sorted({r.since.isoformat() for _, r in refused_rules})),
            reference="; ".join(sorted({r.reference for _, r in refused_rules})),
            basis=", ".join(sorted({r.basis for _, r in refused_rules if r.basis})),
        )
    if unknown:
        return result(
            "jurisdiction",
            Status.FAILED,
            "unknown_country",
            f"adgate has no rules for {', '.join(unknown)}; such ads are not sent.",
            Provenance.SYSTEM,
            countries=", ".join(unknown),
        )
    return result(
        "jurisdiction",
        Status.PASSED,
        "ok",
        f"Allowed in {', '.join(sorted(ctx.ad.countries))}.",
        Provenance.SYSTEM,
        countries=", ".join(sorted(ctx.ad.countries)),
    )


def standing(ctx: CheckContext) -> CheckResult:
    """The ad account is registered for this page, has not lost its political-ad eligibility,
    and (for a SIEP ad) its page is authorized at Meta in every target country."""
    s = ctx.standing
    if not s.registered:
        return result(
            "standing",
            Status.FAILED,
            "unknown_ad_account",
            f"The ad account {ctx.ad.ad_account_id} is not registered in adgate; ask an admin.",
            Provenance.SYSTEM,
            ad_account=ctx.ad.ad_account_id,
        )
    if s.page_id is not None and s.page_id != ctx.ad.page_id:
        return result(
            "standing",
            Status.FAILED,
            "page_mismatch",
            f"The ad account {ctx.ad.ad_account_id} is registered for page {s.page_id}, "
            f"not {ctx.ad.page_id}.",
            Provenance.SYSTEM,
            ad_account=ctx.ad.ad_account_id,
            registered_page=s.page_id,
            page=ctx.ad.page_id,
        )
    if ctx.kind is AdKind.OTHER:
        return result(
            "standing",
            Status.PASSED,
            "ok",
            "The ad account is in good standing.",
            Provenance.SYSTEM,
        )
    if not s.political_eligible:
        return result(
            "standing",
            Status.FAILED,
            "not_eligible",
            f"The ad account lost its eligibility for political ads after {s.violations} "
            "violation(s); an admin must restore it.",
            Provenance.SYSTEM,
            violations=str(s.violations),
        )
    unauthorized = sorted(set(ctx.ad.countries) - s.authorized)
    if unauthorized:
        return result(
            "standing",
            Status.FAILED,
            "not_authorized",
            f"Page {ctx.ad.page_id} is not recorded as authorized at Meta for ads about social "
            f"issues, elections or politics in {', '.join(unauthorized)}.",
            Provenance.VERIFIED,
            page=ctx.ad.page_id,
            countries=", ".join(unauthorized),
        )
    if s.meta_page_authorized is False:
        return result(
            "standing",
            Status.FAILED,
            "meta_not_authorized",
            f"Meta answers that page {ctx.ad.page_id} has not authorized {ctx.ad.ad_account_id} "
            "for ads about social issues, elections or politics.",
            Provenance.SYSTEM,
            page=ctx.ad.page_id,
            ad_account=ctx.ad.ad_account_id,
        )
    return result(
        "standing",
        Status.PASSED,
        "authorized",
        f"In good standing; page {ctx.ad.page_id} is authorized at Meta in "
        f"{', '.join(sorted(ctx.ad.countries))}.",
        Provenance.VERIFIED,
        page=ctx.ad.page_id,
        countries=", ".join(sorted(ctx.ad.countries)),
    )


def budget(ctx: CheckContext) -> CheckResult:
    """Budget, schedule and placements are what Meta takes for the ad account's currency now."""
    ad = ctx.ad
    found = delivery.problems(
        ad.budget,
        ad.schedule,
        ad.placements,
        ctx.standing.currency,
        ctx.now,
        ctx.standing.meta_min_daily_budget,
    )
    if found:
        first = found[0]
        return result(
            "budget",
            Status.FAILED,
            first.code,
            " ".join(p.detail for p in found),
            Provenance.SYSTEM,
            **dict(first.params),
        )
    currency = delivery.CURRENCIES[ctx.standing.currency or ""]
    return result(
        "budget",
        Status.PASSED,
        "ok",
        f"{ad.budget.type.value.capitalize()} budget of "
        f"{delivery.format_amount(ad.budget.amount, currency)} {currency.code}.",
        Provenance.SYSTEM,
        type=ad.budget.type.value,
        amount=delivery.format_amount(ad.budget.amount, currency),
        currency=currency.code,
    )
