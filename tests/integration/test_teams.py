"""Interviews in a Teams personal chat, over HTTP, with Bot Framework authentication on:
tokens signed with a test key whose OpenID metadata and JWKS are on loopback, an https
login authority on loopback issuing the bot token, and a loopback Bot Connector at the
activities' serviceUrl (PROTOCOLS.md, Microsoft Teams)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core import db
from core.models import InboundEvent, OutboundRecord, Person, TeamsContact
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient, make_session
from tests.support.stub_server import Reply
from tests.support.teams_stub import (
    APP_ID,
    APP_PASSWORD,
    BOT_ID,
    BOT_TOKEN,
    OTHER_KEY,
    TENANT,
    Authority,
    BotConnector,
    sign,
    windows_kept,
)
from tests.support.teams_stub import Person as TeamsUser
from tests.support.worker import run_jobs

EMAIL = "ada@example.com"
RICH = ("Mostly the people: my team is generous with their time and my manager trusts me "
        "to decide how to do my work, which matters a lot to me.")


class TeamsWorld:
    def __init__(self, connector, authority, client, api):
        self.connector, self.authority, self.client, self.api = (connector, authority,
                                                                   client, api)
        self.user = TeamsUser(1)

    def post(self, activity: dict, token: str | None = None):
        token = token if token is not None else sign(activity["serviceUrl"])
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post("/api/messages", json=activity, headers=headers)

    def deliver(self, activity: dict, user=None):
        resp = self.post(activity)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs()
        return self.last(user)

    def install(self, user=None):
        return self.deliver((user or self.user).install(self.connector), user)

    def say(self, text: str, user=None):
        return self.deliver((user or self.user).message(self.connector, text), user)

    def click(self, choice: str, card=None, user=None):
        user = user or self.user
        card = card or self.last_card(user)
        return self.deliver(user.click(self.connector, card, choice), user)

    def sent(self, user=None):
        return self.connector.to((user or self.user).conversation)

    def last(self, user=None):
        sent = self.sent(user)
        return sent[-1] if sent else None

    def last_card(self, user=None):
        return [m for m in self.sent(user) if m.buttons()][-1]

    def person(self, email=EMAIL, name="Ada Lovelace", **extra):
        resp = self.api.post("/people", {"name": name, "email": email, **extra})
        assert resp.status_code in (200, 201), resp.get_json()
        return resp.get_json()

    def invite(self, email=EMAIL, name="Ada Lovelace", session_type="exit-interview",
               fallback=()):
        session = make_session(self.api, session_type)
        resp = self.api.post(f"/sessions/{session['id']}/invites",
                             {"person": {"name": name, "email": email}, "channel": "teams",
                              "fallback": list(fallback)})
        assert resp.status_code == 201, resp.get_json()
        run_jobs()
        return session


def teams_settings(connector, authority) -> dict:
    return {"teams_app_id": APP_ID, "teams_app_password": APP_PASSWORD,
            "teams_tenant_id": TENANT, "teams_openid_metadata_url": connector.metadata_url,
            "teams_login_url": authority.url}


@pytest.fixture
def teams(make_app, tmp_path, monkeypatch):
    user = TeamsUser(1)
    roster = {user.user_id: {"name": "Ada", "aadObjectId": user.aad, "email": EMAIL,
                             "userPrincipalName": EMAIL}}
    with BotConnector(roster) as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, **teams_settings(connector, authority))
        client = app.test_client()
        yield TeamsWorld(connector, authority, client, ApiClient(client, ADMIN_TOKEN))


def stored() -> tuple[int, int, int]:
    with db.session_scope() as s:
        return (len(s.scalars(select(InboundEvent)).all()),
                len(s.scalars(select(OutboundRecord)).all()),
                len(s.scalars(select(TeamsContact)).all()))


# ---- the edge: every refused token is a 401 and stores nothing --------------------------------

@pytest.mark.parametrize("forge", [
    "missing", "garbage", "other key", "expired", "wrong audience", "wrong serviceurl",
    "wrong issuer", "unknown key id",
])
def test_a_token_the_connector_did_not_sign_for_us_is_401_and_nothing_is_stored(
        teams, forge, caplog):
    activity = teams.user.message(teams.connector, "hello")
    url = activity["serviceUrl"]
    token = {
        "missing": "", "garbage": "not-a-jwt",
        "other key": sign(url, key=OTHER_KEY),
        "expired": sign(url, expires_in=-3600),
        "wrong audience": sign(url, app_id="someone-elses-bot"),
        "wrong serviceurl": sign("https://attacker.example/"),
        "wrong issuer": sign(url, issuer="https://sts.windows.net/evil/"),
        "unknown key id": sign(url, kid="nope"),
    }[forge]
    with caplog.at_level(logging.WARNING, logger="channels.teams"):
        resp = teams.post(activity, token=token)
    assert resp.status_code == 401
    assert "Teams request refused" in caplog.text
    run_jobs()
    assert stored() == (0, 0, 0)
    assert teams.connector.sent == []


def test_an_activity_from_another_tenant_is_401(teams):
    activity = teams.user.message(teams.connector, "hello")
    activity["conversation"]["tenantId"] = activity["channelData"]["tenant"]["id"] = "other"
    assert teams.post(activity).status_code == 401
    assert stored() == (0, 0, 0)


def test_a_signed_but_malformed_body_is_400_with_a_reason(teams):
    resp = teams.client.post("/api/messages", data="{not json",
                             headers={"Authorization": f"Bearer {sign('x')}",
                                      "Content-Type": "application/json"})
    assert resp.status_code == 400 and "JSON object" in resp.get_json()["error"]["message"]
    resp = teams.post({"type": "message"}, token=sign("x"))
    assert resp.status_code == 400 and "serviceUrl" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("change", [
    {"from": "someone"}, {"from": {"id": 5}}, {"from": {"id": "29:" + "x" * 300}},
    {"conversation": []}, {"entities": ["x"]}, {"text": {"a": 1}}, {"id": "x" * 500},
    {"channelData": {"tenant": "t"}}, {"membersAdded": "bot"}, {"value": "x"},
    {"entities": [{"type": "mention", "mentioned": "x"}]},
    {"entities": [{"type": "mention", "mentioned": {"id": 5}}]},
    {"entities": [{"type": 5}]}, {"entities": [{"type": "mention", "text": ["<at>"]}]},
    {"conversation": {"id": "a:g", "conversationType": "groupChat", "tenantId": TENANT},
     "entities": [{"type": "mention", "mentioned": "x"}]},
    {"conversation": {"id": "a:g", "conversationType": "groupChat", "tenantId": TENANT},
     "entities": [{"type": "mention", "mentioned": {"id": BOT_ID}, "text": 7}]},
    {"conversation": {"id": "a:" + "x" * 900, "conversationType": "personal",
                      "tenantId": TENANT}, "id": "1:" + "9" * 180},  # hashed to fit the inbox
])
def test_a_signed_activity_of_the_wrong_shape_is_400_never_a_5xx(teams, change):
    activity = {**teams.user.message(teams.connector, "hello"), **change}
    resp = teams.post(activity)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
    if resp.status_code == 400:
        assert resp.get_json()["error"]["message"]


# ---- first contact ---------------------------------------------------------------------------

def test_install_links_the_person_by_entra_id_keeps_the_reference_and_greets_once(teams):
    teams.person(aad_object_id=teams.user.aad)
    greeting = teams.install()
    assert "Hi, I'm Parley" in greeting.text and "who will see your answers" in greeting.text
    assert greeting.token == BOT_TOKEN  # from the login authority, over https
    assert teams.authority.tokens()
    with db.session_scope() as s:
        person = s.scalar(select(Person).where(Person.email == EMAIL))
        contact = s.scalar(select(TeamsContact))
        assert person.teams_user_id == teams.user.user_id
        assert contact.person_id == person.id
        assert contact.reference["conversation"]["id"] == teams.user.conversation
    teams.install()  # installed again (or the event redelivered): no second greeting
    assert len(teams.sent()) == 1
    assert teams.connector.calls("member") == []  # the Entra id was enough


def test_an_install_while_redis_was_away_is_greeted_later_once(teams, make_app):
    from channels.teams import greet_pending
    from core import jobs

    teams.person(aad_object_id=teams.user.aad)
    offline = make_app(redis_url="redis://127.0.0.1:1/0",  # port 1 refuses connections
                       **teams_settings(teams.connector, teams.authority)).test_client()
    activity = teams.user.install(teams.connector)
    resp = offline.post("/api/messages", json=activity,
                        headers={"Authorization": f"Bearer {sign(activity['serviceUrl'])}"})
    assert resp.status_code == 200
    assert jobs.queue().count == 0 and teams.sent() == []
    assert greet_pending() == 1  # the scheduler's periodic job, where Redis is reachable
    run_jobs()
    [greeting] = teams.sent()
    assert "Hi, I'm Parley" in greeting.text
    assert greet_pending() == 0
    run_jobs()
    assert len(teams.sent()) == 1


def test_the_bot_added_to_a_personal_chat_counts_as_an_install(teams):
    teams.person(aad_object_id=teams.user.aad)
    update = {**teams.user.base(teams.connector, "conversationUpdate"),
              "membersAdded": [{"id": teams.user.user_id}, {"id": "28:" + APP_ID}]}
    greeting = teams.deliver(update)
    assert "Hi, I'm Parley" in greeting.text


def test_uninstalling_forgets_the_chat_so_the_next_invite_falls_back(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.deliver({**teams.user.base(teams.connector, "installationUpdate"),
                   "action": "remove"})
    session = teams.invite(fallback=["web"])
    [invite] = teams.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invite["channel"] == "web" and "not installed" in invite["status_reason"]


def test_typed_numbers_work_like_the_buttons(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.invite()
    question = teams.say("1")  # 1 = Accept on the consent card
    assert question.buttons() == ["pause", "skip", "stop"]


def test_install_links_by_email_from_the_roster_when_the_entra_id_is_unknown(teams):
    teams.person()  # no aad_object_id in the directory
    teams.install()
    assert len(teams.connector.calls("member")) == 1
    with db.session_scope() as s:
        person = s.scalar(select(Person).where(Person.email == EMAIL))
        assert person.teams_user_id == teams.user.user_id
        assert person.aad_object_id == teams.user.aad
    assert teams.api.get(f"/people/{person.id}").get_json()["aad_object_id"] == teams.user.aad


def test_an_unknown_contact_is_kept_and_answered_politely(teams):
    stranger = TeamsUser(9)
    reply = teams.install(user=stranger)
    assert "couldn't find you" in reply.text
    with db.session_scope() as s:
        contact = s.scalar(select(TeamsContact))
        assert contact.user_id == stranger.user_id and contact.person_id is None
    reply = teams.say("hello?", user=stranger)
    assert "open conversation" in reply.text


# ---- a whole Exit Interview in a personal chat ------------------------------------------------

def test_an_exit_interview_runs_from_install_to_close(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    session = teams.invite()
    invites = teams.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invites[0]["status"] == "sent"
    consent = teams.last()
    assert consent.buttons() == ["accept", "decline"]
    assert consent.card["version"] == "1.4" and consent.card["type"] == "AdaptiveCard"
    assert consent.text and "1. " in consent.text  # plain text for notifications
    assert consent.card["actions"][0]["data"] == {"interview": 1, "choice": "accept"}
    assert consent.activity["conversation"]["id"] == teams.user.conversation
    assert consent.activity["recipient"]["id"] == teams.user.user_id
    assert not consent.activity.get("replyToId")  # a message of its own

    question = teams.click("accept", card=consent)
    assert consent.updates, "the consent card is updated in place"
    assert consent.buttons() == [] and "✓" in consent.card_text()
    assert question.buttons() == ["pause", "skip", "stop"]
    assert "Topic 1 of" in question.card_text()
    before = len(teams.sent())
    teams.click("accept", card=consent)  # the same card clicked again counts once
    assert len(teams.sent()) == before
    assert teams.api.get("/interviews/1").get_json()["state"] == "in_progress"

    paused = teams.click("pause", card=question)
    assert paused.buttons() == ["resume", "stop"]
    assert teams.api.get("/interviews/1").get_json()["state"] == "paused"
    resumed = teams.say("resume")
    assert question.activity["text"].split("\n\n")[0] in resumed.text
    teams.say("pause")
    assert teams.api.get("/interviews/1").get_json()["state"] == "paused"
    teams.click("resume")
    assert teams.api.get("/interviews/1").get_json()["state"] == "in_progress"

    for _ in range(40):
        last = teams.say(RICH)
        if "Thank you — that's everything" in last.text:
            break
    detail = teams.api.get("/interviews/1").get_json()
    assert detail["state"] == "completed" and detail["channel"] == "teams"
    assert last.card["type"] == "AdaptiveCard"  # the closing card
    assert windows_kept(teams.connector.sent) and teams.connector.limited == []
    assert {m.token for m in teams.connector.sent} == {BOT_TOKEN}


def test_a_redelivered_activity_gets_one_answer(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.invite()
    teams.click("accept")
    before = len(teams.sent())
    activity = teams.user.message(teams.connector, RICH, activity_id="act-redelivered")
    for _ in range(3):
        assert teams.post(activity).status_code == 200
    run_jobs()
    assert len(teams.sent()) == before + 1


def test_ids_are_unique_only_within_a_chat_two_people_clicking_cards_with_one_id(teams):
    """Teams numbers each chat's messages on its own: Ada's and Grace's consent cards carry
    the same id, and so may their activities. Each click counts and updates its own card."""
    grace = TeamsUser(2, name="Grace")
    teams.person(aad_object_id=teams.user.aad)
    teams.person(email="grace@example.com", name="Grace Hopper", aad_object_id=grace.aad)
    teams.install()
    teams.install(grace)
    teams.invite()
    teams.invite(email="grace@example.com", name="Grace Hopper")
    ada_card, grace_card = teams.last_card(), teams.last_card(grace)
    assert ada_card.id == grace_card.id
    teams.deliver(teams.user.click(teams.connector, ada_card, "accept", activity_id="1:9"))
    teams.deliver(grace.click(teams.connector, grace_card, "decline", activity_id="1:9"),
                  grace)
    def label(card, choice):
        return next(a["title"] for a in card.card["actions"] if a["data"]["choice"] == choice)

    assert ada_card.card_text().endswith("✓ " + label(ada_card, "accept"))
    assert grace_card.card_text().endswith("✓ " + label(grace_card, "decline"))
    assert len(ada_card.updates) == len(grace_card.updates) == 1
    assert teams.api.get("/interviews/1").get_json()["state"] == "in_progress"
    assert teams.api.get("/interviews/2").get_json()["state"] == "declined"
    said = [teams.user.message(teams.connector, RICH, activity_id="1:10"),
            grace.message(teams.connector, "hello?", activity_id="1:10")]
    before = len(teams.sent()), len(teams.sent(grace))
    for activity in said:
        assert teams.post(activity).status_code == 200
    run_jobs()
    assert (len(teams.sent()), len(teams.sent(grace))) == (before[0] + 1, before[1] + 1)


def test_typing_reactions_edits_and_own_messages_are_ignored(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    before = len(teams.sent())
    base = teams.user.base(teams.connector, "typing")
    teams.post(base)
    teams.post({**teams.user.base(teams.connector, "messageReaction"),
                "reactionsAdded": [{"type": "like"}]})
    teams.post({**teams.user.base(teams.connector, "messageUpdate"), "text": "edited"})
    own = teams.user.message(teams.connector, "echo")
    own["from"] = {"id": own["recipient"]["id"], "name": "Parley"}
    teams.post(own)
    run_jobs()
    assert len(teams.sent()) == before
    with db.session_scope() as s:
        assert s.scalars(select(InboundEvent)).all() == []


@pytest.mark.parametrize("change", [{"channelId": "directline"}, {"channelId": "webchat"},
                                    {"conversationType": None}])
def test_only_a_teams_personal_chat_counts_as_one(teams, change):
    """A Direct Line or Web Chat activity signed for this bot is not a person's Teams chat:
    it neither touches their contact nor speaks for them."""
    teams.person(aad_object_id=teams.user.aad)
    for activity in (teams.user.install(teams.connector),
                     teams.user.message(teams.connector, "hello")):
        if "channelId" in change:
            activity["channelId"] = change["channelId"]
        else:
            del activity["conversation"]["conversationType"]
        assert teams.post(activity).status_code == 200
    run_jobs()
    assert stored() == (0, 0, 0) and teams.connector.sent == []


def test_in_a_group_chat_only_an_at_mention_counts_and_its_text_is_stripped():
    from channels.teams import parse_activity

    user = TeamsUser(1)
    connector = type("C", (), {"service_url": "http://127.0.0.1:1/teams/"})()
    group = user.message(connector, "pause please")
    group["conversation"]["conversationType"] = "groupChat"
    assert parse_activity(group) == []
    group["text"] = "<at>Parley</at> pause"
    group["entities"] = [{"type": "mention", "text": "<at>Parley</at>",
                          "mentioned": {"id": group["recipient"]["id"], "name": "Parley"}}]
    [inbound] = parse_activity(group)
    assert inbound.text == "pause"


# ---- reaching people proactively -----------------------------------------------------------

def test_a_person_who_has_not_installed_the_app_falls_back_visibly(teams):
    teams.person()
    session = teams.invite(fallback=["web"])
    [invite] = teams.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert "not installed" in invite["status_reason"] and invite["channel"] == "web"
    assert teams.connector.sent == []


def test_without_a_fallback_the_invite_is_unreachable_with_the_reason(teams):
    teams.person()
    session = teams.invite()
    [invite] = teams.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invite["status"] == "unreachable" and "not installed" in invite["status_reason"]


def test_403_blocked_by_user_is_permanent_and_marks_the_invite_unreachable(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.connector.fail_next("send", Reply(403, {"error": {
        "code": "ConversationBlockedByUser", "message": "User blocked the conversation"}}))
    session = teams.invite()
    [invite] = teams.api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert invite["status"] == "unreachable" and "403" in invite["status_reason"]
    assert len(teams.connector.calls("send")) == 2  # the greeting, the refused consent


def test_429_waits_retry_after_and_delivers_once(teams):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.connector.fail_next("send", Reply(429, {"error": {"code": "Throttled"}},
                                            headers={"Retry-After": "1"}))
    teams.invite()
    assert teams.last().buttons() == ["accept", "decline"]
    assert len(teams.sent()) == 2 and len(teams.connector.calls("send")) == 3


@pytest.mark.parametrize("status", [412, 502, 504])
def test_transient_connector_errors_are_retried_and_sent_once(teams, status):
    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    teams.connector.fail_next("send", Reply(status, {"error": {"code": "Transient"}}))
    teams.invite()
    run_jobs(retries=True)
    assert teams.last().buttons() == ["accept", "decline"]
    assert len(teams.sent()) == 2 and len(teams.connector.calls("send")) == 3
    with db.session_scope() as s:
        record = s.scalars(select(OutboundRecord).order_by(OutboundRecord.id)).all()[-1]
        assert record.status == "sent" and record.attempts == 2
        assert record.provider_message_id == teams.last().id  # the connector's own id


def test_a_send_that_timed_out_after_teams_took_it_is_delivered_not_lost(make_app, tmp_path,
                                                                         monkeypatch):
    """Teams has no lookup of a sent message without Graph: the retry sends again (at most
    once more), and the row records the id of the message that answered."""
    user = TeamsUser(1)
    with BotConnector() as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, teams_timeout=0.5, **teams_settings(connector, authority))
        world = TeamsWorld(connector, authority, app.test_client(),
                           ApiClient(app.test_client(), ADMIN_TOKEN))
        world.person(aad_object_id=user.aad)
        world.install()
        connector.hold_on_send = 3  # Teams keeps the message but answers after we gave up
        world.invite()
        connector.hold_on_send = 0
        run_jobs(retries=True)
        greeting, first, again = world.sent()  # at-least-once in this one case
        assert first.buttons() == again.buttons() == ["accept", "decline"]
        assert connector.calls("lookup") == []  # nothing to ask that could prove delivery
        with db.session_scope() as s:
            record = s.scalars(select(OutboundRecord).order_by(OutboundRecord.id)).all()[-1]
            assert record.status == "sent" and record.provider_message_id == again.id


# ---- one conversation across Slack and Teams -------------------------------------------------

@pytest.fixture
def both(make_app, tmp_path, monkeypatch):
    """One app on Slack and Teams; Ada is reachable on both."""
    from tests.support.slack_stub import BOT_TOKEN as SLACK_TOKEN
    from tests.support.slack_stub import SIGNING_SECRET, SlackStub

    user = TeamsUser(1)
    with BotConnector() as connector, Authority(tmp_path) as authority, \
            SlackStub(users={EMAIL: "U123"}) as slack:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=SLACK_TOKEN, slack_api_base_url=slack.base_url,
                       **teams_settings(connector, authority))
        client = app.test_client()
        world = TeamsWorld(connector, authority, client, ApiClient(client, ADMIN_TOKEN))
        world.slack = slack
        world.person(aad_object_id=user.aad, slack_user_id="U123")
        world.install()
        yield world


def slack_say(world, text: str, n: int):
    import json

    from tests.support.slack_stub import dm_event, signed

    body = json.dumps(dm_event("U123", text, f"EvX{n}"))
    assert world.client.post("/slack/events", data=body,
                             headers=signed(body)).status_code == 200
    run_jobs()
    return world.slack.posts_to("U123")[-1]


def test_started_in_slack_finished_in_teams_at_the_exact_point(both):
    session = make_session(both.api, "exit-interview")
    resp = both.api.post(f"/sessions/{session['id']}/invites",
                         {"person": {"email": EMAIL, "name": "Ada"}, "channel": "slack"})
    assert resp.status_code == 201
    run_jobs()
    slack_say(both, "1", 1)  # yes, let's start
    question = slack_say(both, RICH, 2)
    assert question.buttons() == ["pause", "skip", "stop"]
    teams_before = len(both.sent())
    reply = both.say("It was the commute, honestly, and the lack of a clear path upwards.")
    assert len(both.sent()) == teams_before + 1
    assert reply.buttons() == ["pause", "skip", "stop"]
    transcript = both.api.get("/interviews/1").get_json()
    assert transcript["channel"] == "teams" and transcript["state"] == "in_progress"
    turns = [t for t in transcript["turns"] if t["role"] == "participant"]
    assert [t["channel"] for t in turns][-2:] == ["slack", "teams"]
    asked = [t["text"] for t in transcript["turns"] if t["role"] == "interviewer"]
    assert asked[-2] in question.text and asked[-1] in reply.text  # the next one, not again
    assert asked[-1] not in asked[:-1]
    assert len(both.slack.posts_to("U123")) == 3  # nothing more went to Slack


def test_started_in_teams_finished_in_slack_at_the_exact_point(both):
    session = make_session(both.api, "exit-interview")
    resp = both.api.post(f"/sessions/{session['id']}/invites",
                         {"person": {"email": EMAIL, "name": "Ada"}, "channel": "teams"})
    assert resp.status_code == 201
    run_jobs()
    both.click("accept")
    question = both.say(RICH)
    topic = question.card_text()
    reply = slack_say(both, "Mostly the commute, and no clear path upwards.", 1)
    assert reply.buttons() == ["pause", "skip", "stop"]
    transcript = both.api.get("/interviews/1").get_json()
    assert transcript["channel"] == "slack" and transcript["state"] == "in_progress"
    asked = [t["text"] for t in transcript["turns"] if t["role"] == "interviewer"]
    assert asked[-2] in question.text and asked[-1] in reply.text  # the next one, not again
    assert asked[-1] not in asked[:-1]
    assert topic.split("Topic ")[1][:1] <= reply.context().split("Topic ")[1][:1]


# ---- pacing --------------------------------------------------------------------------------

def test_a_burst_to_one_chat_keeps_every_teams_window(teams):
    """Twelve messages for one chat at once, sent by the real worker: the connector (which
    refuses any send over a window) never has to, and its log keeps 7/1 s and 8/2 s."""
    from core import jobs
    from core.messages import Address, Outbound

    teams.person(aad_object_id=teams.user.aad)
    teams.install()
    with db.session_scope() as s:
        rows = [OutboundRecord(channel="teams", address=Address("teams", teams.user.user_id)
                               .to_dict(), payload=Outbound(f"note {i}", role="system")
                               .to_dict()) for i in range(12)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    jobs.enqueue_deliveries(ids)
    run_jobs(retries=True)
    assert len(teams.sent()) == 13
    assert teams.connector.limited == [] and windows_kept(teams.connector.sent)
    times = sorted(m.at for m in teams.sent())
    assert times[8] - times[0] >= 2.0 - 0.25  # the ninth waited for the 8 / 2 s window


# ---- development without credentials ------------------------------------------------------------

def test_dev_no_auth_is_refused_unless_the_public_url_is_loopback(make_app):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="TEAMS_DEV_NO_AUTH"):
        make_app(teams_dev_no_auth=True, public_base_url="https://parley.example.com")


def test_dev_no_auth_warns_loudly_at_start_and_needs_no_token(make_app, caplog):
    with BotConnector(pace=False) as connector:
        with caplog.at_level(logging.WARNING, logger="channels.teams"):
            app = make_app(teams_dev_no_auth=True, public_base_url="http://127.0.0.1:8000",
                           teams_openid_metadata_url=connector.metadata_url)
        assert "UNAUTHENTICATED" in caplog.text
        user = TeamsUser(3)
        resp = app.test_client().post("/api/messages", json=user.install(connector))
        assert resp.status_code == 200
        run_jobs()
        [greeting] = connector.to(user.conversation)
        assert greeting.token == ""  # no credentials, no token


@pytest.mark.parametrize("where", ["remote address", "serviceUrl"])
def test_dev_no_auth_refuses_anything_not_on_loopback(make_app, caplog, where):
    """The public URL may say 127.0.0.1 while gunicorn listens on 0.0.0.0: every request
    must itself come from loopback and name a loopback serviceUrl."""
    with BotConnector(pace=False) as connector:
        app = make_app(teams_dev_no_auth=True, public_base_url="http://127.0.0.1:8000",
                       teams_openid_metadata_url=connector.metadata_url)
        activity = TeamsUser(3).install(connector)
        environ = {}
        if where == "remote address":
            environ["REMOTE_ADDR"] = "10.20.30.40"
        else:
            activity["serviceUrl"] = "https://smba.trafficmanager.net/teams/"
        with caplog.at_level(logging.WARNING, logger="channels.teams"):
            resp = app.test_client().post("/api/messages", json=activity,
                                          environ_base=environ)
        assert resp.status_code == 401 and "TEAMS_DEV_NO_AUTH" in caplog.text
        run_jobs()
        assert stored() == (0, 0, 0) and connector.sent == []


def test_without_credentials_or_the_switch_there_is_no_teams_endpoint(client):
    assert client.post("/api/messages", json={"type": "message"}).status_code == 404
