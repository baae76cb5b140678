"""Nothing acknowledged is lost and nothing is sent twice (DESIGN.md §4), through a real
channel: Slack against the loopback Slack Web API, which paces like Slack (one message per
second per DM, and a Retry-After it announced is a promise) and records what it refused."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from channels.durable import CLAIM_TTL, deliver, sweep
from core import db, jobs
from core.messages import Choice, Outbound
from core.models import InboundEvent, OutboundRecord, utcnow
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from tests.support.stub_server import Reply
from tests.support.worker import run_jobs

USER = "U1"


@pytest.fixture
def slack(make_app):
    with SlackStub(dm_rate=1.0) as stub:
        make_app(slack_signing_secret=SIGNING_SECRET, slack_bot_token=BOT_TOKEN,
                 slack_api_base_url=stub.base_url)
        yield stub


def outbound(message: Outbound | None = None) -> int:
    """An outbox row for a DM whose address is complete (nothing to look up first)."""
    message = message or Outbound("Hello")
    with db.session_scope() as s:
        row = OutboundRecord(channel="slack", address={
            "channel": "slack", "key": USER, "data": {"channel": f"D{USER}"}},
            payload=message.to_dict())
        s.add(row)
    return row.id


def row(record_id):
    with db.session_scope() as s:
        return s.get(OutboundRecord, record_id)


def posts(stub):
    return stub.calls("chat.postMessage")


def test_failed_delivery_is_retried_and_sent_once(slack):
    slack.fail_next("chat.postMessage", Reply(503, {"ok": False, "error": "service_down"}))
    record_id = outbound()
    jobs.enqueue_deliveries([record_id])
    run_jobs()
    assert row(record_id).status == "pending"
    assert "service_down" in row(record_id).last_error
    run_jobs(retries=True)
    sent = row(record_id)
    assert sent.status == "sent" and sent.attempts == 2
    assert sent.provider_message_id == slack.messages[0].ts
    assert len(posts(slack)) == 2 and len(slack.messages) == 1  # one refused, one delivered
    # the sweeper, a duplicate enqueue and a direct re-run all leave it alone
    jobs.enqueue_deliveries([record_id])
    sweep(older_than_seconds=0)
    run_jobs()
    assert deliver(record_id) is None
    assert len(posts(slack)) == 2 and len(slack.messages) == 1


def test_retry_after_is_honoured(slack):
    # Longer than the DM's own pacing (1 s), so only honouring Retry-After keeps it quiet.
    slack.fail_next("chat.postMessage", Reply(
        429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "2"}))
    record_id = outbound()
    deliver(record_id)
    assert row(record_id).status == "sent"
    assert len(posts(slack)) == 2 and len(slack.messages) == 1
    assert slack.limited == []  # the retry did not come before Slack said it could


def test_choices_go_out_as_buttons_with_a_numbered_fallback(slack):
    record_id = outbound(Outbound("Begin?", (Choice("accept", "Yes"), Choice("decline", "No"))))
    deliver(record_id)
    [posted] = slack.messages
    assert posted.buttons() == ["accept", "decline"]
    assert posted.text == "Begin?\n(1. Yes · 2. No)"


def test_a_row_being_sent_by_another_worker_is_left_alone(slack):
    record_id = outbound()
    with db.session_scope() as s:
        s.execute(update(OutboundRecord).values(status="sending", claimed_at=utcnow()))
    assert deliver(record_id) is None
    assert sweep(older_than_seconds=0)["outbound"] == 0
    assert posts(slack) == []


def test_a_claim_left_by_a_dead_worker_is_taken_over_by_the_sweeper(slack):
    record_id = outbound()
    with db.session_scope() as s:  # a worker claimed it long ago and died before posting
        s.execute(update(OutboundRecord).values(
            status="sending", claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1), attempts=1))
    assert sweep(older_than_seconds=0)["outbound"] == 1
    run_jobs()
    assert row(record_id).status == "sent" and row(record_id).attempts == 2
    assert len(posts(slack)) == 1


def test_a_permanent_refusal_is_not_retried(slack):
    slack.fail_next("chat.postMessage", Reply(200, {"ok": False, "error": "channel_not_found"}))
    record_id = outbound()
    jobs.enqueue_deliveries([record_id])
    run_jobs(retries=True)
    assert row(record_id).status == "failed"
    assert "channel_not_found" in row(record_id).last_error
    assert len(posts(slack)) == 1


def test_sweeper_recovers_work_accepted_while_redis_was_unreachable(
    client, api, library, make_app
):
    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    # The same database, but a queue nobody is listening on: port 1 refuses connections.
    offline = make_app(redis_url="redis://127.0.0.1:1/0").test_client()
    assert offline.get(f"/c/{token}").status_code == 200
    resp = offline.post(f"/c/{token}/messages", json={"choice": "accept", "client_id": "a1"})
    assert resp.status_code == 202  # accepted: the inbox row is durable
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent.status)) == "pending"
        assert s.scalar(select(OutboundRecord.status)) == "pending"  # the consent message
    assert jobs.queue().count == 0  # nothing reached the live queue

    counts = sweep(older_than_seconds=0)  # the sweeper runs where Redis is reachable
    assert counts == {"inbound": 1, "outbound": 1, "webhooks": 0}
    run_jobs()
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent.status)) == "processed"
        assert set(s.scalars(select(OutboundRecord.status))) == {"sent"}
    chat = WebChat(client, token)
    chat._read()
    assert chat.status == "in_progress"
    assert chat.reply.endswith("?")
