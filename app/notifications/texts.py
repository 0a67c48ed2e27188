"""The words of each notification: a subject and a plain-text body, in the language forced by
the caller (``enqueue`` renders inside ``force_locale``), with absolute links to adgate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from flask import current_app
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _

from app.models import Checklist, Invitation, User
from app.notifications import Kind

# Where an invitation's body holds its link: filled in when the mail is sent, from the token
# the outbox keeps encrypted (no e-mail address or text of a person can contain "<" and ">").
INVITATION_LINK = "<invitation-link>"
# Long titles are cut in the subject (the body has them whole).
SUBJECT_TITLE = 80


def link(endpoint: str, **values: Any) -> str:
    """An absolute URL to adgate for a mail: PUBLIC_URL and the route (no request needed)."""
    base = urlsplit(str(current_app.config["PUBLIC_URL"]))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def country_name(code: str) -> str:
    """The country's name in the mail's language (Babel's territory names)."""
    return str(Locale.parse(str(get_locale())).territories.get(code, code))


def _short(title: str) -> str:
    return title if len(title) <= SUBJECT_TITLE else title[: SUBJECT_TITLE - 1] + "…"


Body = tuple[str, list[str], str]  # subject, paragraphs, link
Params = Mapping[str, Any]


def _ready(checklist: Checklist | None, p: Params, person: User) -> Body:
    assert checklist is not None
    return (
        _("Ready for approval: %(title)s", title=_short(checklist.title)),
        [
            _(
                "The ad “%(title)s” has passed every step but the approval: it waits for "
                "the four-eyes approval of a reviewer.",
                title=checklist.title,
            )
        ],
        link("checklists.show", checklist_id=checklist.id),
    )


def _identity_requested(checklist: Checklist | None, p: Params, person: User) -> Body:
    country = country_name(str(p["country"]))
    return (
        _("Identity verification requested for %(country)s", country=country),
        [
            _(
                "%(person)s asks for an identity verification with a document issued by "
                "%(country)s.",
                person=p["person"],
                country=country,
            )
        ],
        # The identities page opens with the form filled in for this request.
        link("reviews.identities", **({"request": p["request"]} if p.get("request") else {})),
    )


def _changes_requested(checklist: Checklist | None, p: Params, person: User) -> Body:
    assert checklist is not None
    return (
        _("Changes requested: %(title)s", title=_short(checklist.title)),
        [
            _(
                "A reviewer sent the ad “%(title)s” back to you with this reason:",
                title=checklist.title,
            ),
            str(p["reason"]).strip(),
            _("Change the ad; once every step passes again, the reviewers are told."),
        ],
        link("checklists.show", checklist_id=checklist.id),
    )


def _approved(checklist: Checklist | None, p: Params, person: User) -> Body:
    assert checklist is not None
    return (
        _("Approved: %(title)s", title=_short(checklist.title)),
        [
            _(
                "A reviewer approved the ad “%(title)s”. You can submit it to Meta now.",
                title=checklist.title,
            )
        ],
        link("checklists.show", checklist_id=checklist.id),
    )


def _meta_outcome(checklist: Checklist | None, p: Params, person: User) -> Body:
    assert checklist is not None
    title, outcome = checklist.title, p["outcome"]
    if outcome == "approved":
        subject = _("Meta approved the ad: %(title)s", title=_short(title))
        said = _("Meta's review approved the ad “%(title)s”.", title=title)
    elif outcome == "rejected":
        subject = _("Meta rejected the ad: %(title)s", title=_short(title))
        said = _(
            "Meta's review rejected the ad “%(title)s”. A rejection counts against the ad "
            "account's eligibility for political ads.",
            title=title,
        )
    else:
        subject = _("Delivery issues at Meta: %(title)s", title=_short(title))
        said = _(
            "Meta reports delivery issues for the ad “%(title)s” (no policy violation).",
            title=title,
        )
    paragraphs = [said]
    feedback = list(p.get("feedback") or [])
    if feedback:
        paragraphs.append(_("Meta's feedback, in Meta's words:"))
        paragraphs.append("\n".join(f"- {text}" for text in feedback))
    return subject, paragraphs, link("checklists.show", checklist_id=checklist.id)


def _needs_person(checklist: Checklist | None, p: Params, person: User) -> Body:
    assert checklist is not None
    title = checklist.title
    if p["reason"] == "blocked":
        subject = _("Held for a person: %(title)s", title=_short(title))
        said = _(
            "Meta blocked the call for the ad “%(title)s” for policy reasons. The ad is held "
            "until a person looks at it and resumes or withdraws it.",
            title=title,
        )
    else:
        until = p.get("until")
        subject = _("Waiting for Meta: %(title)s", title=_short(title))
        said = _(
            "Meta limits the calls for the ad account of “%(title)s”: the ad waits until "
            "%(until)s. If that is too late, a person must act.",
            title=title,
            until=format_datetime(until, "medium") if isinstance(until, datetime) else "?",
        )
    return subject, [said], link("checklists.show", checklist_id=checklist.id)


def _identity_expiring(checklist: Checklist | None, p: Params, person: User) -> Body:
    days = int(p["days"])
    if person.id == p["person_id"]:
        return (
            _("Your identity verification expires soon"),
            [
                _(
                    "The identity verification recorded for you in adgate expires within "
                    "%(days)s days. From then on your political ads are blocked: ask a "
                    "reviewer to verify a current document.",
                    days=days,
                )
            ],
            link("main.index"),
        )
    return (
        _("An identity verification expires soon: %(person)s", person=p["person"]),
        [
            _(
                "The identity verification recorded for %(person)s expires within %(days)s "
                "days. Their political ads are blocked from then on unless a reviewer "
                "verifies a current document.",
                person=p["person"],
                days=days,
            )
        ],
        link("reviews.identities"),
    )


RENDER: dict[Kind, Callable[[Checklist | None, Params, User], Body]] = {
    Kind.READY_FOR_APPROVAL: _ready,
    Kind.IDENTITY_REQUESTED: _identity_requested,
    Kind.CHANGES_REQUESTED: _changes_requested,
    Kind.APPROVED: _approved,
    Kind.META_OUTCOME: _meta_outcome,
    Kind.NEEDS_PERSON: _needs_person,
    Kind.IDENTITY_EXPIRING: _identity_expiring,
}


def render(
    kind: Kind, person: User, checklist: Checklist | None, params: Params
) -> tuple[str, str]:
    """The subject and the plain-text body of one mail to ``person``."""
    subject, paragraphs, target = RENDER[kind](checklist, params, person)
    text = "\n\n".join([_("Hello,"), *paragraphs, _("Open it in adgate: %(url)s", url=target)])
    signature = _(
        "adgate sends you this mail because of your role in it. You can turn off each "
        "kind of mail in your account: %(url)s",
        url=link("notifications.settings"),
    )
    # The subject on one line (a header holds none); the signature after the "-- " line.
    return " ".join(subject.split())[:255], f"{text}\n\n-- \n{signature}\n"


def render_invitation(invitation: Invitation, by: User) -> tuple[str, str]:
    """The subject and body of an invitation, in the language forced by the caller: who
    invites (their address only), to which role, the link (a placeholder) and until when."""
    from app.admin.forms import ROLE_LABELS

    role = str(ROLE_LABELS[invitation.role])
    paragraphs = [
        _("Hello,"),
        _(
            "%(inviter)s invites you to adgate, where political ads are checked before they "
            "go to Meta, in the role: %(role)s.",
            inviter=by.email,
            role=role,
        ),
        _(
            "Open this link to choose your password; then you set up two-factor "
            "authentication with an authenticator app. The link works once, until %(until)s:",
            until=format_datetime(invitation.expires_at, "medium"),
        ),
        INVITATION_LINK,
    ]
    if invitation.role.value in ("reviewer", "admin"):
        paragraphs.append(
            _(
                "As %(role)s you act in that role once a second person (another "
                "administrator or a confirmed reviewer) has confirmed your account.",
                role=role,
            )
        )
    signature = _(
        "You receive this mail because an administrator of adgate entered this address. If "
        "you did not expect it, ignore it: without the link, nothing happens."
    )
    subject = _("Invitation to adgate")
    return subject, "\n\n".join(paragraphs) + f"\n\n-- \n{signature}\n"


def invitation_link(token: str) -> str:
    """The link of an invitation's mail."""
    return link("auth.invitation_open", token=token)
