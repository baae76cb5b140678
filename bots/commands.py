"""Typed words that mean a button: a choice's number or label, and the command words.

"skip" or "Skip." mean the Skip button on every channel. A bare number picks a choice only
on a prompt that offers nothing but choices (consent, wrap-up, paused, "end the interview?"):
after a question, "3" is an answer ("how many hours go on meetings?"). And "stop" typed
during a question asks first, since a word slips out more easily than a button is pressed.
"""

from __future__ import annotations

import re

from core import engine
from core.interviewer import prompts
from core.messages import Choice

COMMAND_WORDS = {
    "pause": "pause", "break": "pause", "later": "pause",
    "resume": "resume", "continue": "resume", "back": "resume",
    "skip": "skip", "pass": "skip", "next": "skip",
    "stop": "stop", "quit": "stop", "end": "stop", "cancel": "stop",
    "help": "help", "?": "help",
}
# The carrier's keywords on SMS (PROTOCOLS.md, Twilio): opt-out law, answered before any
# interview sees them. An opt-in word acts only for a number that opted out; for anyone
# else "yes" and "start" are ordinary answers.
CARRIER_KEYWORDS = {
    **dict.fromkeys(("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke",
                     "optout"), "opt_out"),
    **dict.fromkeys(("start", "unstop", "yes"), "opt_in"),
    **dict.fromkeys(("help", "info"), "help"),
}
CARRIER_CHANNELS = {"sms"}
# One vocabulary per channel: the default words, and on SMS the same minus the carrier's,
# plus the words the SMS prompts offer (prompts.COMMANDS).
VOCABULARY = {
    "default": COMMAND_WORDS,
    "sms": {**{w: v for w, v in COMMAND_WORDS.items() if w not in CARRIER_KEYWORDS},
            **{w.lower(): v for v, w in prompts.command_words("sms").items()
               if w.lower() not in CARRIER_KEYWORDS}},
}
YES_NO = {  # on a prompt that asks yes or no: which of its choices each word picks
    "accept": {"yes": "accept", "y": "accept", "sure": "accept", "ok": "accept",
               "okay": "accept", "start": "accept", "agree": "accept", "i agree": "accept",
               "no": "decline", "n": "decline", "no thanks": "decline"},
    "continue": {"yes": "stop", "y": "stop", "no": "continue", "n": "continue"},
}


# A short message that begins with one of these is an opt-out too ("Stop texting me",
# "STOP ALL", "please stop"): the law reads intent, and a wrongly kept number costs more
# than a paused interview (START resumes). "end", "quit" and "cancel" count only alone:
# "Quit my old job in May" is an answer. A longer message ("I want to stop feeling...")
# is an answer whatever it starts with.
OPT_OUT_LEADS = ("stop", "stopall", "unsubscribe", "optout", "revoke")
OPT_OUT_MAX_WORDS = 5


def carrier_keyword(channel: str, text: str) -> str | None:
    """"opt_out", "opt_in" or "help" when the whole message is one of the carrier's
    keywords (any case, spaces and punctuation around it ignored), or "opt_out" for a
    message of at most ``OPT_OUT_MAX_WORDS`` words that starts with an ``OPT_OUT_LEADS``
    word (after a "please"); else None."""
    if channel not in CARRIER_CHANNELS:
        return None
    bare = re.sub(r"^[\W_]+|[\W_]+$", "", text).lower()
    if bare in CARRIER_KEYWORDS:
        return CARRIER_KEYWORDS[bare]
    words = re.findall(r"[\w']+", bare)
    if words[:1] == ["please"]:
        words = words[1:]
    if words and len(words) <= OPT_OUT_MAX_WORDS and words[0] in OPT_OUT_LEADS:
        return "opt_out"
    return None


def interpret(text: str, offered: list[Choice], channel: str = "default") -> str | None:
    """The choice value a typed message stands for, or None when it is an answer.
    ``confirm_stop`` is typed "stop" during a question: the engine asks before ending."""
    word = text.strip().lower().rstrip(".!")
    if not word:
        return None
    question = engine.asks_for_words(offered)
    value = _pick(word, offered, question, VOCABULARY.get(channel, COMMAND_WORDS))
    return "confirm_stop" if value == "stop" and question else value


def _pick(word: str, offered: list[Choice], question: bool,
          vocabulary: dict[str, str]) -> str | None:
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
    return vocabulary.get(word)
