"""A bare number is an answer unless the last message offered only choices; "stop" typed
during a question asks first (the engine's confirm_stop), a choice-only prompt takes it."""

import pytest

from bots.commands import interpret
from core.engine import (
    CONFIRM_STOP_CHOICES,
    CONSENT_CHOICES,
    PAUSED_CHOICES,
    QUESTION_CHOICES,
    WRAP_UP_CHOICES,
    asks_for_words,
)

QUESTION, CONSENT = list(QUESTION_CHOICES), list(CONSENT_CHOICES)
WRAP_UP, PAUSED, CONFIRM = list(WRAP_UP_CHOICES), list(PAUSED_CHOICES), list(CONFIRM_STOP_CHOICES)


@pytest.mark.parametrize("text", ["1", "2", "3", "40", "0", "³"])
def test_a_number_after_a_question_is_an_answer(text):
    assert interpret(text, QUESTION) is None


@pytest.mark.parametrize(("text", "offered", "expected"), [
    ("1", CONSENT, "accept"), ("2", CONSENT, "decline"),
    ("1", WRAP_UP, "done"), ("2", WRAP_UP, "stop"),
    ("1", PAUSED, "resume"), ("2", PAUSED, "stop"),
    ("1", CONFIRM, "stop"), ("2", CONFIRM, "continue"),
    ("3", CONSENT, None), ("0", PAUSED, None),
])
def test_a_number_picks_a_choice_on_a_choice_only_prompt(text, offered, expected):
    assert interpret(text, offered) == expected


@pytest.mark.parametrize("text", ["stop", "STOP!", "quit", "end", "cancel", "Stop."])
def test_stop_typed_during_a_question_asks_first(text):
    assert interpret(text, QUESTION) == "confirm_stop"


@pytest.mark.parametrize(("text", "offered", "expected"), [
    ("stop", PAUSED, "stop"), ("stop", WRAP_UP, "stop"), ("end", CONFIRM, "stop"),
    ("yes", CONFIRM, "stop"), ("no", CONFIRM, "continue"), ("Continue", CONFIRM, "continue"),
])
def test_on_a_choice_only_prompt_stop_is_picked_at_once(text, offered, expected):
    assert interpret(text, offered) == expected


def test_the_other_commands_still_work_during_a_question():
    assert [interpret(w, QUESTION) for w in ("skip", "Pause", "help", "yes")] == [
        "skip", "pause", "help", None]


def test_only_the_question_choices_ask_for_words():
    assert asks_for_words(QUESTION)
    assert not any(asks_for_words(c) for c in (CONSENT, WRAP_UP, PAUSED, CONFIRM, []))
