"""The transition table: every state and event, and random sequences that never skip the gate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workflows.checks import CHECK_NAMES, CheckResult, Provenance, Status
from workflows.machine import (
    FINAL_STATES,
    TABLE,
    Event,
    Party,
    State,
    TransitionRefused,
    events_from,
    fire,
    mermaid,
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
EXPECTED = {
    (State.DRAFT, Event.EDIT): State.DRAFT,
    (State.APPROVED, Event.EDIT): State.DRAFT,
    (State.DRAFT, Event.APPROVE): State.APPROVED,
    (State.DRAFT, Event.SUBMIT): State.QUEUED,
    (State.APPROVED, Event.SUBMIT): State.QUEUED,
    (State.QUEUED, Event.SEND): State.SENDING,
    (State.SENDING, Event.CONFIRM): State.SUBMITTED,
    (State.SENDING, Event.RETRY): State.QUEUED,
    (State.SENDING, Event.FAIL): State.FAILED,
    (State.SUBMITTED, Event.REVIEW_PASS): State.LIVE,
    (State.SUBMITTED, Event.REVIEW_REJECT): State.REJECTED,
    (State.DRAFT, Event.WITHDRAW): State.WITHDRAWN,
    (State.APPROVED, Event.WITHDRAW): State.WITHDRAWN,
    (State.QUEUED, Event.WITHDRAW): State.WITHDRAWN,
}
WHO = {
    Event.EDIT: {Party.OWNER},
    Event.APPROVE: {Party.REVIEWER},
    Event.SUBMIT: {Party.OWNER},
    Event.SEND: {Party.WORKER},
    Event.CONFIRM: {Party.WORKER},
    Event.RETRY: {Party.WORKER},
    Event.FAIL: {Party.WORKER},
    Event.REVIEW_PASS: {Party.WORKER},
    Event.REVIEW_REJECT: {Party.WORKER},
    Event.WITHDRAW: {Party.OWNER, Party.ADMIN},
}


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


def test_retry_needs_attempts_left() -> None:
    with pytest.raises(TransitionRefused) as refused:
        fire(State.SENDING, Event.RETRY, frozenset({Party.WORKER}), attempts_left=0)
    assert refused.value.unmet[0].code == "attempts.used_up"


def test_final_states_have_no_way_out() -> None:
    for state in FINAL_STATES:
        assert events_from(state, ALL) == []


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
