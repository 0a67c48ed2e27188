"""Notifications by e-mail: who is told what, written to an outbox in the event's transaction.

``enqueue`` renders each mail in its recipient's language and adds it to the outbox
(``OutboxMail``) in the caller's transaction: when the event rolls back, so does the mail,
and a mail is sent only after the event committed. The worker sends the outbox
(``app.notifications.outbox``). Each mail carries a dedup key made of its kind, the event
and the recipient; the database refuses a second row with the same key, so that an event
that is recorded twice (a retried request, two workers reading one status) tells nobody
twice.

Mails are rendered when the event happens, not when they are sent: the mail says what was
true then (the ad's title, the reviewer's reason), a retry sends the same words under the
same Message-ID, and the worker needs no request, template or checklist to send it. The
recipient's address is looked up when sending, so that an erased or disabled account, or a
person who turned the kind off since, gets nothing.

What a mail may say: the ad's title, a reviewer's reason and Meta's feedback to the owner
and the reviewers, who see them on the pages; a person's address to the reviewers, who see
it on the identities page. Never anything of an identity document (type, country, number,
expiry date): mails pass through servers adgate does not control.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_mailman import Mail
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app import crypto
from app.db import is_sqlite
from app.models import Checklist, Invitation, OutboxMail, Role, User, utcnow

mail = Mail()


class Kind(StrEnum):
    """What a mail tells; each person can turn each kind off."""

    READY_FOR_APPROVAL = "ready_for_approval"
    IDENTITY_REQUESTED = "identity_requested"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    META_OUTCOME = "meta_outcome"
    NEEDS_PERSON = "needs_person"
    IDENTITY_EXPIRING = "identity_expiring"
    # To an address without an account yet; nobody can turn it off.
    INVITATION = "invitation"


# The kinds each role receives (the settings page offers these).
ROLE_KINDS: dict[Role, tuple[Kind, ...]] = {
    Role.MANAGER: (
        Kind.CHANGES_REQUESTED,
        Kind.APPROVED,
        Kind.META_OUTCOME,
        Kind.NEEDS_PERSON,
        Kind.IDENTITY_EXPIRING,
    ),
    Role.REVIEWER: (Kind.READY_FOR_APPROVAL, Kind.IDENTITY_REQUESTED, Kind.IDENTITY_EXPIRING),
}
LABELS = {
    Kind.READY_FOR_APPROVAL: _l("An ad is ready for approval"),
    Kind.IDENTITY_REQUESTED: _l("An ad manager asks for an identity verification"),
    Kind.CHANGES_REQUESTED: _l("A reviewer requests changes to my ad"),
    Kind.APPROVED: _l("A reviewer approved my ad"),
    Kind.META_OUTCOME: _l("Meta approved or rejected my ad, or reports delivery issues"),
    Kind.NEEDS_PERSON: _l("Meta holds or throttles my ad and a person must look"),
    Kind.IDENTITY_EXPIRING: _l("An identity verification is about to expire"),
}
# What Meta said, as the owner is told (META_OUTCOME).
META_OUTCOMES = ("approved", "rejected", "issues")


def init_app(app: Flask) -> None:
    """Install Flask-Mailman, the settings page and ``flask mail-sink``."""
    from app.notifications import sink, views

    # SMTP always, in tests too: they talk to a real server (Flask-Mailman would otherwise
    # keep a testing app's mails in memory).
    app.config.setdefault("MAIL_BACKEND", "smtp")
    mail.init_app(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(sink.mail_sink_command)


def enabled() -> bool:
    """Whether a mail server is configured (without one, nothing is queued)."""
    return bool(current_app.config.get("MAIL_SERVER"))


def language_of(user: User) -> str:
    """The language the person chose for adgate, else the installation's default."""
    languages = tuple(current_app.config["LANGUAGES"])
    if user.locale in languages:
        return str(user.locale)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def wants(user: User, kind: Kind) -> bool:
    """Whether the person can and wants to receive this kind of mail now."""
    return (
        user.id is not None
        and user.active
        and user.erased_at is None
        and kind.value not in (user.mail_opt_out or [])
    )


def enqueue(
    db: Session,
    kind: Kind,
    recipients: Iterable[User],
    *,
    key: str,
    checklist: Checklist | None = None,
    **params: Any,
) -> int:
    """Queue one mail of ``kind`` per recipient in the caller's transaction; returns how many
    were new. ``key`` names the event (with the kind and recipient it makes the dedup key);
    ``params`` fill the text (``app.notifications.texts``)."""
    if not enabled():
        return 0
    from app.notifications import texts

    now = utcnow()
    insert = sqlite_insert if is_sqlite(db.get_bind().engine) else pg_insert
    added = 0
    seen: set[int] = set()
    for person in recipients:
        if not wants(person, kind) or person.id in seen:
            continue
        assert person.id is not None
        seen.add(person.id)
        locale = language_of(person)
        with force_locale(locale):
            subject, body = texts.render(kind, person, checklist, params)
        statement = (
            insert(OutboxMail)
            .values(
                kind=kind.value,
                recipient_id=person.id,
                checklist_id=checklist.id if checklist is not None else None,
                locale=locale,
                subject=subject,
                body=body,
                dedup_key=f"{kind.value}:{key}:user:{person.id}"[:200],
                created_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(col(OutboxMail.id))
        )
        # A row comes back only when it was new (the dedup key refused a second one).
        added += len(db.execute(statement).all())
    return added


def reviewers(db: Session, *, besides: int | None = None) -> Sequence[User]:
    """The reviewers who may act now (active, confirmed, not erased), without ``besides``."""
    query = select(User).where(
        col(User.role) == Role.REVIEWER.value,
        col(User.active).is_(True),
        col(User.erased_at).is_(None),
        col(User.confirmed_at).is_not(None),
    )
    if besides is not None:
        query = query.where(col(User.id) != besides)
    return db.scalars(query.order_by(col(User.id))).all()


def _owner(db: Session, checklist: Checklist) -> list[User]:
    owner = db.get(User, checklist.owner_id)
    return [owner] if owner is not None else []


# --- the notifications, one function per kind -------------------------------------------


def ready_for_approval(db: Session, checklist: Checklist, now: datetime | None = None) -> int:
    """Tell the reviewers when the checklist waits for approval now: a draft whose every step
    but the approval passes, under four-eyes. Once per content (what an approval covers):
    call it after any change; an edit of the title alone, or a second call, tells nobody."""
    from app.checklists import gate
    from workflows.checks import evaluate_all
    from workflows.machine import State, unmet_checks

    if not enabled() or not current_app.config["FOUR_EYES"]:
        return 0
    if checklist.state != State.DRAFT.value:
        return 0
    context = gate.context_for(db, checklist, now or utcnow())
    if unmet_checks(evaluate_all(context), skip=frozenset({"approval"})):
        return 0
    return enqueue(
        db,
        Kind.READY_FOR_APPROVAL,
        reviewers(db, besides=checklist.owner_id),
        key=f"checklist:{checklist.id}:{context.content_hash}",
        checklist=checklist,
    )


def identity_requested(
    db: Session, person: User, country: str, *, request_id: int | str | None = None
) -> int:
    """Tell the reviewers that ``person`` asks for an identity verification for ``country``
    (ISO 3166 alpha-2); ``request_id`` names the request (else one a day per country)."""
    key = request_id if request_id is not None else utcnow().date().isoformat()
    return enqueue(
        db,
        Kind.IDENTITY_REQUESTED,
        reviewers(db, besides=person.id),
        key=f"user:{person.id}:{country}:{key}",
        person=person.email,
        country=country,
        request=request_id,
    )


def changes_requested(db: Session, checklist: Checklist, reviewer: User, reason: str) -> int:
    """Tell the owner that ``reviewer`` sent the ad back, with the reason."""
    return enqueue(
        db,
        Kind.CHANGES_REQUESTED,
        _owner(db, checklist),
        key=f"checklist:{checklist.id}:v{checklist.version}:by:{reviewer.id}",
        checklist=checklist,
        reason=reason,
    )


def approved(db: Session, checklist: Checklist) -> int:
    """Tell the owner that a reviewer approved the ad (it can be submitted)."""
    return enqueue(
        db,
        Kind.APPROVED,
        _owner(db, checklist),
        key=f"checklist:{checklist.id}:v{checklist.version}",
        checklist=checklist,
    )


def meta_outcome(
    db: Session,
    checklist: Checklist,
    outcome: str,
    *,
    submission_id: int,
    feedback: Mapping[str, Any] | None = None,
) -> int:
    """Tell the owner what Meta decided: ``approved``, ``rejected`` or ``issues`` (delivery),
    with Meta's own feedback when it gave one."""
    assert outcome in META_OUTCOMES
    return enqueue(
        db,
        Kind.META_OUTCOME,
        _owner(db, checklist),
        key=f"submission:{submission_id}:{outcome}:v{checklist.version}",
        checklist=checklist,
        outcome=outcome,
        feedback=meta_texts(feedback),
    )


def needs_person(
    db: Session,
    checklist: Checklist,
    reason: str,
    *,
    submission_id: int,
    until: datetime | None = None,
) -> int:
    """Tell the owner that Meta blocked the call for policy reasons (``blocked``: the ad is
    held) or throttles the ad account for long (``throttled``, ``until``): once per
    submission and reason."""
    assert reason in ("blocked", "throttled")
    return enqueue(
        db,
        Kind.NEEDS_PERSON,
        _owner(db, checklist),
        key=f"submission:{submission_id}:{reason}",
        checklist=checklist,
        reason=reason,
        until=until,
    )


def identity_expiring(db: Session, today: date) -> int:
    """Tell each person whose recorded identity verification expires within
    NOTIFY_IDENTITY_EXPIRY_DAYS, and the reviewers, once per verification."""
    from app.notifications import expiry

    return expiry.notify(db, today)


def invitation(db: Session, invited: Invitation, token: str, by: User) -> None:
    """Queue the mail of an invitation (or of its resending) to the invited address, in the
    language the admin chose. The token goes into the outbox encrypted, apart from the body
    (which holds a placeholder), and is erased once the mail is sent."""
    from app.notifications import texts

    with force_locale(invited.locale):
        subject, body = texts.render_invitation(invited, by)
    db.add(
        OutboxMail(
            kind=Kind.INVITATION.value,
            recipient_id=None,
            invitation_id=invited.id,
            secret=crypto.encrypt(token),
            locale=invited.locale,
            subject=subject,
            body=body,
            dedup_key=f"invitation:{invited.id}:{invited.resent}",
            created_at=utcnow(),
            attempts=0,
        )
    )
    db.flush()


def meta_texts(feedback: Mapping[str, Any] | None) -> list[str]:
    """Meta's review feedback as its texts (``global`` and per placement), as Meta wrote them."""
    texts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(feedback or {})
    return list(dict.fromkeys(texts))[:10]
