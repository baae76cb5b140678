"""How long a rollout's status takes to read — ``GET /api/v1/rollouts/<id>`` (the counts by
progress, what the dashboard's rollout page and the dispatcher's completion check run) and a
page of its recipients — for a rollout of tens of thousands.

    .venv/bin/python -m bench.rollout_status [--recipients N] [--database-url URL]
                                             [--repeat R]

A throwaway database (a SQLite file, or --database-url, whose tables it replaces) gets, set-based:
N people, one invite each and a rollout recipient for each; an outbox row per invite that
settled (sent, 3 % failed); for a third of them an interview with 12 outbox rows of its own
(the interviewer's turns), a tenth of those completed. Then it times R reads of each (median
and worst, in ms) over the app's own API, in process. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, text

from core import db, library, sessions
from core.config import load_settings, using
from core.models import (
    Interview,
    Invite,
    OutboundRecord,
    Person,
    Rollout,
    RolloutRecipient,
    SessionType,
)

ADMIN = "bench-admin-token"


def populate(n: int) -> int:
    """The rollout described above; returns its id."""
    with db.session_scope() as s:
        library.load(s)
        stay = s.scalar(select(SessionType).where(SessionType.slug == "stay-interview"))
        session = sessions.create_from_type(s, stay, name="Bench", owner="bench")
        rollout = Rollout(session_id=session.id, channels=["slack"], state="sending")
        s.add(rollout)
        s.flush()
        sid, rid = session.id, rollout.id
        s.execute(insert(Person), [{"name": f"P{i}", "email": f"p{i}@bench.example"}
                                   for i in range(n)])
        people = list(s.scalars(select(Person.id).order_by(Person.id)))
        s.execute(insert(Invite), [{"session_id": sid, "person_id": p, "token_hash": f"{p:064x}",
                                    "channel": "slack", "status": "sent"} for p in people])
        invites = list(s.execute(select(Invite.id, Invite.person_id).order_by(Invite.id)))
        s.execute(insert(RolloutRecipient), [
            {"rollout_id": rid, "person_id": p, "channel": "slack", "status": "invited",
             "invite_id": i} for i, p in invites])
        s.execute(insert(OutboundRecord), [
            {"channel": "slack", "invite_id": i, "queue": "bulk",
             "status": "failed" if k % 33 == 0 else "sent"} for k, (i, _) in enumerate(invites)])
        s.execute(insert(Interview), [
            {"invite_id": i, "session_id": sid, "person_id": p, "channel": "slack",
             "state": "completed" if k % 30 == 0 else "in_progress"}
            for k, (i, p) in enumerate(invites) if k % 3 == 0])
        interviews = list(s.scalars(select(Interview.id)))
        s.execute(insert(OutboundRecord), [
            {"channel": "slack", "interview_id": v, "status": "sent"}
            for v in interviews for _ in range(12)])
        if s.bind.dialect.name == "postgresql":
            s.execute(text("ANALYZE"))
    return rid


def timed(client, url: str, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, headers={"Authorization": f"Bearer {ADMIN}"})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return statistics.median(times), max(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=40_000, metavar="N")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--repeat", type=int, default=7, metavar="R")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-status-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    settings = load_settings(database_url=url, var_dir=tmp, admin_api_token=ADMIN,
                             secret_key="bench")
    with using(settings):
        if url.startswith("postgresql"):
            with db.engine().begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.upgrade(url)
        start = time.perf_counter()
        rid = populate(args.recipients)
        made = time.perf_counter() - start
        from app import create_app

        client = create_app({"database_url": url, "var_dir": tmp, "admin_api_token": ADMIN,
                             "secret_key": "bench"}).test_client()
        status = timed(client, f"/api/v1/rollouts/{rid}", args.repeat)
        page = timed(client, f"/api/v1/rollouts/{rid}/recipients?limit=50", args.repeat)
    print(f"rollout status bench on {url.split(':')[0]}: {args.recipients:,} recipients "
          f"(made in {made:.1f} s)")
    for name, (median, worst) in (("GET /rollouts/<id>", status),
                                  ("GET /rollouts/<id>/recipients", page)):
        print(f"  {name:30} median {median:8.1f} ms   worst {worst:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
