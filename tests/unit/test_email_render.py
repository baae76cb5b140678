"""The email channel's pure converters (STYLE.md 2): MIME rendering, reply hints, signed
tokens, and the auto-reply rule, on values and real header shapes."""

from __future__ import annotations

from email import message_from_string, policy

from channels.email import (
    Mail,
    auto_reply_reason,
    choice_token,
    read_choice_token,
    read_reply_token,
    read_unsubscribe_token,
    render_mail,
    reply_hint,
    reply_token,
    unsubscribe_token,
)
from core.engine import CONSENT_CHOICES, PAUSED_CHOICES, QUESTION_CHOICES
from core.messages import Outbound


def mail(**kw) -> Mail:
    return Mail(to="ada@example.com", subject="Stay Interview", message_id="<1@x.example>", **kw)


def test_a_pure_choice_is_answered_by_number_and_a_question_in_words():
    assert reply_hint(Outbound("Shall we begin?", CONSENT_CHOICES)) == "Reply with 1 or 2."
    assert reply_hint(Outbound("Paused.", PAUSED_CHOICES)) == "Reply with 1 or 2."
    assert reply_hint(Outbound("What keeps you here?", QUESTION_CHOICES)) == (
        "Reply to this email with your answer, or with one word: pause, skip or stop.")
    assert reply_hint(Outbound("Thanks.")) == ""


def test_a_message_is_text_and_html_with_its_thread_and_links():
    links = ("https://p.example/email/choose/a", "https://p.example/email/choose/b")
    msg = render_mail(Outbound("Shall we begin?\n\nSee https://p.example/help", CONSENT_CHOICES,
                               progress=(1, 5)),
                      mail(reply_to="reply+i1.abc@r.example", in_reply_to="<0@x.example>",
                           references=("<r@x.example>", "<0@x.example>"), choice_links=links),
                      sender="HR <hr@example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["In-Reply-To"] == "<0@x.example>"
    assert msg["References"] == "<r@x.example> <0@x.example>"
    assert msg["Reply-To"] == "reply+i1.abc@r.example"
    assert msg["Auto-Submitted"] is None and msg["List-Unsubscribe"] is None
    text = msg.get_body(("plain",)).get_content()
    assert "1. Yes, let's start: https://p.example/email/choose/a" in text
    assert "Topic 1 of 5" in text
    html = msg.get_body(("html",)).get_content()
    assert 'href="https://p.example/email/choose/b"' in html and "2. No thanks" in html
    assert 'href="https://p.example/help"' in html
    assert 'name="viewport"' in html  # readable on a phone


def test_a_reminder_is_auto_generated_and_an_invite_can_be_unsubscribed():
    reminder = render_mail(Outbound("Whenever you're ready"), mail(reminder=True), sender="a@b")
    assert reminder["Auto-Submitted"] == "auto-generated"
    invite = render_mail(Outbound("Hi"), mail(unsubscribe="https://p.example/email/unsubscribe/1"),
                         sender="a@b")
    assert invite["List-Unsubscribe"] == "<https://p.example/email/unsubscribe/1>"
    assert invite["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_tokens_are_signed_and_survive_a_lower_cased_address():
    token = reply_token("k", 42)
    assert read_reply_token("k", token) == 42
    assert read_reply_token("k", token.upper()) == 42  # some servers change the case
    assert read_reply_token("other key", token) is None
    assert read_reply_token("k", token.replace("i42", "i43")) is None
    assert read_reply_token("k", "i99999999999.0123456789abcdef0123") is None
    choice = choice_token("k", 1, 7, "accept")
    assert read_choice_token("k", choice) == (1, 7, "accept")
    assert read_choice_token("k", choice.replace("accept", "decline")) is None
    assert read_unsubscribe_token("k", unsubscribe_token("k", 3)) == 3
    assert read_unsubscribe_token("k", unsubscribe_token("k", 3).replace("3.", "4.")) is None


def headers(text: str):
    return message_from_string(text + "\n\nbody\n", policy=policy.default)


def test_auto_replies_and_bounces_are_recognised_and_people_are_not():
    assert auto_reply_reason(headers("From: a@b.example\nAuto-Submitted: auto-replied"))
    assert auto_reply_reason(headers("From: a@b.example\nAuto-Submitted: no")) is None
    assert auto_reply_reason(headers("From: a@b.example\nPrecedence: list"))
    assert auto_reply_reason(headers("From: MAILER-DAEMON@b.example\nSubject: failure"))
    assert auto_reply_reason(headers("From: a@b.example\nSubject: Abwesenheitsnotiz"))
    assert auto_reply_reason(headers("From: a@b.example\nSubject: Re: Office move")) is None
    assert auto_reply_reason(headers(
        "From: a@b.example\nX-Auto-Response-Suppress: All")) is None  # asks, is no reply


def test_line_breaks_in_a_subject_or_a_name_are_spaces_in_the_header():
    msg = render_mail(Outbound("Hi"), Mail(to="ada@example.com", message_id="<1@x.example>",
                                           subject="Stay\r\nInterview\n\tQ3"),
                      sender="Northwind\nHR <hr@example.com>")
    assert msg["Subject"] == "Stay Interview Q3"
    assert msg["From"].addresses[0].display_name == "Northwind HR"
    assert b"Stay Interview Q3" in msg.as_bytes()
