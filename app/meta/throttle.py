"""Meta's throttling as Meta signals it: recorded per ad account (and for the app), obeyed by
every worker.

Every answer of Meta carries ``X-Business-Use-Case-Usage`` (per ad account, with
``estimated_time_to_regain_access`` in minutes) and ``X-App-Usage``; the gateway collects
them (``Gateway.take_usage``) and the worker records them here. While an ad account is
throttled no call is made for it: sending, status changes, removals, reviews and
reconciliation all skip it until the time Meta gave, and no submission spends an attempt on
it. The wait is shown on the submission and in ``/metrics``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import Session, col

from app import audit
from app.meta.gateway import DEFAULT_BLOCK, MetaError, Usage
from app.models import AdAccount, Installation

APP = "app"


def throttling(usage: dict[str, Usage], now: datetime) -> dict[str, Usage]:
    """The usage reports that throttle (most answers only say how much is used)."""
    return {k: u for k, u in usage.items() if u.regain_at is not None and u.regain_at > now}


def record(
    db: Session, usage: dict[str, Usage], now: datetime, actor: audit.Actor
) -> dict[str, datetime]:
    """Keep the throttles the usage headers announce; returns those that begin now."""
    started: dict[str, datetime] = {}
    for key, seen in throttling(usage, now).items():
        if key == APP:
            _record_app(db, seen, now, actor, started)
            continue
        account = db.get(AdAccount, key)
        if account is None:
            continue
        account.meta_usage = json.dumps(seen.report, sort_keys=True)
        if seen.regain_at is not None and seen.regain_at > now:
            if account.meta_throttled_until is None or account.meta_throttled_until <= now:
                started[key] = seen.regain_at
                audit.record(
                    db,
                    "ad_account.throttled",
                    subject=("ad_account", key),
                    data={"until": seen.regain_at.isoformat(), "usage": seen.report},
                    actor=actor,
                )
            until = account.meta_throttled_until
            account.meta_throttled_until = max(seen.regain_at, until or seen.regain_at)
        db.add(account)
    return started


def _record_app(
    db: Session, seen: Usage, now: datetime, actor: audit.Actor, started: dict[str, datetime]
) -> None:
    installation = db.get(Installation, 1)
    if installation is None:
        return
    installation.app_usage = json.dumps(seen.report, sort_keys=True)
    if seen.regain_at is not None and seen.regain_at > now:
        before = installation.app_throttled_until
        if before is None or before <= now:
            started[APP] = seen.regain_at
            audit.record(
                db,
                "meta.app_throttled",
                data={"until": seen.regain_at.isoformat(), "usage": seen.report},
                actor=actor,
            )
        installation.app_throttled_until = max(seen.regain_at, before or seen.regain_at)
    db.add(installation)


def throttle_for(
    db: Session,
    error: MetaError,
    ad_account_id: str,
    now: datetime,
    actor: audit.Actor,
    wait: timedelta = DEFAULT_BLOCK,
) -> datetime:
    """A rate-limit error: the account waits as long as Meta's headers said (recorded just
    before), else ``wait``; every call for it waits with it. Returns until when."""
    account = db.get(AdAccount, ad_account_id)
    until = now + wait
    if account is None:
        return until
    if account.meta_throttled_until is not None and account.meta_throttled_until > now:
        return account.meta_throttled_until
    account.meta_throttled_until = until
    db.add(account)
    audit.record(
        db,
        "ad_account.throttled",
        subject=("ad_account", ad_account_id),
        data={"until": until.isoformat(), "code": error.code, "subcode": error.subcode},
        actor=actor,
    )
    return until


def app_throttled_until(db: Session, now: datetime) -> datetime | None:
    """Until when Meta throttles the whole app, if it does now."""
    installation = db.get(Installation, 1)
    until = installation.app_throttled_until if installation else None
    return until if until is not None and until > now else None


def account_free(now: datetime) -> ColumnElement[bool]:
    """A condition on AdAccount: Meta does not throttle it now (or it is not registered)."""
    return or_(
        col(AdAccount.meta_throttled_until).is_(None),
        col(AdAccount.meta_throttled_until) <= now,
    )


def throttled_accounts(db: Session, now: datetime) -> dict[str, datetime]:
    """Every ad account Meta throttles now, with the time it regains access."""
    rows = db.execute(
        select(col(AdAccount.id), col(AdAccount.meta_throttled_until)).where(
            col(AdAccount.meta_throttled_until) > now
        )
    ).all()
    return {str(account_id): until for account_id, until in rows if until is not None}
