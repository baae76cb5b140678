"""One conversation, any channel (issue 10, item 10): a person invited on Slack answers the
next question by SMS, the one after by email, and ends on Slack again. The router finds
their open interview by whichever of their addresses wrote, and every reply goes back on
the channel they used last. Slack, Twilio and SMTP are loopback servers; every request in
is signed as its provider signs it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import db
from core.models import Interview, Turn
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_email_across_channels import fresh_email
from tests.integration.test_email_replies import signed_by
from tests.integration.test_slack import EMAIL, USER, SlackWorld
from tests.integration.test_sms import PHONE, RICH, SmsWorld, twilio_settings
from tests.support.email_chat import SIGNING_KEY, EmailChat
from tests.support.factories import ApiClient
from tests.support.mail import Recorder, self_signed, smtp_server
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from tests.support.twilio_stub import TwilioStub


@pytest.fixture
def worlds(make_app, request, tmp_path):
    recorder, cert = Recorder(), self_signed(tmp_path)
    smtp = smtp_server(recorder, starttls=cert)
    request.addfinalizer(smtp.stop)
    with TwilioStub(rate=20.0) as twilio, SlackStub(users={EMAIL: USER}) as slack:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=slack.base_url,
                       **twilio_settings(twilio, twilio_rate=20.0),
                       smtp_url=f"smtp://parley:s3cret@127.0.0.1:{smtp.port}",
                       email_ca_file=str(cert[0]), email_from="HR <hr@northwind.example>",
                       email_inbound_signing_key=SIGNING_KEY)
        api = ApiClient(app.test_client(), ADMIN_TOKEN)
        yield (SlackWorld(slack, app.test_client(), api),
               SmsWorld(twilio, app.test_client(), api), EmailChat(app, recorder, api))


def where() -> tuple[str, list[str]]:
    """The interview's channel now, and the channel of each participant turn."""
    with db.session_scope() as s:
        return (s.scalar(select(Interview.channel)),
                list(s.scalars(select(Turn.channel).where(Turn.role == "participant")
                               .order_by(Turn.seq))))


def test_slack_then_sms_then_email_then_slack_is_one_conversation(worlds):
    slack, sms, mail = worlds
    sms.invite(channel="slack", email=EMAIL)  # Ada has a Slack account, a phone, an email
    slack.click("accept")
    on_slack = len(slack.stub.posts_to(USER))
    assert where()[0] == "slack" and sms.stub.sent == [] and mail.recorder.received == []

    [question] = sms.text(RICH)  # by text: the next question comes by text
    assert question.endswith("?") and where()[0] == "sms"
    assert len(slack.stub.posts_to(USER)) == on_slack and mail.recorder.received == []

    # a fresh email from her address, DKIM-signed by its domain: the next one comes by email
    raw = signed_by(fresh_email("The onboarding buddy was the best part of my first month, "
                                "and I would like more time with the product team."),
                    EMAIL.rpartition("@")[2])
    assert mail.post(raw, **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert where()[0] == "email" and len(mail.recorder.received) == 1
    assert "?" in mail.text and mail.last["To"] == EMAIL
    texts = len(sms.stub.to(PHONE))

    mail.reply("Mostly clear goals; I knew what was expected of me from week one.")
    assert len(mail.recorder.received) == 2  # the answer to a reply in the thread: by email

    slack.say("Honestly, a little more feedback from my manager would help.")
    assert where()[0] == "slack" and len(slack.stub.posts_to(USER)) > on_slack
    assert len(sms.stub.to(PHONE)) == texts and len(mail.recorder.received) == 2
    assert where()[1][-4:] == ["sms", "email", "email", "slack"]
    with db.session_scope() as s:  # one interview all along, still under way
        [(state,)] = s.execute(select(Interview.state)).all()
    assert state == "in_progress"
