"""The card-number scan is linear: a message as long as a web message allows, made of
thousands of digit groups, is redacted (on the old cubic scan it ran for half an hour).
bench/redact.py prints the figures; nothing here is timed."""

from core.privacy import redact

VISA, MASTERCARD = "4111 1111 1111 1111", "5555-5555-5555-4444"


def test_five_thousand_chars_of_digit_groups_are_redacted_correctly():
    chain = "7 " * 2_400  # one run of 2,400 one-digit groups: the worst case for the scan
    text = f"Card {VISA}, then {chain}and {MASTERCARD}, {VISA}."
    assert 4_800 < len(text) <= 5_000
    assert redact(text) == (text.replace(VISA, "[CARD]").replace(MASTERCARD, "[CARD]"))
