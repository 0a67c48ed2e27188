"""The checks about people: the owner's second factor and identity, and the reviewer's
approval of exactly this content."""

from __future__ import annotations

from workflows.checks.facts import CheckContext
from workflows.checks.result import CheckResult, Provenance, Status, result


def two_factor(ctx: CheckContext) -> CheckResult:
    """adgate's own TOTP is on (system) and 2FA on the Facebook account is attested."""
    if not ctx.owner_totp_enabled:
        return result(
            "two_factor",
            Status.FAILED,
            "adgate_totp_off",
            "The owner has no two-factor authentication in adgate; set it up on the Security page.",
            Provenance.SYSTEM,
        )
    if not ctx.facebook_2fa_attested:
        return result(
            "two_factor",
            Status.FAILED,
            "facebook_not_attested",
            "Confirm that two-factor authentication is on for the Facebook account used for ads.",
            Provenance.ATTESTED,
        )
    return result(
        "two_factor",
        Status.PASSED,
        "ok",
        "Two-factor authentication is on in adgate and attested for Facebook.",
        Provenance.ATTESTED,
    )


def identity(ctx: CheckContext) -> CheckResult:
    """An unexpired verification by another person, issued by every country the ad targets."""
    today = ctx.now.date()
    valid = [
        v
        for v in ctx.identities
        if not v.revoked and v.verified_by != ctx.owner_id and v.expires_on >= today
    ]
    covered = {v.issuing_country for v in valid}
    missing = sorted(set(ctx.ad.countries) - covered)
    if not ctx.ad.countries:
        return result(
            "identity",
            Status.FAILED,
            "no_countries",
            "The ad has no target country, so no identity document can match it.",
            Provenance.VERIFIED,
        )
    if missing:
        expired = sorted(
            {v.issuing_country for v in ctx.identities if not v.revoked and v.expires_on < today}
            & set(missing)
        )
        if expired:
            return result(
                "identity",
                Status.FAILED,
                "expired",
                f"The identity verification for {', '.join(expired)} has expired; "
                "a reviewer must verify a valid document.",
                Provenance.VERIFIED,
                countries=", ".join(expired),
            )
        return result(
            "identity",
            Status.PENDING,
            "missing",
            f"A reviewer must verify an identity document issued by {', '.join(missing)}.",
            Provenance.VERIFIED,
            countries=", ".join(missing),
        )
    return result(
        "identity",
        Status.PASSED,
        "ok",
        f"Identity verified for {', '.join(sorted(covered & set(ctx.ad.countries)))}.",
        Provenance.VERIFIED,
        countries=", ".join(sorted(covered & set(ctx.ad.countries))),
    )


def approval(ctx: CheckContext) -> CheckResult:
    """Four-eyes: another person, a reviewer, approved exactly this content; and what the
    worker sends is what was submitted."""
    if ctx.submitted_hash is not None and ctx.submitted_hash != ctx.content_hash:
        return result(
            "approval",
            Status.FAILED,
            "not_submitted",
            "What would be sent differs from what was approved and submitted.",
            Provenance.SYSTEM,
        )
    if not ctx.four_eyes:
        return result(
            "approval",
            Status.PASSED,
            "not_required",
            "Four-eyes approval is turned off for this installation.",
            Provenance.SYSTEM,
        )
    a = ctx.approval
    if a is None:
        return result(
            "approval",
            Status.PENDING,
            "missing",
            "A reviewer must approve this ad.",
            Provenance.VERIFIED,
        )
    if a.reviewer_id == ctx.owner_id:
        return result(
            "approval",
            Status.FAILED,
            "self_approved",
            "The owner cannot approve their own ad.",
            Provenance.VERIFIED,
        )
    if a.content_hash != ctx.content_hash:
        return result(
            "approval",
            Status.PENDING,
            "stale",
            "The ad changed after it was approved; a reviewer must approve it again.",
            Provenance.VERIFIED,
        )
    return result("approval", Status.PASSED, "ok", "Approved by a reviewer.", Provenance.VERIFIED)
