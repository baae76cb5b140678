"""The Interview state machine (DESIGN.md §6): every allowed move is listed here.

A move not in ``TRANSITIONS`` raises ``InvalidTransition`` — the state never changes silently.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    CREATED = "created"
    CONSENT = "consent"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    DECLINED = "declined"
    ABANDONED = "abandoned"
    ADMIN_ENDED = "admin_ended"
    RESTARTED = "restarted"


class Event(StrEnum):
    START = "start"  # consent request sent
    ACCEPT = "accept"
    DECLINE = "decline"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    STOP = "stop"  # the participant ends early
    EXPIRE = "expire"  # a pause ran past its limit
    ADMIN_END = "admin_end"
    RESTART = "restart"


S, E = State, Event
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.CREATED, E.START): S.CONSENT,
    (S.CONSENT, E.ACCEPT): S.IN_PROGRESS,
    (S.CONSENT, E.DECLINE): S.DECLINED,
    (S.CONSENT, E.STOP): S.DECLINED,
    (S.IN_PROGRESS, E.PAUSE): S.PAUSED,
    (S.IN_PROGRESS, E.COMPLETE): S.COMPLETED,
    (S.IN_PROGRESS, E.STOP): S.ABANDONED,
    (S.PAUSED, E.RESUME): S.IN_PROGRESS,
    (S.PAUSED, E.EXPIRE): S.ABANDONED,
    (S.PAUSED, E.STOP): S.ABANDONED,
}
for _state in (S.CREATED, S.CONSENT, S.IN_PROGRESS, S.PAUSED):
    TRANSITIONS[(_state, E.ADMIN_END)] = S.ADMIN_ENDED
for _state in State:
    if _state not in (S.RESTARTED,):
        TRANSITIONS[(_state, E.RESTART)] = S.RESTARTED

TERMINAL = frozenset({S.COMPLETED, S.DECLINED, S.ABANDONED, S.ADMIN_ENDED, S.RESTARTED})
ACTIVE = frozenset({S.CONSENT, S.IN_PROGRESS, S.PAUSED})


class InvalidTransition(Exception):
    def __init__(self, state: str, event: str):
        super().__init__(f"cannot {event} an interview that is {state}")
        self.state, self.event = state, event


def next_state(state: str, event: str) -> State:
    """The state after ``event``; raises InvalidTransition when the move is not allowed."""
    try:
        return TRANSITIONS[(State(state), Event(event))]
    except (KeyError, ValueError):
        raise InvalidTransition(state, event) from None


def can(state: str, event: str) -> bool:
    return (State(state), Event(event)) in TRANSITIONS
