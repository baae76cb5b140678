"""A real RQ worker killed (SIGKILL) while Slack is holding its chat.postMessage: after
recovery the person has exactly one message (found again by its metadata, not re-sent)."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from channels.durable import CLAIM_TTL, sweep
from core import db
from core.models import OutboundRecord, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient, make_session
from tests.support.slack_stub import BOT_TOKEN, SIGNING_SECRET, SlackStub
from tests.support.worker import run_jobs

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, what, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_worker_killed_mid_send_delivers_exactly_once(make_app):
    with SlackStub(users={"ada@example.com": "U1"}) as stub:
        app = make_app(library=True, slack_signing_secret=SIGNING_SECRET,
                       slack_bot_token=BOT_TOKEN, slack_api_base_url=stub.base_url)
        api = ApiClient(app.test_client(), ADMIN_TOKEN)
        session = make_session(api)
        stub.hold_on_post = 30  # Slack has the message but the answer never comes back
        api.post(f"/sessions/{session['id']}/invites",
                 {"person": {"name": "Ada", "email": "ada@example.com"}, "channel": "slack"})

        settings = app.config["SETTINGS"].model_dump()
        env = {**os.environ, **{k.upper(): str(v) for k, v in settings.items()}}
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "rq"), "worker", "-c", "scheduler.worker_config",
             "-w", "rq.worker.SimpleWorker", "--burst"], cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: stub.calls("chat.postMessage"), "the worker to post")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker (and any child)
            worker.wait(timeout=10)
        assert len(stub.messages) == 1
        with db.session_scope() as s:
            assert s.scalar(select(OutboundRecord.status)) == "sending"

        stub.hold_on_post = 0
        with db.session_scope() as s:  # the claim outlives any job: time passes
            s.execute(update(OutboundRecord).values(
                claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1)))
        assert sweep(older_than_seconds=0)["outbound"] == 1
        run_jobs()
        assert len(stub.messages) == 1
        assert len(stub.calls("chat.postMessage")) == 1
        with db.session_scope() as s:
            record = s.scalar(select(OutboundRecord))
            assert record.status == "sent"
            assert record.provider_message_id == stub.messages[0].ts
