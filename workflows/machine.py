"""The checklist's lifecycle as a table: states, events, guards and who may fire them.

``fire`` is the only way to move a checklist: it raises ``TransitionRefused`` with every
unmet step (wrong state, wrong party, each failing check) at once, or returns the
``Outcome``. A send whose checks no longer pass goes back to draft with the reasons.

After Meta created the ad, the states follow Meta's ``effective_status`` (``meta_event``):
in review (``submitted``), approved but not delivering (``paused``), delivering (``live``),
delivery issues (``with_issues``, no violation), billing blocked, rejected by Meta's review
(``rejected``, a violation), removed at Meta. Starting and pausing go through the worker
(``activating``, ``pausing``); starting is gated like submitting. An ad Meta blocked for
policy reasons (code 368) is ``held`` for a person, never retried blindly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from workflows.checks import CHECK_NAMES, CheckResult


class State(StrEnum):
    """Where a checklist stands (and, from queued on, its submission)."""

    DRAFT = "draft"
    APPROVED = "approved"
    QUEUED = "queued"
    SENDING = "sending"
    HELD = "held"
    SUBMITTED = "submitted"
    PAUSED = "paused"
    ACTIVATING = "activating"
    LIVE = "live"
    PAUSING = "pausing"
    WITH_ISSUES = "with_issues"
    BILLING_BLOCKED = "billing_blocked"
    REJECTED = "rejected"
    REMOVED = "removed"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


class Event(StrEnum):
    """What moves a checklist: a person's action, the worker's, or Meta's."""

    EDIT = "edit"
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    SUBMIT = "submit"
    SEND = "send"
    CONFIRM = "confirm"
    RETRY = "retry"
    FAIL = "fail"
    PARK = "park"
    RESUME = "resume"
    META_APPROVE = "meta_approve"
    META_DELIVER = "meta_deliver"
    META_PAUSE = "meta_pause"
    META_ISSUES = "meta_issues"
    META_BILLING = "meta_billing"
    META_REMOVE = "meta_remove"
    REVIEW_REJECT = "review_reject"
    ACTIVATE = "activate"
    ACTIVATION_FAILED = "activation_failed"
    PAUSE = "pause"
    PAUSE_FAILED = "pause_failed"
    WITHDRAW = "withdraw"


class Party(StrEnum):
    """The part an actor plays for one checklist (a reviewer is never its owner)."""

    OWNER = "owner"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    WORKER = "worker"


class Guard(StrEnum):
    NONE = "none"
    CHECKS_BUT_APPROVAL = "every check but approval passes"
    ALL_CHECKS = "every check passes"
    ATTEMPTS_LEFT = "attempts left"


@dataclass(frozen=True)
class Transition:
    """One row of the table."""

    event: Event
    sources: frozenset[State]
    target: State
    guard: Guard
    parties: frozenset[Party]
    # Where a blocked transition leads instead of refusing (send: back to draft).
    on_blocked: State | None = None
    note: str = ""


def _t(
    event: Event,
    sources: set[State],
    target: State,
    guard: Guard,
    parties: set[Party],
    on_blocked: State | None = None,
    note: str = "",
) -> Transition:
    return Transition(
        event, frozenset(sources), target, guard, frozenset(parties), on_blocked, note
    )


S, E, P, G = State, Event, Party, Guard
# Where Meta holds the ad: every state its review or delivery can move it from.
AT_META = {S.SUBMITTED, S.PAUSED, S.ACTIVATING, S.LIVE, S.PAUSING, S.WITH_ISSUES,
           S.BILLING_BLOCKED}  # fmt: skip
TABLE: tuple[Transition, ...] = (
    _t(E.EDIT, {S.DRAFT, S.APPROVED}, S.DRAFT, G.NONE, {P.OWNER},
       note="voids the approval; a content change voids the classification"),
    _t(E.APPROVE, {S.DRAFT}, S.APPROVED, G.CHECKS_BUT_APPROVAL, {P.REVIEWER},
       note="four-eyes: a reviewer other than the owner, with a fresh TOTP code"),
    _t(E.REQUEST_CHANGES, {S.DRAFT, S.APPROVED}, S.DRAFT, G.NONE, {P.REVIEWER},
       note="a reviewer sends the ad back with a reason: voids the approval; once the ad is "
            "submitted, Meta has it and only withdrawing stops it"),
    _t(E.SUBMIT, {S.APPROVED, S.DRAFT}, S.QUEUED, G.ALL_CHECKS, {P.OWNER},
       note="from draft only when four-eyes is off (else the approval check fails)"),
    _t(E.SEND, {S.QUEUED}, S.SENDING, G.ALL_CHECKS, {P.WORKER}, on_blocked=S.DRAFT,
       note="every check again, right before the first call to Meta"),
    _t(E.CONFIRM, {S.SENDING}, S.SUBMITTED, G.NONE, {P.WORKER}, note="Meta returned the ids"),
    _t(E.RETRY, {S.SENDING}, S.QUEUED, G.ATTEMPTS_LEFT, {P.WORKER},
       note="a transient Meta error"),
    _t(E.FAIL, {S.SENDING}, S.FAILED, G.NONE, {P.WORKER},
       note="a permanent Meta error, or attempts used up"),
    _t(E.PARK, {S.SENDING}, S.HELD, G.NONE, {P.WORKER},
       note="Meta blocked the call for policy reasons (code 368): a person must look"),
    _t(E.RESUME, {S.HELD}, S.QUEUED, G.NONE, {P.OWNER, P.ADMIN},
       note="a person looked and tries again (every check runs again before sending)"),
    _t(E.META_APPROVE, {S.SUBMITTED}, S.PAUSED, G.NONE, {P.WORKER},
       note="Meta's review passed; the ad was created paused and stays paused"),
    _t(E.META_DELIVER, AT_META - {S.LIVE, S.PAUSING}, S.LIVE, G.NONE, {P.WORKER},
       note="Meta delivers the ad (ACTIVE)"),
    _t(E.META_PAUSE, AT_META - {S.SUBMITTED, S.PAUSED, S.ACTIVATING}, S.PAUSED, G.NONE,
       {P.WORKER}, note="paused at Meta (the ad, its ad set or its campaign)"),
    _t(E.META_ISSUES, AT_META - {S.WITH_ISSUES}, S.WITH_ISSUES, G.NONE, {P.WORKER},
       note="a delivery or processing problem (WITH_ISSUES): no violation"),
    _t(E.META_BILLING, AT_META - {S.BILLING_BLOCKED}, S.BILLING_BLOCKED, G.NONE, {P.WORKER},
       note="Meta waits for billing information"),
    _t(E.META_REMOVE, AT_META, S.REMOVED, G.NONE, {P.WORKER},
       note="archived or deleted at Meta"),
    _t(E.REVIEW_REJECT, AT_META, S.REJECTED, G.NONE, {P.WORKER},
       note="Meta's review disapproved the ad: a violation"),
    _t(E.ACTIVATE, {S.PAUSED}, S.ACTIVATING, G.ALL_CHECKS, {P.OWNER},
       note="start a Meta-approved ad: every check again; the worker sets it ACTIVE"),
    _t(E.ACTIVATION_FAILED, {S.ACTIVATING}, S.PAUSED, G.NONE, {P.WORKER},
       note="Meta refused to start it"),
    _t(E.PAUSE, {S.LIVE, S.WITH_ISSUES}, S.PAUSING, G.NONE, {P.OWNER, P.ADMIN},
       note="the worker sets it PAUSED at Meta"),
    _t(E.PAUSE_FAILED, {S.PAUSING}, S.LIVE, G.NONE, {P.WORKER},
       note="Meta refused to pause it"),
    _t(E.WITHDRAW, {S.DRAFT, S.APPROVED, S.QUEUED, S.HELD}, S.WITHDRAWN, G.NONE,
       {P.OWNER, P.ADMIN}, note="anything already created at Meta is removed by the worker"),
)  # fmt: skip
TRANSITIONS = {t.event: t for t in TABLE}
FINAL_STATES = frozenset({S.REJECTED, S.REMOVED, S.FAILED, S.WITHDRAWN})
# Where the ad is with the worker or with Meta for a moment: the next state comes on its own
# (the checklist page follows it without a reload).
IN_FLIGHT = frozenset({S.QUEUED, S.SENDING, S.SUBMITTED, S.ACTIVATING, S.PAUSING})
# The main line, for showing where an ad stands; the other states branch off it.
MAIN_LINE = (S.DRAFT, S.APPROVED, S.QUEUED, S.SENDING, S.SUBMITTED, S.PAUSED, S.LIVE)
# Meta's effective_status of an ad, by what it means to adgate (docs/meta.md).
IN_REVIEW = frozenset({"PENDING_REVIEW", "IN_PROCESS", "PREAPPROVED", ""})
META_PAUSED = frozenset({"PAUSED", "CAMPAIGN_PAUSED", "ADSET_PAUSED"})
META_EVENTS = {
    "ACTIVE": E.META_DELIVER,
    "DISAPPROVED": E.REVIEW_REJECT,
    "WITH_ISSUES": E.META_ISSUES,
    "PENDING_BILLING_INFO": E.META_BILLING,
    "ARCHIVED": E.META_REMOVE,
    "DELETED": E.META_REMOVE,
}


def meta_event(state: State, effective_status: str) -> Event | None:
    """The event Meta's ``effective_status`` fires for an ad in ``state`` (None: nothing new).

    A status adgate does not know moves nothing: it is shown, and the ad stays where it is.
    """
    if effective_status in IN_REVIEW:
        return None
    if effective_status in META_PAUSED:
        event = E.META_APPROVE if state is S.SUBMITTED else E.META_PAUSE
    else:
        found = META_EVENTS.get(effective_status)
        if found is None:
            return None
        event = found
    return event if state in TRANSITIONS[event].sources else None


# What each event does, as the refusal of a wrong state names it ("cannot be approved"):
# English for the API and the logs; the pages translate by the code and ``params``.
DONE: dict[Event, str] = {
    E.EDIT: "edited",
    E.APPROVE: "approved",
    E.REQUEST_CHANGES: "sent back for changes",
    E.SUBMIT: "submitted",
    E.SEND: "sent to Meta",
    E.CONFIRM: "confirmed as created at Meta",
    E.RETRY: "tried again",
    E.FAIL: "marked as failed",
    E.PARK: "held for a person",
    E.RESUME: "resumed",
    E.META_APPROVE: "marked as approved by Meta",
    E.META_DELIVER: "marked as delivering",
    E.META_PAUSE: "marked as paused at Meta",
    E.META_ISSUES: "marked as having delivery issues",
    E.META_BILLING: "marked as waiting for billing",
    E.META_REMOVE: "marked as removed at Meta",
    E.REVIEW_REJECT: "marked as rejected by Meta",
    E.ACTIVATE: "started",
    E.ACTIVATION_FAILED: "marked as not started",
    E.PAUSE: "paused",
    E.PAUSE_FAILED: "marked as not paused",
    E.WITHDRAW: "withdrawn",
}
# Who a party is, in a refusal's words ("Only the owner or an admin may do this.").
WHO = {P.OWNER: "the owner", P.REVIEWER: "a reviewer", P.ADMIN: "an admin", P.WORKER: "the worker"}


@dataclass(frozen=True)
class Unmet:
    """One reason a transition cannot happen: a stable ``code``, an English ``detail`` and
    the values in it (``params``), so that the app can say it in the user's language."""

    step: str
    code: str
    detail: str
    params: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Outcome:
    """Where a transition leads; ``blocked`` holds the reasons when it fell back."""

    event: Event
    source: State
    target: State
    blocked: tuple[Unmet, ...] = ()


class TransitionRefused(Exception):
    """The transition is not allowed; ``unmet`` lists every reason at once."""

    def __init__(self, event: Event, state: State, unmet: Sequence[Unmet]) -> None:
        self.event, self.state, self.unmet = event, state, tuple(unmet)
        reasons = "; ".join(f"{u.step}: {u.detail}" for u in self.unmet)
        super().__init__(f"cannot {event.value} from {state.value}: {reasons}")


def unmet_checks(
    checks: Sequence[CheckResult], *, skip: frozenset[str] = frozenset()
) -> list[Unmet]:
    """Every check that does not pass, and every check that was not evaluated at all."""
    seen = {c.name for c in checks}
    unmet = [
        Unmet(c.name, c.code, c.detail, c.params)
        for c in checks
        if c.name not in skip and not c.passed
    ]
    unmet += [
        Unmet(name, f"{name}.not_evaluated", f"The {name} check was not evaluated.")
        for name in CHECK_NAMES
        if name not in seen and name not in skip
    ]
    return unmet


def _guard(guard: Guard, checks: Sequence[CheckResult], attempts_left: int) -> list[Unmet]:
    if guard is Guard.ALL_CHECKS:
        return unmet_checks(checks)
    if guard is Guard.CHECKS_BUT_APPROVAL:
        return unmet_checks(checks, skip=frozenset({"approval"}))
    if guard is Guard.ATTEMPTS_LEFT and attempts_left <= 0:
        return [Unmet("attempts", "attempts.used_up", "No attempts are left.")]
    return []


def fire(
    state: State,
    event: Event,
    parties: frozenset[Party],
    checks: Sequence[CheckResult] = (),
    attempts_left: int = 0,
) -> Outcome:
    """Apply ``event`` to a checklist in ``state`` for an actor playing ``parties``."""
    transition = TRANSITIONS[event]
    unmet = []
    params = {"event": event.value, "state": state.value}
    if state not in transition.sources:
        allowed = ", ".join(s.value for s in State if s in transition.sources)
        unmet.append(
            Unmet(
                "state",
                "state.not_allowed",
                f"An ad that is {state.value} cannot be {DONE[event]} "
                f"(only one that is {allowed}).",
                {**params, "allowed": allowed},
            )
        )
    if not parties & transition.parties:
        who = [p for p in Party if p in transition.parties]
        unmet.append(
            Unmet(
                "party",
                "party.not_allowed",
                f"Only {' or '.join(WHO[p] for p in who)} may do this.",
                {**params, "parties": ", ".join(p.value for p in who)},
            )
        )
    guard_unmet = _guard(transition.guard, checks, attempts_left)
    if unmet or (guard_unmet and transition.on_blocked is None):
        raise TransitionRefused(event, state, unmet + guard_unmet)
    if guard_unmet:
        assert transition.on_blocked is not None
        return Outcome(event, state, transition.on_blocked, tuple(guard_unmet))
    return Outcome(event, state, transition.target)


# A submission begins queued; it never holds the states before submitting.
SUBMISSION_STATES = frozenset(State) - {S.DRAFT, S.APPROVED}


def submission_status(outcome: Outcome) -> State:
    """The status of the submission a transition moves: where its checklist goes, except that
    a blocked send ends that submission (failed) while the checklist goes back to draft."""
    return State.FAILED if outcome.blocked else outcome.target


def allowed(event: Event, state: State | str) -> bool:
    """Whether the table lets ``event`` happen in ``state`` (parties and guards aside)."""
    return State(state) in TRANSITIONS[event].sources


def editable(state: State | str) -> bool:
    """Whether what the checklist says may still change: the states an edit starts from.
    Classifying, attesting and signing off change it as an edit does."""
    return allowed(Event.EDIT, state)


def events_from(state: State, parties: frozenset[Party]) -> list[Event]:
    """The events the table allows from ``state`` for these parties (guards not evaluated)."""
    return [t.event for t in TABLE if state in t.sources and parties & t.parties]


def mermaid() -> str:
    """The table as a Mermaid state diagram."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.DRAFT.value}"]
    for t in TABLE:
        who = "/".join(sorted(p.value for p in t.parties))
        guard = "" if t.guard is Guard.NONE else f" [{t.guard.value}]"
        for source in sorted(t.sources, key=list(State).index):
            lines.append(f"    {source.value} --> {t.target.value}: {t.event.value} ({who}){guard}")
        if t.on_blocked is not None:
            blocked = f"{t.event.value} blocked ({who})"
            for source in sorted(t.sources, key=list(State).index):
                lines.append(f"    {source.value} --> {t.on_blocked.value}: {blocked}")
    for final in sorted(FINAL_STATES, key=list(State).index):
        lines.append(f"    {final.value} --> [*]")
    return "\n".join(lines) + "\n"
