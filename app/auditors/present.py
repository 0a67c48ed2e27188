"""How events read on the auditors' pages: who (by name where a reference suffices in the
log), what (the catalogue's label), and the details (transitions, unmet steps, changes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlmodel import Session, col

from app.audit import kinds
from app.auditors import words
from app.checklists.steps import LABELS as STEP_LABELS
from app.checklists.steps import STATE_LABELS
from app.models import ApiToken, AuditEvent, User


@dataclass(frozen=True)
class Row:
    """One event as shown."""

    event: AuditEvent
    who: str
    kind: kinds.Kind
    data: dict[str, Any]
    checklist: int | None
    subject: str | None

    @property
    def transition(self) -> tuple[str, str] | None:
        """(from, to) state labels for a state change."""
        before, after = self.data.get("from"), self.data.get("to")
        if isinstance(before, str) and isinstance(after, str) and before in STATE_LABELS:
            return str(STATE_LABELS[before]), str(STATE_LABELS.get(after, after))
        return None

    @property
    def unmet(self) -> list[tuple[str, str]]:
        """(step label, code) for every unmet step of a refusal or a blocked transition."""
        items = self.data.get("unmet") or self.data.get("blocked") or []
        return [
            (str(STEP_LABELS.get(str(u.get("step")), u.get("step"))), str(u.get("code", "")))
            for u in items
            if isinstance(u, dict)
        ]

    @property
    def other(self) -> dict[str, Any]:
        """The data not shown by the properties above."""
        shown = {"from", "to", "unmet", "blocked"}
        return {k: v for k, v in self.data.items() if k not in shown}

    @property
    def details(self) -> list[words.Detail]:
        """The rest of the data in words, as nested definition lists."""
        return words.describe(self.other)

    @property
    def changes(self) -> list[str]:
        """Changed results in words: "Two-factor authentication: to do → done"."""
        out = []
        for change in self.data.get("changes") or []:
            if isinstance(change, dict) and change.get("check"):
                step = words.in_words("check", change["check"])
                before = words.in_words("result", change.get("from"))
                after = words.in_words("result", change.get("to"))
                out.append(f"{step}: {before} → {after}")
            elif isinstance(change, dict):
                out.append(str(words.in_words("field", change.get("field") or change)))
            else:
                out.append(str(words.in_words("field", change)))
        return out


def rows(db: Session, events: Sequence[AuditEvent]) -> list[Row]:
    """The events with their actors named (one query per kind of actor, not per event)."""
    users = _ids(events, "user")
    tokens = _ids(events, "token")
    emails = dict(
        db.execute(select(col(User.id), col(User.email)).where(col(User.id).in_(users))).all()
    ) if users else {}  # fmt: skip
    token_owner = dict(
        db.execute(
            select(col(ApiToken.id), col(User.email))
            .join(User, col(User.id) == col(ApiToken.user_id))
            .where(col(ApiToken.id).in_(tokens))
        ).all()
    ) if tokens else {}  # fmt: skip
    out = []
    for e in events:
        data = json.loads(e.data) if e.data is not None else {}  # None: cleared by a purge
        out.append(
            Row(
                event=e,
                who=_who(e.actor_type, e.actor_id, emails, token_owner),
                kind=kinds.lookup(e.kind),
                data=data if isinstance(data, dict) else {"value": data},
                checklist=_checklist_of(e, data),
                subject=_subject(e, emails),
            )
        )
    return out


def actor_names(db: Session) -> Callable[[str, str | None], str]:
    """Who did it, for an export: as ``rows`` names actors (the addresses auditors see on the
    pages; an erased person stays "erased-<id>@invalid"), loaded once for the whole file."""
    emails = dict(db.execute(select(col(User.id), col(User.email))).all())
    token_owner = dict(
        db.execute(
            select(col(ApiToken.id), col(User.email)).join(
                User, col(User.id) == col(ApiToken.user_id)
            )
        ).all()
    )

    return lambda actor_type, actor_id: _who(actor_type, actor_id, emails, token_owner)


def _ids(events: Sequence[AuditEvent], actor_type: str) -> set[int]:
    """The ids of the actors (and, for users, the subjects) of this type."""
    ids = set()
    for e in events:
        if e.actor_type == actor_type and (e.actor_id or "").isdigit():
            ids.add(int(e.actor_id or 0))
        if actor_type == "user" and e.subject_type == "user" and (e.subject_id or "").isdigit():
            ids.add(int(e.subject_id or 0))
    return ids


def _who(
    actor_type: str, actor_id: str | None, emails: dict[int, str], token_owner: dict[int, str]
) -> str:
    ident = int(actor_id) if actor_id and actor_id.isdigit() else None
    if actor_type == "user" and ident is not None:
        return emails.get(ident, f"user:{ident}")
    if actor_type == "token" and ident is not None:
        owner = token_owner.get(ident)
        if owner is None:
            return f"token:{ident}"
        return str(_("API token %(id)s of %(owner)s", id=ident, owner=owner))
    if actor_type == "system":
        return str(_("adgate (system)"))
    return str(_("anonymous"))


def _subject(e: AuditEvent, emails: dict[int, str]) -> str | None:
    if e.subject_type is None:
        return None
    if e.subject_type == "user" and (e.subject_id or "").isdigit():
        return emails.get(int(e.subject_id or 0), f"user:{e.subject_id}")
    if e.subject_type == "invitation":
        return str(_("Invitation %(id)s", id=e.subject_id))
    return f"{e.subject_type}:{e.subject_id}"


def _checklist_of(e: AuditEvent, data: Any) -> int | None:
    if e.subject_type == "checklist" and (e.subject_id or "").isdigit():
        return int(e.subject_id or 0)
    if isinstance(data, dict) and isinstance(data.get("checklist"), int):
        return int(data["checklist"])
    return None
