"""Who may see a checklist, and who may act on it as its owner: one rule for the pages and
the API.

Managers see their own checklists only; reviewers, admins and auditors see every one.
Another manager's checklist is answered as not found (its existence does not leak),
and the probe is audited as the refusal it is (``access.forbidden``, ``not_visible``),
written even though the request fails.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import ColumnElement, Select, String, cast, select
from sqlmodel import Session, col

from app import audit
from app.models import AdAccount, Checklist, Role, User

# The largest id a checklist can have (a 32-bit column): a larger one is simply not found.
MAX_ID = 2**31 - 1


class NotVisible(LookupError):
    """No checklist with this id that the person may see (answered as not found)."""

    def __init__(self, checklist_id: int) -> None:
        super().__init__(f"no checklist {checklist_id}")
        self.checklist_id = checklist_id


class NotOwner(PermissionError):
    """The person sees the checklist but is not its owner, who alone may do this."""

    def __init__(self) -> None:
        super().__init__("only the checklist's owner may do this")


def sees(person: User, checklist: Checklist) -> bool:
    """Whether ``person`` may see ``checklist``."""
    return person.role != Role.MANAGER or checklist.owner_id == person.id


def visible(person: User) -> Select[Any]:
    """The checklists ``person`` may see, as a query to narrow, order and page."""
    query = select(Checklist)
    if person.role == Role.MANAGER:
        query = query.where(col(Checklist.owner_id) == person.id)
    return query


_LOAD = (
    select(Checklist, User, AdAccount)
    .join(User, col(User.id) == col(Checklist.owner_id))
    .outerjoin(AdAccount, col(AdAccount.id) == col(Checklist.ad_account_id))
)


def load(db: Session, checklist_id: int, person: User, *, for_update: bool = False) -> Checklist:
    """The checklist if ``person`` may see it (locked for the request with ``for_update``);
    else NotVisible, and a probe of another's checklist is audited."""
    if not 0 < checklist_id <= MAX_ID:
        raise NotVisible(checklist_id)
    # The owner and the ad account come with it, in one statement: every reader needs them
    # (the checks, the answer), and a later ``db.get`` finds them in the session.
    query = _LOAD.where(col(Checklist.id) == checklist_id)
    if for_update:
        query = query.with_for_update(of=Checklist)  # not the joined rows
    row = db.execute(query).first()
    if row is None:
        raise NotVisible(checklist_id)
    checklist: Checklist = row[0]
    # The session's identity map holds unchanged rows weakly: keep the owner and the account
    # alive for the session, or they are gone (and read again) by the time a check asks.
    db.info.setdefault("adgate.loaded_with_checklists", []).append(row[1:])
    if not sees(person, checklist):
        audit.defer(
            "access.forbidden",
            subject=("checklist", checklist_id),
            data={"endpoint": request.endpoint, "method": request.method, "reason": "not_visible"},
        )
        raise NotVisible(checklist_id)
    return checklist


def load_owned(
    db: Session, checklist_id: int, person: User, *, for_update: bool = True
) -> Checklist:
    """The checklist (locked unless ``for_update`` is off) if ``person`` owns it: NotVisible
    as ``load``, NotOwner for a reviewer or admin who sees it but does not own it."""
    checklist = load(db, checklist_id, person, for_update=for_update)
    if checklist.owner_id != person.id:
        raise NotOwner()
    return checklist


def targets(country: str) -> ColumnElement[bool]:
    """Checklists whose target countries include ``country`` (a validated ISO code): the
    JSON array's text holds it quoted on both databases."""
    if not (len(country) == 2 and country.isascii() and country.isalpha() and country.isupper()):
        raise ValueError("an ISO 3166 alpha-2 code is expected")
    return cast(col(Checklist.countries), String).like(f'%"{country}"%')
