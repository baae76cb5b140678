"""The web link: consent, the chat, commands by button and by word, dedup, bad input."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core import db
from core.models import InboundEvent, Interview, Invite, Turn, utcnow
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of

RICH = ("Honestly the people here are what keep me going, and I like that I can choose how "
        "to solve problems without being micromanaged by anyone.")


@pytest.fixture
def token(api, library):
    session = make_session(api)
    return token_of(invite(api, session["id"])["link"])


@pytest.fixture
def chat(client, token):
    return WebChat(client, token).open()


def started(chat):
    chat.choose("accept")
    assert chat.status == "in_progress"
    return chat


def turn_count():
    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(Turn))


# ---- links ---------------------------------------------------------------------------------

def test_chat_page_is_private_and_accessible(client, token):
    page = client.get(f"/c/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'role="log"' in html and "<label" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_unknown_link_is_a_clear_404_page(client, app):
    page = client.get("/c/not-a-real-token")
    assert page.status_code == 404
    assert "find this link" in page.get_data(as_text=True)
    resp = client.get("/c/not-a-real-token/messages")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "link_unknown"


def test_expired_link_is_a_clear_410_page(client, token):
    with db.session_scope() as s:
        s.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = client.get(f"/c/{token}")
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    resp = client.post(f"/c/{token}/messages", json={"text": "hello"})
    assert resp.status_code == 410


def test_a_started_interview_outlives_the_link_expiry(chat, client, token):
    """Expiry stops new starts, not someone halfway through their answers."""
    with db.session_scope() as s:
        s.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(f"/c/{token}").status_code == 200


# ---- consent -------------------------------------------------------------------------------

def test_consent_explains_recording_visibility_and_commands(chat):
    assert chat.status == "consent"
    assert "recorded" in chat.reply and "HR will see" in chat.reply
    assert "pause" in chat.reply and "stop" in chat.reply
    assert chat.choices == ["accept", "decline"]


def test_decline_ends_politely_and_is_recorded(chat, api):
    chat.choose("decline")
    assert chat.status == "declined"
    chat.assert_reply("No problem")
    interview = api.get("/sessions/1/interviews").get_json()["interviews"][0]
    assert interview["state"] == "declined"


def test_consent_by_typing_yes_or_the_number(client, token):
    chat = WebChat(client, token).open()
    chat.say("1")
    assert chat.status == "in_progress"


def test_unclear_consent_reply_asks_again(chat):
    chat.say("what is this?")
    assert chat.status == "consent"
    assert chat.choices == ["accept", "decline"]


# ---- the conversation ----------------------------------------------------------------------

def test_each_question_offers_pause_skip_stop(chat):
    started(chat)
    assert chat.choices == ["pause", "skip", "stop"]
    assert chat.reply.endswith("?")


def test_pause_and_resume_by_button_continue_at_the_same_question(chat):
    question = started(chat).reply
    chat.choose("pause")
    assert chat.status == "paused" and chat.choices == ["resume", "stop"]
    chat.choose("resume")
    assert chat.status == "in_progress"
    assert question in chat.reply


def test_pause_and_resume_by_words(chat):
    question = started(chat).reply
    chat.say("pause")
    assert chat.status == "paused"
    chat.say("Resume")
    assert chat.status == "in_progress" and question in chat.reply


def test_answering_while_paused_resumes_and_counts_the_answer(chat):
    started(chat).say("pause")
    chat.say(RICH)
    assert chat.status == "in_progress"
    assert "?" in chat.reply


def test_pauses_are_limited(chat):
    started(chat)
    for _ in range(3):
        chat.choose("pause")
        chat.choose("resume")
    chat.choose("pause")
    assert chat.status == "in_progress"
    chat.assert_reply("used all your pauses")


def test_skip_by_word_moves_to_the_next_topic(chat, api):
    started(chat)
    first = chat.reply
    chat.say("skip")  # a number after a question is an answer (test_conversation_numbers)
    chat.assert_reply("move on")
    assert chat.reply != first
    detail = api.get("/interviews/1").get_json()
    assert "skipped" in {c["status"] for c in detail["coverage"].values()}


def test_stop_ends_and_records_the_drop_off_topic(chat, api):
    started(chat)
    chat.say(RICH)
    chat.choose("stop")
    assert chat.status == "abandoned"
    detail = api.get("/interviews/1").get_json()
    assert detail["drop_off_topic"] and detail["end_reason"] == "stopped by participant"


def test_help_lists_the_commands_and_keeps_the_choices(chat):
    started(chat).say("help")
    chat.assert_reply("pause")
    assert chat.choices == ["pause", "skip", "stop"]


def test_a_thin_answer_gets_a_probe_and_a_rich_one_moves_on(chat, api):
    started(chat).say("fine")
    detail = api.get("/interviews/1").get_json()
    assert detail["turns"][-1]["reasoning"]["action"] == "probe"
    chat.say(RICH)
    detail = api.get("/interviews/1").get_json()
    assert detail["turns"][-1]["reasoning"]["action"] in ("ask", "wrap_up")


def test_full_interview_completes_with_no_repeated_question(chat, api):
    started(chat)
    while chat.status == "in_progress":
        chat.say(RICH)
    assert chat.status == "completed"
    turns = api.get("/interviews/1").get_json()["turns"]
    questions = [t["text"] for t in turns if t["role"] == "interviewer"]
    assert len(questions) == len(set(questions))
    answers = [t for t in turns if t["role"] == "participant" and t["text"] == RICH]
    assert answers and all(t["sentiment"] is not None for t in answers)


def test_posting_after_the_end_is_refused(chat, client, token):
    chat.choose("decline")
    resp = client.post(f"/c/{token}/messages", json={"text": "hello?"})
    assert resp.status_code == 410
    assert resp.get_json()["error"]["code"] == "interview_ended"


# ---- dedup and bad input ------------------------------------------------------------------

def test_the_same_message_twice_makes_one_turn(chat, client, token, work):
    started(chat)
    before = turn_count()
    for _ in range(2):
        resp = client.post(f"/c/{token}/messages", json={"text": RICH, "client_id": "same-id"})
        assert resp.status_code == 202
    work()
    assert turn_count() == before + 2  # one participant turn, one interviewer reply
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(InboundEvent)) == 2  # accept + this


@pytest.mark.parametrize(("payload", "reason"), [
    ("not json", "JSON object"),
    ({}, "exactly one"),
    ({"text": "a", "choice": "skip"}, "exactly one"),
    ({"text": 42}, "non-empty string"),
    ({"text": "   "}, "non-empty string"),
    ({"text": "x" * 5001}, "5000"),
    ({"choice": 3}, "choice"),
    ({"text": "ok", "client_id": 7}, "client_id"),
])
def test_malformed_messages_get_400_with_a_reason(chat, client, token, payload, reason):
    if isinstance(payload, str):
        resp = client.post(f"/c/{token}/messages", data=payload,
                           content_type="application/json")
    else:
        resp = client.post(f"/c/{token}/messages", json=payload)
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]["message"]


def test_after_must_be_a_number(chat, client, token):
    resp = client.get(f"/c/{token}/messages?after=abc")
    assert resp.status_code == 400


# ---- time: pause prompt and expiry --------------------------------------------------------

def _age_pause(seconds):
    with db.session_scope() as s:
        s.execute(update(Interview).values(paused_at=utcnow() - timedelta(seconds=seconds)))


def test_paused_interview_gets_one_resume_prompt_then_expires(chat, work):
    from scheduler.jobs import tick_pauses

    started(chat).choose("pause")
    _age_pause(60)
    assert tick_pauses() == 0  # before 2 min: nothing
    _age_pause(121)
    assert tick_pauses() == 1
    assert tick_pauses() == 0  # prompted once only
    work()
    chat._read()
    chat.assert_reply("pick up where we left off")
    _age_pause(1801)
    assert tick_pauses() == 1
    work()
    chat._read()
    assert chat.status == "abandoned"
    with db.session_scope() as s:
        interview = s.scalar(select(Interview))
        assert interview.drop_off_topic and interview.end_reason == "pause expired"
