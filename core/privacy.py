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
    ("4111 1111 1111 1111 12/27") is still found."""
    groups = list(GROUP.finditer(text))
    spans, i = [], 0
    while i < len(groups):
        for j in range(len(groups), i, -1):
            run = groups[i:j]
            if any(not re.fullmatch(r"[ -]?", text[a.end():b.start()])
                   for a, b in zip(run, run[1:], strict=False)):
                continue
            digits = "".join(g.group() for g in run)
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                spans.append((run[0].start(), run[-1].end()))
                i = j
                break
        else:
            i += 1
    for start, end in reversed(spans):
        text = text[:start] + "[CARD]" + text[end:]
    return text


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
    for start, end in reversed(kept):
        text = text[:start] + "[PHONE]" + text[end:]
    return text


def redact(text: str) -> str:
    """Emails → [EMAIL], cards → [CARD], SSNs → [SSN], phone numbers → [PHONE]."""
    text = EMAIL.sub("[EMAIL]", text)
    text = SSN.sub("[SSN]", text)  # before cards: an SSN's groups must not start a card run
    text = _cards(text)
    return _phones(text)
