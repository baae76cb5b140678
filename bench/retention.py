"""Retention benchmark: ``core.retention.run`` over 100,000 participant turns past their
limit, and the inbox, outbox and audit rows past theirs, through the database.

    .venv/bin/python -m bench.retention [--turns 100000] [--batch 1000] [--database-url URL]

A fresh database (a SQLite file in a temporary directory, or with --database-url a
PostgreSQL server: a database ``bench_insights_retention`` is made on it and dropped after),
the Stay Interview session, and interviews that ended two years ago, each with 10 participant turns
whose text holds an email address and a phone number (so raw and redacted differ) and 10
interviewer turns; one inbound and one outbound row per participant turn, one audit row per
interview. All written with set-based inserts. Then one run, timed, and a second (nothing
left to do: what an idle day costs).

Printed: rows changed per kind, seconds, rows per second, the number of transactions and
the longest one (what a writer waiting on SQLite's single lock would wait at worst).
Nothing is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

from bench.insights import fresh_database

TURNS_PER_INTERVIEW = 10


def seed(turns: int) -> None:
    from core import db, library, privacy, sessions
    from core.models import (
        AuditLog,
        InboundEvent,
        Interview,
        Invite,
        OutboundRecord,
        Person,
        SessionType,
        Turn,
        utcnow,
    )

    with db.session_scope() as s:
        library.load(s)
        stay = s.scalar(select(SessionType).where(SessionType.slug == "stay-interview"))
        session_id = sessions.create_from_type(s, stay, name="Stay interviews, 2024").id
    ended = utcnow() - timedelta(days=730)
    n = max(1, turns // TURNS_PER_INTERVIEW)
    people, invites, interviews, rows, inbox, outbox, audit = [], [], [], [], [], [], []
    turn_id = 0
    for i in range(1, n + 1):
        people.append({"id": i, "name": f"Sample Person{i}", "email": f"p{i}@bench.example",
                       "active": True, "timezone": "UTC", "created_at": ended})
        invites.append({"id": i, "session_id": session_id, "person_id": i,
                        "token_hash": f"bench-{i:08d}", "channel": "web", "fallback": [],
                        "status": "responded", "status_reason": "", "created_at": ended})
        interviews.append({
            "id": i, "invite_id": i, "session_id": session_id, "person_id": i,
            "state": "completed", "channel": "web", "address": {}, "pauses_used": 0,
            "coverage": {"notes": {"growth": [f"write to p{i}@home.example"]}},
            "end_reason": "", "created_at": ended, "started_at": ended, "ended_at": ended,
            "last_activity_at": ended})
        audit.append({"at": ended, "actor": "admin-token", "action": "invite.create",
                      "target_type": "invite", "target_id": i,
                      "detail": {"person": i, "channel": "web"}})
        for k in range(TURNS_PER_INTERVIEW):
            said = (f"Answer {k}: my manager listens, but write to p{i}@home.example or "
                    f"call +1 415 555 01{k:02d} if the team needs me.")
            for role, words in (("interviewer", f"Question {k}?"), ("participant", said)):
                turn_id += 1
                rows.append({
                    "id": turn_id, "interview_id": i, "seq": turn_id, "role": role,
                    "text": words, "redacted_text": privacy.redact(words)
                    if role == "participant" else None, "topic": "growth", "channel": "web",
                    "choices": [], "provider_ids": {}, "created_at": ended})
                if role == "participant":
                    inbox.append({"channel": "web", "event_id": f"e{turn_id}",
                                  "payload": {"text": words}, "status": "processed",
                                  "attempts": 1, "error": "", "interview_id": i,
                                  "received_at": ended})
                    outbox.append({"channel": "web", "address": {"key": str(i)},
                                   "payload": {"text": f"Question {k}?"}, "interview_id": i,
                                   "status": "sent", "queue": "interactive", "attempts": 1,
                                   "last_error": "", "created_at": ended})
    with db.session_scope() as s:
        for model, batch in ((Person, people), (Invite, invites), (Interview, interviews),
                             (Turn, rows), (InboundEvent, inbox), (OutboundRecord, outbox),
                             (AuditLog, audit)):
            for k in range(0, len(batch), 5000):
                s.execute(insert(model), batch[k:k + 5000])
    if db.engine().dialect.name == "postgresql":  # statistics, as autovacuum would keep them
        with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def measure(turns: int, batch: int) -> dict:
    from core import retention

    seed(turns)
    started = time.perf_counter()
    report = retention.run(now=_now(), batch=batch)
    seconds = time.perf_counter() - started
    idle_started = time.perf_counter()
    idle = retention.run(now=_now(), batch=batch)
    idle_seconds = time.perf_counter() - idle_started
    changed = sum(report["counts"].values())
    return {"participant_turns": turns, "batch": batch, "counts": report["counts"],
            "seconds": round(seconds, 2), "rows_per_second": round(changed / seconds),
            "turns_per_second": round(report["counts"]["turns"] / seconds),
            "transactions": report["batches"],
            "longest_transaction_s": report["longest_transaction_seconds"],
            "seconds_per_kind": report["seconds_per_kind"],
            "idle_seconds": round(idle_seconds, 2),
            "idle_changed": sum(idle["counts"].values())}


def _now():
    from core.models import utcnow

    return utcnow()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgresql://…/anything); default: SQLite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from core import db
    from core.config import load_settings, using

    with tempfile.TemporaryDirectory() as workdir:
        url, drop = fresh_database(args.database_url, "retention", Path(workdir))
        try:
            with using(load_settings(database_url=url, var_dir=workdir)):
                db.upgrade(url)
                f = measure(args.turns, args.batch)
        finally:
            drop()
    if args.json:
        print(json.dumps(f, indent=2))
        return
    print(f"{f['participant_turns']} participant turns past their limit, batches of "
          f"{f['batch']} ({'PostgreSQL' if args.database_url else 'SQLite'}):")
    print(f"  changed: {', '.join(f'{k} {v}' for k, v in f['counts'].items())}")
    print(f"  {f['seconds']} s: {f['rows_per_second']} rows/s "
          f"({f['turns_per_second']} turns/s); {f['transactions']} transactions, the longest "
          f"{f['longest_transaction_s']} s")
    print(f"  seconds per kind: {f['seconds_per_kind']}")
    print(f"  a second run (nothing left): {f['idle_seconds']} s, {f['idle_changed']} changed")


if __name__ == "__main__":
    main()
