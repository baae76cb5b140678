"""Every allowed move of the Interview state machine, and every refused one."""

import itertools

import pytest

from core.lifecycle import TERMINAL, TRANSITIONS, Event, InvalidTransition, State, can, next_state

EXPECTED = {
    ("created", "start"): "consent",
    ("consent", "accept"): "in_progress",
    ("consent", "decline"): "declined",
    ("consent", "stop"): "declined",
    ("in_progress", "pause"): "paused",
    ("in_progress", "complete"): "completed",
    ("in_progress", "stop"): "abandoned",
    ("paused", "resume"): "in_progress",
    ("paused", "expire"): "abandoned",
    ("paused", "stop"): "abandoned",
    **{(s, "admin_end"): "admin_ended" for s in ("created", "consent", "in_progress", "paused")},
    **{(s.value, "restart"): "restarted" for s in State if s is not State.RESTARTED},
}


def test_the_table_is_exactly_the_designed_one():
    assert {(s.value, e.value): t.value for (s, e), t in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("state", "event"), sorted(EXPECTED))
def test_allowed_transition(state, event):
    assert next_state(state, event) == EXPECTED[(state, event)]
    assert can(state, event)


REFUSED = sorted(
    (s.value, e.value) for s, e in itertools.product(State, Event)
    if (s.value, e.value) not in EXPECTED
)


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_refused_transition_is_a_clear_error(state, event):
    with pytest.raises(InvalidTransition, match=f"cannot {event} an interview that is {state}"):
        next_state(state, event)
    assert not can(state, event)


def test_terminal_states_only_restart():
    for state in TERMINAL:
        allowed = {e for (s, e) in EXPECTED if s == state}
        assert allowed <= {"restart"}


def test_unknown_state_or_event_is_refused():
    with pytest.raises(InvalidTransition):
        next_state("flying", "start")
    with pytest.raises(InvalidTransition):
        next_state("created", "fly")
