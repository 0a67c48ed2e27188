"""The checklist's lifecycle as a table: states, events, guards and who may fire them.

``fire`` is the only way to move a checklist: it raises ``TransitionRefused`` with every
unmet step (wrong state, wrong party, each failing check) at once, or returns the
``Outcome``. A send whose checks no longer pass goes back to draft with the reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from workflows.checks import CHECK_NAMES, CheckResult


class State(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    QUEUED = "queued"
    SENDING = "sending"
    SUBMITTED = "submitted"
    LIVE = "live"
    REJECTED = "rejected"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


class Event(StrEnum):
    EDIT = "edit"
    APPROVE = "approve"
    SUBMIT = "submit"
    SEND = "send"
    CONFIRM = "confirm"
    RETRY = "retry"
    FAIL = "fail"
    REVIEW_PASS = "review_pass"  # noqa: S105 (an event, not a password)
    REVIEW_REJECT = "review_reject"
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
TABLE: tuple[Transition, ...] = (
    _t(E.EDIT, {S.DRAFT, S.APPROVED}, S.DRAFT, G.NONE, {P.OWNER},
       note="voids the approval; a content change voids the classification"),
    _t(E.APPROVE, {S.DRAFT}, S.APPROVED, G.CHECKS_BUT_APPROVAL, {P.REVIEWER},
       note="four-eyes: a reviewer other than the owner, with a fresh TOTP code"),
    _t(E.SUBMIT, {S.APPROVED, S.DRAFT}, S.QUEUED, G.ALL_CHECKS, {P.OWNER},
       note="from draft only when four-eyes is off (else the approval check fails)"),
    _t(E.SEND, {S.QUEUED}, S.SENDING, G.ALL_CHECKS, {P.WORKER}, on_blocked=S.DRAFT,
       note="every check again, right before the first call to Meta"),
    _t(E.CONFIRM, {S.SENDING}, S.SUBMITTED, G.NONE, {P.WORKER}, note="Meta returned the ids"),
    _t(E.RETRY, {S.SENDING}, S.QUEUED, G.ATTEMPTS_LEFT, {P.WORKER},
       note="a transient Meta error"),
    _t(E.FAIL, {S.SENDING}, S.FAILED, G.NONE, {P.WORKER},
       note="a permanent Meta error, or attempts used up"),
    _t(E.REVIEW_PASS, {S.SUBMITTED}, S.LIVE, G.NONE, {P.WORKER}, note="Meta's review passed"),
    _t(E.REVIEW_REJECT, {S.SUBMITTED}, S.REJECTED, G.NONE, {P.WORKER},
       note="Meta's review rejected the ad: a violation"),
    _t(E.WITHDRAW, {S.DRAFT, S.APPROVED, S.QUEUED}, S.WITHDRAWN, G.NONE, {P.OWNER, P.ADMIN}),
)  # fmt: skip
TRANSITIONS = {t.event: t for t in TABLE}
FINAL_STATES = frozenset({S.LIVE, S.REJECTED, S.FAILED, S.WITHDRAWN})
# The main line, for showing where an ad stands; the other states branch off it.
MAIN_LINE = (S.DRAFT, S.APPROVED, S.QUEUED, S.SENDING, S.SUBMITTED, S.LIVE)


@dataclass(frozen=True)
class Unmet:
    """One reason a transition cannot happen."""

    step: str
    code: str
    detail: str


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
    unmet = [Unmet(c.name, c.code, c.detail) for c in checks if c.name not in skip and not c.passed]
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
    if state not in transition.sources:
        allowed = ", ".join(sorted(s.value for s in transition.sources))
        unmet.append(
            Unmet(
                "state",
                "state.not_allowed",
                f"An ad that is {state.value} cannot be "
                f"{event.value}ed here (only from {allowed}).",
            )
        )
    if not parties & transition.parties:
        who = ", ".join(sorted(p.value for p in transition.parties))
        unmet.append(Unmet("party", "party.not_allowed", f"Only the {who} may do this."))
    guard_unmet = _guard(transition.guard, checks, attempts_left)
    if unmet or (guard_unmet and transition.on_blocked is None):
        raise TransitionRefused(event, state, unmet + guard_unmet)
    if guard_unmet:
        assert transition.on_blocked is not None
        return Outcome(event, state, transition.on_blocked, tuple(guard_unmet))
    return Outcome(event, state, transition.target)


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
