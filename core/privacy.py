"""PII redaction for what participants write: insights and exports read the redacted copy.

Phone numbers are found with ``phonenumbers`` (libphonenumber's matcher, any region);
card numbers must pass the Luhn check so order ids and dates are left alone.
"""

from __future__ import annotations

import re

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
