"""PII redaction for what participants write: insights and exports read the redacted copy.

Phone numbers are found with ``phonenumbers`` (libphonenumber's matcher, any region);
card numbers must pass the Luhn check so order ids and dates are left alone.
"""

from __future__ import annotations

import re

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}\b")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
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
    def sub(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group()

    return CARD.sub(sub, text)


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
    text = _cards(text)
    text = SSN.sub("[SSN]", text)
    return _phones(text)
