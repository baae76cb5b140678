"""Server time of each HR dashboard page, on demo-sized data: how long the app takes to
answer a signed-in GET (every page calls the API in process), measured in process with
Flask's test client, so the figure is the server's alone (no network, no browser).

    .venv/bin/python -m bench.dashboard [--interviews N] [--repeat R] [--database-url URL]

A throwaway database (a SQLite file, or --database-url, whose tables it replaces) and an
embedded Redis get the SessionType library, the demo organisation (``make run``'s), a Stay
Interview session with N completed interviews from the answer bank (``bench.insights.seed``:
set-based, sentiment scored), its insights computed, one interview still in progress, and
an owner account. Each page is then read R times after one warm-up; median and worst, in ms.
The issue's goal: every page under 200 ms. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, text, update

GOAL_MS = 200.0
PASSWORD = "bench password 123"


def prepare(n: int) -> tuple[int, int]:
    """The data above; returns (session id, an interview id)."""
    from bench.insights import seed
    from core import accounts, db, directory, insights, library
    from core.models import Interview, Session

    session_id, _ = seed(n, "named")
    with db.session_scope() as s:
        directory.load_demo(s, library.demo_org())
        accounts.create_user(s, email="hr@bench.example", role="owner", password=PASSWORD)
        interview_id = s.scalar(select(Interview.id).order_by(Interview.id).limit(1))
        s.execute(update(Interview).where(Interview.id == interview_id + 1)
                  .values(state="in_progress", ended_at=None))
        run = insights.request(s, s.get(Session, session_id))
        s.flush()
        run_id = run.id
    insights.compute(run_id)
    return session_id, interview_id


def timed(client, url: str, repeat: int) -> tuple[float, float]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), max(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interviews", type=int, default=200, metavar="N")
    ap.add_argument("--repeat", type=int, default=15, metavar="R")
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    from core import db, jobs
    from core.config import load_settings, using

    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-dashboard-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    overrides = {"database_url": url, "var_dir": tmp, "secret_key": "bench",
                 "redis_url": jobs.embedded_url(tmp)}
    try:
        with using(load_settings(**overrides)):
            if url.startswith("postgresql"):
                with db.engine().begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.upgrade(url)
            session_id, interview_id = prepare(args.interviews)
            from app import create_app

            client = create_app(overrides).test_client()
            form = client.get("/dashboard/login").get_data(as_text=True)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            client.post("/dashboard/login", data={"csrf": csrf, "email": "hr@bench.example",
                                                  "password": PASSWORD})
            pages = {
                "sessions": "/dashboard/sessions",
                "session: topics": f"/dashboard/sessions/{session_id}",
                "session: invite & roll out": f"/dashboard/sessions/{session_id}/invite",
                "session: insights": f"/dashboard/sessions/{session_id}/insights",
                "conversations": "/dashboard/conversations",
                "conversations, filtered": "/dashboard/conversations?channel=web&"
                                           "sentiment=negative&q=person",
                "a conversation": f"/dashboard/conversations/{interview_id}",
                "live": "/dashboard/live",
                "1-on-1s: assigned topics": "/dashboard/one-on-ones",
                "1-on-1s: usage report": "/dashboard/one-on-ones/usage",
            }
            figures = {name: timed(client, path, args.repeat) for name, path in pages.items()}
    finally:
        jobs.stop_embedded()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"bench.dashboard on {backend}: {args.interviews} completed interviews, the demo "
          f"org; {args.repeat} reads each (goal < {GOAL_MS:.0f} ms)")
    for name, (median, worst) in figures.items():
        flag = "" if worst < GOAL_MS else "  over the goal"
        print(f"  {name:28} median {median:6.1f} ms   worst {worst:6.1f} ms{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
