"""What waits for a person: one function per role, counted in a few queries (never one round
per checklist), for the home page and the navigation's count.

The checks of many checklists are evaluated from one batch of facts
(``gate.contexts_for``), so a reviewer's inbox costs the same handful of queries whether
ten drafts wait or a thousand. An item is what a person can act on (an ad, an account, a
verification run); the count is the number of distinct items, so an ad waiting in two ways
counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from app.auth.accounts import awaits_confirmation
from app.checklists import gate
from app.models import (
    AdAccount,
    AuditCheckpoint,
    AuditEvent,
    AuditVerification,
    Checklist,
    Comment,
    CommentKind,
    LoginSession,
    Role,
    User,
)
from app.reviews import requests
from workflows.checks import CheckResult, Status, evaluate_all, moot
from workflows.machine import State

# Meta's outcomes count as news from the previous sign-in on, and at least for this long.
RECENT = timedelta(days=7)
# A failed or rejected ad asks for its owner's attention this long (then it is history).
FINAL_ATTENTION = timedelta(days=30)
# The most items a section lists on the home page (its count is always the whole).
SHOWN = 50


@dataclass(frozen=True)
class Item:
    """One thing that waits: its kind ("checklist", "user", "ad_account", "verification",
    "checkpoint"), its id, a title, and what the page says about it (state, step names,
    country codes or reason codes)."""

    kind: str
    id: str
    title: str
    state: str | None = None
    details: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.id)


@dataclass(frozen=True)
class Section:
    """A named list of items (the name is a stable key; the page gives it words)."""

    name: str
    items: tuple[Item, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def shown(self) -> tuple[Item, ...]:
        return self.items[:SHOWN]


@dataclass(frozen=True)
class Inbox:
    """What waits for one person, by section; ``since``: where "recent" begins for them."""

    role: Role
    sections: tuple[Section, ...] = ()
    since: datetime | None = None
    checkpoint_at: datetime | None = None

    @property
    def count(self) -> int:
        """How many distinct things wait (an ad in two sections counts once)."""
        return len({item.key for section in self.sections for item in section.items})


def inbox(db: Session, user: User, now: datetime) -> Inbox:
    """What waits for ``user``, by their role."""
    role = Role(user.role)
    if role is Role.MANAGER:
        return for_manager(db, user, now)
    if role is Role.REVIEWER:
        return for_reviewer(db, user, now)
    if role is Role.AUDITOR:
        return for_auditor(db, now)
    return for_admin(db, user, now)


# --- managers ------------------------------------------------------------------------


def recent_since(db: Session, user: User, now: datetime) -> datetime:
    """Where news begins for ``user``: their previous sign-in, or ``RECENT`` ago if later."""
    previous = db.scalar(
        select(col(LoginSession.created_at))
        .where(col(LoginSession.user_id) == user.id)
        .order_by(col(LoginSession.created_at).desc())
        .offset(1)
        .limit(1)
    )
    floor = now - RECENT
    return min(previous, floor) if previous is not None else floor


def for_manager(db: Session, user: User, now: datetime) -> Inbox:
    """A manager's ads that need them, the changes reviewers asked for, Meta's news."""
    since = recent_since(db, user, now)
    outcomes = (State.REJECTED, State.WITH_ISSUES, State.PAUSED)
    finals = (State.FAILED, State.REJECTED)
    mine = db.scalars(
        select(Checklist)
        .where(
            col(Checklist.owner_id) == user.id,
            or_(
                col(Checklist.state).in_(_values(State.DRAFT, State.APPROVED, State.HELD)),
                and_(
                    col(Checklist.state).in_(_values(*finals)),
                    col(Checklist.updated_at) >= min(since, now - FINAL_ATTENTION),
                ),
                and_(
                    col(Checklist.state).in_(_values(*outcomes)), col(Checklist.updated_at) >= since
                ),
            ),
        )
        .order_by(col(Checklist.updated_at).desc())
    ).all()
    results = _evaluated(db, [c for c in mine if c.state == State.DRAFT], now)
    action, news = [], []
    for c in mine:
        if c.state == State.DRAFT:
            todo = tuple(r.name for r in results[_id(c)] if r.status is Status.FAILED)
            mooted = moot(results[_id(c)])
            todo = tuple(n for n in todo if n not in mooted)
            if todo:
                action.append(_checklist(c, todo))
        elif c.state in (State.APPROVED, State.HELD) or (
            c.state in finals and c.updated_at >= now - FINAL_ATTENTION
        ):
            action.append(_checklist(c))
        if c.state in outcomes and c.updated_at >= since:
            news.append(_checklist(c))
    return Inbox(
        Role.MANAGER,
        (
            Section("needs_action", tuple(action)),
            Section("changes_requested", tuple(changes_requested(db, user))),
            Section("meta_outcomes", tuple(news)),
        ),
        since=since,
    )


def changes_requested(db: Session, user: User) -> list[Item]:
    """The owner's ads a reviewer sent back with a reason that is still open: the ad has not
    changed since and its owner has not answered in the conversation (the rule of
    ``app.reviews.conversation.open_change_request``, for all the owner's ads at once)."""
    # Per draft of the owner, through ix_comment_checklist_kind: never all change requests.
    latest = (
        select(func.max(col(Comment.id)))
        .where(
            col(Comment.checklist_id) == col(Checklist.id),
            col(Comment.kind) == CommentKind.CHANGE_REQUEST.value,
        )
        .correlate(Checklist)
        .scalar_subquery()
    )
    # The owner's last word, through ix_comment_checklist_author: one probe per draft (a NOT
    # EXISTS of a newer comment let PostgreSQL read every comment newer than the request).
    answered = (
        select(func.max(col(Comment.id)))
        .where(
            col(Comment.checklist_id) == col(Checklist.id),
            col(Comment.author_id) == col(Checklist.owner_id),
        )
        .correlate(Checklist)
        .scalar_subquery()
    )
    request = Comment.__table__.alias("request")  # type: ignore[attr-defined]
    rows = db.execute(
        select(Checklist, request.c.body)
        .join(request, request.c.id == latest)
        .where(
            col(Checklist.owner_id) == user.id,
            col(Checklist.state) == State.DRAFT.value,
            request.c.checklist_version == col(Checklist.version),
            func.coalesce(answered, 0) < request.c.id,
        )
        .order_by(col(Checklist.id))
    ).all()
    return [
        Item("checklist", str(checklist.id), checklist.title, str(checklist.state), (body,))
        for checklist, body in rows
    ]


# --- reviewers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sorted:
    """Drafts as a reviewer sees them: what they can approve or sign off, the identity
    documents they could verify, and the rest with the steps still open."""

    ready: list[Checklist]
    sign_offs: list[Checklist]
    identity: list[Item]
    others: list[tuple[Checklist, tuple[str, ...]]]


def for_reviewer(db: Session, user: User, now: datetime) -> Inbox:
    """Others' drafts a reviewer can move: to approve, identities to verify, to sign off."""
    drafts = db.scalars(
        select(Checklist)
        .where(col(Checklist.state) == State.DRAFT.value, col(Checklist.owner_id) != user.id)
        .order_by(col(Checklist.updated_at))
    ).all()
    found = sort_drafts(db, drafts, now)
    return Inbox(
        Role.REVIEWER,
        (
            Section("ready_for_approval", tuple(_checklist(c) for c in found.ready)),
            Section("identity_requests", tuple(asked_for(db, user, drafts, found.identity))),
            Section("sign_offs", tuple(_checklist(c) for c in found.sign_offs)),
        ),
    )


def sort_drafts(db: Session, drafts: Sequence[Checklist], now: datetime) -> Sorted:
    """Sort others' drafts by what a reviewer can do for them (their checks in one batch)."""
    results = _evaluated(db, drafts, now)
    found = Sorted([], [], identity_requests(drafts, results), [])
    for c in drafts:
        by_name = {r.name: r for r in results[_id(c)]}
        if by_name["classification"].code == "classification.sign_off_pending":
            found.sign_offs.append(c)
        elif all(r.passed for name, r in by_name.items() if name != "approval"):
            found.ready.append(c)
        else:
            mooted = moot(results[_id(c)])
            still = tuple(n for n, r in by_name.items() if not r.passed and n not in mooted)
            found.others.append((c, still))
    return found


def asked_for(
    db: Session, user: User, drafts: Sequence[Checklist], blocked: Sequence[Item]
) -> list[Item]:
    """The open requests for an identity verification (not the reviewer's own), each with how
    many of the person's drafts wait for that country.

    Only what someone asked for is counted: a reviewer can do nothing for a blocked draft
    until its owner comes with a document, and the request is how they say they will. The
    drafts blocked on the identity step still add something: how much a request unblocks.
    """
    owners = {_id(c): c.owner_id for c in drafts}
    waiting = requests.waiting_drafts((owners[int(i.id)], i.details) for i in blocked)
    return [
        Item(
            "identity_request",
            str(request.id),
            person.email,
            details=(request.country, str(waiting.get((person.id or 0, request.country), 0))),
        )
        for request, person in requests.open_requests(db, besides=user.id)
    ]


def identity_requests(
    drafts: Sequence[Checklist], results: dict[int, tuple[CheckResult, ...]]
) -> list[Item]:
    """Drafts blocked on an identity document no reviewer has verified yet (for the countries
    named), where verifying it would help: a country that refuses the ad needs none (the
    review queue lists them; the inbox counts the requests, ``asked_for``)."""
    found = []
    for c in drafts:
        checked = results[_id(c)]
        identity = next(r for r in checked if r.name == "identity")
        if identity.code in ("identity.missing", "identity.expired") and (
            "identity" not in moot(checked)
        ):
            countries = tuple(x.strip() for x in identity.params.get("countries", "").split(","))
            found.append(_checklist(c, tuple(x for x in countries if x)))
    return found


# --- auditors ------------------------------------------------------------------------


def for_auditor(db: Session, now: datetime) -> Inbox:
    """Verifications that found the chain broken (since the last intact one), and a
    checkpoint that is overdue."""
    last_ok = db.scalar(
        select(func.max(col(AuditVerification.id))).where(col(AuditVerification.status) == "ok")
    )
    broken = db.scalars(
        select(AuditVerification)
        .where(
            col(AuditVerification.status) == "broken",
            col(AuditVerification.id) > (last_ok or 0),
        )
        .order_by(col(AuditVerification.id).desc())
    ).all()
    newest = db.scalar(select(func.max(col(AuditCheckpoint.taken_at))))
    every = timedelta(hours=float(current_app.config["AUDIT_CHECKPOINT_HOURS"]))
    overdue: tuple[Item, ...] = ()
    if newest is None:
        if db.scalar(select(col(AuditEvent.seq)).limit(1)) is not None:
            overdue = (Item("checkpoint", "none", ""),)
    elif newest < now - 2 * every:
        overdue = (Item("checkpoint", "overdue", ""),)
    return Inbox(
        Role.AUDITOR,
        (
            Section(
                "failed_verifications",
                tuple(
                    Item("verification", str(r.id), "", details=(str(r.first_bad_event or ""),))
                    for r in broken
                ),
            ),
            Section("checkpoint", overdue),
        ),
        checkpoint_at=newest,
    )


# --- admins --------------------------------------------------------------------------


def for_admin(db: Session, user: User, now: datetime) -> Inbox:
    """Accounts this admin may confirm, ad accounts that need an admin, held ads."""
    waiting: Sequence[User] = []
    if not awaits_confirmation(user) and user.active:
        waiting = db.scalars(
            select(User)
            .where(
                col(User.confirmed_at).is_(None),
                col(User.active).is_(True),
                col(User.erased_at).is_(None),
                col(User.id) != user.id,
                or_(col(User.created_by).is_(None), col(User.created_by) != user.id),
            )
            .order_by(col(User.created_at))
        ).all()
    accounts = db.scalars(
        select(AdAccount)
        .where(
            or_(
                col(AdAccount.political_eligible).is_(False),
                col(AdAccount.meta_page_authorized).is_(False),
                col(AdAccount.meta_check_error).is_not(None),
                col(AdAccount.currency).is_(None),
                col(AdAccount.meta_throttled_until) > now,
            )
        )
        .order_by(col(AdAccount.id))
    ).all()
    held = db.scalars(
        select(Checklist)
        .where(col(Checklist.state) == State.HELD.value)
        .order_by(col(Checklist.updated_at))
    ).all()
    return Inbox(
        Role.ADMIN,
        (
            Section(
                "unconfirmed_accounts",
                tuple(Item("user", str(u.id), u.email, details=(u.role,)) for u in waiting),
            ),
            Section(
                "ad_accounts",
                tuple(
                    Item("ad_account", a.id, a.name, details=_attention(a, now)) for a in accounts
                ),
            ),
            Section("held", tuple(_checklist(c) for c in held)),
        ),
    )


def _attention(account: AdAccount, now: datetime) -> tuple[str, ...]:
    """Why an ad account needs an admin, as reason codes."""
    reasons = []
    if not account.political_eligible:
        reasons.append("not_eligible")
    if account.meta_page_authorized is False:
        reasons.append("meta_not_authorized")
    if account.meta_check_error is not None:
        reasons.append("meta_check_failed")
    if account.currency is None:
        reasons.append("currency_missing")
    if account.meta_throttled_until is not None and account.meta_throttled_until > now:
        reasons.append("throttled")
    return tuple(reasons)


# --- shared --------------------------------------------------------------------------


def _evaluated(
    db: Session, checklists: Sequence[Checklist], now: datetime
) -> dict[int, tuple[CheckResult, ...]]:
    """Every check of each checklist, from one batch of facts."""
    return {cid: evaluate_all(ctx) for cid, ctx in gate.contexts_for(db, checklists, now).items()}


def _checklist(checklist: Checklist, details: tuple[str, ...] = ()) -> Item:
    return Item("checklist", str(_id(checklist)), checklist.title, checklist.state, details)


def _values(*states: State) -> list[str]:
    return [s.value for s in states]


def _id(checklist: Checklist) -> int:
    assert checklist.id is not None
    return checklist.id
