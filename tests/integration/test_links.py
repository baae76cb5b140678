"""The web link as mail scanners, link previews and people use it: a GET changes nothing
(the interview starts on the first POST), a finished conversation stops showing once the
invite has expired, the expiry page says the configured validity, and an open page follows
a restart to the new interview."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core import db
from core.models import InboundEvent, Interview, Invite, OutboundRecord, Turn, utcnow
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of

RICH = ("Honestly the people here are what keep me going, and I like that I can choose how "
        "to solve problems without being micromanaged by anyone.")


@pytest.fixture
def token(api, library):
    return token_of(invite(api, make_session(api)["id"])["link"])


def counts() -> dict[str, int]:
    with db.session_scope() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Interview, Turn, OutboundRecord, InboundEvent)}


def invite_status() -> str:
    with db.session_scope() as s:
        return s.scalar(select(Invite.status))


def expire_invites() -> None:
    with db.session_scope() as s:
        s.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))


def test_opening_and_polling_the_link_change_nothing(client, token, work):
    before = counts()
    page = client.get(f"/c/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-started="false"' in html and 'id="chat-start"' in html
    polled = client.get(f"/c/{token}/messages?after=0")
    assert polled.get_json() == {"status": "not_started", "interview": None, "messages": []}
    client.head(f"/c/{token}")
    work()
    assert counts() == before and invite_status() == "sent"

    started = client.post(f"/c/{token}/start")
    assert started.status_code == 200 and started.get_json()["status"] == "consent"
    work()
    chat = WebChat(client, token)._read()
    assert chat.status == "consent" and "Shall we begin?" in chat.reply
    assert invite_status() == "opened"
    assert 'data-started="true"' in client.get(f"/c/{token}").get_data(as_text=True)


def test_start_is_idempotent(client, token, work):
    first = client.post(f"/c/{token}/start").get_json()
    assert client.post(f"/c/{token}/start").get_json() == first
    work()
    assert counts()["Interview"] == 1 and counts()["Turn"] == 1  # one consent message


def test_a_first_message_without_start_meets_the_consent(client, token, work):
    resp = client.post(f"/c/{token}/messages", json={"text": "yes", "client_id": "a"})
    assert resp.status_code == 202
    work()
    chat = WebChat(client, token)._read()
    assert chat.last[0]["role"] == "system" and "Shall we begin?" in chat.last[0]["text"]


def test_a_malformed_first_message_starts_nothing(client, token, work):
    assert client.post(f"/c/{token}/messages", json={"text": ""}).status_code == 400
    work()
    assert counts()["Interview"] == 0


def test_a_finished_conversation_is_not_shown_after_the_link_expires(client, token):
    chat = WebChat(client, token).open()
    chat.choose("decline")
    assert chat.status == "declined"
    assert client.get(f"/c/{token}").status_code == 200  # before expiry: the transcript
    expire_invites()
    page = client.get(f"/c/{token}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "no longer shown" in html and "No problem" not in html
    resp = client.get(f"/c/{token}/messages?after=0")
    assert resp.status_code == 410 and "messages" not in resp.get_json()


def test_a_conversation_under_way_outlives_the_expiry(client, token):
    chat = WebChat(client, token).open()
    chat.choose("accept")
    expire_invites()
    assert client.get(f"/c/{token}").status_code == 200
    chat.say(RICH)
    assert chat.status == "in_progress"


def test_the_expiry_page_states_the_configured_validity(make_app, api, library):
    client = make_app(invite_ttl_days=3).test_client()
    token = token_of(invite(api, make_session(api)["id"])["link"])
    expire_invites()
    page = client.get(f"/c/{token}")
    assert page.status_code == 410
    assert "valid for 3 days" in page.get_data(as_text=True)


def test_an_open_page_follows_a_restart_to_the_new_interview(client, token, api, work):
    chat = WebChat(client, token).open()
    chat.choose("accept").say(RICH)
    old = chat.interview
    assert chat.seq > 3
    fresh = api.post(f"/interviews/{old}/restart")
    assert fresh.status_code == 201
    work()
    chat._read()  # the page polls with the interview it shows and the last seq it has
    assert chat.interview != old and chat.status == "consent"
    assert [m["seq"] for m in chat.last] == [1]  # the new interview from its first message
    assert "Shall we begin?" in chat.reply
    chat.choose("accept")
    assert chat.status == "in_progress"


def test_two_start_presses_at_once_open_one_interview(client, token):
    """A double click, or two tabs: one interview, one consent message."""
    import contextvars
    import threading

    gate = threading.Barrier(4)
    answers = []

    def press():
        gate.wait()
        answers.append(client.post(f"/c/{token}/start").status_code)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(press,))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 4
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Interview)) == 1


@pytest.mark.parametrize("query", ["after=%C2%B2", "after=99999999999999999999999",
                                   "after=-1", "interview=%D9%A3"])
def test_a_bad_poll_is_400_not_500(client, token, query):
    resp = client.get(f"/c/{token}/messages?{query}")
    assert resp.status_code == 400
    assert "non-negative integers" in resp.get_json()["error"]["message"]
