"""One conversation, any channel (issue 10, item 10, the email half): a person who started
on Slack answers the next question by email; the reply goes back by email, and when they
write on Slack again, on Slack."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from core import db
from core.models import Interview, Turn
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_email_replies import signed_by
from tests.integration.test_slack import EMAIL, USER, SlackWorld
from tests.support.email_chat import SIGNING_KEY, EmailChat
from tests.support.factories import ApiClient
from tests.support.mail import Recorder, self_signed, smtp_server
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub

ANSWER = ("My manager gives me room to decide how I work, and the team is generous with "
          "their time, which is what keeps me here.")


@pytest.fixture
def both(make_app, request, tmp_path):
    recorder = Recorder()
    cert = self_signed(tmp_path)
    smtp = smtp_server(recorder, starttls=cert)
    request.addfinalizer(smtp.stop)
    with SlackStub(users={EMAIL: USER}) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=stub.base_url,
                       smtp_url=f"smtp://parley:s3cret@127.0.0.1:{smtp.port}",
                       email_ca_file=str(cert[0]), email_from="HR <hr@northwind.example>",
                       email_inbound_signing_key=SIGNING_KEY)
        client = app.test_client()
        api = ApiClient(client, ADMIN_TOKEN)
        yield SlackWorld(stub, client, api), EmailChat(app, recorder, api)


def fresh_email(text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ada Lovelace <{EMAIL}>"
    msg["To"] = "hr@northwind.example"
    msg["Subject"] = "My answer"
    msg["Message-ID"] = make_msgid(domain="mail.example.com")
    msg.set_content(text + "\n\n-- \nAda\n")
    return msg.as_bytes()


def channel() -> str:
    with db.session_scope() as s:
        return s.scalar(select(Interview.channel))


def test_started_on_slack_answered_by_email_and_back_on_slack(both):
    slack, mail = both
    slack.invite()
    slack.click("accept")
    question_on_slack = slack.last()
    assert channel() == "slack" and mail.recorder.received == []
    # a fresh email (no thread): routed by its sender, whom the provider vouches for
    assert mail.post(signed_by(fresh_email(ANSWER), EMAIL.rpartition("@")[2]),
                     **{"X-Mailgun-Dkim-Check-Result": "Pass"}) == 200
    assert channel() == "email"
    [next_question] = mail.recorder.messages
    assert next_question["To"] == EMAIL and "?" in mail.text
    assert slack.last().ts == question_on_slack.ts  # nothing more on Slack
    mail.reply("It is mostly the people I work with, and the flexibility.")
    assert len(mail.recorder.received) == 2
    slack.say("Honestly, more growth opportunities would help me stay.")
    assert channel() == "slack" and slack.last().ts != question_on_slack.ts
    assert len(mail.recorder.received) == 2
    with db.session_scope() as s:
        said = list(s.scalars(select(Turn.channel).where(Turn.role == "participant")))
    assert said[-3:] == ["email", "email", "slack"]
