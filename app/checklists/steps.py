"""How the checks read in the UI: a label per step, a translated text per code, what to do next."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.i18n import format_amount
from workflows.checks import CheckResult, moot, refused
from workflows.machine import Unmet

LABELS = {
    "two_factor": _l("Two-factor authentication"),
    "identity": _l("Identity verified"),
    "classification": _l("Ad classified"),
    "disclaimer": _l("Disclaimer"),
    "jurisdiction": _l("Allowed where it runs"),
    "standing": _l("Ad account in good standing"),
    "budget": _l("Budget and schedule"),
    "approval": _l("Four-eyes approval"),
}
BUDGET_LABELS = {"daily": _l("Daily budget"), "lifetime": _l("Lifetime budget")}
PLACEMENT_LABELS = {"facebook": _l("Facebook"), "instagram": _l("Instagram")}
STATUS_LABELS = {"passed": _l("done"), "failed": _l("to do"), "pending": _l("waiting")}
PROVENANCE_LABELS = {
    "system": _l("checked by adgate"),
    "verified": _l("verified by a reviewer"),
    "attested": _l("declared by the ad manager"),
}
STATE_LABELS = {
    "draft": _l("draft"),
    "approved": _l("approved"),
    "queued": _l("queued"),
    "sending": _l("sending"),
    "held": _l("held for a person"),
    "submitted": _l("in review at Meta"),
    "paused": _l("approved, paused"),
    "activating": _l("starting"),
    "live": _l("live"),
    "pausing": _l("pausing"),
    "with_issues": _l("delivery issues"),
    "billing_blocked": _l("billing blocked"),
    "rejected": _l("rejected"),
    "removed": _l("removed at Meta"),
    "failed": _l("failed"),
    "withdrawn": _l("withdrawn"),
}
CATEGORY_LABELS = {
    "POLITICAL": _l("Political"),
    "ELECTORAL": _l("Electoral"),
    "SOCIAL_ISSUE": _l("Social issue"),
    "NONE": _l("None of these"),
}
TOPIC_LABELS = {
    "civil_and_social_rights": _l("Civil and social rights"),
    "crime": _l("Crime"),
    "economy": _l("Economy"),
    "education": _l("Education"),
    "environmental_politics": _l("Environmental politics"),
    "guns": _l("Guns"),
    "health": _l("Health"),
    "immigration": _l("Immigration"),
    "political_values_and_governance": _l("Political values and governance"),
    "security_and_foreign_policy": _l("Security and foreign policy"),
}
DOCUMENT_LABELS = {
    "passport": _l("Passport"),
    "id_card": _l("Identity card"),
    "residence_permit": _l("Residence permit"),
}


def message(result: CheckResult) -> str:
    """A check's result in the response's language: its code's text, filled with its params."""
    return text(result.code, result.params, result.detail)


def text(code: str, params: Mapping[str, str], fallback: str = "") -> str:
    """The text of a check's ``code`` in the response's language: the one text per code, for
    the pages and the API alike. A code without one is an error (see :func:`unknown`)."""
    made = _texts(params).get(code)
    if made is None:
        return unknown(code, fallback)
    return str(made())


def unknown(code: str, fallback: str) -> str:
    """A code the catalogue has no text for: raised in tests, logged as an error otherwise
    (and the domain's English ``fallback`` shown, rather than nothing)."""
    if current_app.testing:
        raise LookupError(f"no text for the code {code!r}")
    current_app.logger.error("no text for the code %r", code)
    return fallback or code


def catalogue(params: Mapping[str, str]) -> dict[str, str]:
    """Every check code's text in the response's language, filled with ``params``."""
    return {code: str(made()) for code, made in _texts(params).items()}


def _texts(params: Mapping[str, str]) -> dict[str, Callable[[], object]]:
    """Every check code's text, each made only when asked for: a response shows a few of
    the codes, and translating all of them for each step was half a checklist read."""
    p = dict(params)
    for amount in ("amount", "minimum"):
        if amount in p:
            p[amount] = format_amount(p[amount])
    texts: dict[str, Callable[[], object]] = {
        "two_factor.adgate_totp_off": lambda: _(
            "The owner has no two-factor authentication in adgate."
        ),
        "two_factor.facebook_not_attested": lambda: _(
            "Not yet confirmed that two-factor authentication is on for the Facebook account."
        ),
        "two_factor.ok": lambda: _("On in adgate, and confirmed for the Facebook account."),
        "identity.no_countries": lambda: _("The ad has no target country."),
        "identity.expired": lambda: _(
            "The identity verification for %(countries)s has expired.", **_only(p, "countries")
        ),
        "identity.missing": lambda: _(
            "No valid identity document issued by %(countries)s has been verified.",
            **_only(p, "countries"),
        ),
        "identity.ok": lambda: _("Verified for %(countries)s.", **_only(p, "countries")),
        "classification.missing": lambda: _("The ad is not classified yet."),
        "classification.topics_missing": lambda: _(
            "A social-issue ad must name at least one topic."
        ),
        "classification.justification_missing": lambda: _(
            "adgate finds this text political: a classification as none needs a justification."
        ),
        "classification.sign_off_pending": lambda: _(
            "A reviewer must sign off the justification for classifying this ad as none."
        ),
        "classification.ok": lambda: _("Classified."),
        "disclaimer.missing": lambda: _disclaimer_missing(p.get("missing", "")),
        "disclaimer.not_registered": lambda: _(
            "“%(text)s” is not registered at Meta for %(countries)s. Registered there: "
            "%(registered)s.",
            **_only(p, "text", "countries", "registered"),
        ),
        "disclaimer.ok": lambda: _(
            "“%(text)s” is registered at Meta for every target country.", **_only(p, "text")
        ),
        "disclaimer.not_required": lambda: _("A non-political ad needs no disclaimer."),
        "jurisdiction.unclassified": lambda: _("Depends on the classification."),
        "jurisdiction.no_countries": lambda: _("Choose at least one target country."),
        "jurisdiction.refused": lambda: _(
            "Cannot run in %(countries)s: such ads are refused there since %(since)s "
            "(%(reference)s).",
            countries=country_names(p.get("countries", "")),
            since=", ".join(day(d) for d in p.get("since", "").split(", ") if d),
            reference=reference_of(p, short=True),
        ),
        "jurisdiction.unknown_country": lambda: _(
            "adgate has no rules for %(countries)s; such ads are not sent.", **_only(p, "countries")
        ),
        "jurisdiction.ok": lambda: _("Allowed in %(countries)s.", **_only(p, "countries")),
        "standing.unknown_ad_account": lambda: _(
            "The ad account %(ad_account)s is not registered in adgate.", **_only(p, "ad_account")
        ),
        "standing.page_mismatch": lambda: _(
            "The ad account %(ad_account)s is registered for page %(registered_page)s, "
            "not %(page)s.",
            **_only(p, "ad_account", "registered_page", "page"),
        ),
        "standing.not_eligible": lambda: _(
            "The ad account lost its eligibility for political ads after %(violations)s "
            "violation(s).",
            **_only(p, "violations"),
        ),
        "standing.not_authorized": lambda: _(
            "Page %(page)s is not recorded as authorized at Meta for political and social-issue "
            "ads in %(countries)s.",
            **_only(p, "page", "countries"),
        ),
        "standing.meta_not_authorized": lambda: _(
            "Meta answers that page %(page)s has not authorized the ad account %(ad_account)s for "
            "political and social-issue ads.",
            **_only(p, "page", "ad_account"),
        ),
        "standing.authorized": lambda: _(
            "In good standing; page %(page)s is authorized at Meta in %(countries)s.",
            **_only(p, "page", "countries"),
        ),
        "standing.ok": lambda: _("In good standing."),
        "budget.ok": lambda: _(
            "%(kind)s of %(amount)s %(currency)s.",
            kind=str(BUDGET_LABELS.get(p.get("type", ""), "?")),
            **_only(p, "amount", "currency"),
        ),
        "budget.below_minimum": lambda: _(
            "The budget is below Meta's minimum of %(minimum)s %(currency)s.",
            **_only(p, "minimum", "currency"),
        ),
        "budget.currency_unknown": lambda: _(
            "The ad account's currency is not recorded in adgate."
        ),
        "budget.end_missing": lambda: _("A lifetime budget needs an end time."),
        "budget.end_before_start": lambda: _("The end is before the start."),
        "budget.end_passed": lambda: _("The end time has passed or is less than an hour away."),
        "budget.too_short": lambda: _("The ad must run for more than 24 hours."),
        "budget.amount_invalid": lambda: _("The budget must be a positive amount."),
        "budget.placements_missing": lambda: _("Choose at least one placement."),
        "budget.placements_repeated": lambda: _("Name each placement once."),
        "budget.naive_time": lambda: _("Give the time with its time zone."),
        "approval.not_required": lambda: _("Four-eyes approval is turned off."),
        "approval.missing": lambda: _("No reviewer has approved this ad yet."),
        "approval.self_approved": lambda: _("The owner cannot approve their own ad."),
        "approval.stale": lambda: _("The ad changed after it was approved."),
        "approval.not_submitted": lambda: _(
            "What would be sent differs from what was approved and submitted."
        ),
        "approval.ok": lambda: _("Approved by a reviewer."),
    }
    return texts


def _only(params: dict[str, str], *names: str) -> dict[str, str]:
    return {n: params.get(n, "?") for n in names}


def _disclaimer_missing(missing: str) -> str:
    parts = []
    if "paid_for_by" in missing:
        parts.append(str(_("the 'paid for by' text")))
    if "dsa" in missing:
        parts.append(str(_("the DSA payor and beneficiary (the ad targets the EU)")))
    return str(_("Missing: %(what)s.", what=", ".join(parts)))


NEXT_STEPS = {
    "two_factor.adgate_totp_off": _l("Set up two-factor authentication on the Security page."),
    "two_factor.facebook_not_attested": _l("Confirm it with the button below."),
    "identity.expired": _l("Ask a reviewer to verify a valid identity document."),
    "identity.missing": _l("Show a reviewer your identity document from that country."),
    "identity.no_countries": _l("Edit the ad and choose its target countries."),
    "classification.missing": _l("Classify the ad."),
    "classification.topics_missing": _l("Classify again and choose the topics."),
    "classification.justification_missing": _l("Classify again and give a justification."),
    "classification.sign_off_pending": _l("Wait for a reviewer's sign-off."),
    "disclaimer.missing": _l("Edit the ad and fill in the disclaimer fields."),
    "jurisdiction.refused": _l("Remove the countries where this ad is not allowed."),
    "jurisdiction.unknown_country": _l("Remove these countries from the ad."),
    "jurisdiction.no_countries": _l("Edit the ad and choose its target countries."),
    "standing.unknown_ad_account": _l("Ask an admin to register the ad account."),
    "standing.page_mismatch": _l("Edit the ad: use the page registered for the ad account."),
    "standing.not_eligible": _l("Ask an admin; only an admin can restore the eligibility."),
    "standing.not_authorized": _l(
        "Ask an admin to record the page's authorization at Meta for these countries, or "
        "remove them from the ad."
    ),
    "standing.meta_not_authorized": _l(
        "A page admin must authorize the ad account in the page's settings at Meta."
    ),
    "disclaimer.not_registered": _l(
        "Edit the ad: use a disclaimer text exactly as registered at Meta, or ask an admin to "
        "record the one registered there."
    ),
    "budget.below_minimum": _l("Edit the ad and raise the budget."),
    "budget.currency_unknown": _l("Ask an admin to record the ad account's currency."),
    "budget.end_missing": _l("Edit the ad and give it an end time."),
    "budget.end_before_start": _l("Edit the ad's schedule."),
    "budget.end_passed": _l("Edit the ad's schedule."),
    "budget.too_short": _l("Edit the ad's schedule."),
    "approval.missing": _l("Wait for a reviewer's approval."),
    "approval.stale": _l("Wait for a reviewer to approve the changed ad."),
}


# Why a step cannot happen in the ad's state, per event (the machine's ``state.not_allowed``).
NOT_NOW = {
    "edit": _l("An ad that is %(state)s cannot be edited (only one that is %(allowed)s)."),
    "approve": _l("An ad that is %(state)s cannot be approved (only one that is %(allowed)s)."),
    "request_changes": _l(
        "An ad that is %(state)s cannot be sent back for changes (only one that is %(allowed)s)."
    ),
    "submit": _l("An ad that is %(state)s cannot be submitted (only one that is %(allowed)s)."),
    "resume": _l("An ad that is %(state)s cannot be resumed (only one that is %(allowed)s)."),
    "activate": _l("An ad that is %(state)s cannot be started (only one that is %(allowed)s)."),
    "pause": _l("An ad that is %(state)s cannot be paused (only one that is %(allowed)s)."),
    "withdraw": _l("An ad that is %(state)s cannot be withdrawn (only one that is %(allowed)s)."),
}
PARTY_LABELS = {
    "owner": _l("the ad's owner"),
    "reviewer": _l("a reviewer"),
    "admin": _l("an admin"),
    "worker": _l("the submission worker"),
}


def refusal(unmet: Unmet) -> str:
    """Why a transition was refused, in the response's language (checks: their own texts)."""
    p = dict(unmet.params)
    if unmet.code == "state.not_allowed":
        state = str(STATE_LABELS.get(p.get("state", ""), p.get("state", "?")))
        allowed = ", ".join(
            str(STATE_LABELS.get(a, a)) for a in p.get("allowed", "").split(", ") if a
        )
        not_now = NOT_NOW.get(p.get("event", ""))
        if not_now is None:
            return str(
                _(
                    "This is not possible for an ad that is %(state)s (only for one that is "
                    "%(allowed)s).",
                    state=state,
                    allowed=allowed,
                )
            )
        return str(not_now) % {"state": state, "allowed": allowed}
    if unmet.code == "party.not_allowed":
        who = [str(PARTY_LABELS.get(n, n)) for n in p.get("parties", "").split(", ") if n]
        if len(who) > 1:
            who = [str(_("%(some)s or %(last)s", some=", ".join(who[:-1]), last=who[-1]))]
        return str(_("Only %(who)s may do this.", who=who[0] if who else "?"))
    if unmet.code == "attempts.used_up":
        return str(_("No attempts are left."))
    if unmet.step in LABELS and unmet.code == f"{unmet.step}.not_evaluated":
        return str(_("The check “%(check)s” was not evaluated.", check=LABELS[unmet.step]))
    if unmet.step in LABELS:
        return text(unmet.code, p, unmet.detail)
    return unknown(unmet.code, unmet.detail)


@dataclass(frozen=True)
class Step:
    """A check as the checklist page shows it; ``moot`` when it no longer matters because a
    target country refuses the ad (``refusal``)."""

    name: str
    label: str
    status: str
    status_label: str
    code: str
    message: str
    provenance: str
    next_step: str | None
    moot: bool = False


def present(results: tuple[CheckResult, ...]) -> list[Step]:
    """The checks, translated, in checklist order."""
    mooted = moot(results)
    return [
        Step(
            name=r.name,
            label=str(LABELS[r.name]),
            status=r.status.value,
            status_label=_status_label(r, mooted),
            code=r.code,
            message=message(r),
            provenance=str(PROVENANCE_LABELS[r.provenance.value]),
            next_step=(
                str(NEXT_STEPS[r.code])
                if r.code in NEXT_STEPS and not r.passed and r.name not in mooted
                else None
            ),
            moot=r.name in mooted,
        )
        for r in results
    ]


def _status_label(result: CheckResult, mooted: frozenset[str]) -> str:
    if result.name in mooted:
        return str(_("not needed: the ad cannot run"))
    if result.code == "jurisdiction.refused":
        return str(_("cannot run"))
    return str(STATUS_LABELS[result.status.value])


def open_steps(presented: list[Step]) -> list[Step]:
    """The steps still to be done, without those a refusal made moot."""
    return [s for s in presented if s.status != "passed" and not s.moot]


@dataclass(frozen=True)
class Refusal:
    """Why the ad cannot run where it targets, in the user's language."""

    countries: str
    since: str
    reference: str
    explanation: str


def jurisdiction_refusal(results: tuple[CheckResult, ...]) -> Refusal | None:
    """The jurisdiction's refusal as the checklist page explains it, or None."""
    found = refused(results)
    if found is None:
        return None
    return refusal_for(
        found.params.get("countries", ""), found.params.get("since", ""), found.params
    )


def refusal_for(countries: str, since: str, params: Mapping[str, str]) -> Refusal:
    """A refusal of the ad in ``countries`` (ISO codes, comma-separated) since ``since``."""
    bases = [b for b in params.get("basis", "").split(", ") if b]
    explanations = [str(EXPLANATIONS[b]) for b in bases if b in EXPLANATIONS]
    return Refusal(
        countries=country_names(countries),
        since=", ".join(day(d) for d in since.split(", ") if d),
        reference=reference_of(params),
        explanation=" ".join(explanations),
    )


# The legal references of workflows.policy by their stable key: the official titles.
REFERENCES = {
    "eu_ttpa": _l(
        "Regulation (EU) 2024/900 of the European Parliament and of the Council of 13 March "
        "2024 on the transparency and targeting of political advertising"
    ),
}
# How a step's one line cites them (the refusal's explanation gives the full title).
SHORT_REFERENCES = {"eu_ttpa": _l("Regulation (EU) 2024/900")}
EXPLANATIONS = {
    "eu_ttpa": _l(
        "Regulation (EU) 2024/900 applies in the European Union since 10 October 2025. In "
        "response, Meta stopped all ads about social issues, elections or politics in the EU "
        "on 6 October 2025: Meta rejects every such ad that targets an EU country, whoever "
        "places it, and it decides by the ad's content. Such an ad can still run in "
        "Switzerland and Liechtenstein. Remove the EU countries from the ad to run it "
        "elsewhere; the steps that concern only them are not needed then."
    ),
}


def reference_of(params: Mapping[str, str], *, short: bool = False) -> str:
    """The legal reference of a refusal in the user's language, its official title or (short)
    its citation (the policy's own English text for a basis without a translation)."""
    bases = [b for b in params.get("basis", "").split(", ") if b]
    known = SHORT_REFERENCES if short else REFERENCES
    if bases and all(b in known for b in bases):
        return "; ".join(str(known[b]) for b in bases)
    return params.get("reference", "?")


def country_names(codes: str) -> str:
    """ISO country codes ("DE, AT") as names in the response's language ("Deutschland, …")."""
    names = get_locale().territories if get_locale() is not None else {}
    return ", ".join(names.get(c, c) for c in (c.strip() for c in codes.split(",")) if c)


def day(iso: str) -> str:
    """An ISO date as people read it: 06.10.2025 in German, 1er octobre 2025 in French,
    6 ottobre 2025 in Italian, 6 October 2025 in English."""
    try:
        found = date.fromisoformat(iso)
    except ValueError:
        return iso
    locale = get_locale()
    if locale is not None and locale.language == "de":
        return found.strftime("%d.%m.%Y")
    # French writes the first of a month as an ordinal ("1er octobre"); Italian and English
    # the number alone.
    first = "1er" if locale is not None and locale.language == "fr" and found.day == 1 else ""
    return f"{first or found.day} {format_date(found, 'MMMM yyyy')}"
