"""Typed words that mean a button: a choice's number or label, and the command words.

"2" or "skip" or "Skip." all mean the Skip button, on every channel.
"""

from __future__ import annotations

from core.messages import Choice

COMMAND_WORDS = {
    "pause": "pause", "break": "pause", "later": "pause",
    "resume": "resume", "continue": "resume", "back": "resume",
    "skip": "skip", "pass": "skip", "next": "skip",
    "stop": "stop", "quit": "stop", "end": "stop", "cancel": "stop",
    "help": "help", "?": "help",
}
CONSENT_WORDS = {
    "yes": "accept", "y": "accept", "sure": "accept", "ok": "accept", "okay": "accept",
    "start": "accept", "agree": "accept", "i agree": "accept",
    "no": "decline", "n": "decline", "no thanks": "decline",
}


def interpret(text: str, offered: list[Choice]) -> str | None:
    """The choice value a typed message stands for, or None when it is an answer."""
    word = text.strip().lower().rstrip(".!")
    if not word:
        return None
    values = {c.value for c in offered}
    if word.isdigit() and 1 <= int(word) <= len(offered):
        return offered[int(word) - 1].value
    for choice in offered:
        if word in (choice.label.lower().rstrip(".!"), choice.value):
            return choice.value
    if "accept" in values and word in CONSENT_WORDS:
        return CONSENT_WORDS[word]
    return COMMAND_WORDS.get(word)
