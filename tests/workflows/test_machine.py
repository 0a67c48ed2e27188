"""The transition table: every state and event, and random sequences that never skip the gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workflows.checks import CHECK_NAMES, CheckResult, Provenance, Status
from workflows.machine import (
    DONE,
    FINAL_STATES,
    SUBMISSION_STATES,
    TABLE,
    Event,
    Party,
    State,
    TransitionRefused,
    allowed,
    editable,
    events_from,
    fire,
    mermaid,
    meta_event,
    submission_status,
)

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
ALL = frozenset(Party)


def checks(failing: set[str] | frozenset[str] = frozenset()) -> tuple[CheckResult, ...]:
    """A result for every check; those named in ``failing`` fail."""
    return tuple(
        CheckResult(
            name,
            Status.FAILED if name in failing else Status.PASSED,
            f"{name}.{'x' if name in failing else 'ok'}",
            "d",
            Provenance.SYSTEM,
        )
        for name in CHECK_NAMES
    )


# The specification, written out: (state, event) -> target for the right party with checks passing.
S, E = State, Event
# Where Meta holds the ad.
AT_META = [S.SUBMITTED, S.PAUSED, S.ACTIVATING, S.LIVE, S.PAUSING, S.WITH_ISSUES,
           S.BILLING_BLOCKED]  # fmt: skip
EXPECTED: dict[tuple[State, Event], State] = {
    (S.DRAFT, E.EDIT): S.DRAFT,
    (S.APPROVED, E.EDIT): S.DRAFT,
    (S.DRAFT, E.APPROVE): S.APPROVED,
    (S.DRAFT, E.REQUEST_CHANGES): S.DRAFT,
    (S.APPROVED, E.REQUEST_CHANGES): S.DRAFT,
    (S.DRAFT, E.SUBMIT): S.QUEUED,
    (S.APPROVED, E.SUBMIT): S.QUEUED,
    (S.QUEUED, E.SEND): S.SENDING,
    (S.SENDING, E.CONFIRM): S.SUBMITTED,
    (S.SENDING, E.RETRY): S.QUEUED,
    (S.SENDING, E.FAIL): S.FAILED,
    (S.SENDING, E.PARK): S.HELD,
    (S.HELD, E.RESUME): S.QUEUED,
    (S.SUBMITTED, E.META_APPROVE): S.PAUSED,
    **{(s, E.META_DELIVER): S.LIVE for s in AT_META if s not in (S.LIVE, S.PAUSING)},
    **{(s, E.META_PAUSE): S.PAUSED for s in (S.LIVE, S.PAUSING, S.WITH_ISSUES, S.BILLING_BLOCKED)},
    **{(s, E.META_ISSUES): S.WITH_ISSUES for s in AT_META if s is not S.WITH_ISSUES},
    **{(s, E.META_BILLING): S.BILLING_BLOCKED for s in AT_META if s is not S.BILLING_BLOCKED},
    **{(s, E.META_REMOVE): S.REMOVED for s in AT_META},
    **{(s, E.REVIEW_REJECT): S.REJECTED for s in AT_META},
    (S.PAUSED, E.ACTIVATE): S.ACTIVATING,
    (S.ACTIVATING, E.ACTIVATION_FAILED): S.PAUSED,
    (S.LIVE, E.PAUSE): S.PAUSING,
    (S.WITH_ISSUES, E.PAUSE): S.PAUSING,
    (S.PAUSING, E.PAUSE_FAILED): S.LIVE,
    (S.DRAFT, E.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, E.WITHDRAW): S.WITHDRAWN,
    (S.QUEUED, E.WITHDRAW): S.WITHDRAWN,
    (S.HELD, E.WITHDRAW): S.WITHDRAWN,
}
OWNER, REVIEWER, ADMIN, WORKER = Party.OWNER, Party.REVIEWER, Party.ADMIN, Party.WORKER
WHO = {
    E.EDIT: {OWNER},
    E.APPROVE: {REVIEWER},
    E.REQUEST_CHANGES: {REVIEWER},
    E.SUBMIT: {OWNER},
    E.ACTIVATE: {OWNER},
    E.PAUSE: {OWNER, ADMIN},
    E.RESUME: {OWNER, ADMIN},
    E.WITHDRAW: {OWNER, ADMIN},
    **{
        e: {WORKER}
        for e in (E.SEND, E.CONFIRM, E.RETRY, E.FAIL, E.PARK, E.META_APPROVE, E.META_DELIVER,
                  E.META_PAUSE, E.META_ISSUES, E.META_BILLING, E.META_REMOVE, E.REVIEW_REJECT,
                  E.ACTIVATION_FAILED, E.PAUSE_FAILED)
    },
}  # fmt: skip


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", list(Event))
def test_state_event_table(state: State, event: Event) -> None:
    expected = EXPECTED.get((state, event))
    for party in Party:
        allowed = party in WHO[event]
        if expected is not None and allowed:
            outcome = fire(state, event, frozenset({party}), checks(), attempts_left=1)
            assert outcome.target is expected
            assert outcome.blocked == ()
        else:
            with pytest.raises(TransitionRefused) as refused:
                fire(state, event, frozenset({party}), checks(), attempts_left=1)
            steps = {u.step for u in refused.value.unmet}
            assert ("state" in steps) == (expected is None)
            assert ("party" in steps) == (not allowed)


def test_table_matches_the_specification() -> None:
    assert {(s, t.event): t.target for t in TABLE for s in t.sources} == EXPECTED


def test_refusal_carries_every_unmet_step() -> None:
    with pytest.raises(TransitionRefused) as refused:
        fire(State.LIVE, Event.SUBMIT, frozenset({Party.WORKER}), checks({"identity", "approval"}))
    assert [u.step for u in refused.value.unmet] == ["state", "party", "identity", "approval"]


def test_approve_ignores_only_the_approval_check() -> None:
    outcome = fire(State.DRAFT, Event.APPROVE, frozenset({Party.REVIEWER}), checks({"approval"}))
    assert outcome.target is State.APPROVED
    with pytest.raises(TransitionRefused) as refused:
        fire(State.DRAFT, Event.APPROVE, frozenset({Party.REVIEWER}), checks({"disclaimer"}))
    assert [u.code for u in refused.value.unmet] == ["disclaimer.x"]


def test_guards_refuse_missing_check_results() -> None:
    with pytest.raises(TransitionRefused) as refused:
        fire(State.APPROVED, Event.SUBMIT, frozenset({Party.OWNER}), checks()[:-1])
    assert [u.code for u in refused.value.unmet] == ["approval.not_evaluated"]
    with pytest.raises(TransitionRefused):
        fire(State.APPROVED, Event.SUBMIT, frozenset({Party.OWNER}), ())


def test_send_with_a_failing_check_goes_back_to_draft() -> None:
    outcome = fire(State.QUEUED, Event.SEND, frozenset({Party.WORKER}), checks({"identity"}))
    assert outcome.target is State.DRAFT
    assert [u.step for u in outcome.blocked] == ["identity"]


def test_a_submission_follows_its_checklist_except_a_blocked_send_ends_it() -> None:
    worker = frozenset({Party.WORKER})
    blocked = fire(State.QUEUED, Event.SEND, worker, checks({"identity"}))
    assert (blocked.target, submission_status(blocked)) == (State.DRAFT, State.FAILED)
    sent = fire(State.QUEUED, Event.SEND, worker, checks())
    assert submission_status(sent) is State.SENDING
    # Every event that can find a submission (one from a state past approval) leads to a
    # state a submission can hold.
    before_submitting = {State.DRAFT, State.APPROVED}
    for t in TABLE:
        if not t.sources <= before_submitting:
            assert t.target in SUBMISSION_STATES, t.event


def test_retry_needs_attempts_left() -> None:
    with pytest.raises(TransitionRefused) as refused:
        fire(State.SENDING, Event.RETRY, frozenset({Party.WORKER}), attempts_left=0)
    assert refused.value.unmet[0].code == "attempts.used_up"


def test_final_states_have_no_way_out() -> None:
    for state in FINAL_STATES:
        assert events_from(state, ALL) == []


@pytest.mark.parametrize(
    ("state", "status", "event"),
    [
        (S.SUBMITTED, "PENDING_REVIEW", None),
        (S.SUBMITTED, "IN_PROCESS", None),
        (S.SUBMITTED, "PAUSED", E.META_APPROVE),
        (S.SUBMITTED, "CAMPAIGN_PAUSED", E.META_APPROVE),
        (S.SUBMITTED, "ACTIVE", E.META_DELIVER),
        (S.SUBMITTED, "DISAPPROVED", E.REVIEW_REJECT),
        (S.SUBMITTED, "WITH_ISSUES", E.META_ISSUES),
        (S.SUBMITTED, "PENDING_BILLING_INFO", E.META_BILLING),
        (S.LIVE, "ADSET_PAUSED", E.META_PAUSE),
        (S.LIVE, "ACTIVE", None),
        (S.PAUSED, "PAUSED", None),
        (S.LIVE, "ARCHIVED", E.META_REMOVE),
        (S.PAUSED, "DELETED", E.META_REMOVE),
        (S.WITH_ISSUES, "ACTIVE", E.META_DELIVER),
        # Until the worker has started it at Meta, a starting ad still reads PAUSED.
        (S.ACTIVATING, "PAUSED", None),
        (S.ACTIVATING, "ACTIVE", E.META_DELIVER),
        (S.PAUSING, "ACTIVE", None),
        (S.PAUSING, "PAUSED", E.META_PAUSE),
        (S.LIVE, "SOMETHING_NEW", None),
        (S.REJECTED, "ACTIVE", None),
    ],
)
def test_metas_status_moves_the_ad(state: State, status: str, event: Event | None) -> None:
    assert meta_event(state, status) is event


def test_only_a_disapproval_is_a_rejection() -> None:
    rejecting = {t.event for t in TABLE if t.target is S.REJECTED}
    assert rejecting == {E.REVIEW_REJECT}
    assert {meta_event(S.LIVE, s) for s in ("WITH_ISSUES", "PENDING_BILLING_INFO", "DELETED")} == {
        E.META_ISSUES,
        E.META_BILLING,
        E.META_REMOVE,
    }


def test_mermaid_diagram_has_every_transition() -> None:
    diagram = mermaid()
    assert diagram.startswith("stateDiagram-v2\n")
    for t in TABLE:
        for source in t.sources:
            assert f"{source.value} --> {t.target.value}: {t.event.value}" in diagram


class GateMachine(RuleBasedStateMachine):
    """Random events by random parties with random check outcomes: queued only through the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.state = State.DRAFT
        self.last_checks: tuple[CheckResult, ...] = ()

    @rule(
        event=st.sampled_from(list(Event)),
        party=st.sampled_from(list(Party)),
        failing=st.sets(st.sampled_from(CHECK_NAMES), max_size=3),
        drop=st.booleans(),
        attempts=st.integers(min_value=0, max_value=2),
    )
    def step(
        self, event: Event, party: Party, failing: set[str], drop: bool, attempts: int
    ) -> None:
        results = checks(failing)
        if drop:
            results = results[1:]
        previous = self.state
        try:
            outcome = fire(self.state, event, frozenset({party}), results, attempts)
        except TransitionRefused:
            return
        self.state = outcome.target
        if self.state is State.QUEUED and previous is not State.SENDING:
            # Reached the queue by submitting: every check must have passed just now.
            assert event is Event.SUBMIT
            assert not failing
            assert not drop
            assert {c.name for c in results} == set(CHECK_NAMES)
        if self.state is State.SENDING:
            assert not failing
            assert not drop

    @invariant()
    def state_is_known(self) -> None:
        assert self.state in State


GateMachine.TestCase.settings = settings(max_examples=1500, stateful_step_count=20, deadline=None)
test_random_event_sequences_never_skip_the_gate = GateMachine.TestCase


@pytest.mark.parametrize("event", list(Event))
def test_a_refusal_says_what_the_event_does_with_its_values(event: Event) -> None:
    transition = next(t for t in TABLE if t.event is event)
    state = next(s for s in State if s not in transition.sources)
    party = next(p for p in Party if p not in transition.parties)
    with pytest.raises(TransitionRefused) as refused:
        fire(state, event, frozenset({party}), checks(), attempts_left=1)
    wrong_state, wrong_party = refused.value.unmet[:2]
    assert (wrong_state.code, wrong_party.code) == ("state.not_allowed", "party.not_allowed")
    # A word for each event, never the event's name with "ed" glued on ("approveed").
    assert event in DONE
    assert wrong_state.detail.startswith(f"An ad that is {state.value} cannot be {DONE[event]} ")
    for glued in ("approveed", "submited", "withdrawed", "sended", "pauseed", "activateed"):
        assert glued not in wrong_state.detail
    assert dict(wrong_state.params) == {
        "event": event.value,
        "state": state.value,
        "allowed": ", ".join(s.value for s in State if s in transition.sources),
    }
    assert dict(wrong_party.params)["parties"] == ", ".join(
        p.value for p in Party if p in transition.parties
    )


def test_refusals_read_as_english_sentences() -> None:
    with pytest.raises(TransitionRefused) as refused:
        fire(State.QUEUED, Event.APPROVE, frozenset({Party.OWNER}), checks())
    assert [u.detail for u in refused.value.unmet] == [
        "An ad that is queued cannot be approved (only one that is draft).",
        "Only a reviewer may do this.",
    ]
    with pytest.raises(TransitionRefused) as refused:
        fire(State.SUBMITTED, Event.WITHDRAW, frozenset({Party.REVIEWER}), checks())
    assert [u.detail for u in refused.value.unmet] == [
        "An ad that is submitted cannot be withdrawn (only one that is draft, approved, queued, "
        "held).",
        "Only the owner or an admin may do this.",
    ]


def test_a_failing_check_keeps_its_values_for_the_translation() -> None:
    failing = CheckResult(
        "identity", Status.FAILED, "identity.missing", "d", Provenance.VERIFIED,
        {"countries": "CH"},
    )  # fmt: skip
    others = [c for c in checks() if c.name != "identity"]
    with pytest.raises(TransitionRefused) as refused:
        fire(State.APPROVED, Event.SUBMIT, frozenset({Party.OWNER}), [*others, failing])
    assert dict(refused.value.unmet[0].params) == {"countries": "CH"}


def test_what_may_happen_in_a_state_is_read_from_the_table() -> None:
    for transition in TABLE:
        for state in State:
            assert allowed(transition.event, state) == (state in transition.sources)
            assert allowed(transition.event, state.value) == (state in transition.sources)
    # The pages and services ask this instead of listing the states again.
    assert {s for s in State if editable(s)} == {State.DRAFT, State.APPROVED}
