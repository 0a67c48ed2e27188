"""Ad accounts: registering them with their page and currency, recording Meta's authorization
of the page (countries and "paid for by" disclaimers), Meta's own answer, and restoring a lost
eligibility.

Meta's API does not expose which countries a page is authorized for or which disclaimers are
registered there (docs/meta.md): an admin records what they saw at Meta, with a description of
the evidence (never the document itself). Facts are revoked or removed, never deleted, so the
history stays; every change is audited.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, literal, or_, select, union_all
from sqlmodel import Session, col

from app import audit, inputs
from app.meta.gateway import AccountReading
from app.models import AdAccount, PageAuthorization, RegisteredDisclaimer, User
from workflows import delivery, policy

# What a record made on the server's command line says when no evidence is described.
COMMAND_LINE_EVIDENCE = "recorded on the server's command line"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AdAccountError(ValueError):
    """Input that cannot become an ad account or a fact about one; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CountryAuthorization:
    """One country's authorization of the page with its registered disclaimers (for display)."""

    authorization: PageAuthorization
    disclaimers: tuple[RegisteredDisclaimer, ...]


def add(
    db: Session,
    account_id: str,
    page_id: str,
    name: str,
    now: datetime,
    currency: str | None = None,
) -> AdAccount:
    """Register an ad account, the page it advertises for, and its currency."""
    account_id, page_id, name = account_id.strip(), page_id.strip(), name.strip()
    if not inputs.valid("ad_account_id", account_id):
        raise AdAccountError("account_id", "an ad account id looks like act_1234")
    if not inputs.valid("page_id", page_id):
        raise AdAccountError("page_id", "a page id is a number")
    if not name or len(name) > 200:
        raise AdAccountError("name", "the name must have 1 to 200 characters")
    code = _currency(currency) if currency else None
    if db.get(AdAccount, account_id) is not None:
        raise AdAccountError("account_id", f"{account_id} is registered already")
    account = AdAccount(id=account_id, page_id=page_id, name=name, created_at=now, currency=code)
    db.add(account)
    db.flush()
    audit.record(
        db,
        "ad_account.added",
        subject=("ad_account", account_id),
        data={"page_id": page_id, "currency": code},
    )
    return account


def set_currency(db: Session, account: AdAccount, currency: str) -> bool:
    """Record the ad account's currency (as Meta shows it); False when it was that already."""
    code = _currency(currency)
    if account.currency == code:
        return False
    before, account.currency = account.currency, code
    db.add(account)
    audit.record(
        db,
        "ad_account.currency_set",
        subject=("ad_account", account.id),
        data={"before": before, "after": code},
    )
    return True


def authorize(
    db: Session,
    account: AdAccount,
    country: str,
    *,
    since: date,
    evidence: str,
    by: User | None,
    now: datetime,
) -> PageAuthorization | None:
    """Record that Meta authorized the page in ``country``; None when it is recorded already."""
    code = _country(country)
    evidence = _evidence(evidence)
    if since > now.date():
        raise AdAccountError("since", "the authorization cannot start in the future")
    if _current_authorization(db, account, code) is not None:
        return None
    fact = PageAuthorization(
        ad_account_id=account.id,
        country=code,
        authorized_since=since,
        evidence=evidence,
        recorded_by=by.id if by else None,
        recorded_at=now,
    )
    db.add(fact)
    db.flush()
    audit.record(
        db,
        "ad_account.authorized",
        subject=("ad_account", account.id),
        data={
            "page_id": account.page_id,
            "country": code,
            "since": since.isoformat(),
            "evidence": evidence,
        },
    )
    return fact


def register_disclaimer(
    db: Session,
    account: AdAccount,
    country: str,
    text: str,
    *,
    evidence: str,
    by: User | None,
    now: datetime,
) -> RegisteredDisclaimer | None:
    """Record a "paid for by" text registered at Meta in an authorized country (None: known)."""
    code = _country(country)
    text = _disclaimer_text(text)
    evidence = _evidence(evidence)
    if _current_authorization(db, account, code) is None:
        raise AdAccountError(
            "country", f"record the page's authorization in {code} before its disclaimers"
        )
    if any(d.text == text for d in _current_disclaimers(db, account, code)):
        return None
    fact = RegisteredDisclaimer(
        ad_account_id=account.id,
        country=code,
        text=text,
        evidence=evidence,
        recorded_by=by.id if by else None,
        recorded_at=now,
    )
    db.add(fact)
    db.flush()
    audit.record(
        db,
        "ad_account.disclaimer_registered",
        subject=("ad_account", account.id),
        data={"country": code, "text": text, "evidence": evidence},
    )
    return fact


def revoke_authorization(
    db: Session, account: AdAccount, country: str, *, by: User | None, now: datetime
) -> bool:
    """The page is no longer authorized in ``country``: its disclaimers there go too."""
    code = _country(country)
    fact = _current_authorization(db, account, code)
    if fact is None:
        return False
    removed = [d.text for d in _current_disclaimers(db, account, code)]
    for disclaimer in _current_disclaimers(db, account, code):
        _remove(db, disclaimer, by, now)
    fact.revoked_at, fact.revoked_by = now, by.id if by else None
    db.add(fact)
    db.flush()
    audit.record(
        db,
        "ad_account.authorization_revoked",
        subject=("ad_account", account.id),
        data={"country": code, "disclaimers_removed": removed},
    )
    return True


def remove_disclaimer(
    db: Session, account: AdAccount, country: str, text: str, *, by: User | None, now: datetime
) -> bool:
    """A "paid for by" text is no longer registered in ``country``; False when it was not."""
    code = _country(country)
    text = text.strip()
    found = [d for d in _current_disclaimers(db, account, code) if d.text == text]
    if not found:
        return False
    _remove(db, found[0], by, now)
    db.flush()
    audit.record(
        db,
        "ad_account.disclaimer_removed",
        subject=("ad_account", account.id),
        data={"country": code, "text": text},
    )
    return True


def authorizations(db: Session, account: AdAccount) -> list[CountryAuthorization]:
    """The current authorizations of the account's page, by country, with their disclaimers."""
    facts = db.scalars(
        select(PageAuthorization)
        .where(
            col(PageAuthorization.ad_account_id) == account.id,
            col(PageAuthorization.revoked_at).is_(None),
        )
        .order_by(col(PageAuthorization.country))
    ).all()
    texts = _disclaimers_by_country(db, [account.id]).get(account.id, {})
    return [CountryAuthorization(f, tuple(texts.get(f.country, ()))) for f in facts]


def standing_facts(
    db: Session, account_id: str
) -> tuple[frozenset[str], Mapping[str, frozenset[str]]]:
    """The countries the page is authorized in and the disclaimer texts per country (checks)."""
    # One statement, not two: the checks read this on every evaluation of a checklist.
    authorized = select(col(PageAuthorization.country), literal(None, String).label("text")).where(
        col(PageAuthorization.ad_account_id) == account_id,
        col(PageAuthorization.revoked_at).is_(None),
    )
    registered = select(col(RegisteredDisclaimer.country), col(RegisteredDisclaimer.text)).where(
        col(RegisteredDisclaimer.ad_account_id) == account_id,
        col(RegisteredDisclaimer.removed_at).is_(None),
    )
    countries: set[str] = set()
    texts: dict[str, set[str]] = defaultdict(set)
    for country, text in db.execute(union_all(authorized, registered)):
        if text is None:
            countries.add(country)
        else:
            texts[country].add(text)
    return frozenset(countries), {c: frozenset(t) for c, t in texts.items()}


def standing_facts_of(
    db: Session, account_ids: Sequence[str]
) -> dict[str, tuple[frozenset[str], Mapping[str, frozenset[str]]]]:
    """``standing_facts`` of many accounts in two queries (lists of checklists)."""
    countries: dict[str, set[str]] = defaultdict(set)
    for account_id, country in db.execute(
        select(col(PageAuthorization.ad_account_id), col(PageAuthorization.country)).where(
            col(PageAuthorization.ad_account_id).in_(account_ids),
            col(PageAuthorization.revoked_at).is_(None),
        )
    ):
        countries[account_id].add(country)
    texts = _disclaimers_by_country(db, account_ids)
    return {
        a: (
            frozenset(countries.get(a, ())),
            {c: frozenset(d.text for d in ds) for c, ds in texts.get(a, {}).items()},
        )
        for a in account_ids
    }


def request_meta_check(db: Session, account: AdAccount, now: datetime) -> None:
    """Ask for Meta's answer about the account: the worker reads it on its next round."""
    account.meta_check_requested_at = now
    account.meta_check_error = None
    db.add(account)
    audit.record(db, "ad_account.meta_check_requested", subject=("ad_account", account.id))


def meta_checks_due(db: Session) -> list[str]:
    """The accounts whose check an admin asked for since Meta last answered."""
    return list(
        db.scalars(
            select(col(AdAccount.id)).where(
                col(AdAccount.meta_check_requested_at).is_not(None),
                or_(
                    col(AdAccount.meta_checked_at).is_(None),
                    col(AdAccount.meta_checked_at) < col(AdAccount.meta_check_requested_at),
                ),
                col(AdAccount.meta_check_error).is_(None),
            )
        )
    )


def record_meta_failure(db: Session, account: AdAccount, error: str) -> None:
    """Meta could not be asked: keep why (shown to the admin, who may ask again)."""
    account.meta_check_error = error
    db.add(account)
    audit.record(
        db,
        "ad_account.meta_check_failed",
        subject=("ad_account", account.id),
        data={"error": error},
    )


def record_meta_reading(
    db: Session, account: AdAccount, reading: AccountReading, now: datetime
) -> None:
    """Keep what Meta answered about the account, to show it beside what adgate recorded."""
    account.meta_check_error = None
    account.meta_checked_at = now
    account.meta_page_authorized = reading.page_authorized
    account.meta_currency = reading.currency
    account.meta_min_daily_budget = reading.min_daily_budget
    db.add(account)
    audit.record(
        db,
        "ad_account.meta_checked",
        subject=("ad_account", account.id),
        data={
            "page_authorized": reading.page_authorized,
            "currency": reading.currency,
            "min_daily_budget": reading.min_daily_budget,
            "recorded_currency": account.currency,
        },
    )


def restore(db: Session, account: AdAccount, reason: str) -> None:
    """Give an ad account back its political-ad eligibility, with a written reason."""
    if not reason.strip():
        raise AdAccountError("reason", "a reason is required")
    account.political_eligible = True
    db.add(account)
    audit.record(
        db,
        "ad_account.restored",
        subject=("ad_account", account.id),
        data={"reason": reason.strip(), "violations": account.violations},
    )


# --- helpers -------------------------------------------------------------------------


def _current_authorization(
    db: Session, account: AdAccount, country: str
) -> PageAuthorization | None:
    return db.scalars(
        select(PageAuthorization).where(
            col(PageAuthorization.ad_account_id) == account.id,
            col(PageAuthorization.country) == country,
            col(PageAuthorization.revoked_at).is_(None),
        )
    ).first()


def _current_disclaimers(
    db: Session, account: AdAccount, country: str
) -> Sequence[RegisteredDisclaimer]:
    return db.scalars(
        select(RegisteredDisclaimer).where(
            col(RegisteredDisclaimer.ad_account_id) == account.id,
            col(RegisteredDisclaimer.country) == country,
            col(RegisteredDisclaimer.removed_at).is_(None),
        )
    ).all()


def _disclaimers_by_country(
    db: Session, account_ids: Sequence[str]
) -> dict[str, dict[str, list[RegisteredDisclaimer]]]:
    found: dict[str, dict[str, list[RegisteredDisclaimer]]] = defaultdict(lambda: defaultdict(list))
    for d in db.scalars(
        select(RegisteredDisclaimer)
        .where(
            col(RegisteredDisclaimer.ad_account_id).in_(account_ids),
            col(RegisteredDisclaimer.removed_at).is_(None),
        )
        .order_by(col(RegisteredDisclaimer.text))
    ):
        found[d.ad_account_id][d.country].append(d)
    return found


def _remove(db: Session, disclaimer: RegisteredDisclaimer, by: User | None, now: datetime) -> None:
    disclaimer.removed_at, disclaimer.removed_by = now, by.id if by else None
    db.add(disclaimer)


def _country(country: str) -> str:
    try:
        return policy.check_country(country.strip().upper())
    except policy.InvalidCountry as exc:
        raise AdAccountError("country", str(exc)) from None


def _currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in delivery.CURRENCIES:
        known = ", ".join(sorted(delivery.CURRENCIES))
        raise AdAccountError(
            "currency", f"{code or 'nothing'} is not a currency adgate knows ({known})"
        )
    return code


def _disclaimer_text(text: str) -> str:
    text = text.strip()
    if not text or len(text) > 255 or _CONTROL.search(text):
        raise AdAccountError(
            "disclaimer", "a disclaimer has 1 to 255 characters, without control characters"
        )
    return text


def _evidence(evidence: str) -> str:
    evidence = evidence.strip()
    if len(evidence) < 3 or len(evidence) > 2000:
        raise AdAccountError(
            "evidence", "describe what you saw at Meta (3 to 2000 characters; store no document)"
        )
    return evidence
