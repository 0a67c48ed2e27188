"""Each check's codes; the EU stop with its legal reference; a complete CH ad passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from workflows import policy
from workflows.checks import (
    CHECK_NAMES,
    Ad,
    Approval,
    Category,
    CheckContext,
    Classification,
    IdentityVerification,
    Standing,
    Status,
    content_hash,
    evaluate_all,
    moot,
    refused,
    voids_classification,
)
from workflows.delivery import Budget, BudgetType, Placement, Schedule

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
OWNER, REVIEWER = 1, 2
CH_AD = Ad(
    page_id="2001",
    ad_account_id="act_1001",
    message="Abstimmung am 8. März: Informieren Sie sich.",
    headline="Volksabstimmung",
    link_url="https://www.musterstadt.ch/abstimmung",
    countries=("CH",),
    paid_for_by="Stadt Musterstadt",
)
POLITICAL = Classification(Category.POLITICAL)
# Meta's authorization of the page: every country the ad targets, with the ad's disclaimer.
AUTHORIZED = Standing(
    registered=True,
    page_id="2001",
    currency="CHF",
    authorized=frozenset({"CH", "LI"}),
    disclaimers={"CH": frozenset({"Stadt Musterstadt"}), "LI": frozenset({"Stadt Musterstadt"})},
)


def complete(ad: Ad = CH_AD, classification: Classification | None = POLITICAL) -> CheckContext:
    """A context in which every step is done for ``ad`` (its page authorized where it runs)."""
    identities = tuple(
        IdentityVerification("passport", country, date(2030, 1, 1), verified_by=REVIEWER)
        for country in ad.countries
    )
    return CheckContext(
        now=NOW,
        owner_id=OWNER,
        ad=ad,
        owner_totp_enabled=True,
        facebook_2fa_attested=True,
        identities=identities,
        classification=classification,
        standing=replace(
            AUTHORIZED,
            page_id=ad.page_id,
            authorized=frozenset(ad.countries),
            disclaimers={c: frozenset({ad.paid_for_by}) for c in ad.countries},
        ),
        approval=Approval(REVIEWER, content_hash(ad, classification, "CHF")),
    )


def codes(ctx: CheckContext) -> dict[str, str]:
    return {r.name: r.code for r in evaluate_all(ctx)}


def test_ch_political_ad_with_everything_in_place_passes() -> None:
    results = evaluate_all(complete())
    assert [r.name for r in results] == list(CHECK_NAMES)
    assert all(r.status is Status.PASSED for r in results), results


def test_eu_siep_ad_is_refused_with_the_legal_reference() -> None:
    ad = replace(CH_AD, countries=("DE",), dsa_payor="Stadt X", dsa_beneficiary="Stadt X")
    [result] = [r for r in evaluate_all(complete(ad)) if r.name == "jurisdiction"]
    assert result.status is Status.FAILED
    assert result.code == "jurisdiction.refused"
    assert "Regulation (EU) 2024/900" in result.detail
    assert "2025-10-06" in result.detail


def test_eu_siep_ad_was_allowed_before_the_stop() -> None:
    ad = replace(CH_AD, countries=("AT",), dsa_payor="Stadt X", dsa_beneficiary="Stadt X")
    ctx = replace(complete(ad), now=datetime(2025, 10, 5, tzinfo=UTC))
    assert codes(ctx)["jurisdiction"] == "jurisdiction.ok"


def test_eu_non_political_ad_is_allowed_and_needs_dsa_fields() -> None:
    ad = replace(CH_AD, countries=("DE",), paid_for_by="")
    ctx = complete(ad, Classification(Category.NONE))
    assert codes(ctx)["jurisdiction"] == "jurisdiction.ok"
    assert codes(ctx)["disclaimer"] == "disclaimer.missing"
    ok = complete(
        replace(ad, dsa_payor="Stadt X", dsa_beneficiary="Stadt X"), Classification(Category.NONE)
    )
    assert codes(ok)["disclaimer"] == "disclaimer.not_required"


def test_country_without_rules_is_not_sent() -> None:
    ctx = complete(replace(CH_AD, countries=("US",)))
    assert codes(ctx)["jurisdiction"] == "jurisdiction.unknown_country"


@pytest.mark.parametrize("bad", ["ch", "XX", "DEU", "", "D1"])
def test_country_codes_must_be_iso_alpha2(bad: str) -> None:
    with pytest.raises(policy.InvalidCountry):
        replace(CH_AD, countries=(bad,))


def test_two_factor_codes() -> None:
    assert codes(replace(complete(), owner_totp_enabled=False))["two_factor"] == (
        "two_factor.adgate_totp_off"
    )
    assert codes(replace(complete(), facebook_2fa_attested=False))["two_factor"] == (
        "two_factor.facebook_not_attested"
    )


def test_identity_codes() -> None:
    ctx = complete()
    assert codes(replace(ctx, identities=()))["identity"] == "identity.missing"
    expired = IdentityVerification("id_card", "CH", date(2026, 11, 20), verified_by=REVIEWER)
    assert codes(replace(ctx, identities=(expired,)))["identity"] == "identity.expired"
    by_self = IdentityVerification("id_card", "CH", date(2030, 1, 1), verified_by=OWNER)
    assert codes(replace(ctx, identities=(by_self,)))["identity"] == "identity.missing"
    revoked = IdentityVerification("id_card", "CH", date(2030, 1, 1), REVIEWER, revoked=True)
    assert codes(replace(ctx, identities=(revoked,)))["identity"] == "identity.missing"
    other_country = IdentityVerification("id_card", "DE", date(2030, 1, 1), verified_by=REVIEWER)
    result = [
        r for r in evaluate_all(replace(ctx, identities=(other_country,))) if r.name == "identity"
    ]
    assert result[0].code == "identity.missing"
    assert "CH" in result[0].detail


def test_identity_must_cover_every_target_country() -> None:
    ad = replace(CH_AD, countries=("CH", "LI"))
    ctx = replace(complete(ad), identities=complete().identities)
    [result] = [r for r in evaluate_all(ctx) if r.name == "identity"]
    assert result.status is Status.PENDING
    assert "LI" in result.detail


def test_classification_codes() -> None:
    ctx = complete()
    assert codes(replace(ctx, classification=None))["classification"] == "classification.missing"
    social = Classification(Category.SOCIAL_ISSUE)
    assert (
        codes(complete(classification=social))["classification"] == "classification.topics_missing"
    )
    flagged = Classification(Category.NONE, flagged=True)
    assert codes(complete(classification=flagged))["classification"] == (
        "classification.justification_missing"
    )
    justified = replace(flagged, justification="A job advert, not about policy.")
    assert codes(complete(classification=justified))["classification"] == (
        "classification.sign_off_pending"
    )
    self_signed = replace(justified, signed_off_by=OWNER)
    assert codes(complete(classification=self_signed))["classification"] == (
        "classification.sign_off_pending"
    )
    signed = replace(justified, signed_off_by=REVIEWER)
    assert codes(complete(classification=signed))["classification"] == "classification.ok"


def test_disclaimer_needs_paid_for_by_on_siep_ads() -> None:
    ctx = complete(replace(CH_AD, paid_for_by=" "))
    assert codes(ctx)["disclaimer"] == "disclaimer.missing"


def test_standing_codes() -> None:
    ctx = complete()
    assert (
        codes(replace(ctx, standing=Standing(False)))["standing"] == "standing.unknown_ad_account"
    )
    wrong_page = replace(AUTHORIZED, page_id="9999")
    assert codes(replace(ctx, standing=wrong_page))["standing"] == "standing.page_mismatch"
    lost = replace(AUTHORIZED, political_eligible=False, violations=1)
    assert codes(replace(ctx, standing=lost))["standing"] == "standing.not_eligible"
    none_ad = complete(classification=Classification(Category.NONE))
    assert codes(replace(none_ad, standing=lost))["standing"] == "standing.ok"
    assert codes(ctx)["standing"] == "standing.authorized"


def test_a_siep_ad_needs_its_page_authorized_in_every_target_country() -> None:
    ad = replace(CH_AD, countries=("CH", "LI"))
    only_ch = replace(complete(ad), standing=replace(AUTHORIZED, authorized=frozenset({"CH"})))
    [result] = [r for r in evaluate_all(only_ch) if r.name == "standing"]
    assert (result.status, result.code) == (Status.FAILED, "standing.not_authorized")
    assert result.params["countries"] == "LI"
    assert result.provenance.value == "verified"
    nowhere = replace(complete(), standing=replace(AUTHORIZED, authorized=frozenset()))
    assert codes(nowhere)["standing"] == "standing.not_authorized"
    # Unclassified counts as SIEP until it is classified; a non-political ad needs nothing.
    assert codes(replace(nowhere, classification=None))["standing"] == "standing.not_authorized"
    plain = replace(nowhere, classification=Classification(Category.NONE))
    assert codes(plain)["standing"] == "standing.ok"


def test_metas_own_answer_that_the_page_is_not_authorized_blocks() -> None:
    meta_says_no = replace(complete().standing, meta_page_authorized=False)
    assert codes(replace(complete(), standing=meta_says_no))["standing"] == (
        "standing.meta_not_authorized"
    )
    meta_says_yes = replace(complete().standing, meta_page_authorized=True)
    assert codes(replace(complete(), standing=meta_says_yes))["standing"] == "standing.authorized"


def test_the_paid_for_by_text_must_equal_a_registered_disclaimer_exactly() -> None:
    ctx = complete()
    for text in ("Stadt Musterstad", "stadt musterstadt", "Stadt  Musterstadt"):
        [result] = [
            r
            for r in evaluate_all(replace(ctx, ad=replace(CH_AD, paid_for_by=text)))
            if r.name == "disclaimer"
        ]
        assert (result.status, result.code) == (Status.FAILED, "disclaimer.not_registered")
        # Side by side: what the ad says and what Meta has registered.
        assert result.params["text"] == text
        assert result.params["registered"] == "“Stadt Musterstadt”"
    no_disclaimer = replace(ctx, standing=replace(ctx.standing, disclaimers={}))
    [result] = [r for r in evaluate_all(no_disclaimer) if r.name == "disclaimer"]
    assert (result.code, result.params["registered"]) == ("disclaimer.not_registered", "none")
    assert codes(ctx)["disclaimer"] == "disclaimer.ok"


def test_a_disclaimer_registered_in_one_country_does_not_cover_another() -> None:
    ad = replace(CH_AD, countries=("CH", "LI"))
    standing = replace(
        AUTHORIZED, disclaimers={"CH": frozenset({"Stadt Musterstadt"}), "LI": frozenset()}
    )
    [result] = [
        r for r in evaluate_all(replace(complete(ad), standing=standing)) if r.name == "disclaimer"
    ]
    assert (result.code, result.params["countries"]) == ("disclaimer.not_registered", "LI")


DAY = timedelta(days=1)
CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("budget", "schedule", "code"),
    [
        (Budget(), Schedule(), "budget.ok"),
        (Budget(BudgetType.DAILY, 99), Schedule(), "budget.below_minimum"),
        (Budget(BudgetType.DAILY, 100), Schedule(), "budget.ok"),
        (Budget(BudgetType.LIFETIME, 500), Schedule(None, NOW + 5 * DAY), "budget.ok"),
        (Budget(BudgetType.LIFETIME, 499), Schedule(None, NOW + 5 * DAY), "budget.below_minimum"),
        (Budget(BudgetType.LIFETIME, 1000), Schedule(None, None), "budget.end_missing"),
        (Budget(), Schedule(NOW + DAY, NOW + DAY), "budget.end_before_start"),
        (Budget(), Schedule(None, NOW - DAY), "budget.end_passed"),
        (Budget(), Schedule(None, NOW + timedelta(minutes=30)), "budget.end_passed"),
        (Budget(), Schedule(None, NOW + DAY), "budget.too_short"),
        (Budget(), Schedule(NOW + DAY, NOW + 2 * DAY + timedelta(minutes=1)), "budget.ok"),
        (Budget(BudgetType.DAILY, 0), Schedule(), "budget.amount_invalid"),
    ],
)
def test_budget_and_schedule(budget: Budget, schedule: Schedule, code: str) -> None:
    ad = replace(CH_AD, budget=budget, schedule=schedule)
    assert codes(complete(ad))["budget"] == code


def test_the_budget_minimum_is_metas_when_it_is_higher() -> None:
    ad = replace(CH_AD, budget=Budget(BudgetType.DAILY, 150))
    ctx = complete(ad)
    assert codes(ctx)["budget"] == "budget.ok"
    higher = replace(ctx, standing=replace(ctx.standing, meta_min_daily_budget=200))
    [result] = [r for r in evaluate_all(higher) if r.name == "budget"]
    assert (result.code, result.params["minimum"]) == ("budget.below_minimum", "2.00")


def test_an_unknown_currency_blocks_the_budget_step() -> None:
    ctx = complete()
    assert codes(replace(ctx, standing=replace(ctx.standing, currency=None)))["budget"] == (
        "budget.currency_unknown"
    )


def test_budget_schedule_placements_and_image_are_part_of_the_approved_content() -> None:
    approved = content_hash(CH_AD, POLITICAL)
    changes = [
        replace(CH_AD, budget=Budget(BudgetType.DAILY, 1001)),
        replace(CH_AD, budget=Budget(BudgetType.LIFETIME, 1000)),
        replace(CH_AD, schedule=Schedule(NOW + DAY, None)),
        replace(CH_AD, schedule=Schedule(None, NOW + 9 * DAY)),
        replace(CH_AD, placements=(Placement.FACEBOOK,)),
        replace(CH_AD, image_sha256="0" * 64),
    ]
    hashes = {content_hash(ad, POLITICAL) for ad in changes}
    assert approved not in hashes
    assert len(hashes) == len(changes)
    # So is the currency the amount is in.
    assert content_hash(CH_AD, POLITICAL, "EUR") != content_hash(CH_AD, POLITICAL, "CHF")
    ctx = complete()
    assert codes(replace(ctx, standing=replace(ctx.standing, currency="EUR")))["approval"] == (
        "approval.stale"
    )
    # The same instant in another zone is the same content.
    shifted = replace(CH_AD, schedule=Schedule(NOW + DAY, None))
    zurich = replace(CH_AD, schedule=Schedule((NOW + DAY).astimezone(CET), None))
    assert content_hash(shifted, POLITICAL) == content_hash(zurich, POLITICAL)


def test_approval_codes() -> None:
    ctx = complete()
    assert codes(replace(ctx, approval=None))["approval"] == "approval.missing"
    assert codes(replace(ctx, approval=Approval(OWNER, ctx.content_hash)))["approval"] == (
        "approval.self_approved"
    )
    changed = replace(ctx, ad=replace(CH_AD, message="Something else"))
    assert codes(changed)["approval"] == "approval.stale"
    assert (
        codes(replace(ctx, approval=None, four_eyes=False))["approval"] == "approval.not_required"
    )
    # Before sending: what would be sent must be what was submitted, four eyes or not.
    assert codes(replace(ctx, submitted_hash=ctx.content_hash))["approval"] == "approval.ok"
    for four_eyes in (True, False):
        elsewise = replace(ctx, submitted_hash="0" * 64, four_eyes=four_eyes)
        assert codes(elsewise)["approval"] == "approval.not_submitted"


def test_digitally_created_media_changes_what_is_sent() -> None:
    plain = content_hash(CH_AD, POLITICAL)
    assert content_hash(CH_AD, replace(POLITICAL, digitally_created_media=True)) != plain
    assert content_hash(CH_AD, replace(POLITICAL, justification="x")) == plain


def test_evaluate_all_reports_every_failure_at_once() -> None:
    ctx = replace(
        complete(),
        owner_totp_enabled=False,
        identities=(),
        classification=None,
        standing=Standing(False),
        approval=None,
    )
    failing = {r.name for r in evaluate_all(ctx) if r.status is not Status.PASSED}
    # Every step, the disclaimer too: an unknown account has no registered disclaimer.
    assert failing == set(CHECK_NAMES)


def test_the_dsa_fields_are_needed_in_the_eus_territories_too() -> None:
    for territory in ("RE", "GP", "MQ", "GF", "YT", "MF", "AX"):
        ad = replace(CH_AD, countries=(territory,), paid_for_by="")
        assert codes(complete(ad, Classification(Category.NONE)))["disclaimer"] == (
            "disclaimer.missing"
        ), territory
        assert codes(complete(ad))["jurisdiction"] == "jurisdiction.refused", territory
    liechtenstein = replace(CH_AD, countries=("LI",), paid_for_by="")
    assert codes(complete(liechtenstein, Classification(Category.NONE)))["disclaimer"] == (
        "disclaimer.not_required"
    )


def test_a_refusal_makes_the_other_open_steps_moot_and_names_its_basis() -> None:
    ad = replace(CH_AD, countries=("CH", "DE"), dsa_payor="Stadt X", dsa_beneficiary="Stadt X")
    ctx = replace(complete(ad), facebook_2fa_attested=False, identities=())
    results = evaluate_all(ctx)
    found = refused(results)
    assert found is not None
    assert found.params["countries"] == "DE"
    assert found.params["basis"] == policy.EU_TTPA
    # What cannot make the ad run is moot; the refusal and the classification stay.
    assert moot(results) == {"two_factor", "identity"}
    # Without the refusing country nothing is moot.
    swiss = evaluate_all(replace(ctx, ad=CH_AD))
    assert refused(swiss) is None
    assert moot(swiss) == frozenset()


def test_refusing_names_the_rules_of_the_countries_that_refuse() -> None:
    on = NOW.date()
    rules = policy.refusing(("LI", "DE", "AT", "DE"), policy.AdKind.SIEP, on)
    assert [r.country for r in rules] == ["AT", "DE"]
    assert all(r.basis == policy.EU_TTPA and r.since == policy.EU_SIEP_STOP for r in rules)
    assert policy.refusing(("DE",), policy.AdKind.OTHER, on) == []
    assert policy.refusing(("DE",), policy.AdKind.SIEP, date(2025, 10, 5)) == []


@pytest.mark.parametrize(
    ("change", "voids"),
    [
        ({"message": "Ein anderer Text."}, True),
        ({"headline": "Andere Schlagzeile"}, True),
        ({"link_url": "https://example.org"}, True),
        ({"image_sha256": "ab" * 32}, True),
        ({"page_id": "2002", "ad_account_id": "act_1002"}, True),
        ({"countries": ("CH", "LI")}, False),
        ({"paid_for_by": "Gemeinde X", "dsa_payor": "X", "dsa_beneficiary": "Y"}, False),
        ({"budget": Budget(BudgetType.LIFETIME, 5000)}, False),
        ({"schedule": Schedule(NOW, NOW + timedelta(days=3))}, False),
        ({"placements": (Placement.FACEBOOK,)}, False),
    ],
)
def test_only_what_the_classification_judges_voids_it(
    change: dict[str, object], voids: bool
) -> None:
    changed = replace(CH_AD, **change)  # type: ignore[arg-type]
    assert voids_classification(CH_AD, changed) is voids
    # Every change still changes what an approval covers.
    assert content_hash(changed, POLITICAL) != content_hash(CH_AD, POLITICAL)


def test_an_ad_targets_only_countries_adgate_has_rules_for() -> None:
    assert {"CH", "LI", "DE", "AT", "RE", "AX"} <= policy.TARGETABLE
    assert not {"US", "SC", "GB"} & policy.TARGETABLE
