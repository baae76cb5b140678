"""Signed webhooks end to end: registration and its SSRF rule, a real loopback receiver that
verifies each signature by the published scheme, events written with the change that causes
them, retries with backoff until the window closes, no redirects, redelivery, and the
sweeper sending what a lost or killed job left behind. Time is driven through the rows'
next-attempt times, never slept."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from channels.durable import sweep
from core import db, directory, jobs, rollouts
from core.models import AuditLog, Session, WebhookDelivery, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.support.chat import WebChat
from tests.support.factories import (
    ApiClient,
    completed_interviews,
    invite,
    make_session,
    token_of,
)
from tests.support.stub_server import Reply, StubServer
from tests.support.worker import run_jobs

SECRET = "whsec_test-secret-of-the-receiver"
RICH = ("Honestly the people here are what keep me going, and I like that I can choose how "
        "to solve problems without being micromanaged by anyone.")
NOBODY = {"match": "all", "conditions": [{"field": "name", "op": "equals", "value": "Zed"}]}


@pytest.fixture
def hr(make_app, tmp_path):
    """HR's API on a server that may send to loopback (the receiver is one)."""
    app = make_app(library=True, webhook_allow_private=True, mail_dir=str(tmp_path / "mail"))
    return ApiClient(app.test_client(), ADMIN_TOKEN)


@pytest.fixture
def strict(make_app, tmp_path):
    """HR's API on a server with the default rule: public addresses only."""
    app = make_app(library=True, mail_dir=str(tmp_path / "mail"))
    return ApiClient(app.test_client(), ADMIN_TOKEN)


@pytest.fixture
def receiver():
    with StubServer(Reply(200, {"received": True})) as stub:
        yield stub


@pytest.fixture
def dns(monkeypatch):
    """Names under .test resolve to what a test says (a DNS it controls); others as ever."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in table:
            ip = table[host].pop(0) if len(table[host]) > 1 else table[host][0]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            address = (ip, int(port or 0), 0, 0) if family == socket.AF_INET6 else \
                (ip, int(port or 0))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def register(api, url: str, events=("rollout.completed",), secret: str | None = SECRET,
             status: int = 201) -> dict:
    payload = {"url": url, "events": list(events)}
    if secret is not None:
        payload["secret"] = secret
    resp = api.post("/webhooks", payload)
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def verified(recorded, secret: str = SECRET) -> dict:
    """What a receiver does, by the README's scheme alone: HMAC-SHA256 of "<t>.<raw body>"
    with the secret, compared with v1 in constant time."""
    fields = dict(part.split("=", 1) for part in recorded.headers["Parley-Signature"].split(","))
    assert set(fields) == {"t", "v1"} and fields["t"].isdigit()
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + recorded.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]), "signature does not verify"
    event = recorded.json()
    assert recorded.headers["Parley-Event-Id"] == event["id"]
    assert recorded.headers["Parley-Event"] == event["type"]
    return event


def rollout_completed(api) -> int:
    """A real state change with an event: a rollout with nobody to invite completes at once."""
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/rollouts",
                    {"audience": NOBODY, "channels": ["web"]})
    assert resp.status_code == 201 and resp.get_json()["state"] == "completed", resp.get_json()
    return resp.get_json()["id"]


def deliveries(api, webhook_id: int) -> list[dict]:
    resp = api.get(f"/webhooks/{webhook_id}/deliveries")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["deliveries"]


def due_now() -> None:
    """Time passes: every pending delivery's next attempt is due."""
    with db.session_scope() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.status == "pending")
                  .values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


# ---- registration ---------------------------------------------------------------------------

def test_the_secret_is_shown_once_then_only_a_hint(hr, receiver):
    made = register(hr, receiver.url, events=["interview.completed", "insights.ready"],
                    secret=None)
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 30
    shown = hr.get(f"/webhooks/{made['id']}").get_json()
    assert "secret" not in shown and shown["secret_hint"].endswith(made["secret"][-4:])
    assert made["secret"] not in json.dumps(hr.get("/webhooks").get_json())
    assert shown["events"] == ["interview.completed", "insights.ready"]
    with db.session_scope() as s:
        actions = list(s.scalars(select(AuditLog.action)))
    assert "webhook.create" in actions
    assert hr.delete(f"/webhooks/{made['id']}").status_code == 204
    assert hr.get(f"/webhooks/{made['id']}").status_code == 404


@pytest.mark.parametrize("body", [
    {"url": "http://x.example", "events": []},
    {"url": "http://x.example", "events": ["interview.started"]},
    {"url": "http://x.example", "events": ["insights.ready", "insights.ready"]},
    {"url": "http://x.example", "events": ["insights.ready"], "secret": "short"},
])
def test_a_bad_body_is_400(hr, body):
    assert hr.post("/webhooks", body).status_code == 400


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://localhost:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("ftp://example.com/hook", "only http and https"),
    ("http://user:pw@example.com/hook", "no credentials"),
    ("http://[::1/hook", "not a valid URL"),
])
def test_non_public_urls_are_refused_with_the_reason(strict, url, reason):
    resp = strict.post("/webhooks", {"url": url, "events": ["insights.ready"]})
    assert resp.status_code == 422, resp.get_json()
    assert reason in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("ip, reason", [
    ("127.0.0.1", "loopback"), ("10.0.0.7", "private"), ("169.254.1.1", "link-local"),
    ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, its client 127.0.0.1
    ("fec0::1", "site-local"),
])
def test_a_hostname_resolving_to_a_non_public_address_is_refused(strict, dns, ip, reason):
    dns["hooks.internal.test"] = [ip]
    resp = strict.post("/webhooks", {"url": "https://hooks.internal.test/x",
                                     "events": ["insights.ready"]})
    assert resp.status_code == 422
    message = resp.get_json()["error"]["message"]
    assert "hooks.internal.test" in message and reason in message and ip in message


def test_a_name_that_resolves_elsewhere_by_send_time_fails_with_the_reason(strict, dns):
    dns["hooks.example.test"] = ["93.184.216.34"]  # public when HR registers it
    made = register(strict, "http://hooks.example.test/x")
    dns["hooks.example.test"] = ["127.0.0.1"]  # then the name points home
    rollout_completed(strict)
    run_jobs()
    [delivery] = deliveries(strict, made["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "loopback" in delivery["last_error"] and "refused" in delivery["last_error"]


def test_an_address_swapped_between_the_check_and_the_connect_is_refused(strict, dns,
                                                                         receiver):
    """DNS rebinding: public for the check, loopback for the connection. The socket's own
    peer address is checked, so nothing is sent to it."""
    port = receiver.url.rsplit(":", 1)[1]
    dns["rebind.example.test"] = ["93.184.216.34"]
    made = register(strict, f"http://rebind.example.test:{port}/x")
    rollout_completed(strict)
    dns["rebind.example.test"] = ["93.184.216.34", "127.0.0.1"]
    run_jobs()
    [delivery] = deliveries(strict, made["id"])
    assert delivery["status"] == "failed" and "connected to 127.0.0.1" in delivery["last_error"]
    assert receiver.requests == []


# ---- events ---------------------------------------------------------------------------------

def test_an_interview_completing_in_the_web_chat_is_one_signed_delivery(hr, receiver, client):
    made = register(hr, receiver.url, events=["interview.completed", "interview.abandoned"])
    session = make_session(hr, "exit-interview", settings={"question_budget": 2})
    link = invite(hr, session["id"])["link"]
    chat = WebChat(hr.client, token_of(link)).open()
    chat.choose("accept")
    while chat.status == "in_progress":
        chat.say(RICH)
    assert chat.status == "completed"
    run_jobs()
    [request] = receiver.requests
    event = verified(request)
    assert event["type"] == "interview.completed" and event["id"].startswith("evt_")
    data = event["data"]
    assert data["session_id"] == session["id"] and data["anonymity"] == "named"
    assert data["interview_id"] == chat.interview and data["state"] == "completed"
    assert data["person"]["name"] == "Ada Lovelace"
    assert data["person"]["email"] == "ada@example.com"
    assert data["started_at"] and data["ended_at"]
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["event_id"] == event["id"] and delivery["last_status_code"] == 200
    assert '"received"' in delivery["last_response"] and delivery["delivered_at"]
    run_jobs()
    assert sweep(older_than_seconds=0)["webhooks"] == 0 and len(receiver.requests) == 1


def test_an_aggregated_session_tells_of_whole_batches_only_and_no_one(hr, receiver):
    """Its answers are released in whole batches of the threshold (core.privacy): so are
    its events — nothing for the first two of three, then one event for the batch, which
    says neither who nor when (the hour only)."""
    register(hr, receiver.url, events=["interview.completed", "interview.abandoned"])
    session = make_session(hr, "engagement-pulse",
                           settings={"anonymity_threshold": 3, "question_budget": 2})
    assert session["anonymity"] == "aggregated"
    people = [("Grace Hopper", "grace.hopper@example.com"), ("Alan Turing", "alan@example.com"),
              ("Ada Lovelace", "ada@example.com")]
    for n, (name, email) in enumerate(people):
        sent = invite(hr, session["id"], email=email, name=name)
        chat = WebChat(hr.client, token_of(sent["link"])).open()
        chat.choose("accept")
        while chat.status == "in_progress":
            chat.say(RICH)
        assert chat.status == "completed"
        run_jobs()
        assert len(receiver.requests) == (1 if n == 2 else 0)  # the batch, at the third
    [request] = receiver.requests
    event = verified(request)
    assert event["type"] == "interview.completed"
    assert event["data"] == {"session_id": session["id"], "anonymity": "aggregated",
                             "released": 3}
    raw = request.body.decode().lower()
    for word in ("grace", "hopper", "alan", "ada", "example.com", "web", "invite", "person"):
        assert word not in raw, word
    assert set(event) == {"id", "type", "created", "data"}  # data above: counts, no ids
    created = event["created"]
    assert created.endswith(":00:00+00:00"), created  # the hour, not the moment
    with db.session_scope() as s:
        assert s.scalar(select(WebhookDelivery.interview_id)) is None  # no link kept either


def test_rollout_completed_fires_with_its_counts(hr, receiver):
    register(hr, receiver.url)
    rollout_id = rollout_completed(hr)
    run_jobs()
    event = verified(receiver.requests[0])
    assert event["type"] == "rollout.completed"
    assert event["data"]["rollout_id"] == rollout_id and event["data"]["kind"] == "invite"
    assert sum(event["data"]["counts"].values()) == 0


def test_rollout_completed_fires_when_its_last_invite_is_dispatched(hr, receiver):
    register(hr, receiver.url)
    session = make_session(hr)
    monday = datetime(2026, 3, 9, 10, tzinfo=UTC)  # a working morning everywhere in UTC
    with db.session_scope() as s:
        directory.upsert(s, {"name": "Ada Lovelace", "email": "ada@example.com"})
        rollout_id = rollouts.create(s, s.get(Session, session["id"]), audience={},
                                     channels=["web"], now=monday).id
    run_jobs()
    assert receiver.requests == []  # scheduled, not completed
    assert rollouts.dispatch(rollout_id, now=monday)["invited"] == 1
    run_jobs()
    [event] = [verified(r) for r in receiver.requests]
    assert event["type"] == "rollout.completed" and event["data"]["rollout_id"] == rollout_id
    assert event["data"]["counts"]["pending"] == 0 and sum(event["data"]["counts"].values()) == 1


def test_insights_ready_fires_when_a_run_is_done(hr, receiver):
    register(hr, receiver.url, events=["insights.ready"])
    session = make_session(hr)
    completed_interviews(session["id"], [
        {"name": f"Person {n}", "email": f"p{n}@example.com",
         "answers": [("what-keeps-you", RICH, False)]} for n in range(3)])
    started = hr.post(f"/sessions/{session['id']}/insights", {})
    assert started.status_code == 202, started.get_json()
    run_jobs()
    [request] = receiver.requests
    event = verified(request)
    assert event["type"] == "insights.ready"
    assert event["data"]["session_id"] == session["id"]
    assert event["data"]["insight_id"] == started.get_json()["id"]
    assert event["data"]["interviews"] == 3


def test_an_endpoint_gets_only_the_events_it_asked_for(hr, receiver):
    register(hr, receiver.url, events=["insights.ready"])
    rollout_completed(hr)
    run_jobs()
    assert receiver.requests == []
    with db.session_scope() as s:
        assert s.scalar(select(WebhookDelivery.id)) is None


# ---- retries, failures, redirects -----------------------------------------------------------

def test_a_500_then_a_200_is_retried_and_delivered_with_the_same_event_id(hr, receiver):
    made = register(hr, receiver.url)
    receiver.queue(Reply(500, "boom"))
    rollout_completed(hr)
    run_jobs()
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 500 and delivery["last_error"] == "HTTP 500"
    assert delivery["last_response"] == "boom" and delivery["next_attempt_at"]
    assert sweep(older_than_seconds=0)["webhooks"] == 0  # not due yet
    due_now()
    assert sweep(older_than_seconds=0)["webhooks"] == 1
    run_jobs()
    first, second = receiver.requests
    assert verified(first)["id"] == verified(second)["id"] == delivery["event_id"]
    assert first.body == second.body
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert delivery["last_status_code"] == 200 and delivery["next_attempt_at"] is None


def test_a_receiver_down_is_retried_with_backoff_then_failed_after_the_window(hr):
    made = register(hr, closed_port_url())
    rollout_completed(hr)
    run_jobs()
    waits = []
    for _ in range(4):
        with db.session_scope() as s:
            row = s.scalar(select(WebhookDelivery))
            assert row.status == "pending" and "ConnectionError" in row.last_error
            waits.append(row.next_attempt_at - row.claimed_at)
        due_now()
        sweep(older_than_seconds=0)
        run_jobs()
    assert waits == sorted(waits) and len(set(waits)) == len(waits)  # each wait longer
    with db.session_scope() as s:  # a day later: the window is over
        s.execute(update(WebhookDelivery).values(
            created_at=utcnow() - timedelta(hours=24, minutes=1)))
    due_now()
    sweep(older_than_seconds=0)
    run_jobs()
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 6
    assert "ConnectionError" in delivery["last_error"] and delivery["next_attempt_at"] is None
    due_now()
    assert sweep(older_than_seconds=0)["webhooks"] == 0  # failed is final, and kept


def test_a_redirect_is_not_followed(hr, receiver):
    with StubServer() as elsewhere:
        made = register(hr, receiver.url)
        receiver.queue(Reply(302, "", headers={"Location": elsewhere.url + "/stolen"}))
        rollout_completed(hr)
        run_jobs()
        assert elsewhere.requests == [] and len(receiver.requests) == 1
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
    assert "redirects are not followed" in delivery["last_error"]
    assert "/stolen" in delivery["last_response"]


def test_redeliver_sends_the_same_event_again(hr, receiver):
    made = register(hr, receiver.url)
    rollout_completed(hr)
    run_jobs()
    [first] = deliveries(hr, made["id"])
    resp = hr.post(f"/webhooks/{made['id']}/deliveries/{first['id']}/redeliver")
    assert resp.status_code == 201, resp.get_json()
    again = resp.get_json()
    assert again["event_id"] == first["event_id"] and again["redelivery_of"] == first["id"]
    run_jobs()
    one, two = receiver.requests
    assert verified(one)["id"] == verified(two)["id"] == first["event_id"]
    assert [d["status"] for d in deliveries(hr, made["id"])] == ["delivered", "delivered"]
    with db.session_scope() as s:
        assert "webhook.redeliver" in set(s.scalars(select(AuditLog.action)))
    other = register(hr, receiver.url)
    assert hr.post(f"/webhooks/{other['id']}/deliveries/{first['id']}/redeliver"
                   ).status_code == 404


# ---- the sweeper ----------------------------------------------------------------------------

def test_a_job_lost_with_redis_is_sent_by_the_sweeper(hr, receiver):
    made = register(hr, receiver.url)
    rollout_completed(hr)
    jobs.connection().flushdb()  # Redis lost the job
    run_jobs()
    assert receiver.requests == []
    assert sweep(older_than_seconds=0)["webhooks"] == 1
    run_jobs()
    assert verified(receiver.requests[0])["type"] == "rollout.completed"
    assert deliveries(hr, made["id"])[0]["status"] == "delivered"


def test_a_delivery_whose_worker_was_killed_mid_send_is_sent_again(hr, receiver):
    made = register(hr, receiver.url)
    rollout_completed(hr)
    jobs.connection().flushdb()
    with db.session_scope() as s:  # as a worker leaves it when killed during the POST
        s.execute(update(WebhookDelivery).values(
            status="sending", attempts=1, claimed_at=utcnow() - timedelta(hours=1)))
    assert sweep(older_than_seconds=0)["webhooks"] == 1
    run_jobs()
    [delivery] = deliveries(hr, made["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert len(receiver.requests) == 1


def test_a_name_that_does_not_resolve_at_send_time_is_tried_again(strict, dns):
    """A resolver's hiccup is a failed attempt with a next one, not a refusal for good."""
    dns["flaky.example.test"] = ["93.184.216.34"]
    made = register(strict, "http://flaky.example.test/x")
    del dns["flaky.example.test"]  # now it does not resolve (.test is not in any DNS)
    rollout_completed(strict)
    run_jobs()
    [delivery] = deliveries(strict, made["id"])
    assert delivery["status"] == "pending" and "does not resolve" in delivery["last_error"]
    assert delivery["next_attempt_at"] is not None


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(make_app, tmp_path):
    """A byte now and then keeps each read alive; the whole exchange still ends at
    WEBHOOK_TIMEOUT, as a failed attempt to try again."""
    import threading

    app = make_app(library=True, webhook_allow_private=True, webhook_timeout=1.0,
                   mail_dir=str(tmp_path / "mail"))
    api = ApiClient(app.test_client(), ADMIN_TOKEN)
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip():
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.2):  # the receiver's pace, not the test's
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        made = register(api, f"http://127.0.0.1:{server.getsockname()[1]}/slow")
        rollout_completed(api)
        run_jobs()
    finally:
        stop.set()
        server.close()
    [delivery] = deliveries(api, made["id"])
    assert delivery["status"] == "pending" and "within 1.0 s" in delivery["last_error"]


def test_a_late_worker_records_nothing_over_the_attempt_that_took_its_row(hr, receiver):
    """A worker that stalled past its claim: the sweeper gave the row to another attempt,
    which delivered it. The first one's late 'failed, try again' is not recorded."""
    from channels import webhooks as sender

    register(hr, receiver.url)
    rollout_completed(hr)
    run_jobs()
    with db.session_scope() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.status == "delivered" and row.attempts == 1
        row.status = "sending"  # as while attempt 2 is under way
        row.attempts = 2
    assert sender._finish(row.id, "pending", 1, error="late", next_at=utcnow()) is None
    assert sender._finish(row.id, "delivered", 2, code=200) == "delivered"
    with db.session_scope() as s:
        row = s.scalar(select(WebhookDelivery))
        assert row.status == "delivered" and row.last_error != "late"
