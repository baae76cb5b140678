"""1-on-1 threads beyond Slack, as the two people use them: Teams (each one's personal chat
with the bot, the same cards kept in step on both sides) against a loopback Bot Connector
with Bot Framework authentication on; email (one thread to both) through a real SMTP server
and Mailgun's signed webhook; and "add: …" / "note: …" by SMS against a loopback Twilio."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import db, rollouts
from core.models import AgendaItem, OneOnOne, PrivateNote
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_sms import PHONE, twilio_settings
from tests.integration.test_teams import TeamsWorld, teams_settings
from tests.support.email_chat import SIGNING_KEY, client_reply
from tests.support.factories import ApiClient
from tests.support.mail import Recorder, mailgun_form, self_signed, smtp_server
from tests.support.teams_stub import Authority, BotConnector
from tests.support.teams_stub import Person as TeamsUser
from tests.support.twilio_stub import TwilioStub, inbound_form, signature
from tests.support.worker import run_jobs

MARIA, JONAS = "maria@northwind.example", "jonas@northwind.example"


def people(api: ApiClient, **extra) -> tuple[int, int, int]:
    """Maria manages Jonas: their pair comes from the hierarchy. (Maria, Jonas, pair)."""
    maria = api.post("/people", {"name": "Maria Schmidt", "email": MARIA,
                                 **extra.get("maria", {})}).get_json()["id"]
    jonas = api.post("/people", {"name": "Jonas Becker", "email": JONAS, "manager_email": MARIA,
                                 **extra.get("jonas", {})}).get_json()["id"]
    [pair] = api.get(f"/one-on-ones?person={jonas}").get_json()["one_on_ones"]
    return maria, jonas, pair["id"]


def agenda(api: ApiClient, pair: int) -> list[tuple[str, str]]:
    meetings = api.get(f"/one-on-ones/{pair}").get_json()["meetings"]
    return [(i["text"], i["state"]) for i in meetings[-1]["agenda"]] if meetings else []


# ---- Teams: each side's personal chat, the same cards on both -------------------------------

class TeamsPair(TeamsWorld):
    def __init__(self, *args):
        super().__init__(*args)
        self.maria, self.jonas = TeamsUser(1, name="Maria"), TeamsUser(2, name="Jonas")

    def cards(self, user) -> list:
        return [m for m in self.sent(user) if m.card.get("actions") or m.updates]

    def items(self, user) -> list:
        return [m for m in self.sent(user)
                if any("about" in a["data"] and a["data"]["about"].startswith("agenda:")
                       for a in m.card.get("actions") or [])]

    def submit(self, user, card, choice: str, text: str = ""):
        activity = user.click(self.connector, card, choice)
        activity["value"]["text"] = text
        return self.deliver(activity, user)


@pytest.fixture
def teams_pair(make_app, tmp_path, monkeypatch):
    maria, jonas = TeamsUser(1, name="Maria"), TeamsUser(2, name="Jonas")
    roster = {u.user_id: {"name": u.name, "aadObjectId": u.aad, "email": e,
                          "userPrincipalName": e} for u, e in ((maria, MARIA), (jonas, JONAS))}
    with BotConnector(roster) as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(**teams_settings(connector, authority), mail_dir="off")
        client = app.test_client()
        world = TeamsPair(connector, authority, client, ApiClient(client, ADMIN_TOKEN))
        ids = people(world.api, maria={"aad_object_id": maria.aad},
                     jonas={"aad_object_id": jonas.aad})
        world.install(world.maria)
        world.install(world.jonas)
        world.ids = ids
        yield world


def test_a_teams_thread_keeps_the_same_agenda_in_both_chats(teams_pair):
    t = teams_pair
    maria_id, jonas_id, pair = t.ids
    t.api.post(f"/one-on-ones/{pair}/agenda", {"text": "Q3 roadmap", "added_by": maria_id})
    run_jobs()
    assert t.api.get(f"/one-on-ones/{pair}").get_json()["channel"] == "teams"
    for user in (t.maria, t.jonas):  # the intro with its box, then the item, in each chat
        intro = t.cards(user)[0]
        assert "1-on-1 thread of Maria Schmidt and Jonas Becker" in intro.text
        assert any(b["type"] == "Input.Text" for b in intro.card["body"])
        [item] = t.items(user)
        assert "Q3 roadmap" in item.card_text() and "Maria Schmidt" in item.card_text()
        assert set(item.buttons()) == {"discussed", "carry"}

    t.click("discussed", card=t.items(t.jonas)[0], user=t.jonas)  # Jonas, in his chat
    for user in (t.maria, t.jonas):  # both cards now say so, and offer no buttons
        [item] = t.items(user)
        assert "discussed" in item.card_text() and item.buttons() == []
    assert agenda(t.api, pair) == [("Q3 roadmap", "discussed")]

    t.say("add: Team offsite", user=t.maria)  # typed in her own chat
    t.submit(t.jonas, t.cards(t.jonas)[0], "add", "My promotion case")  # the card's box
    for user in (t.maria, t.jonas):
        texts = [i.card_text() for i in t.items(user)]
        assert len(texts) == 3 and "Team offsite" in texts[1] and "promotion" in texts[2]
        assert "Added by Jonas Becker" in texts[2]

    maria_before = len(t.sent(t.maria))
    t.submit(t.jonas, t.cards(t.jonas)[0], "note", "Ask about the lead role")
    assert "yours alone" in t.last(t.jonas).text  # said in his chat alone
    assert len(t.sent(t.maria)) == maria_before
    with db.session_scope() as s:
        [note] = s.scalars(select(PrivateNote))
        assert (note.author_id, note.text) == (jonas_id, "Ask about the lead role")
    assert "lead role" not in t.api.get(f"/one-on-ones/{pair}").get_data(as_text=True)

    t.submit(t.jonas, t.cards(t.jonas)[0], "add", "")  # an empty box: told, to him alone
    assert "say what you want to talk about" in t.last(t.jonas).text
    assert len(t.sent(t.maria)) == maria_before

    t.say("done for today", user=t.maria)
    for user in (t.maria, t.jonas):
        assert "1 discussed, 2 carried over" in t.last(user).text
    assert agenda(t.api, pair) == [("Team offsite", "open"), ("My promotion case", "open")]
    assert "couldn't find" in t.say("1on1 nobody@northwind.example", user=t.maria).text
    assert t.connector.limited == []  # every conversation's windows kept


def test_an_assigned_topic_edited_after_sending_is_updated_in_both_teams_chats(teams_pair):
    t = teams_pair
    topic = t.api.post("/assigned-topics", {
        "title": "Career conversations", "note": "Where do you want to be in a year?",
        "audience": {"match": "all", "conditions": []}, "assigned_by": t.ids[0],
        "respect_quiet_hours": False}).get_json()  # the tests run at any hour
    assert t.api.post(f"/assigned-topics/{topic['id']}/send").status_code in (200, 202)
    rollouts.dispatch_due()
    run_jobs()
    for user in (t.maria, t.jonas):
        [item] = t.items(user)
        assert "Career conversations" in item.card_text()
    t.api.patch(f"/assigned-topics/{topic['id']}", {"title": "Career growth this quarter"})
    run_jobs()
    for user in (t.maria, t.jonas):
        [item] = t.items(user)
        assert "Career growth this quarter" in item.card_text()  # updated in place
        assert len(t.items(user)) == 1
    with db.session_scope() as s:
        [item] = s.scalars(select(AgendaItem))
        assert set(item.messages) == {f"p{t.ids[0]}", f"p{t.ids[1]}"}


# ---- email: one thread to both --------------------------------------------------------------

@pytest.fixture
def mail_pair(make_app, request, tmp_path):
    recorder = Recorder()
    cert = self_signed(tmp_path)
    server = smtp_server(recorder, starttls=cert)
    request.addfinalizer(server.stop)
    app = make_app(smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}",
                   email_ca_file=str(cert[0]), email_from="Northwind HR <hr@northwind.example>",
                   email_reply_domain="reply.northwind.example",
                   email_inbound_signing_key=SIGNING_KEY)
    client = app.test_client()
    api = ApiClient(client, ADMIN_TOKEN)
    return client, recorder, api, people(api)


def reply(client, recorder, parent, text: str, sender: str) -> list:
    """``sender`` replies to ``parent``; the mail sent because of it."""
    before = len(recorder.received)
    raw = client_reply(parent, text, sender=sender)
    resp = client.post("/email/inbound/mime", data=mailgun_form(SIGNING_KEY, raw))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    run_jobs()
    return recorder.received[before:]


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_an_email_thread_to_both_each_in_their_own_copy(mail_pair):
    client, recorder, api, (maria, jonas, pair) = mail_pair
    api.post(f"/one-on-ones/{pair}/agenda", {"text": "Q3 roadmap", "added_by": maria})
    run_jobs()
    assert api.get(f"/one-on-ones/{pair}").get_json()["channel"] == "email"
    mine = {who: [r["message"] for r in recorder.received if r["to"] == [who]]
            for who in (MARIA, JONAS)}
    assert len(recorder.received) == 4  # intro and item, to each of them alone
    for who, (intro, item) in mine.items():
        assert intro["To"] == who and intro["Reply-To"].startswith(f"reply+p{pair}.")
        assert item["In-Reply-To"] == intro["Message-ID"]  # one thread in each inbox
        assert "Q3 roadmap" in body(item) and "1. Discussed" in body(item)
    assert mine[MARIA][0]["Reply-To"] != mine[JONAS][0]["Reply-To"]  # signed for each
    assert "1-on-1 thread of Maria Schmidt and Jonas Becker" in body(mine[MARIA][0])
    j_intro, j_item = mine[JONAS]
    m_intro, m_item = mine[MARIA]

    added = reply(client, recorder, j_intro, "add: My promotion case", f"Jonas <{JONAS}>")
    assert sorted(r["to"][0] for r in added) == sorted([MARIA, JONAS])
    assert all("My promotion case" in body(r["message"])
               and "Added by Jonas Becker" in body(r["message"]) for r in added)

    assert reply(client, recorder, m_item, "1", f"Maria <{MARIA}>") == []
    assert agenda(api, pair) == [("Q3 roadmap", "discussed"), ("My promotion case", "open")]

    [kept] = reply(client, recorder, j_intro, "note: he wants to lead the migration",
                   f"Jonas <{JONAS}>")
    assert kept["to"] == [JONAS] and "yours alone" in body(kept["message"])
    with db.session_scope() as s:
        [note] = s.scalars(select(PrivateNote))
        assert note.author_id == jonas and "lead the migration" in note.text

    # Jonas's address acts as Jonas only: from anyone else — Maria included — nothing
    assert reply(client, recorder, j_intro, "add: sneaky", f"Maria <{MARIA}>") == []
    assert reply(client, recorder, j_intro, "add: sneaky",
                 "Mallory <mallory@northwind.example>") == []
    summary = reply(client, recorder, m_intro, "3", f"Maria <{MARIA}>")  # Done for today
    assert sorted(r["to"][0] for r in summary) == sorted([MARIA, JONAS])
    assert "1 discussed, 1 carried over" in body(summary[0]["message"])
    assert agenda(api, pair) == [("My promotion case", "open")]


# ---- SMS: "add: …" and "note: …" from a phone ------------------------------------------------

def test_add_and_note_by_sms_reach_the_pairs_agenda_and_answer_the_sender(make_app):
    with TwilioStub(rate=20.0) as stub:
        app = make_app(**twilio_settings(stub), mail_dir="off")
        client = app.test_client()
        api = ApiClient(client, ADMIN_TOKEN)
        maria, jonas, pair = people(api, jonas={"phone": PHONE})

        def text(body: str, n: int) -> list[str]:
            form = inbound_form(PHONE, body, f"SMoo{n:028d}")
            from tests.conftest import PUBLIC_URL
            resp = client.post("/twilio/sms", data=form, headers={
                "X-Twilio-Signature": signature(PUBLIC_URL + "/twilio/sms", form)})
            assert resp.status_code == 200
            before = len(stub.to(PHONE))
            run_jobs(retries=True)
            return [m.body for m in stub.to(PHONE)[before:]]

        assert text("add: Budget for the conference", 1) == [
            "Added to the agenda of your 1-on-1 with Maria Schmidt."]
        assert agenda(api, pair) == [("Budget for the conference", "open")]
        [said] = text("note: ask for two days of prep", 2)
        assert "yours alone" in said
        with db.session_scope() as s:
            assert s.scalar(select(PrivateNote.text)) == "ask for two days of prep"
            assert s.get(OneOnOne, pair).channel is None  # their thread is still the web
        [answer] = text("hello there", 3)  # anything else is not a 1-on-1's
        assert "Budget" not in answer

        hannah = api.post("/people", {"name": "Hannah Weber",
                                      "email": "hannah@northwind.example"}).get_json()["id"]
        [opened] = text("1on1 Hannah@Northwind.example", 4)  # Meet with Anyone by SMS
        assert "1-on-1 with Hannah Weber is open" in opened
        pairs = api.get(f"/one-on-ones?person={hannah}").get_json()["one_on_ones"]
        assert [p["kind"] for p in pairs] == ["anyone"]
        assert "couldn't find" in text("1on1 nobody@northwind.example", 5)[0]
        # two 1-on-1s now: which one a bare "add: …" is for is asked, never guessed
        assert "Which 1-on-1" in text("add: lunch plans", 6)[0]
        assert text("add Hannah@northwind.example: lunch plans", 7) == [
            "Added to the agenda of your 1-on-1 with Hannah Weber."]
        [with_hannah] = [p["id"] for p in pairs]
        assert agenda(api, with_hannah) == [("lunch plans", "open")]
        assert agenda(api, pair) == [("Budget for the conference", "open")]
