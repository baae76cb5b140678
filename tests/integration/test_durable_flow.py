"""Nothing acknowledged is lost and nothing is sent twice (DESIGN.md §4)."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

import channels
from app import create_app
from channels.durable import CLAIM_TTL, deliver, sweep
from core import db, jobs
from core.models import InboundEvent, OutboundRecord, utcnow
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of
from tests.support.hook_channel import HookChannel
from tests.support.stub_server import Reply, StubServer
from tests.support.worker import run_jobs


@pytest.fixture
def hook(app, monkeypatch):
    monkeypatch.setitem(channels.CHANNELS, "hook", HookChannel)
    with StubServer(default=Reply(200, {"id": "m-1"})) as stub:
        yield stub


def outbound_to(stub, text="Hello"):
    with db.session_scope() as s:
        row = OutboundRecord(channel="hook", address={"channel": "hook", "key": "ada",
                                                       "data": {"url": stub.url}},
                             payload={"text": text, "choices": [], "role": "system"})
        s.add(row)
    return row.id


def row(record_id):
    with db.session_scope() as s:
        return s.get(OutboundRecord, record_id)


def test_failed_delivery_is_retried_and_sent_once(hook):
    hook.queue(Reply(503, {"error": "down"}))
    record_id = outbound_to(hook)
    jobs.enqueue_deliveries([record_id])
    run_jobs()
    assert row(record_id).status == "pending"
    assert "503" in row(record_id).last_error
    run_jobs(retries=True)
    sent = row(record_id)
    assert sent.status == "sent" and sent.provider_message_id == "m-1" and sent.attempts == 2
    assert len(hook.requests) == 2  # one refused, one delivered
    # the sweeper, a duplicate enqueue and a direct re-run all leave it alone
    jobs.enqueue_deliveries([record_id])
    sweep(older_than_seconds=0)
    run_jobs()
    assert deliver(record_id) is None
    assert len(hook.requests) == 2


def test_retry_after_is_honoured_by_a_channel_without_pacing(hook):
    hook.queue(Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"}))
    record_id = outbound_to(hook)
    deliver(record_id)
    assert row(record_id).status == "sent" and len(hook.requests) == 2
    assert hook.requests[1].at - hook.requests[0].at >= 0.95


def test_delivery_renders_choices_as_numbered_text(hook):
    from core.messages import Choice, Outbound

    with db.session_scope() as s:
        r = OutboundRecord(channel="hook", address={"channel": "hook", "key": "ada",
                                                     "data": {"url": hook.url}},
                           payload=Outbound("Begin?", (Choice("accept", "Yes"),
                                                       Choice("decline", "No"))).to_dict())
        s.add(r)
    deliver(r.id)
    assert hook.requests[0].json()["text"] == "Begin?\n\n1. Yes\n2. No"


def test_a_row_being_sent_by_another_worker_is_left_alone(hook):
    record_id = outbound_to(hook)
    with db.session_scope() as s:
        s.execute(update(OutboundRecord).values(status="sending", claimed_at=utcnow()))
    assert deliver(record_id) is None
    assert sweep(older_than_seconds=0)["outbound"] == 0
    assert hook.requests == []


def test_a_claim_left_by_a_dead_worker_is_taken_over_by_the_sweeper(hook):
    record_id = outbound_to(hook)
    with db.session_scope() as s:  # a worker claimed it long ago and died
        s.execute(update(OutboundRecord).values(
            status="sending", claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1), attempts=1))
    assert sweep(older_than_seconds=0)["outbound"] == 1
    run_jobs()
    assert row(record_id).status == "sent" and row(record_id).attempts == 2
    assert len(hook.requests) == 1


def test_a_permanent_refusal_is_not_retried(hook):
    hook.default = Reply(200, {"id": None})  # our hook channel treats a null id as refused
    record_id = outbound_to(hook)
    jobs.enqueue_deliveries([record_id])
    run_jobs(retries=True)
    assert row(record_id).status == "failed"
    assert len(hook.requests) == 1


def test_sweeper_recovers_work_accepted_while_redis_was_unreachable(
    api, library, settings_overrides
):
    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    # The same database, but a queue nobody is listening on: port 1 refuses connections.
    offline = create_app({**settings_overrides, "redis_url": "redis://127.0.0.1:1/0"})
    client = offline.test_client()
    assert client.get(f"/c/{token}").status_code == 200
    resp = client.post(f"/c/{token}/messages", json={"choice": "accept", "client_id": "a1"})
    assert resp.status_code == 202  # accepted: the inbox row is durable
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent.status)) == "pending"
        assert s.scalar(select(OutboundRecord.status)) == "pending"  # the consent message

    jobs.configure(settings_overrides["redis_url"])  # Redis is back
    counts = sweep(older_than_seconds=0)
    assert counts == {"inbound": 1, "outbound": 1}
    run_jobs()
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent.status)) == "processed"
        assert set(s.scalars(select(OutboundRecord.status))) == {"sent"}
    chat = WebChat(create_app(settings_overrides).test_client(), token)
    chat._read()
    assert chat.status == "in_progress"
    assert chat.reply.endswith("?")
