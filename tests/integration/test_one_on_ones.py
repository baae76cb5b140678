"""1-on-1s as the people in them and HR use them: pairs from the imported hierarchy, the
thread as a Slack group DM against the loopback Slack Web API (requests signed as Slack
signs them), the agenda, private notes, HR's assigned topics, and the usage report."""

from __future__ import annotations

import io
import json
import time
import urllib.parse
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core import db, jobs, rollouts
from core.models import (
    AgendaItem,
    OneOnOne,
    OutboundRecord,
    PairActivity,
    Person,
    PrivateNote,
    RolloutRecipient,
    utcnow,
)
from core.one_on_ones import usage
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub, signed
from tests.support.worker import Worker, run_jobs

HEADER = "Employee ID,Full Name,Work Email,Slack ID,Time Zone,Manager,Country,Department"
ORG = [
    "E1,Hannah Weber,hannah@northwind.example,UHANNAH,Europe/Berlin,,Germany,People Team",
    "E2,Maria Schmidt,maria@northwind.example,UMARIA,Europe/Berlin,,Germany,Engineering",
    "E3,Jonas Becker,jonas@northwind.example,UJONAS,Europe/Berlin,E2,Germany,Engineering",
    "E4,Lea Fischer,lea@northwind.example,ULEA,Europe/Berlin,E2,Germany,Engineering",
    "E5,Sam Carter,sam@northwind.example,USAM,America/New_York,,United States,Sales",
    "E6,Alex Rivera,alex@northwind.example,UALEX,America/New_York,E5,United States,Sales",
    "E7,Yuki Tanaka,yuki@northwind.example,,Asia/Tokyo,E5,Germany,Sales",
]
GERMANY = {"match": "all", "conditions": [{"field": "Country", "op": "equals",
                                           "value": "Germany"}]}


class Org:
    """The org imported, Slack on the loopback stub, and a person's eye view of it."""

    def __init__(self, stub: SlackStub, client, api: ApiClient):
        self.stub, self.client, self.api = stub, client, api
        self.n = 0

    def load(self, rows: list[str] = ORG, mode: str = "merge") -> dict:
        data = "\n".join([HEADER, *rows]).encode()
        resp = self.api.client.post(f"/api/v1/directory/import?mode={mode}",
                                    headers=self.api.headers,
                                    data={"file": (io.BytesIO(data), "org.csv")},
                                    content_type="multipart/form-data")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def person(self, employee_id: str) -> int:
        with db.session_scope() as s:
            return s.scalar(select(Person.id).where(Person.employee_id == employee_id))

    def pair(self, manager: str, report: str) -> dict:
        pairs = self.api.get(f"/one-on-ones?person={self.person(report)}").get_json()
        [found] = [p for p in pairs["one_on_ones"]
                   if p["manager"] and p["manager"]["id"] == self.person(manager)]
        return self.api.get(f"/one-on-ones/{found['id']}").get_json()

    def thread(self, *users: str) -> list:
        return self.stub.posts_in(self.stub.group_dm(*users))

    def post(self, body: str, form: bool = False):
        ctype = "application/x-www-form-urlencoded" if form else "application/json"
        resp = self.client.post("/slack/events", data=body,
                                headers=signed(body, content_type=ctype))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs()
        return resp

    def say(self, user: str, text: str, channel: str):
        self.n += 1
        event = {"type": "event_callback", "team_id": "T0001", "api_app_id": "A1",
                 "event_id": f"EvOO{self.n:04d}", "event_time": int(time.time()),
                 "event": {"type": "message", "channel": channel, "channel_type": "mpim",
                           "user": user, "text": text, "ts": f"{time.time():.6f}"}}
        return self.post(json.dumps(event))

    def click(self, user: str, message, choice: str, *, trigger: str | None = None):
        [button] = [e for e in message.button_elements()
                    if e["action_id"] == f"choice:{choice}"]
        self.n += 1
        payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": user},
                   "api_app_id": "A1", "trigger_id": trigger or f"trig-{self.n}",
                   "container": {"type": "message", "message_ts": message.ts,
                                 "channel_id": message.channel},
                   "channel": {"id": message.channel},
                   "message": {"ts": message.ts, "text": message.text,
                               "blocks": message.blocks},
                   "actions": [{**button, "type": "button",
                                "action_ts": f"{time.time():.6f}.{self.n}"}]}
        return self.post("payload=" + urllib.parse.quote(json.dumps(payload)), form=True)

    def submit(self, user: str, modal: dict, text: str):
        self.n += 1
        view = {**modal["view"], "id": f"VS{self.n}", "hash": f"h{self.n}",
                "state": {"values": {"text": {"text": {"type": "plain_text_input",
                                                       "value": text}}}}}
        payload = {"type": "view_submission", "team": {"id": "T0001"}, "user": {"id": user},
                   "api_app_id": "A1", "trigger_id": f"trig-v{self.n}", "view": view}
        return self.post("payload=" + urllib.parse.quote(json.dumps(payload)), form=True)

    def command(self, user: str, text: str, channel: str):
        self.n += 1
        body = urllib.parse.urlencode({
            "command": "/parley", "text": text, "user_id": user, "team_id": "T0001",
            "trigger_id": f"tc{self.n}", "channel_id": channel,
            "response_url": f"{self.stub.url}/response"})
        resp = self.client.post("/slack/events", data=body, headers=signed(
            body, content_type="application/x-www-form-urlencoded"))
        assert resp.status_code == 200
        run_jobs()
        return resp.get_data(as_text=True)


@pytest.fixture
def org(make_app):
    with SlackStub(users={}, dm_rate=1.0) as stub:
        app = make_app(slack_signing_secret=SIGNING_SECRET, slack_bot_token=BOT_TOKEN,
                       slack_api_base_url=stub.base_url,
                       slack_update_rate=50)  # a test workspace: updates need not wait
        client = app.test_client()
        world = Org(stub, client, ApiClient(client, ADMIN_TOKEN))
        world.load()
        yield world


def item_posts(posts) -> list:
    return [p for p in posts if p.button_elements()
            and p.button_elements()[0]["value"].startswith("agenda:")]


def current_text(post) -> str:
    return post.updates[-1]["text"] if post.updates else post.text


# ---- pairs ----------------------------------------------------------------------------------

def test_the_imported_hierarchy_makes_one_pair_per_manager_link(org):
    with db.session_scope() as s:
        pairs = {(p.first.employee_id, p.second.employee_id, p.kind, p.active)
                 for p in s.scalars(select(OneOnOne))}
    assert pairs == {("E2", "E3", "reporting", True), ("E2", "E4", "reporting", True),
                     ("E5", "E6", "reporting", True), ("E5", "E7", "reporting", True)}
    org.load()  # the same file again: nothing new
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(OneOnOne)) == 4


def test_a_report_who_changes_manager_keeps_the_old_thread_read_only(org):
    old = org.pair("E2", "E3")
    jonas, maria = org.person("E3"), org.person("E2")
    assert org.api.post(f"/one-on-ones/{old['id']}/agenda",
                        {"text": "Conference budget", "added_by": jonas}).status_code == 201
    moved = [r.replace(",E2,Germany,Engineering", ",E5,Germany,Engineering")
             if r.startswith("E3,") else r for r in ORG]
    org.load(moved)
    before = org.api.get(f"/one-on-ones/{old['id']}").get_json()
    assert before["active"] is False and before["retired_at"]
    assert [i["text"] for m in before["meetings"] for i in m["agenda"]] == ["Conference budget"]
    refused = org.api.post(f"/one-on-ones/{old['id']}/agenda",
                           {"text": "One more", "added_by": maria})
    assert refused.status_code == 409 and "read-only" in refused.get_json()["error"]["message"]
    assert org.pair("E5", "E3")["active"] is True
    org.load()  # back to Maria: the old pair, history and all, is active again
    again = org.api.get(f"/one-on-ones/{old['id']}").get_json()
    assert again["active"] is True and again["meetings"][0]["agenda"]


def test_meet_with_anyone_through_the_api_and_in_slack(org):
    hannah, sam = org.person("E1"), org.person("E5")
    made = org.api.post("/one-on-ones", {"people": [sam, hannah]})
    assert made.status_code == 201
    pair = made.get_json()
    assert pair["kind"] == "anyone" and pair["manager"] is None
    assert org.api.post("/one-on-ones", {"people": [hannah, sam]}).status_code == 200  # same
    run_jobs()
    [intro] = org.thread("UHANNAH", "USAM")
    assert "Hannah Weber and Sam Carter" in intro.text
    # /parley 1on1 @someone opens one from Slack
    answer = org.command("UALEX", "1on1 <@UHANNAH|hannah>", "DUALEX")
    assert "Opening a 1-on-1" in answer
    [intro] = org.thread("UALEX", "UHANNAH")
    assert "Alex Rivera" in intro.text and "Hannah Weber" in intro.text
    # a report asking for their manager gets their reporting pair, not a second one
    org.command("UJONAS", "1on1 <@UMARIA>", "DUJONAS")
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(OneOnOne).where(
            OneOnOne.kind == "anyone")) == 2


def test_a_pair_with_the_same_person_twice_is_refused(org):
    hannah = org.person("E1")
    resp = org.api.post("/one-on-ones", {"people": [hannah, hannah]})
    assert resp.status_code == 422


# ---- the thread: agenda, discussed, carried over, done for today ---------------------------

def test_the_agenda_in_a_slack_group_dm_from_first_item_to_the_next_meeting(org):
    thread = org.stub.group_dm("UMARIA", "UJONAS")
    org.api.post(f"/one-on-ones/{org.pair('E2', 'E3')['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E2")})
    run_jobs()
    intro, first = org.thread("UMARIA", "UJONAS")
    assert org.stub.calls("conversations.open")  # the group DM of both and the bot
    assert "Q3 roadmap" in first.text and "Added by Maria Schmidt" in first.text
    assert set(first.buttons()) == {"discussed", "carry"}

    org.say("UJONAS", "add: My promotion case", thread)  # typed in the thread
    org.say("UJONAS", "see you at 3", thread)  # just talking: counted, not kept
    items = item_posts(org.thread("UMARIA", "UJONAS"))
    assert "My promotion case" in items[1].text and "Added by Jonas Becker" in items[1].text

    org.click("UJONAS", items[0], "discussed")
    assert "discussed" in current_text(items[0])
    assert items[0].updates[-1]["blocks"][-1]["type"] != "actions"  # no buttons once discussed
    org.click("UMARIA", items[1], "carry")
    assert "carried over" in current_text(items[1])

    org.click("UMARIA", intro, "close")  # "Done for today"
    summary = org.thread("UMARIA", "UJONAS")[-1]
    assert "1 discussed, 1 carried over" in summary.text
    pair = org.pair("E2", "E3")
    first_meeting, second_meeting = pair["meetings"]
    assert first_meeting["closed_at"] and [i["text"] for i in first_meeting["agenda"]] == [
        "Q3 roadmap"]
    assert [(i["text"], i["state"], i["carried"]) for i in second_meeting["agenda"]] == [
        ("My promotion case", "open", 1)]
    assert "carried over 1×" in current_text(items[1])
    org.click("UJONAS", intro, "close")  # the other one clicked too, a moment later: no-op
    assert len(org.pair("E2", "E3")["meetings"]) == 2
    org.say("UJONAS", "done", thread)  # a plain "done" in conversation closes nothing
    assert len(org.pair("E2", "E3")["meetings"]) == 2
    with db.session_scope() as s:  # nothing the two wrote to each other is kept
        assert "see you at 3" not in json.dumps(
            [r.payload for r in s.scalars(select(OutboundRecord))])


def test_a_thread_reads_in_the_order_it_was_written(org):
    """The intro and the first item are two jobs: the item's, run first, waits for the
    intro, and goes the moment the intro is out (one conversations.open for the two)."""
    from channels.durable import deliver

    pair = org.pair("E2", "E4")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Hiring plan", "added_by": org.person("E2")})
    with db.session_scope() as s:
        intro, item = s.scalars(select(OutboundRecord.id).where(
            OutboundRecord.one_on_one_id == pair["id"]).order_by(OutboundRecord.id))
    assert deliver(item) is None  # the intro is not out: the item waits, uncounted
    with db.session_scope() as s:
        assert (s.get(OutboundRecord, item).status, s.get(OutboundRecord, item).attempts) == (
            "pending", 0)
    assert org.thread("UMARIA", "ULEA") == []
    deliver(intro)
    run_jobs()  # the intro's delivery sent the item after it
    posts = org.thread("UMARIA", "ULEA")
    assert [("Hiring plan" in p.text) for p in posts] == [False, True]
    assert len(org.stub.calls("conversations.open")) == 1


def test_two_clicks_on_one_item_count_once(org):
    pair = org.pair("E2", "E4")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Hiring plan", "added_by": org.person("E4")})
    run_jobs()
    [item] = item_posts(org.thread("UMARIA", "ULEA"))
    org.click("UMARIA", item, "discussed")
    org.click("ULEA", item, "discussed")  # the other one, a moment later
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(PairActivity).where(
            PairActivity.kind == "item_discussed")) == 1
    assert len(item.updates) == 1


def test_someone_outside_the_pair_cannot_act_in_it(org):
    pair = org.pair("E2", "E4")
    resp = org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                        {"text": "Sneaky", "added_by": org.person("E6")})
    assert resp.status_code == 422
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Hiring plan", "added_by": org.person("E4")})
    run_jobs()
    [item] = item_posts(org.thread("UMARIA", "ULEA"))
    org.click("UALEX", item, "discussed")  # a forwarded button, clicked by someone else
    assert org.pair("E2", "E4")["meetings"][0]["agenda"][0]["state"] == "open"


def test_add_talking_point_and_private_note_open_modals(org):
    pair = org.pair("E2", "E3")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E2")})
    run_jobs()
    intro = org.thread("UMARIA", "UJONAS")[0]
    org.click("UJONAS", intro, "add", trigger="trig-add")
    [modal] = org.stub.modals
    assert modal["trigger_id"] == "trig-add" and modal["view"]["type"] == "modal"
    org.submit("UJONAS", modal, "Working from Lisbon in May")
    assert "Working from Lisbon in May" in item_posts(org.thread("UMARIA", "UJONAS"))[-1].text

    org.click("UMARIA", intro, "note", trigger="trig-note")
    org.submit("UMARIA", org.stub.modals[-1], "Jonas seems tired; ask about on-call")
    with db.session_scope() as s:
        [note] = s.scalars(select(PrivateNote))
        assert note.author_id == org.person("E2")


# ---- private notes -------------------------------------------------------------------------

def test_a_private_note_is_seen_by_its_author_only(org):
    pair = org.pair("E2", "E3")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E2")})
    run_jobs()
    thread = org.stub.group_dm("UMARIA", "UJONAS")
    posts_before = len(org.thread("UMARIA", "UJONAS"))
    answer = org.command("UMARIA", "note Jonas wants to lead the migration", thread)
    assert "Only you will ever see it" in answer  # the ephemeral acknowledgement
    assert len(org.thread("UMARIA", "UJONAS")) == posts_before  # nothing in the thread
    with db.session_scope() as s:
        [note] = s.scalars(select(PrivateNote))
        assert (note.author_id, note.text) == (org.person("E2"),
                                               "Jonas wants to lead the migration")
    secret = "lead the migration"
    for path in (f"/one-on-ones/{pair['id']}", f"/one-on-ones?person={org.person('E3')}",
                 "/one-on-ones/usage?days=7", "/one-on-ones/usage?days=30",
                 "/ops/failures"):
        assert secret not in org.api.get(path).get_data(as_text=True), path
    outside = org.command("UMARIA", "note hello", "DUMARIA")  # not in a 1-on-1 thread
    assert "inside a 1-on-1 thread" in outside
    mine = org.command("UMARIA", "notes", thread)  # read back, to the author alone
    assert "Jonas wants to lead the migration" in mine
    assert "no private notes" in org.command("UJONAS", "notes", thread)
    refused = org.command("UALEX", "note sneaky", thread)  # not one of the pair
    assert "Only the two people" in refused and len(org.thread("UMARIA", "UJONAS")) == \
        posts_before
    page = org.command("UMARIA", "page", "DUMARIA")  # their own page link, with the notes
    path = page.split("http://", 1)[1].split()[0].split("/", 1)[1]
    assert "lead the migration" in org.client.get(f"/{path}").get_data(as_text=True)


def test_a_note_refused_says_so_to_its_author_and_nothing_in_the_thread(org):
    pair = org.pair("E2", "E3")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E2")})
    run_jobs()
    thread = org.stub.group_dm("UMARIA", "UJONAS")
    before = len(org.thread("UMARIA", "UJONAS"))
    assert "at most" in org.command("UMARIA", "note " + "x" * 5001, thread)
    moved = [r.replace(",E2,Germany,Engineering", ",E5,Germany,Engineering")
             if r.startswith("E3,") else r for r in ORG]
    org.load(moved)  # the pair is retired
    assert "has ended" in org.command("UMARIA", "note too late", thread)
    assert len(org.thread("UMARIA", "UJONAS")) == before
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(PrivateNote)) == 0


# ---- assigned topics -----------------------------------------------------------------------

def assign(org, **extra) -> dict:
    body = {"title": "Career conversations this quarter",
            "note": "Talk about where you want to be in a year.",
            "annotation": "Part of our growth framework rollout.",
            "audience": GERMANY, "assigned_by": org.person("E1"),
            "respect_quiet_hours": False, **extra}  # the tests run at any hour
    resp = org.api.post("/assigned-topics", body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def dispatch(times: int = 1) -> None:
    for _ in range(times):
        rollouts.dispatch_due()
        run_jobs()


def test_an_assigned_topic_reaches_exactly_the_german_pairs_once(org):
    preview = org.api.post("/assigned-topics/preview", {"audience": GERMANY}).get_json()
    # reports in Germany: Jonas, Lea (Maria's) and Yuki (Sam's, though Sam is in the US)
    assert (preview["pairs"], preview["managers"]) == (3, 2)
    topic = assign(org)
    assert topic["state"] == "draft" and topic["progress"]["pairs"] == 0
    sent = org.api.post(f"/assigned-topics/{topic['id']}/send")
    assert sent.status_code == 200
    dispatch(3)  # the dispatcher may run again: still once per pair
    for users in (("UMARIA", "UJONAS"), ("UMARIA", "ULEA")):
        [item] = item_posts(org.thread(*users))
        assert "Career conversations this quarter" in item.text
        assert "Assigned by Hannah Weber, People Team" in item.text
        assert "From HR: Part of our growth framework rollout." in item.text
    assert item_posts(org.thread("USAM", "UALEX")) == []  # a US report: not matched
    # Yuki has no Slack: their thread is the web page, where the topic is on the agenda
    yuki = org.pair("E5", "E7")
    assert yuki["channel"] == "web"
    assert [i["assigned_topic"]["assigned_by"] for m in yuki["meetings"]
            for i in m["agenda"]] == ["Hannah Weber, People Team"]
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(AgendaItem)) == 3
    status = org.api.get(f"/assigned-topics/{topic['id']}").get_json()
    assert status["state"] == "sent"
    assert {k: status["progress"][k] for k in ("pairs", "delivered", "discussed")} == {
        "pairs": 3, "delivered": 3, "discussed": 0}
    assert org.api.post(f"/assigned-topics/{topic['id']}/send").status_code == 409


def test_an_assigned_topic_is_not_sent_to_meet_with_anyone_pairs(org):
    org.api.post("/one-on-ones", {"people": [org.person("E1"), org.person("E3")]})
    topic = assign(org)
    org.api.post(f"/assigned-topics/{topic['id']}/send")
    dispatch()
    assert item_posts(org.thread("UHANNAH", "UJONAS")) == []


def test_editing_a_sent_topic_updates_the_messages_and_withdrawing_takes_it_off(org):
    topic = assign(org)
    org.api.post(f"/assigned-topics/{topic['id']}/send")
    dispatch()
    [jonas_item] = item_posts(org.thread("UMARIA", "UJONAS"))
    [lea_item] = item_posts(org.thread("UMARIA", "ULEA"))
    org.click("ULEA", lea_item, "discussed")
    edited = org.api.patch(f"/assigned-topics/{topic['id']}",
                           {"title": "Career conversations before the review cycle"})
    assert edited.status_code == 200, edited.get_json()
    run_jobs()
    assert "before the review cycle" in current_text(jonas_item)
    assert "before the review cycle" in current_text(lea_item)  # discussed ones too
    refused = org.api.patch(f"/assigned-topics/{topic['id']}", {"audience": {}})
    assert refused.status_code == 409  # the audience of a sent topic is what it was

    withdrawn = org.api.post(f"/assigned-topics/{topic['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["state"] == "withdrawn"
    run_jobs()
    assert "withdrawn by HR" in current_text(jonas_item)
    assert "withdrawn by HR" not in current_text(lea_item)  # it was discussed: it stays
    assert org.pair("E2", "E4")["meetings"][0]["agenda"][0]["state"] == "discussed"
    assert org.pair("E2", "E3")["meetings"][0]["agenda"][0]["state"] == "withdrawn"
    status = org.api.get(f"/assigned-topics/{topic['id']}").get_json()
    assert status["progress"]["discussed"] == 1


def dispatch_only() -> None:
    """The dispatch job alone: the items are on the agendas, their messages still queued."""
    rollouts.dispatch_due()
    Worker([jobs.queue(jobs.BULK)], connection=jobs.connection()).work(
        burst=True, max_jobs=1, logging_level="WARNING")


def test_an_edit_while_the_first_message_is_on_its_way_still_reaches_the_thread(org):
    topic = assign(org)
    org.api.post(f"/assigned-topics/{topic['id']}/send")
    dispatch_only()
    assert item_posts(org.thread("UMARIA", "UJONAS")) == []
    org.api.patch(f"/assigned-topics/{topic['id']}", {"note": "Use the new template."})
    run_jobs()
    [item] = item_posts(org.thread("UMARIA", "UJONAS"))
    assert "Use the new template." in current_text(item)


def test_a_topic_withdrawn_before_it_was_sent_is_never_posted(org):
    topic = assign(org)
    org.api.post(f"/assigned-topics/{topic['id']}/send")
    dispatch_only()
    org.api.post(f"/assigned-topics/{topic['id']}/withdraw")
    run_jobs()
    assert item_posts(org.thread("UMARIA", "UJONAS")) == []
    with db.session_scope() as s:
        states = set(s.scalars(select(OutboundRecord.status).where(
            OutboundRecord.agenda_item_id.is_not(None))))
    assert states == {"cancelled"}


def test_a_scheduled_topic_goes_at_nine_in_each_reports_morning(org):
    tomorrow = (utcnow() + timedelta(days=1)).date()
    topic = assign(org, send_at=f"{tomorrow.isoformat()}T00:00:00Z", local_time="09:00",
                   respect_quiet_hours=False)
    assert topic["state"] == "scheduled"
    with db.session_scope() as s:
        due = {p.employee_id: r.due_at for r, p in s.execute(
            select(RolloutRecipient, Person).join(Person,
                                                  Person.id == RolloutRecipient.person_id))}
    berlin = datetime.fromisoformat(f"{tomorrow.isoformat()}T09:00:00+01:00")
    tokyo = datetime.fromisoformat(f"{tomorrow.isoformat()}T09:00:00+09:00")
    assert abs((due["E3"] - berlin).total_seconds()) <= 3600  # 09:00 Berlin (CET or CEST)
    assert due["E7"] == tokyo  # Tokyo has no DST
    dispatch()  # not due yet: nothing sent
    assert item_posts(org.thread("UMARIA", "UJONAS")) == []


def test_bad_assigned_topic_requests_get_clear_answers(org):
    assert org.api.post("/assigned-topics", {"title": "x"}).status_code == 400  # no audience
    bad_rule = org.api.post("/assigned-topics", {
        "title": "x", "audience": {"conditions": [{"field": "Start Date", "op": "before",
                                                   "value": "not a date"}]}})
    assert bad_rule.status_code in (400, 422)
    assert org.api.get("/assigned-topics/999").status_code == 404
    assert org.api.post("/assigned-topics/999/withdraw").status_code == 404


# ---- the usage report ----------------------------------------------------------------------

def test_the_usage_report_counts_activity_and_never_names_a_report(org):
    maria_jonas, maria_lea = org.pair("E2", "E3"), org.pair("E2", "E4")
    org.api.post(f"/one-on-ones/{maria_jonas['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E3")})
    org.api.post(f"/one-on-ones/{maria_jonas['id']}/agenda",
                 {"text": "Team offsite", "added_by": org.person("E2")})
    run_jobs()
    [first, _] = item_posts(org.thread("UMARIA", "UJONAS"))
    org.click("UMARIA", first, "discussed")
    topic = assign(org)
    org.api.post(f"/assigned-topics/{topic['id']}/send")
    dispatch()
    [lea_topic] = item_posts(org.thread("UMARIA", "ULEA"))
    org.click("ULEA", lea_topic, "discussed")
    assert maria_lea  # (the pair the assigned topic was discussed in)

    for days in (7, 30):
        resp = org.api.get(f"/one-on-ones/usage?days={days}")
        assert resp.status_code == 200
        report = resp.get_json()
        assert report["hero"] == {
            "managers": 2, "managers_with_active_one_on_one": 1, "pairs": 4,
            "active_pairs": 2, "share_of_pairs_active": 0.5, "agenda_items_added": 2,
            "items_discussed": 2, "assigned_topics_discussed": 1}
        assert sum(d["active_pairs"] for d in report["trend"]) == 2
        assert len(report["trend"]) == days
        # Engineering (Maria and two reports: 3 people) and Sales (3) are under 5: merged
        assert [d["department"] for d in report["departments"]] == ["Other"]
        assert report["departments"][0]["pairs"] == 4
        by_manager = {m["manager"]["name"]: m for m in report["managers"]}
        assert by_manager["Maria Schmidt"]["active_pairs"] == 2
        text = resp.get_data(as_text=True)
        for name, email in (("Jonas Becker", "jonas@"), ("Lea Fischer", "lea@"),
                            ("Alex Rivera", "alex@"), ("Yuki Tanaka", "yuki@")):
            assert name not in text and email not in text
    assert org.api.get("/one-on-ones/usage?days=14").status_code == 400


def test_usage_shows_departments_at_the_threshold_and_filters_by_one(org):
    big = [*ORG] + [f"E{n},Eng {n},eng{n}@northwind.example,,Europe/Berlin,E2,Germany,"
                    "Engineering" for n in range(10, 14)]
    org.load(big)
    report = org.api.get("/one-on-ones/usage?days=30").get_json()
    assert [d["department"] for d in report["departments"]] == ["Engineering", "Other"]
    engineering = org.api.get("/one-on-ones/usage?days=30&department=engineering").get_json()
    assert engineering["hero"]["pairs"] == 6 and engineering["hero"]["managers"] == 1
    small = org.api.get("/one-on-ones/usage?days=30&department=Sales")  # 3 people
    assert small.status_code == 422 and "fewer than 5" in small.get_json()["error"]["message"]


def test_usage_figures_on_a_known_fixture_of_dates(org):
    """Activity 3 days ago counts in both periods, 20 days ago only in the 30-day one."""
    now = utcnow()
    with db.session_scope() as s:
        pairs = list(s.scalars(select(OneOnOne).order_by(OneOnOne.id)))
        s.add(PairActivity(one_on_one_id=pairs[0].id, actor_id=pairs[0].first_id,
                           kind="message", at=now - timedelta(days=3)))
        s.add(PairActivity(one_on_one_id=pairs[1].id, actor_id=pairs[1].second_id,
                           kind="message", at=now - timedelta(days=20)))
    with db.session_scope() as s:
        week = usage.report(s, days=7, now=now)
        month = usage.report(s, days=30, now=now)
    assert week["hero"]["active_pairs"] == 1 and month["hero"]["active_pairs"] == 2
    # the last 7 UTC days, today last: three days ago is the fourth
    assert [d["active_pairs"] for d in week["trend"]] == [0, 0, 0, 1, 0, 0, 0]
    assert week["trend"][-1]["date"] == now.date().isoformat()


# ---- the reminder before a meeting ---------------------------------------------------------

def test_the_agenda_reaches_the_thread_the_working_day_before_at_the_managers_morning(org):
    from core import one_on_ones

    pair = org.pair("E2", "E3")
    org.api.post(f"/one-on-ones/{pair['id']}/agenda",
                 {"text": "Q3 roadmap", "added_by": org.person("E3")})
    run_jobs()
    with db.session_scope() as s:
        due = s.get(OneOnOne, pair["id"]).next_reminder_at
    local = due.astimezone(one_on_ones.schedule.zone("Europe/Berlin"))
    assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5  # a working morning
    assert 1 <= (due - utcnow()).days <= 7  # weekly: the day before the next meeting
    assert one_on_ones.remind_due(now=due - timedelta(minutes=1)) == []
    [sent] = one_on_ones.remind_due(now=due)
    run_jobs()
    reminder = org.thread("UMARIA", "UJONAS")[-1]
    assert "next 1-on-1 is coming up" in reminder.text and "• Q3 roadmap" in reminder.text
    assert one_on_ones.remind_due(now=due) == []  # once: the next is a cadence later
    with db.session_scope() as s:
        assert s.get(OneOnOne, pair["id"]).next_reminder_at >= due + timedelta(days=6)
        assert s.get(OutboundRecord, sent).queue == "bulk"
