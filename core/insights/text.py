"""Text for insights: sentences with their place in the turn, and the HR signal lexicons
with negation ("I'm not looking for another job" is not a flight risk). Names of people in
the directory are scrubbed from aggregated sessions' text by ``core.privacy.NameScrubber``.

A quote is always a verbatim run of the participant's redacted text (names replaced in
aggregated sessions), never reworded: ``Sentence.text`` is a slice of ``Passage.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.privacy import NAME_PLACEHOLDER, NOT_NAMES, NameScrubber, wordset  # noqa: F401 (re-exported)

# a sentence ends at . ! ? or a line break; a quote is one or more of these
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ'’]+")
MIN_WORDS = 3  # shorter sentences ("Yes.", "Not really.") say nothing on their own


@dataclass(frozen=True)
class Sentence:
    turn_id: int
    interview_id: int
    topic: str | None
    text: str
    index: int  # the sentence's position in its turn


def sentences(turn_id: int, interview_id: int, topic: str | None, text: str) -> list[Sentence]:
    out = []
    for i, piece in enumerate(SENTENCE_END.split(text)):
        piece = piece.strip()
        if len(WORD.findall(piece)) >= MIN_WORDS:
            out.append(Sentence(turn_id, interview_id, topic, piece, i))
    return out


# ---- HR signals -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Signal:
    key: str
    label: str
    patterns: tuple[re.Pattern, ...]


def _signal(key: str, label: str, *patterns: str) -> Signal:
    return Signal(key, label, tuple(re.compile(p, re.IGNORECASE) for p in patterns))


SIGNALS: tuple[Signal, ...] = (
    _signal("flight_risk", "Flight risk",
            r"\blook(?:ing|ed)? (?:around|elsewhere|for (?:a |another |other |something )?"
            r"(?:new |different )?(?:job|role|position|opportunit\w*|something else))",
            r"\b(?:job|role) (?:hunt\w*|search\w*)", r"\brecruiters?\b", r"\bheadhunt\w*",
            r"\b(?:an?|another|other|competing|outside|external) (?:job )?offers?\b",
            r"\binterview(?:ing|ed)? (?:with|at|elsewhere|for other)",
            r"\bif nothing changes\b", r"\bupdat\w* my (?:cv|resume|résumé|linkedin)",
            r"\b(?:thinking|thought|considering|plan\w*) (?:about |of )?(?:leaving|quitting)",
            r"\b(?:leave|quit) (?:the company|this job|my job|for good)",
            r"\bother (?:companies|employers) (?:pay|offer)", r"\bwon'?t stay\b",
            r"\bone foot out\b"),
    _signal("burnout", "Burnout",
            r"\bexhaust\w*", r"\bburn(?:ed|t)?[ -]?out\b", r"\bburning out\b",
            r"\bon[- ]?call\b", r"\bovertime\b", r"\blong hours\b", r"\blate nights?\b",
            r"\b(?:every|most|the) weekends?\b", r"\bweekends? (?:too|as well)\b",
            r"\boverwhelm\w*", r"\bstretched (?:too )?thin\b", r"\bdrained\b",
            r"\b(?:too much|unsustainable|crushing|heavy) (?:work|workload|load)\b",
            r"\bworkload\b", r"\bstress(?:ed|ful)?\b", r"\bno time (?:for|to)\b",
            r"\bcan'?t (?:keep up|switch off|disconnect)\b", r"\btired\b"),
    _signal("manager_relationship", "Manager relationship",
            r"\bmy (?:manager|boss|lead|team lead|line manager|supervisor)\b",
            r"\bmicromanag\w*", r"\b(?:1[:-]1s?|one[- ]on[- ]ones?)\b",
            r"\bfeedback from (?:my|our) (?:manager|boss|lead)"),
    _signal("growth", "Growth and career path",
            r"\bcareer\b", r"\bpromot\w*", r"\bgrowth\b", r"\bgrow(?:ing)?\b",
            r"\blearn(?:ing)?\b", r"\bdevelop(?:ment)?\b", r"\bprogression\b",
            r"\bmentor\w*", r"\bnext step\b", r"\bskills?\b", r"\bstagnat\w*",
            r"\b(?:career|growth) path\b"),
    _signal("pay_recognition", "Pay and recognition",
            r"\bpay\b", r"\bpaid\b", r"\bsalar\w*", r"\bcompensation\b", r"\braises?\b",
            r"\bbonus\w*", r"\bunderpaid\b", r"\brecogni[sz]\w*", r"\bappreciat\w*",
            r"\b(?:not|under)valued\b", r"\bvalued\b", r"\bequity\b", r"\bbenefits\b"),
)

NEGATORS = wordset("not no never without hardly barely neither nor nothing none "
                     "isn't aren't wasn't weren't don't doesn't didn't can't cannot "
                     "won't wouldn't haven't hasn't hadn't shouldn't")
CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|although|though|however|yet)\b", re.IGNORECASE)
NEGATION_WINDOW = 4  # words before a match that can negate it ("not really looking for…")


def negated(text: str, start: int) -> bool:
    """Whether a negator stands in the few words before ``start``, in the same clause."""
    before = text[:start]
    clause = CLAUSE_BREAK.split(before)[-1]
    words = [w.lower().replace("’", "'") for w in WORD.findall(clause)][-NEGATION_WINDOW:]
    return any(w in NEGATORS or w.endswith("n't") for w in words)


# each signal's patterns as one alternation: one scan of a sentence per signal
COMBINED = {s.key: re.compile("|".join(f"(?:{p.pattern})" for p in s.patterns), re.IGNORECASE)
            for s in SIGNALS}


def signals_in(text: str) -> set[str]:
    """The HR signals a sentence carries, each only where it is not negated."""
    return {key for key, pattern in COMBINED.items()
            if any(not negated(text, m.start()) for m in pattern.finditer(text))}


SIGNAL_LABELS = {s.key: s.label for s in SIGNALS}
