"""adgate's records of the Meta sandbox's ad accounts, as an admin would make them.

The sandbox holds Meta's side (``app.sandbox.accounts.INITIAL_ACCOUNTS``): each account's
page, currency, the countries the page is authorized in and the disclaimers registered
there. Tests and benchmarks register the same in adgate through the admin's services, as
``make run`` does with ``flask ad-accounts``.
"""

from __future__ import annotations

from sqlmodel import Session

from app.admin import ad_accounts
from app.models import AdAccount, utcnow
from app.sandbox.accounts import INITIAL_ACCOUNTS


def register_sandbox_accounts(db: Session, *account_ids: str) -> list[AdAccount]:
    """Register the sandbox's accounts (all, or those named) with what Meta holds for them."""
    now = utcnow()
    registered = []
    for known in INITIAL_ACCOUNTS:
        if account_ids and known.id not in account_ids:
            continue
        account = ad_accounts.add(db, known.id, known.page_id, known.name, now, known.currency)
        evidence = f"the Meta sandbox's account {known.id}"
        for country, texts in sorted(known.authorizations.items()):
            ad_accounts.authorize(
                db, account, country, since=now.date(), evidence=evidence, by=None, now=now
            )
            for text in sorted(texts):
                ad_accounts.register_disclaimer(
                    db, account, country, text, evidence=evidence, by=None, now=now
                )
        registered.append(account)
    return registered
