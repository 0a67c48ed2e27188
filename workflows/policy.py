"""Jurisdiction rules as data: which kind of ad each country allows from which date, and why.

One table, no scattered ifs. A rule names the kind of ad (``siep`` for social issues,
elections or politics; ``other`` for everything else), whether it is allowed from a
date on, what the ad then needs, and the legal reference shown to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AdKind(StrEnum):
    """What Meta distinguishes: SIEP ads (ISSUES_ELECTIONS_POLITICS) and all others."""

    SIEP = "siep"
    OTHER = "other"


@dataclass(frozen=True)
class Rule:
    """From ``since`` on, ads of ``kind`` targeting ``country`` are allowed or refused."""

    country: str
    kind: AdKind
    since: date
    allowed: bool
    reference: str
    needs_authorization: bool = False
    needs_disclaimer: bool = False
    # A stable key of the legal basis, by which the pages explain it in the user's language.
    basis: str = ""


class InvalidCountry(ValueError):
    """A target country that is not an ISO 3166-1 alpha-2 code."""


# ISO 3166-1 alpha-2, officially assigned codes (249), as of 2024.
ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# Parts of the EU with ISO codes of their own: the Åland Islands and France's outermost
# regions. Meta counts them among the "EU and associated territories" (docs/meta.md).
EU_TERRITORIES = frozenset("AX GF GP MQ RE YT MF".split())
EU = EU_MEMBER_STATES | EU_TERRITORIES

TTPA = (
    "Regulation (EU) 2024/900 on the transparency and targeting of political advertising "
    "(applicable since 2025-10-10); Meta stopped all SIEP ads in the EU on 2025-10-06"
)
META_SIEP_POLICY = (
    "Meta's policy on ads about social issues, elections or politics: authorization "
    "and a 'paid for by' disclaimer required (mandatory in CH and LI since 2022-07-25)"
)
EU_TTPA = "eu_ttpa"
TTPA_APPLICABLE = date(2025, 10, 10)
DSA = "Regulation (EU) 2022/2065 (Digital Services Act), Art. 26 and 39: payor and beneficiary"
DSA_SINCE = date(2023, 8, 16)
EU_SIEP_STOP = date(2025, 10, 6)
CH_LI_DISCLAIMER = date(2022, 7, 25)


def _rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for country in sorted(EU):
        rules += [
            Rule(country, AdKind.SIEP, date.min, True, META_SIEP_POLICY, True, True),
            Rule(country, AdKind.SIEP, EU_SIEP_STOP, False, TTPA, basis=EU_TTPA),
            Rule(country, AdKind.OTHER, date.min, True, "no restriction"),
        ]
    for country in ("CH", "LI"):
        rules += [
            Rule(country, AdKind.SIEP, CH_LI_DISCLAIMER, True, META_SIEP_POLICY, True, True),
            Rule(country, AdKind.OTHER, date.min, True, "no restriction"),
        ]
    return tuple(rules)


RULES: tuple[Rule, ...] = _rules()
# The countries adgate has rules for: the only ones an ad may target (any other would be
# refused by the jurisdiction check and never sent).
TARGETABLE: frozenset[str] = frozenset(r.country for r in RULES)


def check_country(code: str) -> str:
    """``code`` if it is an ISO 3166-1 alpha-2 code (upper case), else InvalidCountry."""
    if (
        not isinstance(code, str)
        or not re.fullmatch(r"[A-Z]{2}", code)
        or code not in ISO_3166_ALPHA2
    ):
        raise InvalidCountry(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def rule_for(country: str, kind: AdKind, on: date) -> Rule | None:
    """The rule in force for ``country`` and ``kind`` on ``on``; None where adgate has none."""
    check_country(country)
    in_force = [r for r in RULES if r.country == country and r.kind == kind and r.since <= on]
    return max(in_force, key=lambda r: r.since, default=None)


def needs_dsa_fields(country: str, on: date) -> bool:
    """Whether an ad targeting ``country`` must name its payor and beneficiary (DSA)."""
    return check_country(country) in EU and on >= DSA_SINCE


def refusing(countries: tuple[str, ...], kind: AdKind, on: date) -> list[Rule]:
    """The rules by which some of ``countries`` refuse an ad of ``kind`` on ``on``, in the
    countries' order (empty: none refuses; a country without rules is not a refusal here)."""
    found = [rule_for(country, kind, on) for country in sorted(set(countries))]
    return [rule for rule in found if rule is not None and not rule.allowed]
