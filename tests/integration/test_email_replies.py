"""An interview by email replies, end to end: real SMTP on loopback out, Mailgun's signed
webhook in, replies as Gmail, Outlook, Apple Mail and German and French clients write them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import db
from core.models import InboundEvent, Interview, OutboundRecord, Turn
from tests.support.email_chat import ADA, SIGNING_KEY, EmailChat, client_reply
from tests.support.factories import ApiClient, make_session
from tests.support.mail import Recorder, mailgun_form, self_signed, smtp_server
from tests.support.worker import run_jobs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
ANSWER = "Honestly the onboarding buddy helped most. She showed me where everything lives."


@pytest.fixture
def mail(make_app, request, tmp_path):
    recorder = Recorder()
    cert = self_signed(tmp_path)
    server = smtp_server(recorder, starttls=cert)
    request.addfinalizer(server.stop)
    app = make_app(library=True, smtp_url=f"smtp://parley:s3cret@127.0.0.1:{server.port}",
                   email_ca_file=str(cert[0]), email_from="Northwind HR <hr@northwind.example>",
                   email_reply_domain="reply.northwind.example",
                   email_inbound_signing_key=SIGNING_KEY)
    return EmailChat(app, recorder, ApiClient(app.test_client(), "test-admin-token"))


def invite_by_email(chat: EmailChat, email: str = "ada@northwind.example") -> int:
    session = make_session(chat.api, "onboarding-30-day", name="30-Day Onboarding Check-In")
    resp = chat.api.post(f"/sessions/{session['id']}/invites",
                         {"person": {"name": "Ada Lovelace", "email": email},
                          "channel": "email"})
    assert resp.status_code == 201, resp.get_json()
    run_jobs()
    return resp.get_json()["id"]


def state() -> str:
    with db.session_scope() as s:
        return s.scalar(select(Interview.state).order_by(Interview.id.desc()).limit(1))


def participant_turns() -> list[str]:
    with db.session_scope() as s:
        return list(s.scalars(select(Turn.text).where(Turn.role == "participant")
                              .order_by(Turn.id)))


def counts() -> tuple[int, int]:
    with db.session_scope() as s:
        return (s.scalar(select(func.count()).select_from(InboundEvent)),
                s.scalar(select(func.count()).select_from(OutboundRecord)))


def test_a_30_day_onboarding_check_in_runs_by_email_replies(mail):
    invite_by_email(mail)
    consent = mail.last
    assert consent["Subject"] == "30-Day Onboarding Check-In"
    assert str(consent["Reply-To"]).startswith("reply+i1.")
    assert str(consent["Reply-To"]).endswith("@reply.northwind.example")
    assert consent["List-Unsubscribe"] and consent["Auto-Submitted"] is None
    assert "Reply with 1 or 2." in mail.text and "HR will see them with your name" in mail.text
    html = consent.get_body(("html",)).get_content()
    assert "/email/choose/" in html and "Reply with 1 or 2." in html

    mail.reply("1")  # accept
    assert state() == "in_progress"
    question = mail.last
    assert question["Subject"] == "Re: 30-Day Onboarding Check-In"
    assert "pause, skip or stop" in mail.text
    refs = str(question["References"]).split()
    assert refs[0] == str(consent["Message-ID"]).strip()  # one thread from the invite on
    assert str(question["In-Reply-To"]).strip().endswith("@mail.gmail.com>")  # their reply

    mail.reply(ANSWER)
    assert participant_turns()[-1] == ANSWER  # the quoted question is not in the answer
    mail.reply("pause")
    assert state() == "paused"
    mail.reply("resume")
    assert state() == "in_progress"
    mail.reply("skip")
    for _ in range(30):
        if state() == "completed":
            break
        mail.reply("It has been good; the team is welcoming and the work is interesting.",
                   quote="apple")
        if "Nothing else" in mail.text:
            mail.reply("1")
    assert state() == "completed"
    assert "Thank you" in mail.text
    assert len({str(m["Reply-To"]) for m in mail.recorder.messages}) == 1
    assert {m["Subject"] for m in mail.recorder.messages[1:]} == {
        "Re: 30-Day Onboarding Check-In"}
    assert all(m.get_content_type() == "multipart/alternative" for m in mail.recorder.messages)
    assert not any(">" in t.splitlines()[0] for t in participant_turns())


def test_stop_mid_interview_ends_it_and_nothing_more_is_asked(mail):
    invite_by_email(mail)
    mail.reply("1")
    mail.reply(ANSWER)
    mail.reply("stop")
    assert "Do you want to end the interview now?" in mail.text
    mail.reply("1")  # End
    assert state() == "abandoned"
    assert "we'll stop here" in mail.text
    sent = len(mail.recorder.received)
    assert mail.post(client_reply(mail.last, "one more thing")) == 200
    assert state() == "abandoned"
    assert all("?" not in m.get_body(("plain",)).get_content().split("\n")[0]
               for m in mail.recorder.messages[sent:])  # no new question


@pytest.mark.parametrize("fixture", ["gmail.txt", "outlook.txt", "apple_mail.txt",
                                     "german_thunderbird.txt", "german_outlook.txt",
                                     "french.txt"])
def test_quoted_history_and_signatures_are_stripped(mail, fixture):
    invite_by_email(mail)
    mail.reply("1")
    body = (FIXTURES / fixture).read_text()
    expected = body.split("\n\n")[0]
    raw = client_reply(mail.last, "x").replace(b"x\n\nOn Mon", b"IGNORED\n\nOn Mon")
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    msg.set_content(body)
    assert mail.post(msg.as_bytes()) == 200
    assert participant_turns()[-1] == expected


def test_a_reply_is_routed_by_its_thread_when_the_plus_address_is_lost(mail):
    invite_by_email(mail)
    # a client that replied to From instead of Reply-To
    mail.reply("1", to="Northwind HR <hr@northwind.example>")
    assert state() == "in_progress"


def signed_by(raw: bytes, domain: str) -> bytes:
    """The DKIM-Signature header a sending server adds (Mailgun checks it; we read d=)."""
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s1;\r\n"
            f" h=From:To:Subject; bh=abc=; b=def=\r\n").encode() + raw


def test_a_reply_in_the_thread_from_someone_else_is_ignored(mail):
    invite_by_email(mail)
    # Message-IDs are not secret: whoever saw the mail can write into its thread
    other = client_reply(mail.last, "1", to="hr@northwind.example",
                         sender="Mallory <mallory@evil.example>")
    assert mail.post(other) == 200
    assert state() == "consent" and counts()[0] == 0
    mail.reply("1", to="hr@northwind.example", sender="Ada <ADA@Northwind.Example>")
    assert state() == "in_progress"


def test_a_fresh_email_is_routed_by_sender_only_when_dkim_of_its_from_domain_passed(mail):
    invite_by_email(mail)
    mail.reply("1")
    before = participant_turns()

    def fresh():
        return client_reply(mail.last, ANSWER, to="hr@northwind.example", threaded=False)

    assert mail.post(fresh()) == 200  # From alone can be forged: ignored
    # SPF vouches for the envelope sender, not for From
    assert mail.post(fresh(), **{"X-Mailgun-Spf": "Pass"}) == 200
    # a DKIM pass for someone else's domain says nothing about From
    assert mail.post(signed_by(fresh(), "evil.example"),
                     **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert mail.post(signed_by(signed_by(fresh(), "northwind.example"), "evil.example"),
                     **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert participant_turns() == before and counts()[0] == 1
    assert mail.post(signed_by(fresh(), "northwind.example"),
                     **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert participant_turns()[-1] == ANSWER


def test_a_forged_plus_address_is_not_trusted(mail):
    invite_by_email(mail)
    forged = client_reply(mail.last, "1", to="reply+i1.0000000000aaaaaaaaaa@x.example",
                          threaded=False, sender="Mallory <mallory@evil.example>")
    assert mail.post(forged) == 200
    assert state() == "consent" and counts()[0] == 0


@pytest.mark.parametrize("headers,subject", [
    ({"Auto-Submitted": "auto-replied"}, None),
    ({"X-Autoreply": "yes"}, None),
    ({"X-Autorespond": "yes"}, None),
    ({"Precedence": "bulk"}, None),
    ({"Precedence": "junk"}, None),
    ({}, "Out of Office: Re: 30-Day Onboarding Check-In"),
    ({}, "Automatische Antwort: 30-Day Onboarding Check-In"),
    ({}, "Réponse automatique : 30-Day Onboarding Check-In"),
])
def test_auto_replies_are_not_answered(mail, headers, subject):
    invite_by_email(mail)
    raw = client_reply(mail.last, "I am away until Monday.", headers=headers)
    if subject:
        raw = raw.replace(b"Subject: Re: 30-Day Onboarding Check-In",
                          f"Subject: {subject}".encode())
    sent = len(mail.recorder.received)
    assert mail.post(raw) == 200
    assert counts() == (0, 1) and len(mail.recorder.received) == sent
    assert state() == "consent"


def test_a_bounce_is_not_answered(mail):
    invite_by_email(mail)
    dsn = (b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n"
           b"To: reply+x@reply.northwind.example\r\nSubject: Delivery Status Notification\r\n"
           b"Message-ID: <dsn-1@mx.google.com>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; mx.google.com\r\n\r\nFinal-Recipient: rfc822; ada@x\r\n"
           b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n")
    assert mail.post(dsn) == 200
    assert counts() == (0, 1)


def test_the_webhook_refuses_forged_stale_and_replayed_requests(mail):
    invite_by_email(mail)
    raw = client_reply(mail.last, "1")
    form = mailgun_form(SIGNING_KEY, raw)
    forged = {**form, "signature": "0" * 64}
    assert mail.client.post("/email/inbound", data=forged).status_code == 403
    other_key = mailgun_form("not-the-key", raw)
    assert mail.client.post("/email/inbound", data=other_key).status_code == 403
    stale = mailgun_form(SIGNING_KEY, raw, timestamp=int(time.time()) - 301)
    assert mail.client.post("/email/inbound", data=stale).status_code == 403
    assert counts() == (0, 1)
    assert mail.client.post("/email/inbound", data=form).status_code == 200
    replay = mail.client.post("/email/inbound", data=form)
    assert replay.status_code == 403 and "replayed" in replay.get_json()["error"]["message"]
    assert counts()[0] == 1


@pytest.mark.parametrize("signature", ["é" * 64, "é", "Z" * 64, "0" * 63, ""])
def test_a_signature_that_is_not_hex_is_a_403(mail, signature):
    form = {**mailgun_form(SIGNING_KEY, client_reply_to_nobody()), "signature": signature}
    resp = mail.client.post("/email/inbound/mime", data=form)
    assert resp.status_code == 403 and counts() == (0, 0)


def client_reply_to_nobody() -> bytes:
    return b"From: ada@northwind.example\r\nSubject: hi\r\n\r\nhello\r\n"


def test_while_redis_is_down_the_webhook_asks_mailgun_to_retry(mail, make_app):
    invite_by_email(mail)
    offline = make_app(redis_url="redis://127.0.0.1:1/0", email_inbound_signing_key=SIGNING_KEY,
                       smtp_url="smtp://127.0.0.1:1")
    form = mailgun_form(SIGNING_KEY, client_reply(mail.last, "1"))
    resp = offline.test_client().post("/email/inbound/mime", data=form)
    assert resp.status_code == 503 and counts()[0] == 0  # replay not checkable: not taken
    assert mail.client.post("/email/inbound/mime", data=form).status_code == 200  # the retry


def test_a_duplicate_message_is_stored_once(mail):
    invite_by_email(mail)
    raw = client_reply(mail.last, "1")
    assert mail.post(raw) == 200
    assert mail.post(raw) == 200  # Mailgun retried with a new token: same Message-ID
    assert counts()[0] == 1


@pytest.mark.parametrize("form,reason", [
    ({}, "body-mime"),
    ({"body-mime": "no headers at all, just text"}, "headers"),
    ({"body-mime": "From: \r\nSubject: x\r\n\r\nhi"}, "From"),
])
def test_a_malformed_webhook_is_a_400_with_a_reason(mail, form, reason):
    signed = mailgun_form(SIGNING_KEY, b"")
    del signed["body-mime"]
    resp = mail.client.post("/email/inbound", data={**signed, **form})
    assert resp.status_code == 400 and reason in resp.get_json()["error"]["message"]
    assert counts() == (0, 0)


def test_a_choice_link_asks_before_it_acts(mail):
    invite_by_email(mail)
    html = mail.last.get_body(("html",)).get_content()
    import re

    link = re.search(r'href="http://parley\.test(/email/choose/[^"]+)"', html)[1]
    page = mail.client.get(link)  # a scanner opening the link changes nothing
    assert page.status_code == 200 and b"Confirm" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    run_jobs()
    assert state() == "consent"
    assert mail.client.post(link).status_code == 200
    run_jobs()
    assert state() == "in_progress"
    assert mail.client.post(link).status_code == 200  # twice is once
    run_jobs()
    assert counts()[0] == 1
    assert mail.client.get(link[:-3] + "abc").status_code == 404


def test_html_is_escaped(mail):
    from channels.email import Mail, render_mail
    from core.messages import Outbound

    msg = render_mail(Outbound("<script>alert(1)</script> & more"),
                      Mail(to="a@b.example", subject="s", message_id="<m@x>"),
                      sender=ADA)
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_reply_with_a_large_photo_is_taken(mail):
    invite_by_email(mail)
    raw = client_reply(mail.last, "1")
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    msg.add_attachment(b"\xff\xd8" + b"\0" * 3_000_000, maintype="image", subtype="jpeg",
                       filename="IMG_0001.jpg")
    assert mail.post(msg.as_bytes()) == 200
    assert state() == "in_progress"


def test_a_large_reply_posted_as_multipart_form_data_is_taken(mail):
    invite_by_email(mail)
    from email import message_from_bytes, policy

    msg = message_from_bytes(client_reply(mail.last, "1"), policy=policy.default)
    msg.add_attachment(b"\xff\xd8" + b"\0" * 2_200_000, maintype="image", subtype="jpeg",
                       filename="IMG_0002.jpg")  # ~3 MB once base64-encoded
    form = mailgun_form(SIGNING_KEY, msg.as_bytes())
    assert len(form["body-mime"]) > 2_900_000
    resp = mail.client.post("/email/inbound/mime", data=form, content_type="multipart/form-data")
    assert resp.status_code == 200, resp.status_code
    run_jobs()
    assert state() == "in_progress"


def test_a_session_name_with_a_line_break_still_reaches_the_person(mail):
    session = make_session(mail.api, "onboarding-30-day", name="30-Day Onboarding\nCheck-In")
    resp = mail.api.post(f"/sessions/{session['id']}/invites",
                         {"person": {"name": "Ada Lovelace", "email": "ada@northwind.example"},
                          "channel": "email"})
    assert resp.status_code == 201, resp.get_json()
    run_jobs()
    assert mail.last["Subject"] == "30-Day Onboarding Check-In"


def test_a_reminder_is_marked_auto_generated_and_stays_in_the_thread(mail):
    from datetime import timedelta

    from sqlalchemy import update

    from core.models import utcnow
    from scheduler.jobs import tick_pauses

    invite_by_email(mail)
    mail.reply("1")
    mail.reply("pause")
    paused = mail.last
    assert paused["Auto-Submitted"] is None  # an answer to the person, not a reminder
    with db.session_scope() as s:
        s.execute(update(Interview).values(paused_at=utcnow() - timedelta(minutes=3)))
    assert tick_pauses() == 1
    run_jobs()
    reminder = mail.last
    assert reminder["Auto-Submitted"] == "auto-generated"
    assert "pick up where we left off" in mail.text
    assert str(paused["Message-ID"]).strip() in str(reminder["References"])
    mail.reply("resume")  # a reply to the reminder carries on
    assert state() == "in_progress"


def test_one_click_unsubscribe_stops_the_interview_and_nothing_more_is_sent(mail):
    invite_by_email(mail)
    header = str(mail.last["List-Unsubscribe"])
    import re

    url = re.search(r"<http://parley\.test(/email/unsubscribe/[^>]+)>", header)[1]
    assert mail.client.get(url).status_code == 200  # opening it changes nothing
    run_jobs()
    assert state() == "consent"
    resp = mail.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200
    run_jobs()
    assert state() in ("declined", "abandoned")
    assert mail.client.post(url.replace("/unsubscribe/1.", "/unsubscribe/2.")).status_code == 404


def test_one_click_unsubscribe_from_a_web_invite_closes_its_link(make_app, tmp_path):
    app = make_app(library=True, mail_dir=str(tmp_path / "mail"))
    api = ApiClient(app.test_client(), "test-admin-token")
    session = make_session(api, "onboarding-30-day")
    invite = api.post(f"/sessions/{session['id']}/invites",
                      {"person": {"name": "Ada", "email": "ada@northwind.example"},
                       "channel": "web"}).get_json()
    run_jobs()
    from email import message_from_bytes, policy

    [path] = (tmp_path / "mail").glob("*.eml")
    header = str(message_from_bytes(path.read_bytes(), policy=policy.default)["List-Unsubscribe"])
    import re

    url = re.search(r"<http://parley\.test(/email/unsubscribe/[^>]+)>", header)[1]
    client = app.test_client()
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    token = invite["link"].rsplit("/", 1)[-1]
    assert client.get(f"/c/{token}").status_code == 410


def test_a_reply_with_nothing_above_the_quote_is_not_answered(mail):
    invite_by_email(mail)
    assert mail.post(client_reply(mail.last, "")) == 200
    assert counts() == (0, 1) and state() == "consent"


def test_a_fresh_email_from_a_stranger_is_not_answered(mail):
    invite_by_email(mail)
    stranger = client_reply(mail.last, "Hello?", to="hr@northwind.example", threaded=False,
                            sender="Someone <someone@elsewhere.example>")
    sent = len(mail.recorder.received)
    assert mail.post(signed_by(stranger, "elsewhere.example"),
                     **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert counts() == (0, 1) and len(mail.recorder.received) == sent


def test_a_token_is_used_up_only_by_a_request_that_was_taken(mail):
    invite_by_email(mail)
    form = mailgun_form(SIGNING_KEY, client_reply(mail.last, "1"))
    broken = {k: v for k, v in form.items() if k != "body-mime"}
    assert mail.client.post("/email/inbound/mime", data=broken).status_code == 400
    assert mail.client.post("/email/inbound/mime", data=form).status_code == 200
    assert mail.client.post("/email/inbound/mime", data=form).status_code == 403
    run_jobs()
    assert state() == "in_progress"


NASTY = [
    "\x00\xff\xfe",
    "From: <<<>>>\r\n\r\nhi",
    "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
    "From: =?utf-8?q?=ZZ?= <a@b.example>\r\nSubject: =?x-unknown?b?////?=\r\n\r\nhi",
    "From: a@b.example\r\nMessage-ID: <a@b\r\nIn-Reply-To: <<>>\r\n\r\nhi",
    "From: a@b.example\r\nContent-Type: text/plain; charset=x-nonexistent\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n!!!!",
    "From: a@b.example\r\nContent-Type: text/html\r\n\r\n<p>hi<script>x</script><b>there",
    'From: "unterminated <a@b.example>\r\n\r\nhi',
    "To: Ke.:G<[cq:EkkG\x0baq\t\u00e9B*-8!+X@#U\r\nAuto-Submitted: a!#)NO;>\r\n\r\nS(?#",
    'Auto-Submitted: \u00e9-}+@z{mq:"sXHrf\x0bm\tm6>c\r\nFrom: SH7.<U"x^S[~!`\u00e9l,-bgF]a\r\n'
    "References: g>zyu1f^<5\x0c\\G%h\r\n\r\nhi",
]


@pytest.mark.parametrize("raw", NASTY)
def test_no_message_however_broken_is_a_server_error(mail, raw):
    invite_by_email(mail)
    resp = mail.client.post("/email/inbound/mime", data=mailgun_form(SIGNING_KEY, raw))
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
    run_jobs()
    assert state() == "consent"
