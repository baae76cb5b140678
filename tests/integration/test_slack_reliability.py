"""Slack deliveries under faults (issue 8, items 7, 8 and 10), against the loopback Slack Web
API with requests signed as Slack signs them: a timeout after Slack took the message, a
provider that keeps failing, text too long or unstorable, a second workspace, and a token
an operator has to fix."""

import json
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from channels.durable import ATTEMPTS, HOLD, HOLD_FOR, sweep
from core import db
from core.interviewer import prompts
from core.messages import MAX_TEXT
from core.models import Invite, OutboundRecord, Person, Turn
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient, make_session
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub, dm_event, signed
from tests.support.stub_server import Recorded, Reply
from tests.support.worker import run_jobs

USER, EMAIL = "U123", "ada@example.com"
INSTALLED_TOKEN = "xoxb-installed-token"  # what the stub's oauth.v2.access hands out


class StrictSlack(SlackStub):
    """The Slack stub that, like Slack, refuses any token it does not know."""

    def __init__(self, tokens: set[str], **kw):
        self.tokens = tokens
        super().__init__(**kw)

    def _answer(self, request: Recorded) -> Reply:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not request.path.startswith("/api/oauth.") and token not in self.tokens:
            return Reply(200, {"ok": False, "error": "invalid_auth" if token else "not_authed"})
        return super()._answer(request)


class World:
    def __init__(self, stub, make_app, **settings):
        self.stub = stub
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_api_base_url=stub.base_url, **settings)
        self.client = app.test_client()
        self.api = ApiClient(self.client, ADMIN_TOKEN)
        self.n = 0

    def invite(self, email=EMAIL) -> dict:
        session = make_session(self.api)
        resp = self.api.post(f"/sessions/{session['id']}/invites",
                             {"person": {"name": "Ada Lovelace", "email": email},
                              "channel": "slack"})
        assert resp.status_code == 201, resp.get_json()
        run_jobs()
        return session

    def say(self, text: str, user: str = USER):
        self.n += 1
        body = json.dumps(dm_event(user, text, f"EvR{self.n:04d}"))
        resp = self.client.post("/slack/events", data=body, headers=signed(body))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        run_jobs()
        return self.stub.posts_to(user)[-1]

    def install(self) -> None:
        """The OAuth install of the stub's second workspace (T0002)."""
        html = self.client.get("/slack/install").get_data(as_text=True)
        state = re.search(r"state=([\w-]+)", html).group(1)
        done = self.client.get(f"/slack/oauth_redirect?code=c0de&state={state}")
        assert done.status_code == 200, done.get_data(as_text=True)


def outbox() -> list[OutboundRecord]:
    with db.session_scope() as s:
        return list(s.scalars(select(OutboundRecord).order_by(OutboundRecord.id)))


def invite_status() -> tuple[str, str]:
    with db.session_scope() as s:
        invite = s.scalar(select(Invite).order_by(Invite.id.desc()))
        return invite.status, invite.status_reason


def hours_pass(delta: timedelta) -> None:
    """As if ``delta`` went by since each row's last attempt."""
    with db.session_scope() as s:
        for row in s.scalars(select(OutboundRecord).where(OutboundRecord.claimed_at.is_not(None))):
            row.claimed_at -= delta


@pytest.fixture
def slack(make_app):
    with SlackStub(users={EMAIL: USER}) as stub:
        yield World(stub, make_app, slack_bot_token=BOT_TOKEN)


# ---- item 7: a timeout after the request went out -----------------------------------------

def test_a_send_that_timed_out_after_slack_took_it_is_not_sent_twice(make_app):
    with SlackStub(users={EMAIL: USER}) as stub:
        world = World(stub, make_app, slack_bot_token=BOT_TOKEN, slack_timeout=0.5)
        stub.hold_on_post = 3  # Slack posts the message but answers after we gave up
        world.invite()
        [row] = outbox()
        assert row.status == "pending" and "Timeout" in row.last_error
        assert len(stub.messages) == 1

        run_jobs(retries=True)  # the retry asks Slack first and finds it
        assert len(stub.messages) == 1 and len(stub.calls("chat.postMessage")) == 1
        [row] = outbox()
        assert row.status == "sent" and row.provider_message_id == stub.messages[0].ts
        assert row.attempts == 2


# ---- item 8: bounded attempts, one text cap, storable text -----------------------------------

def test_a_send_that_fails_every_time_ends_failed_and_visible(slack, caplog):
    slack.stub.fail_next("users.lookupByEmail", *[Reply(500, {"ok": False, "error": "fatal"})]
                         * (ATTEMPTS + 2))
    with caplog.at_level(logging.ERROR, logger="channels.durable"):
        slack.invite()
        run_jobs(retries=True)
    [row] = outbox()
    assert row.status == "failed" and row.attempts == ATTEMPTS
    assert "fatal" in row.last_error
    assert any("failed for good" in r.getMessage() for r in caplog.records)
    assert invite_status()[0] == "unreachable"
    assert sweep(older_than_seconds=0)["outbound"] == 0
    [failure] = slack.api.get("/ops/failures").get_json()["failures"]
    assert failure["kind"] == "outbound" and failure["id"] == row.id
    assert failure["status"] == "failed" and failure["attempts"] == ATTEMPTS


def test_a_message_over_the_cap_gets_a_clear_answer_and_is_not_recorded(slack):
    slack.invite()
    consent = slack.stub.posts_to(USER)[-1]
    reply = slack.say("x" * (MAX_TEXT + 1))
    assert reply.text.startswith(prompts.too_long(MAX_TEXT))
    assert reply.buttons() == ["accept", "decline"]  # the choices still stand
    with db.session_scope() as s:
        assert s.scalar(select(Turn.id).where(Turn.role == "participant")) is None
    question = slack.say("yes")
    assert question.buttons() == ["pause", "skip", "stop"] and question.ts != consent.ts


def test_text_no_database_can_hold_is_stored_safely(slack):
    slack.invite()
    slack.say("yes")
    reply = slack.say("Mostly the people\u0000 and my manager \ud83d\ude00 \ud800 trusts me.")
    assert reply.buttons() == ["pause", "skip", "stop"]
    with db.session_scope() as s:
        said = s.scalars(select(Turn.text).where(Turn.role == "participant")).all()
    assert said[-1] == "Mostly the people and my manager \U0001f600 \ufffd trusts me."


# ---- item 10: several workspaces, and tokens an operator must fix --------------------------

def test_a_second_invite_goes_out_with_the_persons_workspace_token(make_app):
    with StrictSlack({INSTALLED_TOKEN}, users={EMAIL: USER}) as stub:
        world = World(stub, make_app, slack_client_id="111.222",
                      slack_client_secret="shh")
        world.install()
        world.invite()
        with db.session_scope() as s:
            person = s.scalar(select(Person).where(Person.email == EMAIL))
            assert (person.slack_user_id, person.slack_team_id) == (USER, "T0002")

        world.invite()  # a second session: the id is known now, with its workspace
        assert invite_status() == ("sent", "")
        assert [m.token for m in stub.messages] == [INSTALLED_TOKEN] * 2
        assert {r.status for r in outbox()} == {"sent"}


def test_a_refused_token_holds_the_message_for_an_operator(make_app, caplog):
    with StrictSlack(set(), users={EMAIL: USER}) as stub:  # the token was revoked
        world = World(stub, make_app, slack_bot_token=BOT_TOKEN)
        with caplog.at_level(logging.ERROR, logger="channels.durable"):
            world.invite()
        [row] = outbox()
        assert row.status == "held" and "invalid_auth" in row.last_error
        assert invite_status()[0] == "created"  # not the person's fault
        assert any("OPERATOR" in r.getMessage() for r in caplog.records)
        [held] = world.api.get("/ops/failures").get_json()["failures"]
        assert held["status"] == "held" and held["id"] == row.id
        assert sweep(older_than_seconds=0)["outbound"] == 0  # not before the hold is over

        stub.tokens.add(BOT_TOKEN)  # an operator restored the token
        hours_pass(HOLD)
        assert sweep(older_than_seconds=0)["outbound"] == 1
        run_jobs()
        assert len(stub.messages) == 1 and outbox()[0].status == "sent"
        assert invite_status()[0] == "sent"


def test_a_token_nobody_fixes_ends_failed_after_days_of_holds(make_app):
    """Tries while the token is refused do not count: the message waits days for an
    operator (not two hours of retries), then fails visibly."""
    with StrictSlack(set(), users={EMAIL: USER}) as stub:
        world = World(stub, make_app, slack_bot_token=BOT_TOKEN)
        world.invite()
        for _ in range(ATTEMPTS + 2):  # more tries than a failing send ever gets
            hours_pass(HOLD)
            sweep(older_than_seconds=0)
            run_jobs()
        [row] = outbox()
        assert row.status == "held" and row.attempts == 0
        with db.session_scope() as s:  # and then days pass with nobody fixing it
            for record in s.scalars(select(OutboundRecord)):
                record.created_at -= HOLD_FOR
        hours_pass(HOLD)
        sweep(older_than_seconds=0)
        run_jobs()
        [row] = outbox()
        assert row.status == "failed"
        assert invite_status()[0] == "unreachable" and "invalid_auth" in invite_status()[1]
        assert stub.messages == []
        [failure] = world.api.get("/ops/failures").get_json()["failures"]
        assert failure["status"] == "failed"


# ---- issue 11, item 10: a rollout never holds up a reply --------------------------------


def test_a_rollout_message_steps_aside_for_a_waiting_reply_and_is_sent_once_later(make_app):
    """A proactive (bulk) message whose workspace slot is taken does not sit in the worker
    while a reply waits: it goes back to pending (the try not counted) at the back of the bulk
    queue, nothing is booked or sent, and it goes out exactly once when its turn comes."""
    from channels.durable import deliver
    from core import jobs, ratelimit
    from core.ratelimit import Limit

    with SlackStub(users={EMAIL: USER}) as stub:
        world = World(stub, make_app, slack_bot_token=BOT_TOKEN, slack_workspace_rate=2.0)
        session = make_session(world.api)
        resp = world.api.post(f"/sessions/{session['id']}/invites",
                              {"person": {"name": "Ada Lovelace", "email": EMAIL},
                               "channel": "slack"})
        assert resp.status_code == 201
        jobs.connection().flushdb()  # its deliver job: this test runs it by hand
        with db.session_scope() as s:
            row = s.scalars(select(OutboundRecord)).one()
            row.queue, row_id = jobs.BULK, row.id
        ratelimit.reserve(Limit.rate("slack:team:default", 2.0))  # a reply just took a slot
        jobs.enqueue_once("scheduler.jobs.tick_pauses", job_id="a-reply-waits")

        assert deliver(row_id) is None
        [row] = outbox()
        assert (row.status, row.attempts, stub.posts_to(USER)) == ("pending", 0, [])
        assert [j for j in jobs.queue(jobs.BULK).get_job_ids() if j.startswith(f"out-{row_id}-")]
        assert jobs.connection().llen("parley:pace:slack:team:default") == 1  # nothing booked

        run_jobs()  # the reply first, then the rollout message once its slot comes
        [row] = outbox()
        assert row.status == "sent" and len(stub.posts_to(USER)) == 1
