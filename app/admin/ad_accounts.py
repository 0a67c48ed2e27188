"""Ad accounts: registering them with their page, and restoring a lost eligibility."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from app import audit
from app.models import AdAccount


class AdAccountError(ValueError):
    """Input that cannot become an ad account; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def add(db: Session, account_id: str, page_id: str, name: str, now: datetime) -> AdAccount:
    """Register an ad account and the page it advertises for."""
    account_id, page_id, name = account_id.strip(), page_id.strip(), name.strip()
    if not re.fullmatch(r"act_\d{1,28}", account_id):
        raise AdAccountError("account_id", "an ad account id looks like act_1234")
    if not re.fullmatch(r"\d{1,32}", page_id):
        raise AdAccountError("page_id", "a page id is a number")
    if not name or len(name) > 200:
        raise AdAccountError("name", "the name must have 1 to 200 characters")
    if db.get(AdAccount, account_id) is not None:
        raise AdAccountError("account_id", f"{account_id} is registered already")
    account = AdAccount(id=account_id, page_id=page_id, name=name, created_at=now)
    db.add(account)
    db.flush()
    audit.record(
        db, "ad_account.added", subject=("ad_account", account_id), data={"page_id": page_id}
    )
    return account


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
