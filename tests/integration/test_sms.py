"""Interviews by text message against a loopback Twilio Messages API, with webhooks signed
exactly as Twilio signs them (PROTOCOLS.md, Twilio SMS)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.durable import ATTEMPTS, sweep
from channels.sms import segments
from core import db
from core.models import InboundEvent, Interview, OutboundRecord, PhoneNumber
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL
from tests.support.factories import ApiClient, make_session
from tests.support.stub_server import Reply
from tests.support.twilio_stub import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM,
    TwilioStub,
    error,
    inbound_form,
    signature,
)
from tests.support.worker import run_jobs

PHONE = "+14155550123"
RICH = ("Honestly it has been great: my buddy walked me through the codebase and my manager "
        "checks in every week, so I always know what I should be working on next.")


class SmsWorld:
    def __init__(self, stub: TwilioStub, client, api: ApiClient):
        self.stub, self.client, self.api = stub, client, api
        stub.world = self
        self.n = 0

    def post(self, path: str, form: dict, *, token: str = AUTH_TOKEN, url: str | None = None):
        sig = signature(url or PUBLIC_URL + path, form, token)
        return self.client.post(path, data=form, headers={"X-Twilio-Signature": sig})

    def text(self, body: str, number: str = PHONE):
        """``number`` texts ``body``; the worker runs; the texts sent back to it."""
        self.n += 1
        before = len(self.stub.to(number))
        resp = self.post("/twilio/sms", inbound_form(number, body, f"SMin{self.n:030d}"))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.mimetype == "text/xml" and "<Response></Response>" in resp.get_data(
            as_text=True)
        run_jobs(retries=True)
        return [m.body for m in self.stub.to(number)[before:]]

    def last(self, number: str = PHONE) -> str:
        return self.stub.to(number)[-1].body

    def invite(self, session_type="onboarding-30-day", *, phone=PHONE, email="ada@example.com",
               channel="sms", fallback=None, expect=201):
        session = make_session(self.api, session_type)
        payload = {"person": {"name": "Ada Lovelace", "email": email, "phone": phone},
                   "channel": channel}
        if fallback is not None:
            payload["fallback"] = fallback
        resp = self.api.post(f"/sessions/{session['id']}/invites", payload)
        assert resp.status_code == expect, resp.get_json()
        run_jobs(retries=True)
        return resp.get_json()

    def state(self, interview_id: int = 1) -> str:
        return self.api.get(f"/interviews/{interview_id}").get_json()["state"]


def twilio_settings(stub: TwilioStub, **extra) -> dict:
    return {"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_from": FROM, "twilio_api_base_url": stub.url, **extra}


def world(make_app, rate: float) -> SmsWorld:
    stub = TwilioStub(rate=rate)
    app = make_app(library=True, **twilio_settings(stub, twilio_rate=rate))
    client = app.test_client()
    return SmsWorld(stub, client, ApiClient(client, ADMIN_TOKEN))


@pytest.fixture
def sms(make_app):
    """The stub refuses a sender going faster than its rate (here 20 segments/s, a short
    code's pace, so the suite stays quick; ``long_code`` is the real 1 segment/s)."""
    with world(make_app, 20.0).stub as stub:
        yield stub.world


@pytest.fixture
def long_code(make_app):
    with world(make_app, 1.0).stub as stub:
        yield stub.world


def outbox() -> list[OutboundRecord]:
    with db.session_scope() as s:
        rows = list(s.scalars(select(OutboundRecord).order_by(OutboundRecord.id)))
        s.expunge_all()
        return rows


# ---- the edge ----------------------------------------------------------------------------

def test_a_forged_signature_is_403_and_nothing_is_stored(sms, work):
    form = inbound_form(PHONE, "hello", "SMforged")
    resp = sms.post("/twilio/sms", form, token="not-the-token")
    assert resp.status_code == 403
    resp = sms.client.post("/twilio/sms", data=form)  # no signature at all
    assert resp.status_code == 403
    work()
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent)) is None
    assert sms.stub.sent == []


def test_the_signature_is_checked_against_the_public_url_not_the_proxys(sms):
    """Behind a proxy Flask sees http://localhost/…; Twilio signed PUBLIC_BASE_URL's URL."""
    form = inbound_form(PHONE, "hello", "SMproxy")
    as_seen_inside = sms.post("/twilio/sms", form, url="http://localhost/twilio/sms")
    assert as_seen_inside.status_code == 403
    assert sms.post("/twilio/sms", form).status_code == 200


def test_a_signed_but_malformed_request_is_400(sms):
    assert sms.post("/twilio/sms", {"Body": "hi"}).status_code == 400
    form = inbound_form("not a number", "hi", "SMbad")
    assert sms.post("/twilio/sms", form).status_code == 400


def test_a_retried_webhook_is_handled_once(sms):
    sms.invite()
    form = inbound_form(PHONE, "1", "SMsame")
    for _ in range(3):  # Twilio retries when our answer was slow
        assert sms.post("/twilio/sms", form).status_code == 200
    run_jobs()
    with db.session_scope() as s:
        assert len(s.scalars(select(InboundEvent)).all()) == 1
    assert len(sms.stub.to(PHONE)) == 2  # the consent and one first question


# ---- a whole interview by text --------------------------------------------------------------

def test_a_30_day_onboarding_check_in_runs_by_sms_with_pause_skip_and_finish(long_code):
    """At a long code's 1 segment/s: the consent costs several segments, and the stub
    refuses any text that comes before the sender's earlier segments are through."""
    sms = long_code
    sms.invite(phone="(415) 555-0123")  # any spelling: kept as E.164
    [invite] = sms.api.get("/sessions/1/invites").get_json()["invites"]
    assert invite["status"] == "sent" and invite["channel"] == "sms"
    consent = sms.last()
    assert consent.startswith("Hi Ada") and "30-Day Onboarding Check-In" in consent
    assert "Reply 1 to start, 2 to decline." in consent
    assert "PAUSE, SKIP or FINISH" in consent and "STOP ends all texts" in consent
    assert "stop," not in consent.lower().split("reply")[1]  # STOP is named only as the law
    [question] = sms.text("1")
    assert sms.state() == "in_progress" and question.endswith("?")
    assert len(question) <= 320

    [ack] = sms.text(RICH)
    assert ack.endswith("?") and ack != question
    [paused] = sms.text("pause")
    assert sms.state() == "paused" and "RESUME" in paused
    assert "Reply 1 to resume, 2 to finish now." in paused
    [back] = sms.text("RESUME")
    assert sms.state() == "in_progress" and back.startswith("Welcome back")
    [skipped] = sms.text("Skip.")
    assert skipped.startswith("Sure, let's move on.")
    [confirm] = sms.text("finish")  # the interview's own word for ending it
    assert "end the interview" in confirm and "Reply 1 to finish now, 2 to carry on." in confirm
    [bye] = sms.text("1")
    assert sms.state() == "abandoned" and "we'll stop here" in bye
    assert sms.text("thanks") and sms.state() == "abandoned"  # told it has ended
    assert sms.stub.limited == []  # paced at the sender's 1 segment/s: never refused
    assert sum(m.segments for m in sms.stub.sent) > len(sms.stub.sent)  # costed in segments


def test_an_onboarding_check_in_by_sms_runs_to_its_close(sms):
    sms.invite()
    sms.text("1")
    for _ in range(30):
        if sms.state() != "in_progress":
            break
        last = sms.last()
        sms.text("1" if "Reply 1" in last else RICH)
    assert sms.state() == "completed"
    assert "Thank you" in sms.last()
    rows = outbox()
    assert all(r.status == "sent" and r.segments >= 1 for r in rows)
    for r, sent in zip(rows, sms.stub.to(PHONE), strict=True):  # the count is the carrier's
        assert r.segments == sent.segments == segments(sent.body)
    assert all(m.status_callback.startswith(f"{PUBLIC_URL}/twilio/status?ref=out-")
               for m in sms.stub.sent)
    turns = sms.api.get("/interviews/1").get_json()["turns"]  # the cost shown with each text
    ours = [t for t in turns if t["role"] != "participant"]
    assert [t["segments"] for t in ours] == [r.segments for r in rows]
    assert all("segments" not in t for t in turns if t["role"] == "participant")


def test_a_choice_can_be_typed_as_its_number_and_the_help_word_works(sms):
    sms.invite()
    [helped] = sms.text(" help ")
    assert "Parley" in helped and "STOP" in helped and "PAUSE" in helped
    assert sms.state() == "consent"
    [declined] = sms.text("2")
    assert sms.state() == "declined" and "nothing has been recorded" in declined


# ---- people ------------------------------------------------------------------------------------

def test_an_unknown_sender_gets_one_polite_reply_and_nothing_else(sms):
    stranger = "+14155550999"
    [reply] = sms.text("hello?", number=stranger)
    assert "don't have this number" in reply
    assert sms.text("hello??", number=stranger) == []
    assert sms.text("anyone?", number=stranger) == []


def test_an_invalid_phone_is_refused_when_the_person_is_written(sms):
    session = make_session(sms.api, "onboarding-30-day")
    resp = sms.api.post(f"/sessions/{session['id']}/invites", {
        "person": {"name": "Bo", "email": "bo@example.com", "phone": "12"}, "channel": "sms"})
    assert resp.status_code == 422
    assert "person.phone" in resp.get_json()["error"]["message"]
    assert sms.stub.sent == []


# ---- opt-out is law ----------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "cancel", "END", "quit",
                                  "revoke", "OptOut", "  stop. ", "Stop!", "Stop texting me"])
def test_every_opt_out_keyword_pauses_the_interview_and_nothing_more_is_sent(sms, word):
    sms.invite()
    sms.text("1")
    sent = len(sms.stub.sent)
    assert sms.text(word) == []
    assert sms.state() == "paused"
    with db.session_scope() as s:
        assert s.get(PhoneNumber, PHONE).opted_out
    assert sms.text("Actually, one more answer") == []  # nothing, whatever they write
    assert sms.text("RESUME") == [] and sms.state() == "paused"
    sms.invite()  # another rollout: refused before Twilio, visible in the invite
    assert len(sms.stub.sent) == sent
    invites = sms.api.get("/sessions/2/invites").get_json()["invites"]
    assert invites[0]["status"] == "unreachable" and "opted out" in invites[0]["status_reason"]


def test_a_pause_that_stop_began_runs_out_without_a_word(sms):
    """The clock still ends the interview, but sends the number nothing, and the invite is
    not marked unreachable for a message that was never due."""
    from datetime import timedelta

    from sqlalchemy import update

    from core.models import utcnow
    from scheduler.jobs import tick_pauses

    sms.invite()
    sms.text("1")
    sms.text("STOP")
    rows, sent = len(outbox()), len(sms.stub.sent)
    assert tick_pauses() == 0  # no resume prompt to a number that said STOP
    with db.session_scope() as s:  # then past the pause's expiry
        s.execute(update(Interview).values(paused_at=utcnow() - timedelta(hours=2)))
    assert tick_pauses() == 0
    run_jobs(retries=True)
    assert sms.state() == "abandoned"
    assert len(outbox()) == rows and len(sms.stub.sent) == sent
    [invite] = sms.api.get("/sessions/1/invites").get_json()["invites"]
    assert invite["status"] == "sent"


def test_an_answer_that_read_the_ledger_before_a_stop_is_ignored_under_the_lock(sms):
    """The answer was read as an answer (not opted out), then STOP was handled before the
    answer took the interview's lock: the paused interview stays paused, nothing is sent,
    and the answer's text is not kept in the inbox."""
    from bots import router
    from core.messages import Inbound

    sms.invite()
    sms.text("1")
    rows, sent = len(outbox()), len(sms.stub.sent)
    answer = inbound_form(PHONE, RICH, "SManswer" + "0" * 26)
    assert sms.post("/twilio/sms", answer).status_code == 200  # stored; not run yet
    stop = inbound_form(PHONE, "STOP", "SMstop" + "0" * 28)
    assert sms.post("/twilio/sms", stop).status_code == 200
    router.process_inbound("sms", stop["MessageSid"])  # STOP handled first
    assert sms.state() == "paused"
    with db.session_scope() as s:
        event = s.scalar(select(InboundEvent).where(
            InboundEvent.event_id == answer["MessageSid"]))
        inbound = Inbound.from_dict(event.payload)
    assert router._handle("sms", answer["MessageSid"], 1, inbound) == []
    run_jobs(retries=True)
    assert sms.state() == "paused"
    assert len(outbox()) == rows and len(sms.stub.sent) == sent
    with db.session_scope() as s:
        event = s.scalar(select(InboundEvent).where(
            InboundEvent.event_id == answer["MessageSid"]))
        assert event.status == "ignored" and event.payload["text"] == ""


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_every_opt_in_keyword_confirms_in_one_line_and_texts_flow_again(sms, word):
    sms.invite()
    sms.text("1")
    sms.text("STOP")
    [confirmation] = sms.text(word)
    assert "\n" not in confirmation and "again" in confirmation and segments(confirmation) == 1
    [back] = sms.text("resume")
    assert sms.state() == "in_progress" and back.startswith("Welcome back")


@pytest.mark.parametrize("word", ["HELP", "info", "Help?"])
def test_help_keywords_say_who_we_are_and_how_to_stop(sms, word):
    sms.invite()
    [reply] = sms.text(word)
    assert reply.startswith("Parley:") and "Reply STOP" in reply and segments(reply) <= 2


def test_yes_from_a_number_that_never_opted_out_is_an_answer(sms):
    sms.invite()
    [question] = sms.text("yes")
    assert sms.state() == "in_progress" and question.endswith("?")


def test_twilio_21610_on_send_records_the_opt_out_and_the_invite_falls_back(sms):
    sms.stub.opted_out.add(PHONE)  # the carrier knows, we did not
    sms.invite(fallback=["web"])
    assert sms.stub.sent == []
    with db.session_scope() as s:
        assert s.get(PhoneNumber, PHONE).opted_out
    [row] = sms.api.get("/sessions/1/invites").get_json()["invites"]
    assert row["channel"] == "web" and "21610" in row["status_reason"]


# ---- faults --------------------------------------------------------------------------------

def test_a_twilio_outage_is_retried_and_sent_once(sms):
    sms.stub.fail_next(Reply(500, {"code": 20500, "message": "Internal", "status": 500}),
                       error(20429, 429, "Too Many Requests"))
    sms.invite()
    assert len(sms.stub.to(PHONE)) == 1
    [row] = outbox()
    assert row.status == "sent" and row.attempts == 2


def test_a_text_twilio_took_but_whose_answer_was_lost_is_not_sent_again(sms):
    sms.stub.lose_answers = 1  # Twilio has it; we saw a 502
    sms.invite()
    [text] = sms.stub.to(PHONE)
    [row] = outbox()
    assert row.status == "sent" and row.attempts == 2 and row.provider_message_id == text.sid


def test_a_body_twilio_refuses_as_too_long_fails_visibly(sms):
    sms.stub.fail_next(error(21617))
    sms.invite()
    [row] = outbox()
    assert row.status == "failed" and "21617" in row.last_error


def test_the_status_callback_moves_the_row_to_delivered_or_failed(sms):
    sms.invite()
    sms.text("1")
    first, second = sms.stub.to(PHONE)
    callback = first.status_callback.removeprefix(PUBLIC_URL)
    form = {"MessageSid": first.sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert sms.post(callback, form, url=first.status_callback).status_code == 200
    callback2 = second.status_callback.removeprefix(PUBLIC_URL)
    form2 = {"MessageSid": second.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert sms.post(callback2, form2, url=second.status_callback).status_code == 200
    forged = sms.post(callback2, {**form2, "MessageStatus": "delivered"}, token="nope",
                      url=second.status_callback)
    assert forged.status_code == 403
    rows = outbox()
    assert [r.status for r in rows] == ["delivered", "undelivered"]
    assert rows[1].last_error == "Twilio error 30003"


@pytest.mark.parametrize("code", ["21610"])
def test_a_report_that_the_number_unsubscribed_or_blocked_us_records_the_opt_out(sms, code):
    sms.invite()
    [consent] = sms.stub.to(PHONE)
    form = {"MessageSid": consent.sid, "MessageStatus": "undelivered", "ErrorCode": code}
    path = consent.status_callback.removeprefix(PUBLIC_URL)
    assert sms.post(path, form, url=consent.status_callback).status_code == 200
    with db.session_scope() as s:
        number = s.get(PhoneNumber, PHONE)
        assert number.opted_out and code in number.reason
    assert sms.text("1") == []  # nothing more goes there
    assert len(sms.stub.sent) == 1


def test_a_delivery_report_that_comes_before_our_own_sent_is_kept(sms):
    """Twilio may call back before the worker has written down that the send went out."""
    def report(sent):
        form = {"MessageSid": sent.sid, "MessageStatus": "undelivered", "ErrorCode": "30005"}
        path = sent.status_callback.removeprefix(PUBLIC_URL)
        assert sms.post(path, form, url=sent.status_callback).status_code == 200

    sms.stub.on_accept = report
    sms.invite()
    [row] = outbox()
    [text] = sms.stub.sent
    assert (row.status, row.last_error) == ("undelivered", "Twilio error 30005")
    assert row.provider_message_id == text.sid and row.sent_at is not None


# ---- fallback from Slack ---------------------------------------------------------------------

def test_a_slack_invite_whose_user_cannot_be_found_falls_back_to_sms(make_app):
    from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub

    with TwilioStub(rate=20.0) as stub, SlackStub(users={}) as slack:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=slack.base_url,
                       **twilio_settings(stub, twilio_rate=20.0))
        world = SmsWorld(stub, app.test_client(), ApiClient(app.test_client(), ADMIN_TOKEN))
        world.invite(channel="slack", fallback=["sms"])
        [row] = world.api.get("/sessions/1/invites").get_json()["invites"]
        assert row["channel"] == "sms" and row["status"] == "sent"
        assert "users_not_found" in row["status_reason"] and "trying sms" in row["status_reason"]
        consent = world.last()
        assert "Reply 1 to start, 2 to decline." in consent
        assert "PAUSE, SKIP or FINISH" in consent  # worded for SMS, not Slack's "stop"
        world.text("1")
        with db.session_scope() as s:
            assert s.get(Interview, 1).state == "in_progress"


def test_a_conversation_started_on_slack_goes_on_by_sms_and_answers_come_back_by_sms(make_app):
    """One conversation, any channel: the person's phone finds their open Slack interview,
    and the reply goes back on the channel they last used."""
    from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub

    with TwilioStub(rate=20.0) as stub, SlackStub(users={"ada@example.com": "U123"}) as slack:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=slack.base_url,
                       **twilio_settings(stub, twilio_rate=20.0))
        world = SmsWorld(stub, app.test_client(), ApiClient(app.test_client(), ADMIN_TOKEN))
        world.invite(channel="slack")
        assert len(slack.posts_to("U123")) == 1 and stub.sent == []  # the consent, on Slack
        [question] = world.text("1")  # accepted by text: the question comes by text
        assert question.endswith("?") and world.state() == "in_progress"
        [follow_up] = world.text(RICH)
        assert follow_up.endswith("?")
        assert len(slack.posts_to("U123")) == 1  # nothing more on Slack
        turns = world.api.get("/interviews/1").get_json()["turns"]
        assert [t["channel"] for t in turns][-2:] == ["sms", "sms"]


def test_a_text_over_1600_characters_goes_in_parts_each_sent_once(sms):
    """A long text is split between sentences; when Twilio pushes back after the first
    part, the retry sends only the rest."""
    from core import jobs
    from core.messages import Address, Outbound

    text = " ".join(f"Sentence number {i} of a long message." for i in range(60))
    assert len(text) > 1600
    with db.session_scope() as s:
        row = OutboundRecord(channel="sms", address=Address("sms", PHONE).to_dict(),
                             payload=Outbound(text, role="system").to_dict())
        s.add(row)
        s.flush()
        row_id = row.id
    sms.stub.fail_later(1, error(20429, 429, "Too Many Requests"))  # after the 1st part
    jobs.enqueue_deliveries([row_id])
    run_jobs(retries=True)
    bodies = [m.body for m in sms.stub.to(PHONE)]
    assert len(bodies) == 2 and len(set(bodies)) == 2 and " ".join(bodies) == text
    assert all(len(b) <= 1600 and b.endswith(".") for b in bodies)
    [row] = outbox()
    assert row.status == "sent" and row.segments == sum(segments(b) for b in bodies)


def test_a_delivery_report_for_part_1_does_not_stop_the_retry_sending_part_2(sms):
    """Twilio reports part 1 delivered while part 2 waits for RQ's retry: part 2 still goes,
    and each part goes once."""
    from core import jobs
    from core.messages import Address, Outbound

    text = " ".join(f"Sentence number {i} of a long message." for i in range(60))
    with db.session_scope() as s:
        row = OutboundRecord(channel="sms", address=Address("sms", PHONE).to_dict(),
                             payload=Outbound(text, role="system").to_dict())
        s.add(row)
        s.flush()
        row_id = row.id
    too_many = error(20429, 429, "Too Many Requests")
    sms.stub.fail_later(1, too_many)  # part 1 goes, part 2 is refused three times
    sms.stub.fail_next(too_many, too_many)
    jobs.enqueue_deliveries([row_id])
    run_jobs()  # the first attempt only: RQ schedules the retry
    [first] = sms.stub.to(PHONE)
    assert outbox()[0].status == "pending"
    form = {"MessageSid": first.sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    path = first.status_callback.removeprefix(PUBLIC_URL)
    assert sms.post(path, form, url=first.status_callback).status_code == 200
    run_jobs(retries=True)
    bodies = [m.body for m in sms.stub.to(PHONE)]
    assert len(bodies) == 2 and " ".join(bodies) == text
    [row] = outbox()
    assert row.status == "sent" and row.provider_message_id == sms.stub.to(PHONE)[1].sid


def test_the_same_text_sent_later_by_another_row_does_not_count_as_this_ones(sms):
    """HELP (or PAUSED, or a resume prompt) is the same body each time: a copy another row
    sent while this one waited for its retry is not this one's, so this one still goes."""
    from core import jobs
    from core.messages import Address, Outbound

    def row(text):
        with db.session_scope() as s:
            r = OutboundRecord(channel="sms", address=Address("sms", PHONE).to_dict(),
                               payload=Outbound(text, role="system").to_dict())
            s.add(r)
            s.flush()
            return r.id

    first, second = row("Same words each time."), row("Same words each time.")
    sms.stub.fail_next(Reply(500, {"code": 20500, "message": "Internal", "status": 500}))
    jobs.enqueue_deliveries([first])
    run_jobs()  # refused before Twilio took it: RQ schedules the retry
    jobs.enqueue_deliveries([second])
    run_jobs()  # the other row's copy goes out meanwhile
    run_jobs(retries=True)
    texts = sms.stub.to(PHONE)
    assert [m.body for m in texts] == ["Same words each time."] * 2
    rows = outbox()
    assert [r.status for r in rows] == ["sent", "sent"]
    assert {r.provider_message_id for r in rows} == {m.sid for m in texts}
    assert [r.provider_ids for r in rows] == [[texts[1].sid], [texts[0].sid]]


def test_a_rollout_booked_further_ahead_than_a_job_waits_never_fails_its_texts(long_code):
    """At 1 segment/s, a text beyond the next 30 s of the sender's slots is not sent now
    and its try does not count: it stays pending for the sweeper, however often it is
    tried, and never ends failed."""
    from core import jobs, ratelimit
    from core.messages import Address, Outbound

    ids = []
    with db.session_scope() as s:
        for i in range(3):
            r = OutboundRecord(channel="sms", address=Address("sms", f"+1415555{i:04d}").to_dict(),
                               payload=Outbound(f"Hello {i}", role="system").to_dict())
            s.add(r)
            s.flush()
            ids.append(r.id)
    sender = ratelimit.Limit.rate(f"sms:from:{FROM}", 1.0)
    for _ in range(40):  # the rollout ahead of them has the next 40 s of slots
        ratelimit.reserve(sender, max_wait=60)
    jobs.enqueue_deliveries(ids)
    run_jobs(retries=True)
    for _ in range(ATTEMPTS + 1):  # the sweeper tries them again and again
        assert sweep(older_than_seconds=0)["outbound"] == 3
        run_jobs(retries=True)
    rows = outbox()
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 3
    assert long_code.stub.sent == []


def test_a_long_text_that_waits_for_a_slot_after_part_1_went_out_never_resends_part_1(
        long_code):
    """Part 1 went out, Twilio pushed back on part 2, and the sender's next slot is further
    off than a job waits: that attempt counts, so the next one first asks which parts got
    through (an uncounted wait would start afresh and send part 1 again)."""
    from core import jobs
    from core.messages import Address, Outbound

    text = " ".join(f"Sentence number {i} of a long message." for i in range(130))
    assert segments(text) > 31  # at 1 segment/s its second booking is > 30 s away
    with db.session_scope() as s:
        row = OutboundRecord(channel="sms", address=Address("sms", PHONE).to_dict(),
                             payload=Outbound(text, role="system").to_dict())
        s.add(row)
        s.flush()
        row_id = row.id
    long_code.stub.fail_later(1, error(20429, 429, "Too Many Requests"))  # after part 1
    jobs.enqueue_deliveries([row_id])
    run_jobs()  # no retries: the attempt ends waiting for a slot
    [row] = outbox()
    assert len(long_code.stub.to(PHONE)) == 1
    assert row.status == "pending" and row.attempts == 1  # counted: the retry asks first


def test_a_report_that_a_carrier_blocked_the_message_opts_nobody_out(sms):
    """30004 "message blocked" is often a carrier's filter of our sender: it is kept on the
    row for an operator, and the person is not opted out of everything."""
    sms.invite()
    [consent] = sms.stub.to(PHONE)
    form = {"MessageSid": consent.sid, "MessageStatus": "undelivered", "ErrorCode": "30004"}
    path = consent.status_callback.removeprefix(PUBLIC_URL)
    assert sms.post(path, form, url=consent.status_callback).status_code == 200
    with db.session_scope() as s:
        number = s.get(PhoneNumber, PHONE)
        assert number is None or not number.opted_out
    [row] = outbox()
    assert row.status == "undelivered" and "30004" in row.last_error
