"""No poison messages (issue 8, item 8): text that cannot be stored is refused at the edge,
and an inbound event that fails every time ends ``failed`` after a bounded number of
attempts, kept with its error, logged, listed for operators and left alone by the sweeper."""

import json
import logging

import pytest
from sqlalchemy import select

from bots.router import ATTEMPTS
from channels.durable import enqueue_inbound, sweep
from core import db
from core.messages import Address, Inbound
from core.models import InboundEvent, Interview, Invite, OutboundRecord
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of
from tests.support.worker import run_jobs


@pytest.fixture
def chat(client, api, library):
    session = make_session(api)
    token = token_of(invite(api, session["id"])["link"])
    return WebChat(client, token).open().choose("accept")


@pytest.mark.parametrize(("field", "raw"), [
    ("text", '"\\ud800"'),               # half a surrogate pair: valid JSON, not UTF-8
    ("text", '"a\\u0000b"'),             # NUL: PostgreSQL text cannot hold it
    ("client_id", '"c\\udfff"'),
    ("choice", '"\\ud800"'),
])
def test_text_that_cannot_be_stored_is_refused_at_the_edge(client, chat, field, raw):
    body = {"text": '"hello"', "choice": None, "client_id": '"c1"'}
    body[field] = raw
    if field == "choice":
        body["text"] = None
    data = "{" + ", ".join(f'"{k}": {v}' for k, v in body.items() if v is not None) + "}"
    resp = client.post(chat.url, data=data, content_type="application/json")
    assert resp.status_code == 400
    assert "cannot be stored" in resp.get_json()["error"]["message"]
    with db.session_scope() as s:
        assert s.scalar(select(InboundEvent.id).where(InboundEvent.status == "pending")) is None


def old_payload(invite_id: int, text: str) -> dict:
    """An inbox row as the web edge used to accept it (before it refused such text)."""
    return Inbound(channel="web", event_id=f"{invite_id}:old", text=text,
                   sender=Address("web", f"invite:{invite_id}")).to_dict()


@pytest.mark.parametrize("kind", ["lone surrogate", "no sender"])
def test_an_inbound_that_fails_every_time_ends_failed_and_visible(chat, api, caplog, kind):
    with db.session_scope() as s:
        invite_id = s.scalar(select(Invite.id))
        payload = old_payload(invite_id, "\ud800")
        if kind == "no sender":
            del payload["sender"]
        s.add(InboundEvent(channel="web", event_id=f"{invite_id}:old", payload=payload))
    enqueue_inbound("web", f"{invite_id}:old")

    with caplog.at_level(logging.ERROR, logger="bots.router"):
        run_jobs(retries=True)
    with db.session_scope() as s:
        event = s.scalar(select(InboundEvent).where(InboundEvent.event_id.endswith(":old")))
        assert event.status == "failed" and event.attempts == ATTEMPTS
        assert event.error and "\ud800" not in event.error
        expected_link = None if kind == "no sender" else s.scalar(select(Interview.id))
        assert event.interview_id == expected_link  # deleting the interview deletes it
    assert any("failed for good" in r.getMessage() for r in caplog.records)
    assert sweep(older_than_seconds=0)["inbound"] == 0
    run_jobs(retries=True)

    failures = api.get("/ops/failures").get_json()
    assert failures["next"] is None
    [row] = failures["failures"]
    assert row["kind"] == "inbound" and row["status"] == "failed"
    assert row["attempts"] == ATTEMPTS and row["error"] == event.error
    assert "\ud800" not in json.dumps(failures, ensure_ascii=False)
    chat.say("Still here, and the conversation carries on.")
    assert chat.replies[-1]["role"] == "interviewer"


def test_failures_are_paged(api, library):
    with db.session_scope() as s:
        for n in range(5):
            s.add(OutboundRecord(channel="web", address={"channel": "web", "key": "x"},
                                 payload={"text": "hi"}, status="failed", attempts=8,
                                 last_error=f"error {n}"))
        s.add(OutboundRecord(channel="web", address={"channel": "web", "key": "x"},
                             payload={"text": "hi"}, status="sent"))
    first = api.get("/ops/failures?limit=2").get_json()
    assert [f["kind"] for f in first["failures"]] == ["outbound", "outbound"]
    seen = [f["id"] for f in first["failures"]]
    page = first
    while page["next"]:
        page = api.client.get(page["next"], headers=api.headers).get_json()
        seen += [f["id"] for f in page["failures"]]
    assert sorted(seen) == [1, 2, 3, 4, 5]
    for bad in ("limit=0", "limit=201", "limit=x", "cursor=-1", "limit=²"):
        resp = api.get(f"/ops/failures?{bad}")
        assert resp.status_code == 400, bad
    assert api.client.get("/api/v1/ops/failures").status_code == 401
