"""Over the web link and the real worker: "3" in answer to a question is an answer, typed
"stop" asks first and can be taken back, the Stop button ends at once."""

from __future__ import annotations

import pytest

from core.interviewer import prompts
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of


@pytest.fixture
def chat(api, client, library):
    session = make_session(api)
    chat = WebChat(client, token_of(invite(api, session["id"])["link"])).open()
    chat.choose("accept")
    assert chat.status == "in_progress" and chat.choices == ["pause", "skip", "stop"]
    return chat


def answers(api) -> list[str]:
    turns = api.get("/interviews/1").get_json()["turns"]
    return [t["text"] for t in turns if t["role"] == "participant"]


def test_a_bare_number_answers_the_question(chat, api):
    question = chat.reply
    chat.say("3")  # "how many …?" — not the third button, Stop
    assert chat.status == "in_progress"
    assert chat.reply != question and prompts.STOPPED not in chat.reply
    detail = api.get("/interviews/1").get_json()
    assert answers(api) == ["Yes, let's start", "3"]
    assert sum(c["questions"] + c["probes"] for c in detail["coverage"].values()) >= 2


def test_typed_stop_asks_first_and_continue_takes_it_back(chat, api):
    question = chat.reply
    chat.say("stop")
    chat.assert_reply(prompts.CONFIRM_STOP)
    assert chat.status == "in_progress" and chat.choices == ["stop", "continue"]
    chat.say("2")  # on this choice-only prompt a number picks: Continue
    chat.assert_reply(prompts.CARRY_ON).assert_reply(question)
    assert chat.status == "in_progress" and chat.choices == ["pause", "skip", "stop"]
    chat.say("quit")
    chat.say("1")  # End
    assert chat.status == "abandoned"
    chat.assert_reply(prompts.STOPPED)


def test_the_stop_button_ends_at_once(chat):
    chat.choose("stop")
    assert chat.status == "abandoned"
    chat.assert_reply(prompts.STOPPED)
