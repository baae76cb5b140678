"""What of a participant's words may leave the server: PII redaction and the anonymity rule.

Redaction: insights and exports read the redacted copy. Phone numbers are found with
``phonenumbers`` (libphonenumber's matcher, any region); card numbers must pass the Luhn
check so order ids and dates are left alone.

Anonymity (DESIGN.md §6): every read path passes an interview through ``shown`` so an
aggregated session's answers never travel with anything that leads back to a person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}\b")
GROUP = re.compile(r"(?<![\d/.])\d+(?![\d/.]\d)")  # a group of digits, not part of a date
REGIONS = ("US", "DE", "GB")  # numbers without a +country prefix are tried in these
JOIN = re.compile(r"[ -]?")  # what may stand between the groups of one card number
DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")  # 04-03-2024 is a date, not a number


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _cards(text: str) -> str:
    """Replace each run of digit groups that reads as a 13–19 digit Luhn-valid number.

    Groups are tried from every start, longest first, so a card next to other numbers
    ("4111 1111 1111 1111 12/27") is still found. A run stops at 19 digits or at anything
    but one space or hyphen, so each start tries at most 19 runs: linear in the text."""
    groups = list(GROUP.finditer(text))
    spans, i = [], 0
    while i < len(groups):
        runs, digits = [], ""
        for j in range(i, min(i + 19, len(groups))):
            if j > i and not JOIN.fullmatch(text, groups[j - 1].end(), groups[j].start()):
                break
            digits += groups[j].group()
            if len(digits) > 19:
                break
            runs.append((j + 1, digits))
        for end, number in reversed(runs):
            if len(number) >= 13 and luhn_ok(number):
                spans.append((groups[i].start(), groups[end - 1].end()))
                i = end
                break
        else:
            i += 1
    return _replace(text, spans, "[CARD]")


def _phones(text: str) -> str:
    spans = sorted(
        (m.start, m.end)
        for region in REGIONS
        for m in phonenumbers.PhoneNumberMatcher(text, region, phonenumbers.Leniency.VALID)
        if not DATE.match(m.raw_string.strip())
    )
    kept: list[tuple[int, int]] = []
    for start, end in spans:  # the first (longest-starting) match wins an overlap
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return _replace(text, kept, "[PHONE]")


def _replace(text: str, spans: list[tuple[int, int]], label: str) -> str:
    """Put ``label`` in place of each (sorted, disjoint) span, in one pass."""
    parts, at = [], 0
    for start, end in spans:
        parts += [text[at:start], label]
        at = end
    return "".join([*parts, text[at:]])


def redact(text: str) -> str:
    """Emails → [EMAIL], cards → [CARD], SSNs → [SSN], phone numbers → [PHONE]."""
    text = EMAIL.sub("[EMAIL]", text)
    text = SSN.sub("[SSN]", text)  # before cards: an SSN's groups must not start a card run
    text = _cards(text)
    return _phones(text)


# ---- the anonymity rule ----------------------------------------------------------------------

# What joins an interview back to its invite or person: ids follow invite order, a channel
# or a timestamp matches the invite's, and HR's end reason may name the person.
JOIN_KEYS = ("id", "invite_id", "person", "person_id", "channel", "address", "restarted_from",
             "end_reason", "created_at", "started_at", "ended_at")
# An interview's figures: durations and counts say nothing of who, but the channels match
# the invite's, and when they were computed is when it ended.
ANALYTICS_JOIN_KEYS = ("channel", "channels", "computed_at")


# ---- names of people in the directory (aggregated sessions' text) --------------------------

NAME_PLACEHOLDER = "[name]"
NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")  # Łukasz, O'Brien, Anne-Marie
PARTS = re.compile(r"['’\-]")
POSSESSIVE = re.compile(r"(.+?)((?:['’]s)?)", re.DOTALL)
HANDLE = re.compile(r"@[\w.\-]+")
SLACK_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
STARTS = re.compile(r"(?:^|[.!?…:\n]\s*|[\"“(]\s*)$")  # nothing, or a sentence's end


def wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that open sentences all day ("In my team…", "So…"): one opening a sentence is taken
# for the word even where someone bears it as a name. Elsewhere capitalised, it is the name.
FUNCTION_WORDS = wordset("""
a an and are as at be but by can do for from go had has have he her here him his how i if
in is it its me mine more my no not now of on one or our out she so some than that the
their them then there they this to too up us was we were what when where who why with
would yes you your
""")
# Names that are also words ("will", "mark", "grace"): lower-case, the word; capitalised,
# anywhere (even opening a sentence: "Mark told me…"), the name.
WORD_NAMES = wordset("""
will may june april august grace hope joy faith rose mark bill pat sue art dawn summer
autumn winter spring sunny miles long young white black brown green king frank rich ray
guy jack page chase hunter drew dean earl wade holly ivy lily amber jade ruby pearl crystal
angel sky storm river forest carol gene lee
""")
NOT_NAMES = FUNCTION_WORDS | WORD_NAMES


class NameScrubber:
    """Replaces the names of people in the directory with ``[name]``, however they are
    written: any word of anyone's name (first, last, each part of "Anne-Marie"), in any case
    ("maria", "MARIA"), possessive kept ("[name]'s"); a name that is also a common word only
    when capitalised; @handles with a name in them; Slack mentions (``<@U…>``) always.
    Over-scrubbing costs a quote a word; under-scrubbing names a colleague in an anonymous
    report."""

    def __init__(self, names: Iterable[str]):
        words = set()
        for name in names:
            for token in NAME_TOKEN.findall(name or ""):
                token = token.lower()
                for word in (token, *PARTS.split(token)):
                    if len(word) >= 2:
                        words.add(word)
        self.words = frozenset(words)

    def is_name(self, word: str) -> bool:
        bare = word.lower()
        return bare in self.words or all(p in self.words for p in PARTS.split(bare) if p)

    def __call__(self, text: str) -> str:
        text = SLACK_MENTION.sub(NAME_PLACEHOLDER, text)
        if not self.words:
            return text
        text = HANDLE.sub(lambda m: NAME_PLACEHOLDER if any(
            p in self.words for p in re.split(r"[._\-]", m.group(0)[1:].lower()) if p)
            else m.group(0), text)

        def swap(match: re.Match) -> str:
            base, possessive = POSSESSIVE.fullmatch(match.group(0)).groups()
            if not self.is_name(base):
                return match.group(0)
            bare = base.lower()
            if bare in NOT_NAMES and not base[0].isupper():
                return match.group(0)  # "will", "mark": the word
            if bare in FUNCTION_WORDS and STARTS.search(text[:match.start()]):
                return match.group(0)  # "In my team…" opening a sentence
            return NAME_PLACEHOLDER + possessive

        return NAME_TOKEN.sub(swap, text)


_DIRECTORY: dict[str, Any] = {}
DIRECTORY_TTL = 60.0  # seconds a process keeps the directory's names for scrubbing


def directory_scrubber(names: Callable[[], Iterable[str]]) -> NameScrubber:
    """A scrubber of everyone's names, rebuilt from ``names()`` at most once a minute per
    process (100,000 names take a moment; a list page is asked for often)."""
    now = time.monotonic()
    if _DIRECTORY.get("until", 0.0) < now:
        _DIRECTORY.update(scrubber=NameScrubber(names()), until=now + DIRECTORY_TTL)
    return _DIRECTORY["scrubber"]


def merged_groups(sizes: dict[str, int], threshold: int) -> list[str]:
    """The groups of a breakdown that must be shown only together, as "Other": every group
    under ``threshold``, and while that leaves one such group or "Other" still under the
    threshold, the next-smallest shown group too — so no hidden group's figure follows by
    subtracting the shown ones from the total. A group already called "Other" joins them."""
    hidden = sorted(name for name, n in sizes.items() if n < threshold)
    shown = sorted((name for name in sizes if name not in hidden),
                   key=lambda name: (sizes[name], name))
    while hidden and shown and (len(hidden) == 1
                                or sum(sizes[name] for name in hidden) < threshold):
        hidden.append(shown.pop(0))
    if hidden and OTHER in shown:
        hidden.append(OTHER)
    return hidden


OTHER = "Other"


def released(threshold: int, completed: int) -> int:
    """How many of an aggregated session's completed interviews may be shown: whole batches
    of ``threshold``. Each release adds at least ``threshold`` answers at once, so HR cannot
    match an answer to the person who has just finished (nor tell by subtraction)."""
    return completed - completed % threshold


def withheld_reason(threshold: int, completed: int) -> str | None:
    """Why some (or all) completed interviews of an aggregated session are not shown yet."""
    shown_now = released(threshold, completed)
    if shown_now == 0:
        return (f"This session is anonymous: answers are shown once at least {threshold} "
                f"interviews have completed ({completed} so far).")
    if completed > shown_now:
        return (f"This session is anonymous: answers are released {threshold} at a time; "
                f"{completed - shown_now} more completed interview(s) are shown when the "
                f"next {threshold} have completed.")
    return None


# One answer for an unknown id and for an anonymous session's interview: an id must not tell
# which it is (it would tell HR which invite has started).
NOT_ADDRESSABLE = ("no interview {id} that can be read or changed on its own (an anonymous "
                   "session's interviews are shown only together, in the session's list)")


def shown(interview: dict[str, Any], *, anonymity: str, secret: str | None = None,
          scrub: Callable[[str], str] | None = None) -> dict[str, Any]:
    """An interview as it may leave the server. For an aggregated session (only ever its
    released answers, in the session's list): nothing that joins it to an invite or person,
    participant text redacted, no system turns (the consent of an older interview greets the
    person by name); with ``secret``, each turn's ``ref`` (``turn_ref``), which an insight's
    quote of it carries too; with ``scrub``, participants' words without the directory's
    names, as the insights quote them."""
    if anonymity != "aggregated":
        return dict(interview)
    out = {k: v for k, v in interview.items() if k not in JOIN_KEYS}
    if "turns" in out:
        out["turns"] = [_anonymous_turn(t, secret, scrub) for t in out["turns"]
                        if t["role"] != "system"]
    if "open_questions" in out:
        out["open_questions"] = [redact(q) for q in out["open_questions"]]
    if out.get("analytics"):
        out["analytics"] = {k: v for k, v in out["analytics"].items()
                            if k not in ANALYTICS_JOIN_KEYS}
    return out


def _anonymous_turn(turn: dict[str, Any], secret: str | None = None,
                    scrub: Callable[[str], str] | None = None) -> dict[str, Any]:
    text = turn["text"]
    if turn["role"] == "participant" and turn["redacted_text"] is not None:
        text = turn["redacted_text"]
    else:  # an interviewer's words may echo an answer ("you said Maria…"): redacted too
        text = redact(text)
    if scrub is not None:
        text = scrub(text)
    out = {"seq": turn["seq"], "role": turn["role"], "text": text,
           "topic": turn["topic"], "sentiment": turn["sentiment"]}
    if secret and turn.get("id") is not None:
        out["ref"] = turn_ref(secret, turn["id"])
    return out


def turn_ref(secret: str, turn_id: int) -> str:
    """An anonymous session's name for a turn: the same in an insight's quote and in the
    session's interview list (where the quote can be read in context), and unlike the
    turn's id, in no order (ids follow time: they would date an answer)."""
    message = f"turn-ref:{turn_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:24]


def listing_key(secret: str, interview_id: int) -> str:
    """Where a released interview of an aggregated session sits in its list: keyed by a
    secret, so the order says nothing about when the person was invited or finished."""
    message = f"interview-order:{interview_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
