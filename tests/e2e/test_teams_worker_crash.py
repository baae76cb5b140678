"""A real RQ worker killed (SIGKILL) while the Bot Connector holds its send: after recovery
the message is delivered, never lost. Teams has no lookup of a sent message without Graph,
so the one the connector already took is sent once more (at-least-once in this case)."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from channels.durable import CLAIM_TTL, sweep
from core import db
from core.models import OutboundRecord, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_worker_crash import wait_for
from tests.integration.test_teams import TeamsWorld, teams_settings
from tests.support.factories import ApiClient
from tests.support.teams_stub import Authority, BotConnector
from tests.support.teams_stub import Person as TeamsUser
from tests.support.worker import run_jobs

ROOT = Path(__file__).resolve().parents[2]


def test_worker_killed_mid_send_the_message_is_still_delivered(make_app, tmp_path, monkeypatch):
    user = TeamsUser(1)
    with BotConnector() as connector, Authority(tmp_path) as authority:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert_file))
        app = make_app(library=True, **teams_settings(connector, authority))
        world = TeamsWorld(connector, authority, app.test_client(),
                           ApiClient(app.test_client(), ADMIN_TOKEN))
        world.person(aad_object_id=user.aad)
        world.install()
        connector.hold_on_send = 30  # Teams has the message but the answer never comes back
        world.api.post("/sessions", {"session_type": "exit-interview", "name": "x"})
        resp = world.api.post("/sessions/1/invites", {
            "person": {"name": "Ada", "email": "ada@example.com"}, "channel": "teams"})
        assert resp.status_code == 201

        settings = app.config["SETTINGS"].model_dump()
        env = {**os.environ, **{k.upper(): str(v) for k, v in settings.items()}}
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "rq"), "worker", "-c", "scheduler.worker_config",
             "-w", "rq.worker.SimpleWorker", "--burst"], cwd=ROOT, env=env,
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: len(connector.sent) == 2, "the worker to send")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        with db.session_scope() as s:
            assert s.scalar(select(OutboundRecord.status).where(OutboundRecord.id == 2)) \
                == "sending"

        connector.hold_on_send = 0
        with db.session_scope() as s:  # the claim outlives any job: time passes
            s.execute(update(OutboundRecord).values(
                claimed_at=utcnow() - CLAIM_TTL - timedelta(seconds=1)))
        assert sweep(older_than_seconds=0)["outbound"] == 1
        run_jobs()
        assert len(connector.sent) == 3 and len(connector.calls("send")) == 3  # once more
        assert connector.sent[1].activity == connector.sent[2].activity
        assert connector.calls("lookup") == []
        with db.session_scope() as s:
            record = s.get(OutboundRecord, 2)
            assert record.status == "sent"
            assert record.provider_message_id == connector.sent[-1].id
