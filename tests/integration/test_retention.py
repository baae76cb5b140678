"""Retention and erasure (issue 14, item 5): raw participant text gives way to its redacted
copy after its session type's limit, payloads and audit details are emptied after theirs,
and an erased person is found nowhere — no table, no Redis key — whatever channel they
wrote on. The clock is moved by passing ``now`` to ``core.retention.run``: no sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import db, one_on_ones, retention, webhooks
from core.models import (
    AuditLog,
    InboundEvent,
    Interview,
    OneOnOne,
    OutboundRecord,
    Person,
    PrivateNote,
    Turn,
    utcnow,
)
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_erasure import places_holding
from tests.integration.test_sms import SmsWorld, twilio_settings
from tests.integration.test_teams import TeamsWorld, teams_settings
from tests.support.chat import WebChat
from tests.support.email_chat import SIGNING_KEY, EmailChat
from tests.support.factories import ApiClient, make_session, token_of
from tests.support.mail import Recorder, self_signed, smtp_server
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from tests.support.teams_stub import Authority, BotConnector
from tests.support.teams_stub import Person as TeamsUser
from tests.support.twilio_stub import TwilioStub
from tests.support.worker import run_jobs

FIRST, LAST = "Quillon", "Vardemarsh"
NAME = f"{FIRST} {LAST}"
EMAIL = "quillon.vardemarsh@northwind.example"
PHONE = "+14155550187"
SLACK_USER = "UQV48213"
BADGE, STREET = "ZX-48213", "12 Quince Lane"
SENTENCE = f"my badge number is {BADGE} and I live at {STREET}"
PRIVATE_MAIL = "quillon.at.home@example.org"  # typed in an answer: redaction takes it out
PII = (FIRST, LAST, EMAIL, PHONE, SLACK_USER, BADGE, STREET, PRIVATE_MAIL)

LATER = timedelta(days=2 * 365)  # past every default limit


def put(api, path: str, body: dict):
    return api._call("PUT", path, body)


# ---- retention alone ---------------------------------------------------------------------

def answer_on_the_web(api, client, text: str, slug: str = "stay-interview",
                      email: str = "ada@example.com") -> int:
    session = make_session(api, slug)
    resp = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": "Ada Lovelace", "email": email}, "channel": "web"})
    WebChat(client, token_of(resp.get_json()["link"])).open().choose("accept").say(text)
    with db.session_scope() as s:
        interview_id = s.scalar(select(Interview.id).order_by(Interview.id.desc()).limit(1))
    assert api.post(f"/interviews/{interview_id}/end").status_code == 200
    run_jobs()
    return interview_id


def said(interview_id: int) -> list[tuple[str, str | None]]:
    with db.session_scope() as s:
        return [tuple(row) for row in s.execute(select(Turn.text, Turn.redacted_text).where(
            Turn.interview_id == interview_id, Turn.role == "participant",
            Turn.text.contains(BADGE)).order_by(Turn.seq))]


def test_retention_keeps_redacted_text_drops_raw_and_keeps_what_is_recent(
        client, api, library):
    answer = f"{SENTENCE}; write to me at {PRIVATE_MAIL}"
    interview_id = answer_on_the_web(api, client, answer)
    [(raw, redacted)] = said(interview_id)
    assert PRIVATE_MAIL in raw and PRIVATE_MAIL not in redacted and BADGE in redacted

    soon = retention.run(now=utcnow() + timedelta(days=31))  # payloads go, raw text stays
    assert soon["counts"]["turns"] == 0 and said(interview_id) == [(raw, redacted)]
    assert soon["counts"]["inbound_payloads"] >= 2 and soon["counts"]["outbound_payloads"] >= 2
    assert soon["counts"]["audit_details"] >= 1  # invite.create, interview.end …
    with db.session_scope() as s:
        assert {str(p) for p in s.scalars(select(InboundEvent.payload))} == {"{}"}
        assert all(r.payload == {} and r.status != "pending"
                   for r in s.scalars(select(OutboundRecord)))
        assert all(a.detail == {} for a in s.scalars(select(AuditLog).where(
            AuditLog.action != retention.REPORT_ACTION)))

    report = retention.run(now=utcnow() + timedelta(days=366))
    assert report["counts"]["turns"] >= 1
    assert said(interview_id) == [(redacted, redacted)]  # the redacted copy stays
    assert places_holding(PRIVATE_MAIL) == []
    assert "turn.redacted_text" in places_holding(BADGE)  # redacted text is kept
    again = retention.run(now=utcnow() + timedelta(days=366))  # idempotent
    assert set(again["counts"].values()) == {0}

    latest = api.get("/ops/retention").get_json()["report"]
    assert latest["counts"] == again["counts"] and latest["as_of"] == again["as_of"]


def test_a_session_type_override_is_honoured(client, api, library):
    settings = put(api, "/settings/retention", {"session_types": [
        {"session_type": "exit-interview", "raw_text_days": 30}]})
    assert settings.status_code == 200, settings.get_json()
    by_slug = {t["slug"]: t for t in settings.get_json()["session_types"]}
    assert by_slug["exit-interview"]["effective_raw_text_days"] == 30
    assert by_slug["stay-interview"]["raw_text_days"] is None
    assert by_slug["stay-interview"]["effective_raw_text_days"] == 365
    assert api.get("/settings/retention").get_json() == settings.get_json()

    answer = f"{SENTENCE}; I am at {PRIVATE_MAIL}"
    exit_id = answer_on_the_web(api, client, answer, "exit-interview")
    stay_id = answer_on_the_web(api, client, answer, "stay-interview", email="bo@example.com")
    retention.run(now=utcnow() + timedelta(days=45))
    assert PRIVATE_MAIL not in said(exit_id)[0][0]  # 30 days: raw text gone
    assert PRIVATE_MAIL in said(stay_id)[0][0]  # the default 365: still there

    cleared = put(api, "/settings/retention", {"session_types": [
        {"session_type": by_slug["exit-interview"]["id"], "raw_text_days": None}]})
    assert {t["slug"]: t["raw_text_days"] for t in cleared.get_json()["session_types"]}[
        "exit-interview"] is None
    unknown = put(api, "/settings/retention", {"session_types": [
        {"session_type": "no-such-type", "raw_text_days": 10}]})
    assert unknown.status_code == 422


def test_the_scheduled_run_is_daily(app, library):
    first = retention.run()
    assert "skipped" not in first
    assert retention.run() == {**first, "skipped": True}  # the hourly retry, the same day


def test_retired_pairs_lose_private_notes_and_the_pii_of_agenda_items(client, api, library):
    a = api.post("/people", {"name": "Ada Lovelace", "email": "ada@example.com"}).get_json()
    b = api.post("/people", {"name": "Bo Chen", "email": "bo@example.com"}).get_json()
    pair = api.post("/one-on-ones", {"people": [a["id"], b["id"]]}).get_json()
    item = api.post(f"/one-on-ones/{pair['id']}/agenda",
                    {"text": f"{SENTENCE}, {PRIVATE_MAIL}", "added_by": a["id"]})
    assert item.status_code == 201, item.get_json()
    with db.session_scope() as s:
        one = s.get(OneOnOne, pair["id"])
        one_on_ones.add_note(s, one, s.get(Person, a["id"]), f"remember {PRIVATE_MAIL}")
    run_jobs()
    retention.run(now=utcnow() + LATER)  # an active pair keeps its history
    assert "private_note.text" in places_holding(PRIVATE_MAIL)
    with db.session_scope() as s:
        one = s.get(OneOnOne, pair["id"])
        one.active, one.retired_at = False, utcnow()
    report = retention.run(now=utcnow() + LATER)
    assert report["counts"]["private_notes"] == 1 and report["counts"]["agenda_items"] == 1
    assert places_holding(PRIVATE_MAIL) == []
    assert "agenda_item.text" in places_holding(BADGE)  # the item's words stay, redacted


# ---- erasure, through every channel ------------------------------------------------------

@pytest.fixture
def everywhere(make_app, request, tmp_path, monkeypatch):
    """One app on every channel that has landed: web, Slack, Teams, SMS, email."""
    recorder, cert = Recorder(), self_signed(tmp_path)
    smtp = smtp_server(recorder, starttls=cert)
    request.addfinalizer(smtp.stop)
    with TwilioStub(rate=20.0) as twilio, SlackStub(users={EMAIL: SLACK_USER}) as slack, \
            BotConnector() as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=slack.base_url,
                       **twilio_settings(twilio, twilio_rate=20.0),
                       **teams_settings(connector, authority),
                       smtp_url=f"smtp://parley:s3cret@127.0.0.1:{smtp.port}",
                       email_ca_file=str(cert[0]), email_from="HR <hr@northwind.example>",
                       email_inbound_signing_key=SIGNING_KEY, webhook_allow_private=True)
        client = app.test_client()
        api = ApiClient(client, ADMIN_TOKEN)
        teams = TeamsWorld(connector, authority, client, api)
        teams.user = TeamsUser(7, name=NAME)
        yield app, client, api, slack, teams, SmsWorld(twilio, client, api), \
            EmailChat(app, recorder, api)


def invite_on(api, channel: str) -> dict:
    session = make_session(api, "stay-interview")
    resp = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": NAME, "email": EMAIL}, "channel": channel})
    assert resp.status_code == 201, resp.get_json()
    run_jobs()
    return resp.get_json()


def end_latest(api) -> None:
    with db.session_scope() as s:
        interview_id = s.scalar(select(Interview.id).order_by(Interview.id.desc()).limit(1))
        turns = s.scalars(select(Turn.text).where(Turn.interview_id == interview_id))
        assert SENTENCE in " ".join(turns), "the answer was recorded"
    assert api.post(f"/interviews/{interview_id}/end").status_code == 200


def slack_say(client, text: str, n: int) -> None:
    import json

    from tests.support.slack_stub import dm_event, signed

    body = json.dumps(dm_event(SLACK_USER, text, f"EvR{n}"))
    assert client.post("/slack/events", data=body, headers=signed(body)).status_code == 200
    run_jobs()


def test_an_erased_person_is_found_nowhere_whatever_channel_they_wrote_on(everywhere):
    app, client, api, slack, teams, sms, mail = everywhere
    answer = f"{SENTENCE}; {PHONE} or {PRIVATE_MAIL}"
    person = api.post("/people", {
        "name": NAME, "email": EMAIL, "phone": PHONE, "slack_user_id": SLACK_USER,
        "aad_object_id": teams.user.aad,
        "demographics": {"Department": "Quince Lane Depot", "Country": "Germany"}}).get_json()
    report = api.post("/people", {"name": "Mara Okafor", "email": "mara@northwind.example",
                                  "manager_email": EMAIL}).get_json()
    assert report["manager_id"] == person["id"]
    teams.install()

    link = invite_on(api, "web")["link"]  # the web link
    WebChat(client, token_of(link)).open().choose("accept").say(answer)
    end_latest(api)
    # a webhook event naming them (as a named session's completion does), to a receiver
    # that is down, so it waits for its next attempt; and an export of their transcripts
    hook = api.post("/webhooks", {"url": "http://127.0.0.1:9/down",
                                  "events": ["interview.completed"]})
    assert hook.status_code == 201, hook.get_json()
    with db.session_scope() as s:
        web_interview = s.scalar(select(Interview.id))
        webhooks.emit(s, "interview.completed", {"person": {"name": NAME, "email": EMAIL}},
                      interview_id=web_interview)
    invite_on(api, "slack")  # Slack
    slack_say(client, "1", 1)
    slack_say(client, answer, 2)
    end_latest(api)
    invite_on(api, "teams")  # Teams
    teams.click("accept")
    teams.say(answer)
    end_latest(api)
    invite_on(api, "sms")  # SMS
    sms.text("1", number=PHONE)
    sms.text(answer, number=PHONE)
    end_latest(api)
    invite_on(api, "email")  # email
    sender = f"{NAME} <{EMAIL}>"
    mail.reply("1", sender=sender)
    mail.reply(answer, sender=sender)
    end_latest(api)

    pair = api.post("/one-on-ones", {"people": [person["id"], report["id"]]})
    assert pair.status_code in (200, 201), pair.get_json()
    pair = pair.get_json()
    item = api.post(f"/one-on-ones/{pair['id']}/agenda",
                    {"text": answer, "added_by": person["id"]})
    assert item.status_code == 201, item.get_json()
    with db.session_scope() as s:
        one_on_ones.add_note(s, s.get(OneOnOne, pair["id"]), s.get(Person, person["id"]),
                             answer)
    assert api.post("/exports", {"format": "jsonl"}).status_code == 202
    run_jobs()
    needles = (*PII, teams.user.user_id, teams.user.aad)
    for needle in needles:
        assert places_holding(needle), f"{needle} was never stored: the test proves nothing"

    retention.run(now=utcnow() + LATER)
    # retention alone: only the redacted copy of answers; the active pair's agenda and note;
    # the export (its own job drops it when its hour is up)
    assert places_holding(PRIVATE_MAIL) == ["agenda_item.text", "export_file.data",
                                            "private_note.text"]
    assert places_holding(BADGE)

    erased = api.delete(f"/people/{person['id']}")
    assert erased.status_code == 200, erased.get_json()
    removed = erased.get_json()["removed"]
    assert removed["interviews"] == 5 and removed["private_notes"] == 1
    assert removed["agenda_items"] == 1 and removed["manager_links"] == 1
    assert removed["webhook_payloads"] == 1 and removed["export_files"] == 1
    for needle in needles:
        assert places_holding(needle) == [], needle

    # what is left: anonymous counted shells, the tombstone, an audit row of counts
    with db.session_scope() as s:
        assert s.scalar(select(Person.erased_at).where(Person.id == person["id"]))
        assert len(list(s.scalars(select(Interview.state)))) == 5
        assert s.scalars(select(PrivateNote)).all() == []
        assert s.get(Person, report["id"]).manager_id is None
    assert api.get(f"/people/{person['id']}").status_code == 404
    assert api.delete(f"/people/{person['id']}").status_code == 404  # once is enough
    assert api.get("/people", query_string={"q": "Vardemarsh"}).get_json()["people"] == []
    fresh = api.post("/people", {"name": NAME, "email": EMAIL})  # a re-import: a new person
    assert fresh.status_code == 201 and fresh.get_json()["id"] != person["id"]


def test_sent_webhook_events_keep_their_status_not_what_they_said(app, api, library):
    from core.models import WebhookDelivery, WebhookEndpoint

    with db.session_scope() as s:
        s.add(WebhookEndpoint(url="https://hooks.example.com/x", events=["insights.ready"],
                              secret="whsec_x"))
        s.flush()
        [old] = webhooks.emit(s, "insights.ready", {"note": NAME})
        [new] = webhooks.emit(s, "insights.ready", {"note": NAME})
        old.status, new.status = "delivered", "pending"
        old.created_at = utcnow() - timedelta(days=31)
    report = retention.run(now=utcnow())
    assert report["counts"]["webhook_payloads"] == 1
    with db.session_scope() as s:
        rows = {d.status: d for d in s.scalars(select(WebhookDelivery))}
        assert rows["delivered"].payload == {} and rows["delivered"].event_id
        assert rows["pending"].payload["data"] == {"note": NAME}  # still to be sent


def test_an_erased_numbers_opt_out_outlives_it_as_a_keyed_hash(app, api, library):
    """STOP is law: a re-import of the erased person's number must not be texted."""
    from core import phones
    from tests.integration.test_erasure import places_holding

    number = "+14155550123"
    person = api.post("/people", {"name": "Quill Stopwell", "email": "quill@example.com",
                                  "phone": number}).get_json()
    with db.session_scope() as s:
        phones.opt_out(s, number, "STOP")
    assert api.delete(f"/people/{person['id']}").get_json()["removed"]["phone_numbers"] == 1
    assert places_holding(number) == [] and places_holding(number.lstrip("+")) == []
    with db.session_scope() as s:
        assert phones.opted_out(s, number)  # the same number, come again: still opted out
        assert not phones.opted_out(s, "+14155550124")
        assert phones.opt_in(s, number, "START")  # until it says START
    with db.session_scope() as s:
        assert not phones.opted_out(s, number)
