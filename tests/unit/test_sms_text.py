"""Text that fits a phone: segments counted as carriers count them, bodies split between
sentences, choices as one numbered reply line, and our own SMS words in GSM-7 only."""

from __future__ import annotations

import pytest

from bots import commands
from channels.sms import is_gsm7, plain, render_text, segments, split
from core import engine
from core.interviewer import prompts
from core.messages import Choice, Outbound


@pytest.mark.parametrize("text, count", [
    ("", 1),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("a" * 159 + "😀", 3),  # one emoji: UCS-2, 161 UTF-16 units → 3 × 67
    ("a" * 69 + "😀", 2),  # the emoji's two units do not fit in 70
    ("a" * 68 + "😀", 1),
    ("é" * 160, 1),  # é is in the GSM-7 alphabet
    ("ê" * 70, 1),  # ê is not: UCS-2
    ("ê" * 71, 2),
    ("€" * 80, 1),  # an extended character costs two septets
    ("€" * 81, 2),
    ("a" * 152 + "€" + "a" * 10, 2),  # the escape is not split from its character
    ("a" * 152 + "€" + "a" * 152, 3),
])
def test_segments_are_counted_as_carriers_count_them(text, count):
    assert segments(text) == count


def test_typography_becomes_gsm7_so_a_short_prompt_costs_one_segment():
    fancy = "Understood — we’ll stop here. “Thanks” • bye…"
    assert segments(fancy) == 1 and not is_gsm7(fancy)
    assert plain(fancy) == "Understood - we'll stop here. \"Thanks\" - bye..."
    assert is_gsm7(plain(fancy))
    assert plain("Ça va? 😀") == "Ça va? 😀"  # what is not typography is kept


def test_a_long_text_is_split_between_sentences_under_1600_characters():
    sentence = "This sentence is exactly fifty characters long ok. "
    text = (sentence * 70).strip()
    bodies = split(text)
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies)
    assert all(b.endswith(".") for b in bodies)
    assert " ".join(bodies) == text
    assert split("short.") == ["short."]
    words = "word " * 700  # no sentence boundary at all: cut between words
    assert all(len(b) <= 1600 and not b.startswith(" ") for b in split(words.strip()))


def test_choices_become_one_numbered_reply_line_and_question_buttons_are_left_out():
    consent = Outbound("Shall we begin?", engine.CONSENT_CHOICES)
    assert render_text(consent) == ["Shall we begin?\n\nReply 1 to start, 2 to decline."]
    question = Outbound("How was your first week?", engine.QUESTION_CHOICES)
    assert render_text(question) == ["How was your first week?"]
    odd = Outbound("Pick one", (Choice("x", "Something else"),))
    assert render_text(odd) == ["Pick one\n\nReply 1 for Something else."]


def sms_prompts() -> list[str]:
    prompts_ = [prompts.consent("Ada", "30-Day Onboarding Check-In", a, 5, 12, channel="sms")
                for a in ("named", "aggregated")]
    prompts_ += [prompts.help_text("sms"), prompts.paused("sms"), prompts.sms_help(),
                 prompts.SMS_OPTED_IN, prompts.SMS_STRANGER]
    for choices in (engine.CONSENT_CHOICES, engine.WRAP_UP_CHOICES, engine.PAUSED_CHOICES,
                    engine.CONFIRM_STOP_CHOICES):
        prompts_.append(prompts.sms_choices([(c.value, c.label) for c in choices]))
    return prompts_


def test_our_own_sms_words_are_gsm7_and_short():
    for text in sms_prompts():
        assert is_gsm7(text), text
    for text in sms_prompts()[2:]:
        assert segments(text) == 1, text


def test_the_words_sms_offers_are_never_carrier_keywords():
    offered = {w.lower() for k, w in prompts.command_words("sms").items() if k != "help"}
    assert offered.isdisjoint(commands.CARRIER_KEYWORDS)
    sms_words = commands.VOCABULARY["sms"]
    assert not set(sms_words) & set(commands.CARRIER_KEYWORDS)
    assert sms_words["finish"] == "stop" and sms_words["pause"] == "pause"
    for text in sms_prompts():  # no SMS prompt invites a carrier word except as the law
        lowered = text.lower().replace("stop ends all texts", "").replace("reply stop", "")
        for word in ("stop", "end", "quit", "cancel"):
            assert f" {word} " not in f" {lowered} ", (word, text)


@pytest.mark.parametrize("text, word", [
    ("STOP", "opt_out"), (" stop. ", "opt_out"), ("Stop!", "opt_out"), ("END", "opt_out"),
    ("optout", "opt_out"), ("START", "opt_in"), ("yes", "opt_in"), ("Info", "help"),
    ("finish", None), ("pause", None),
    ("Stop texting me", "opt_out"), ("STOP ALL", "opt_out"), ("please stop", "opt_out"),
    ("Please STOP sending these!", "opt_out"), ("unsubscribe me now", "opt_out"),
    ("I want to stop feeling so lost", None), ("stop the weekly status meeting please ok", None),
    ("Quit my old job in May", None), ("End of the first week", None), ("stopping", None),
])
def test_carrier_keywords_are_whole_messages_in_any_case(text, word):
    assert commands.carrier_keyword("sms", text) == word
    assert commands.carrier_keyword("slack", text) is None


def test_the_offline_interviewer_stays_within_two_segments_for_every_shipped_question():
    from pathlib import Path

    import yaml

    longest_prefix = max([len(prompts.ASKED_BACK), len(prompts.SKIPPED)]
                         + [len(a) for acks in prompts.ACKNOWLEDGEMENTS.values() for a in acks])
    library = Path(prompts.__file__).parents[1] / "library" / "session_types"
    for path in library.glob("*.yaml"):
        for topic in yaml.safe_load(path.read_text())["topics"]:
            for question in [topic["opening_question"], *topic.get("probes", [])]:
                worst = plain(f"{'x' * longest_prefix}\n\n{question}")
                assert len(worst) <= prompts.SMS_QUESTION, (path.name, question)
    assert len(prompts.WRAP_UP) <= prompts.SMS_QUESTION


def test_the_llm_is_told_per_turn_that_the_question_goes_by_sms():
    from types import SimpleNamespace

    from core.interviewer import llm_strategy
    from core.interviewer.planner import Move

    session = SimpleNamespace(session_type=SimpleNamespace(name="Stay Interview"),
                              anonymity="named", settings={})
    topic = SimpleNamespace(key="growth", label="Growth", priority="high", description="d",
                            probing_guidance="p", context="")
    state = {"order": ["growth"], "topics": {"growth": {"status": "pending"}}, "questions": []}
    move = Move(action="ask", topic="growth", why="first")
    by_sms = llm_strategy.build_messages(session, {"growth": topic}, state, move, [], False,
                                         "sms")
    on_web = llm_strategy.build_messages(session, {"growth": topic}, state, move, [], False)
    assert by_sms[0] == on_web[0]  # one stable system prompt: its prefix stays cached
    assert "text message" in by_sms[-1]["content"] and "text message" not in on_web[-1]["content"]
