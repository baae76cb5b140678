"""Interviews in Slack DMs against a loopback Slack Web API, with requests signed exactly
as Slack signs them (PROTOCOLS.md, Slack)."""

import contextvars
import json
import time
import urllib.parse

import pytest
from sqlalchemy import select

from core import db
from core.models import InboundEvent, OutboundRecord, Person
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient, make_session
from tests.support.slack_stub import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackStub,
    block_action,
    dm_event,
    signed,
)
from tests.support.stub_server import Reply
from tests.support.worker import run_jobs

USER, EMAIL = "U123", "ada@example.com"
RICH = ("Mostly the people: my team is generous with their time and my manager trusts me "
        "to decide how to do my work, which matters a lot to me.")


class SlackWorld:
    def __init__(self, stub, client, api):
        self.stub, self.client, self.api = stub, client, api
        self.n = 0

    def event(self, payload: dict, **headers):
        body = json.dumps(payload)
        return self.client.post("/slack/events", data=body, headers=signed(body, **headers))

    def say(self, text: str, user: str = USER):
        self.n += 1
        resp = self.event(dm_event(user, text, f"Ev{self.n:04d}"))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs()
        return self.last(user)

    def click(self, value: str, user: str = USER, message=None):
        message = message or self.last_with_buttons(user)
        body = "payload=" + urllib.parse.quote(json.dumps(block_action(user, message, value)))
        resp = self.client.post("/slack/events", data=body, headers=signed(
            body, content_type="application/x-www-form-urlencoded"))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs()
        return self.last(user)

    def command(self, text: str, user: str = USER):
        body = urllib.parse.urlencode({
            "command": "/parley", "text": text, "user_id": user, "team_id": "T0001",
            "trigger_id": f"t{time.time()}", "channel_id": f"D{user}",
            "response_url": f"{self.stub.url}/response"})
        return self.client.post("/slack/events", data=body, headers=signed(
            body, content_type="application/x-www-form-urlencoded"))

    def last(self, user: str = USER):
        posts = self.stub.posts_to(user)
        return posts[-1] if posts else None

    def last_with_buttons(self, user: str = USER):
        return [m for m in self.stub.posts_to(user) if m.buttons()][-1]

    def invite(self, email=EMAIL, name="Ada Lovelace", session_type="stay-interview",
               settings=None):
        session = make_session(self.api, session_type, settings=settings)
        resp = self.api.post(f"/sessions/{session['id']}/invites",
                             {"person": {"name": name, "email": email}, "channel": "slack"})
        assert resp.status_code == 201, resp.get_json()
        run_jobs()
        return session


@pytest.fixture
def slack(make_app):
    """Slack paces like Slack here: a DM post that comes too soon is refused and recorded."""
    with SlackStub(users={EMAIL: USER}, dm_rate=1.0) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=stub.base_url)
        client = app.test_client()
        yield SlackWorld(stub, client, ApiClient(client, ADMIN_TOKEN))


# ---- the edge ----------------------------------------------------------------------------

def test_forged_signature_is_401_and_nothing_is_stored(slack, work):
    body = json.dumps(dm_event(USER, "hi", "EvF1"))
    headers = signed(body, secret="not-the-secret")
    assert slack.client.post("/slack/events", data=body, headers=headers).status_code == 401
    work()  # had anything been accepted, this is where it would be answered
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent)) is None
        assert s.scalar(select(OutboundRecord)) is None
    assert slack.stub.calls("chat.postMessage") == []


def test_stale_signature_is_401(slack):
    body = json.dumps(dm_event(USER, "hi", "EvS1"))
    headers = signed(body, timestamp=int(time.time()) - 600)
    assert slack.client.post("/slack/events", data=body, headers=headers).status_code == 401


def test_missing_signature_is_401(slack):
    resp = slack.client.post("/slack/events", json=dm_event(USER, "hi", "EvM1"))
    assert resp.status_code == 401


def test_signed_but_malformed_payload_is_400_with_a_reason(slack):
    body = "{not json"
    resp = slack.client.post("/slack/events", data=body, headers=signed(body))
    assert resp.status_code == 400
    assert "JSON" in resp.get_json()["error"]["message"]


def test_url_verification_challenge(slack):
    resp = slack.event({"type": "url_verification", "challenge": "abc123", "token": "x"})
    assert resp.status_code == 200 and "abc123" in resp.get_data(as_text=True)


# ---- a whole interview in a DM ------------------------------------------------------------

def test_a_stay_interview_runs_in_a_slack_dm_from_invite_to_close(slack):
    session = slack.invite()
    with db.session_scope() as s:  # matched by email, and the id kept
        assert s.scalar(select(Person.slack_user_id).where(Person.email == EMAIL)) == USER
    invites = slack.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invites[0]["status"] == "sent"
    consent = slack.last()
    assert consent.buttons() == ["accept", "decline"] and "Shall we begin?" in consent.text
    assert consent.token == BOT_TOKEN

    question = slack.click("accept")
    assert consent.updates and "Yes, let's start" in json.dumps(consent.updates[-1])
    assert question.buttons() == ["pause", "skip", "stop"]
    assert question.context().startswith("Topic 1 of")
    assert "(1. Pause · 2. Skip · 3. Stop)" in question.text  # plain-text fallback

    paused = slack.click("pause")
    assert paused.buttons() == ["resume", "stop"]
    resumed = slack.say("resume")
    assert question.text.split("\n(")[0] in resumed.text

    slack.say("pause")
    assert slack.last().buttons() == ["resume", "stop"]
    slack.click("resume")

    for _ in range(30):
        last = slack.say(RICH)
        if "Thank you — that's everything" in last.text:
            break
    detail = slack.api.get("/interviews/1").get_json()
    assert detail["state"] == "completed"
    assert detail["channel"] == "slack"


def test_the_person_is_known_before_the_consent_reaches_them(slack):
    """A click may come the moment Slack shows the consent: the Slack id found by email is
    stored before the post, not when the worker records it as sent (which a worker killed
    in between would never do)."""
    known_at_post = []
    post, ours = slack.stub._chat_postMessage, contextvars.copy_context()  # the test's database

    def known() -> str | None:
        with db.session_scope() as s:
            return s.scalar(select(Person.slack_user_id).where(Person.email == EMAIL))

    def watching(args, token):
        known_at_post.append(ours.copy().run(known))
        return post(args, token)

    slack.stub._chat_postMessage = watching
    slack.invite()
    assert known_at_post == [USER]


def test_retried_deliveries_get_exactly_one_answer(slack):
    slack.invite()
    slack.click("accept")
    before = len(slack.stub.posts_to(USER))
    payload = dm_event(USER, RICH, "EvRetry1")
    for retry in (None, "1", "2", "3"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} \
            if retry else {}
        assert slack.event(payload, **headers).status_code == 200
    run_jobs()
    assert len(slack.stub.posts_to(USER)) == before + 1


def test_bot_echoes_and_edits_are_ignored(slack):
    slack.invite()
    before = len(slack.stub.messages)
    slack.event(dm_event(USER, "echo", "EvBot1", bot_id="B999"))
    slack.event(dm_event(USER, "edited", "EvEdit1", subtype="message_changed"))
    run_jobs()
    assert len(slack.stub.messages) == before


def test_a_stranger_gets_a_polite_answer(slack):
    reply = slack.say("hello?", user="U999")
    assert reply is not None and "don't have an open conversation" in reply.text


def test_typed_number_works_like_the_button(slack):
    slack.invite()
    question = slack.say("1")  # 1 = Yes, let's start
    assert question.buttons() == ["pause", "skip", "stop"]


# ---- people ↔ Slack users -----------------------------------------------------------------

def test_unknown_email_marks_the_invite_unreachable_with_a_reason(slack):
    session = slack.invite(email="nobody@example.com", name="No Body")
    invites = slack.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invites[0]["status"] == "unreachable"
    assert "users_not_found" in invites[0]["status_reason"]
    assert slack.stub.messages == []


# ---- pacing, 429, outages, crashes --------------------------------------------------------

def test_429_waits_retry_after_and_delivers_once(slack):
    slack.stub.fail_next("chat.postMessage", Reply(
        429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}))
    slack.invite()
    attempts = slack.stub.calls("chat.postMessage")
    assert len(attempts) == 2 and len(slack.stub.messages) == 1
    assert slack.stub.messages[0].buttons() == ["accept", "decline"]


def test_a_server_error_is_retried_with_backoff_and_sent_once(slack):
    slack.stub.fail_next("chat.postMessage", Reply(500, {"ok": False, "error": "fatal"}))
    session = make_session(slack.api)
    slack.api.post(f"/sessions/{session['id']}/invites",
                   {"person": {"name": "Ada", "email": EMAIL}, "channel": "slack"})
    run_jobs()
    assert slack.stub.messages == []
    with db.session_scope() as s:
        assert s.scalar(select(OutboundRecord.status)) == "pending"
    run_jobs(retries=True)
    assert len(slack.stub.messages) == 1


def test_a_delivery_interrupted_after_slack_posted_is_not_sent_again(slack):
    """The worker died after Slack had the message: recovery finds it by its metadata."""
    from datetime import timedelta

    from sqlalchemy import update

    from channels.durable import CLAIM_TTL, deliver, sweep
    from core.models import utcnow

    slack.invite()
    with db.session_scope() as s:
        record = s.scalar(select(OutboundRecord))
        # as if the worker that posted it died before recording success
        s.execute(update(OutboundRecord).values(
            status="sending", claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1),
            provider_message_id=None))
    assert sweep(older_than_seconds=0)["outbound"] == 1
    run_jobs()
    assert len(slack.stub.messages) == 1
    assert deliver(record.id) is None
    with db.session_scope() as s:
        row = s.get(OutboundRecord, record.id)
        assert row.status == "sent" and row.provider_message_id == slack.stub.messages[0].ts


def test_sends_to_one_dm_are_paced_at_one_per_second(slack):
    slack.invite()
    slack.click("accept")
    for text in ("ok", "fine", "pause"):
        slack.say(text)
    assert len(slack.stub.posts_to(USER)) >= 4
    assert slack.stub.limited == []  # Slack never had to refuse one for coming too soon


def test_a_first_dm_is_posted_by_user_id_without_opening_it(slack):
    """conversations.open is Tier 3 (about 50 a minute): a rollout cannot afford one per
    invite. chat.postMessage takes the user's id and posts in the app's DM with them."""
    slack.invite()
    assert slack.stub.calls("conversations.open") == []
    [consent] = slack.stub.posts_to(USER)
    [post] = slack.stub.calls("chat.postMessage")
    assert slack.stub.args(post)["channel"] == USER
    slack.click("accept", message=consent)  # the reply comes back in the DM itself
    assert len(slack.stub.posts_to(USER)) == 2


def test_a_lookup_slack_refuses_for_its_tier_waits_uncounted_and_goes_once(slack):
    """users.lookupByEmail is Tier 3: a 429 for it holds the workspace's lookups, the
    invite's message waits without using up an attempt, and goes once later."""
    from sqlalchemy import update

    from channels.durable import sweep

    slack.stub.fail_next("users.lookupByEmail", Reply(
        429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}))
    slack.invite()
    with db.session_scope() as s:
        row = s.scalar(select(OutboundRecord))
        assert (row.status, row.attempts) == ("pending", 0)  # waiting, not failing
        s.execute(update(OutboundRecord).values(created_at=row.created_at.replace(year=2025)))
    assert sweep(older_than_seconds=0)["outbound"] == 1
    run_jobs()  # waits out the Retry-After (held in Redis for every worker), then sends
    with db.session_scope() as s:
        assert s.scalar(select(OutboundRecord.status)) == "sent"
    assert len(slack.stub.posts_to(USER)) == 1


# ---- App Home and /parley ---------------------------------------------------------------

def test_app_home_lists_open_interviews_with_resume(slack):
    slack.invite()
    slack.event({"type": "event_callback", "team_id": "T0001", "event_id": "EvHome1",
                 "event": {"type": "app_home_opened", "user": USER, "tab": "home"}})
    run_jobs()
    view = slack.stub.views[-1]
    assert view["user_id"] == USER and view["view"]["type"] == "home"
    text = json.dumps(view["view"])
    assert "Stay Interview" in text and "resume_interview" in text
    assert "HR will see them with your name" in text


def test_app_home_quotes_an_anonymous_sessions_own_threshold(slack):
    slack.invite(session_type="engagement-pulse", settings={"anonymity_threshold": 7})
    slack.event({"type": "event_callback", "team_id": "T0001", "event_id": "EvHome7",
                 "event": {"type": "app_home_opened", "user": USER, "tab": "home"}})
    run_jobs()
    text = json.dumps(slack.stub.views[-1]["view"])
    assert "at least 7 people" in text and "at least 5" not in text


def test_slash_command_help_status_pause_resume(slack):
    slack.invite()
    slack.click("accept")
    assert "/parley status" in slack.command("help").get_data(as_text=True)
    assert "in progress" in slack.command("status").get_data(as_text=True)
    assert slack.command("pause").status_code == 200
    run_jobs()
    assert slack.api.get("/interviews/1").get_json()["state"] == "paused"
    slack.command("resume")
    run_jobs()
    assert slack.api.get("/interviews/1").get_json()["state"] == "in_progress"


# ---- multi-workspace install -----------------------------------------------------------

def test_oauth_install_stores_the_workspace_and_its_token_is_used(make_app):
    import re

    with SlackStub(users={EMAIL: USER}) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_client_id="111.222", slack_client_secret="shh",
                       slack_api_base_url=stub.base_url)
        client = app.test_client()
        page = client.get("/slack/install")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "oauth/v2/authorize" in html and "client_id=111.222" in html
        state = re.search(r"state=([\w-]+)", html).group(1)

        done = client.get(f"/slack/oauth_redirect?code=c0de&state={state}")
        assert done.status_code == 200, done.get_data(as_text=True)
        assert len(stub.calls("oauth.v2.access")) == 1
        forged = client.get("/slack/oauth_redirect?code=c0de&state=made-up")
        assert forged.status_code >= 400

        api = ApiClient(client, ADMIN_TOKEN)
        session = make_session(api)
        api.post(f"/sessions/{session['id']}/invites",
                 {"person": {"name": "Ada", "email": EMAIL}, "channel": "slack"})
        run_jobs()
        assert stub.messages and stub.messages[0].token == "xoxb-installed-token"
        detail = api.get("/interviews/1").get_json()
        assert detail["state"] == "consent"
