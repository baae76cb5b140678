"""Insights benchmark: the offline engine over 1,000 and 10,000 synthetic completed
interviews, through the database, with the recall of the themes planted in them.

    .venv/bin/python -m bench.insights [--sizes 1000 10000] [--database-url URL]
                                       [--anonymity aggregated|named]

For each size: a fresh database (a SQLite file in a temporary directory, or with
--database-url a PostgreSQL server: a database ``bench_insights_<n>`` is made on it and
dropped after), the Stay Interview session, and n completed interviews from the seeded
answer bank (``bench/answer_bank.py``: burnout 30 %, pay 15 %, flight risk 10 %, office
parking 20 %, outdated documentation 12 %, negated look-alikes, questions asked back),
written with set-based inserts and each turn's sentiment scored as the engine scores it.
Then ``core.insights`` reads the corpus and computes the run as the job does, timed:

- load: the corpus from the database (turns, demographics, the directory's names);
- engine: the offline engine; gate: the anonymity gate; total;
- recall: each planted theme found or not, its participant count against the truth
  (goal: within ± 20 %), and the goal of ≤ 30 s for 10,000 interviews on 2 cores.

The LLM engine's figures (calls, the largest prompt as the interviews grow) are
``bench/insights_llm.py``'s. Nothing is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from bench.answer_bank import PLANTED, TOPICS, generate

GOAL_SECONDS = 30.0
TOLERANCE = 0.2


def fresh_database(base: str | None, n: int, workdir: Path) -> tuple[str, object]:
    """A URL of an empty database and how to drop it afterwards."""
    if not base:
        return f"sqlite:///{workdir / f'insights-{n}.db'}", lambda: None
    url = make_url(base)
    name = f"bench_insights_{n}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def seed(n: int, anonymity: str) -> tuple[int, dict[str, int]]:
    """The session and its n completed interviews; returns (session id, planted truth)."""
    from core import db, library, privacy, sessions
    from core.models import Interview, Invite, Person, PersonAttribute, SessionType, Turn
    from core.sentiment import score

    data, truth = generate(n)
    with db.session_scope() as s:
        library.load(s)
        stay = s.scalar(select(SessionType).where(SessionType.slug == "stay-interview"))
        session = sessions.create_from_type(s, stay, name="Stay interviews, Q4")
        session.anonymity = anonymity
        session_id = session.id
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    people, attributes, invites, interviews, turns = [], [], [], [], []
    turn_id = 0
    for i, d in enumerate(data, 1):
        began = start + timedelta(minutes=i)
        people.append({"id": i, "name": f"Sample Person{i}", "email": f"p{i}@bench.example",
                       "active": True, "timezone": "Europe/Berlin", "created_at": began,
                       "updated_at": began})
        attributes.append({"person_id": i, "key": "Department", "value": d.department,
                           "folded": d.department.lower()})
        invites.append({"id": i, "session_id": session_id, "person_id": i,
                        "token_hash": f"bench-{i:08d}", "channel": "web", "fallback": [],
                        "status": "responded", "status_reason": "", "created_at": began})
        interviews.append({
            "id": i, "invite_id": i, "session_id": session_id, "person_id": i,
            "state": "completed", "channel": "web", "address": {}, "pauses_used": 0,
            "coverage": {"open_questions": [t for _, t, asked in d.answers if asked]},
            "end_reason": "", "created_at": began, "started_at": began,
            "ended_at": began + timedelta(minutes=12), "last_activity_at": began})
        seq = 0
        for topic, said, _asked in d.answers:
            for role, words in (("interviewer", f"Tell me about {topic}."),
                                ("participant", said)):
                turn_id += 1
                seq += 1
                participant = role == "participant"
                turns.append({
                    "id": turn_id, "interview_id": i, "seq": seq, "role": role,
                    "text": words, "redacted_text": privacy.redact(words) if participant
                    else None, "topic": topic, "channel": "web", "choices": [],
                    "provider_ids": {},
                    "sentiment": score(words) if participant else None, "created_at": began})
    with db.session_scope() as s:
        for model, rows in ((Person, people), (PersonAttribute, attributes),
                            (Invite, invites), (Interview, interviews), (Turn, turns)):
            for k in range(0, len(rows), 5000):
                s.execute(insert(model), rows[k:k + 5000])
    with db.session_scope() as s:  # PostgreSQL: the sequences past the ids written
        if s.bind.dialect.name == "postgresql":
            for table in ("person", "invite", "interview", "turn"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))
    return session_id, truth


def measure(n: int, anonymity: str) -> dict:
    from core import db, insights
    from core.insights import corpus as corpora
    from core.insights import gate, offline
    from core.models import Session

    session_id, truth = seed(n, anonymity)
    started = time.perf_counter()
    with db.session_scope() as s:
        corpus = corpora.load(s, s.get(Session, session_id))
    loaded = time.perf_counter()
    raw = offline.analyse(corpus)
    analysed = time.perf_counter()
    result = gate.apply(raw, corpus, corpus.scrub)
    done = time.perf_counter()
    assert insights  # the job's own path is run(): load, engine, gate — timed apart here
    recall = {}
    for theme in PLANTED:
        pattern = next((p for p in result.patterns if p.signal == theme), None) or next(
            (p for p in result.patterns if p.kind == "discovered" and theme in p.terms), None)
        found = pattern.participants if pattern else 0
        recall[theme] = {"truth": truth[theme], "found": found,
                         "within": abs(found - truth[theme]) <= TOLERANCE * truth[theme]}
    return {"interviews": n, "passages": len(corpus.passages), "anonymity": anonymity,
            "load_s": round(loaded - started, 2), "engine_s": round(analysed - loaded, 2),
            "gate_s": round(done - analysed, 2), "total_s": round(done - started, 2),
            "patterns": len(result.patterns), "topics": len(result.topics),
            "questions": len(result.missing_knowledge), "recall": recall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgresql://…/anything): a fresh database "
                             "per size is made on it; default: SQLite files")
    parser.add_argument("--anonymity", choices=["aggregated", "named"], default="aggregated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from core import db
    from core.config import load_settings, using

    figures = []
    with tempfile.TemporaryDirectory() as workdir:
        for n in args.sizes:
            url, drop = fresh_database(args.database_url, n, Path(workdir))
            try:
                with using(load_settings(database_url=url, var_dir=workdir)):
                    db.upgrade(url)
                    figures.append(measure(n, args.anonymity))
            finally:
                drop()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for f in figures:
        met = "met" if f["total_s"] <= GOAL_SECONDS else "MISSED"
        goal = "" if f["interviews"] < 10000 else f"  (goal ≤ {GOAL_SECONDS:.0f} s: {met})"
        print(f"{f['interviews']:>6} interviews ({f['passages']} answers, {f['anonymity']}): "
              f"load {f['load_s']} s, engine {f['engine_s']} s, gate {f['gate_s']} s, "
              f"total {f['total_s']} s{goal}")
        print(f"        {f['patterns']} patterns, {f['topics']} topics, "
              f"{f['questions']} question groups")
        for theme, r in f["recall"].items():
            mark = "ok" if r["within"] else "OFF"
            print(f"        {theme:<16} truth {r['truth']:>5}  found {r['found']:>5}  {mark}")
    print(f"topics of the bank: {', '.join(TOPICS)}")


if __name__ == "__main__":
    main()
