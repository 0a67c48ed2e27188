"""A checklist's review conversation: comments, and reviewers' requests for changes.

Whoever may see a checklist reads its thread (``access.sees``); its owner, reviewers and
admins write in it, an auditor only reads. A reviewer other than the owner sends the ad
back with a reason (``request_changes``): the approval, if any, is voided and the ad is a
draft its owner can edit. The owner is shown the request until it is settled
(``open_change_request``). Nothing in the thread is edited or deleted; each comment and
each change request is an audit event naming the checklist and the author, a change
request with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from sqlalchemy import func, select
from sqlmodel import Session, col

from app import audit, inputs, notifications
from app.auth.accounts import awaits_confirmation
from app.checklists import access, gate
from app.checklists.service import ChecklistError, expect_version
from app.models import Checklist, Comment, CommentKind, Role, User
from app.reviews.service import UNCONFIRMED
from workflows.machine import Event

# Who writes besides the owner.
WRITERS = frozenset({Role.REVIEWER, Role.ADMIN})
# A thread holds at most this many entries: a page and an API answer carry all of them.
MAX_ENTRIES = 500


@dataclass(frozen=True)
class Entry:
    """A comment as people read it: the author by e-mail address and role."""

    id: int
    author: str
    author_role: str
    kind: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, comment: Comment, author: User) -> Entry:
        """``comment`` as read, by ``author``."""
        assert comment.id is not None
        return cls(
            comment.id, author.email, author.role, comment.kind, comment.body, comment.created_at
        )


def may_write(person: User, checklist: Checklist) -> bool:
    """Whether ``person`` writes in the checklist's thread: its owner, a reviewer, an admin."""
    return access.sees(person, checklist) and (
        person.id == checklist.owner_id or person.role in WRITERS
    )


def checked_text(text: str, field: str) -> str:
    """The text as kept (surrounding blanks removed), or ChecklistError on ``field``: empty,
    too long, or holding characters that change how it reads (``app.inputs``)."""
    text = text.strip()
    if not text:
        raise ChecklistError(field, "empty", "write a text")
    problem = inputs.FIELDS["comment"].problem(text)
    if problem is not None:
        with force_locale("en"):
            raise ChecklistError(field, problem.code, str(problem.message))
    return text


def comment(db: Session, checklist: Checklist, author: User, body: str, now: datetime) -> Comment:
    """Add ``author``'s comment to the checklist's thread."""
    if not may_write(author, checklist):
        raise ChecklistError(
            "user", "not_participant", "only the owner, reviewers and admins write comments"
        )
    if awaits_confirmation(author):
        raise ChecklistError("user", "unconfirmed", UNCONFIRMED)
    entry = _add(db, checklist, author, checked_text(body, "body"), CommentKind.COMMENT, now)
    audit.record(
        db,
        "checklist.commented",
        subject=("checklist", _id(checklist)),
        data={"comment": entry.id, "author": author.id, "kind": entry.kind},
    )
    return entry


def request_changes(
    db: Session,
    checklist: Checklist,
    reviewer: User,
    reason: str,
    now: datetime,
    *,
    version: int | None = None,
) -> Comment:
    """Send the ad back to its owner with ``reason``: the approval, if any, is voided and the
    ad is a draft again. ``version``: the one the reviewer read (stale: ``Conflict``, nothing
    recorded). The machine refuses it once the ad is submitted and for anyone but a reviewer
    who does not own the ad; no second factor, as it lets nothing through."""
    if reviewer.role != Role.REVIEWER or reviewer.id == checklist.owner_id:
        raise ChecklistError(
            "user", "not_reviewer", "a reviewer other than the owner requests changes"
        )
    if awaits_confirmation(reviewer):
        raise ChecklistError("user", "unconfirmed", UNCONFIRMED)
    if version is not None:
        expect_version(checklist, version)
    text = checked_text(reason, "comment")
    _room_left(db, checklist)
    voided = ["approval"] if checklist.approved_by is not None else []
    gate.transition(
        db,
        checklist,
        Event.REQUEST_CHANGES,
        reviewer,
        now,
        checks=(),  # no guard: the checks do not matter to sending an ad back
        data={"author": reviewer.id, "reason": text, "voided": voided},
    )
    # After the transition: a refused one leaves the approval as it was.
    checklist.approved_by = None
    checklist.approved_hash = None
    checklist.approved_at = None
    db.add(checklist)
    request = _add(db, checklist, reviewer, text, CommentKind.CHANGE_REQUEST, now)
    # The owner is told in the same transaction (the outbox): the mail goes out after commit.
    notifications.changes_requested(db, checklist, reviewer, text)
    return request


def thread(db: Session, checklist: Checklist) -> list[Entry]:
    """The checklist's conversation, oldest first."""
    rows = db.execute(
        select(Comment, col(User.email), col(User.role))
        .join(User, col(User.id) == col(Comment.author_id))
        .where(col(Comment.checklist_id) == _id(checklist))
        .order_by(col(Comment.id))
    ).all()
    return [Entry(c.id or 0, email, role, c.kind, c.body, c.created_at) for c, email, role in rows]


def open_change_request(db: Session, checklist: Checklist) -> Comment | None:
    """The latest change request while it is unsettled: the ad has not changed since (an
    edit, a classification, an approval all move its version) and its owner has not
    answered in the thread."""
    latest = db.scalars(
        select(Comment)
        .where(
            col(Comment.checklist_id) == _id(checklist),
            col(Comment.kind) == CommentKind.CHANGE_REQUEST.value,
        )
        .order_by(col(Comment.id).desc())
        .limit(1)
    ).first()
    if latest is None or latest.checklist_version != checklist.version:
        return None
    answered = db.scalar(
        select(func.count())
        .select_from(Comment)
        .where(
            col(Comment.checklist_id) == _id(checklist),
            col(Comment.id) > latest.id,
            col(Comment.author_id) == checklist.owner_id,
        )
    )
    return None if answered else latest


def _add(
    db: Session, checklist: Checklist, author: User, text: str, kind: CommentKind, now: datetime
) -> Comment:
    _room_left(db, checklist)
    assert author.id is not None
    entry = Comment(
        checklist_id=_id(checklist),
        author_id=author.id,
        kind=kind.value,
        body=text,
        checklist_version=checklist.version,
        created_at=now,
    )
    db.add(entry)
    db.flush()
    return entry


def _room_left(db: Session, checklist: Checklist) -> None:
    count = db.scalar(
        select(func.count()).select_from(Comment).where(col(Comment.checklist_id) == _id(checklist))
    )
    if (count or 0) >= MAX_ENTRIES:
        raise ChecklistError(
            "thread", "thread_full", f"the conversation holds {MAX_ENTRIES} entries already"
        )


def _id(checklist: Checklist) -> int:
    assert checklist.id is not None
    return checklist.id
