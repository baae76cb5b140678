"""Typed words that mean a button: a choice's number or label, and the command words.

"skip" or "Skip." mean the Skip button on every channel. A bare number picks a choice only
on a prompt that offers nothing but choices (consent, wrap-up, paused, "end the interview?"):
after a question, "3" is an answer ("how many hours go on meetings?"). And "stop" typed
during a question asks first, since a word slips out more easily than a button is pressed.
"""

from __future__ import annotations

from core import engine
from core.messages import Choice

COMMAND_WORDS = {
    "pause": "pause", "break": "pause", "later": "pause",
    "resume": "resume", "continue": "resume", "back": "resume",
    "skip": "skip", "pass": "skip", "next": "skip",
    "stop": "stop", "quit": "stop", "end": "stop", "cancel": "stop",
    "help": "help", "?": "help",
}
YES_NO = {  # on a prompt that asks yes or no: which of its choices each word picks
    "accept": {"yes": "accept", "y": "accept", "sure": "accept", "ok": "accept",
               "okay": "accept", "start": "accept", "agree": "accept", "i agree": "accept",
               "no": "decline", "n": "decline", "no thanks": "decline"},
    "continue": {"yes": "stop", "y": "stop", "no": "continue", "n": "continue"},
}


def interpret(text: str, offered: list[Choice]) -> str | None:
    """The choice value a typed message stands for, or None when it is an answer.
    ``confirm_stop`` is typed "stop" during a question: the engine asks before ending."""
    word = text.strip().lower().rstrip(".!")
    if not word:
        return None
    question = engine.asks_for_words(offered)
    value = _pick(word, offered, question)
    return "confirm_stop" if value == "stop" and question else value


def _pick(word: str, offered: list[Choice], question: bool) -> str | None:
    if word.isascii() and word.isdigit():
        n = int(word)
        return offered[n - 1].value if not question and 1 <= n <= len(offered) else None
    for choice in offered:
        if word in (choice.label.lower().rstrip(".!"), choice.value):
            return choice.value
    values = {c.value for c in offered}
    for prompt, words in YES_NO.items():
        if prompt in values and word in words:
            return words[word]
    return COMMAND_WORDS.get(word)
