"""A typed label, number or command word means the same as pressing the button."""

import pytest

from bots.commands import interpret
from core.engine import CONSENT_CHOICES, QUESTION_CHOICES

Q = list(QUESTION_CHOICES)
C = list(CONSENT_CHOICES)


@pytest.mark.parametrize(("text", "offered", "expected"), [
    ("2", Q, None),  # after a question a number is an answer (test_commands_numbers.py)
    ("Skip.", Q, "skip"),
    ("  pause ", Q, "pause"),
    ("STOP!", Q, "confirm_stop"),  # typed during a question: asks first
    ("help", Q, "help"),
    ("resume", [], "resume"),
    ("1", C, "accept"),
    ("yes", C, "accept"),
    ("No thanks", C, "decline"),
    ("no", Q, None),  # an answer to a question, not a refusal to take part
    ("4", Q, None),
    ("I'd pause before saying that", Q, None),
    ("", Q, None),
])
def test_interpret(text, offered, expected):
    assert interpret(text, offered) == expected
