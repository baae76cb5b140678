"""SMS rollout benchmark: N invites by text message through real RQ workers against a
loopback Twilio Messages API that enforces a per-sender segment rate.

    .venv/bin/python -m bench.sms [--people N] [--rate R] [--opted-out P] [--workers W]
                                  [--database-url URL --redis-url URL] [--json]

1. A throwaway back end in a temp dir (SQLite file + embedded Redis, or --database-url /
   --redis-url), migrated, with the SessionType library loaded.
2. ``tests.support.twilio_stub.TwilioStub(rate=R)``: a text that arrives before the sender's
   earlier segments are through (GCRA, --tolerance-ms early allowed for loopback jitter) is
   answered 429 (error 20429); every accepted text is recorded with its segment count, as
   the stub counts it (independently of Parley).
3. N people with phone numbers; P % of them opted out in Parley's ledger beforehand (and
   on the carrier's side too, so a send that slipped through would show).
4. N 30-Day Onboarding Check-In invites on channel "sms" written to the database in
   batches, their consent texts enqueued, W ``rq worker -c scheduler.worker_config``
   subprocesses with TWILIO_RATE=R deliver them.
5. Figures: achieved segments per second against R (first to last accepted text), 429s,
   duplicates (a number texted twice), texts to opted-out numbers, outbox and invite states.

Defaults: N=2000, R=50, P=5, W=4. Only loopback traffic. It measures and prints; nothing
is asserted on timings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.slack import Children, logger, rq_worker, wait_workers
from tests.support.twilio_stub import ACCOUNT_SID, AUTH_TOKEN, FROM, TwilioStub

BUDGET_S = 600.0


log = logger("sms")


def number(i: int) -> str:
    return f"+1415{5000000 + i:07d}"


def create_rollout(tag: str, n: int, opted_out: set[str], batch: int = 250) -> list[int]:
    """N people, invites and consent rows, straight into the database in batches; the
    opted-out numbers are in the ledger before anything is sent."""
    from sqlalchemy import select

    from bots import interview as interview_bot
    from core import db, directory, invites, phones, sessions
    from core.models import Session, SessionType

    with db.session_scope() as s:
        onboarding = s.scalar(select(SessionType).where(SessionType.slug == "onboarding-30-day"))
        session_id = sessions.create_from_type(s, onboarding, name=f"bench sms {tag}",
                                               owner="bench").id
        for phone in opted_out:
            phones.opt_out(s, phone, "STOP")
    ids: list[int] = []
    for start in range(0, n, batch):
        with db.session_scope() as s:
            session = s.get(Session, session_id)
            for i in range(start, min(n, start + batch)):
                person, _ = directory.upsert(s, {"email": f"sms{tag}-{i}@example.com",
                                                 "name": f"Rollout Person{i}",
                                                 "phone": number(i)})
                invite, _ = invites.create(s, session, person, channel="sms", ttl_days=7)
                interview, _ = invites.open_interview(s, invite)
                ids += [r.id for r in interview_bot.start(s, interview)]
    return ids


def states(ids: list[int]) -> tuple[dict[str, int], dict[str, int]]:
    from sqlalchemy import func, select

    from core import db
    from core.models import Interview, Invite, OutboundRecord

    with db.session_scope() as s:
        outbox = dict(s.execute(select(OutboundRecord.status, func.count())
                                .where(OutboundRecord.id.in_(ids))
                                .group_by(OutboundRecord.status)).all())
        interview_ids = select(OutboundRecord.interview_id).where(OutboundRecord.id.in_(ids))
        invites = dict(s.execute(
            select(Invite.status, func.count()).join(Interview, Interview.invite_id == Invite.id)
            .where(Interview.id.in_(interview_ids)).group_by(Invite.status)).all())
    return outbox, invites


def run(args: argparse.Namespace, tmp: Path, stub: TwilioStub,
        children: Children) -> dict[str, Any]:
    from core import db, jobs, library
    from core.config import activate, load_settings
    from core.jobs import enqueue_deliveries

    tag = secrets.token_hex(3).upper()
    redis_url = args.redis_url or jobs.embedded_url(tmp / "redis")
    overrides = {
        "database_url": args.database_url or f"sqlite:///{tmp / 'parley.db'}",
        "redis_url": redis_url, "var_dir": tmp / "var", "secret_key": "bench-secret",
        "admin_api_token": "bench-admin", "public_base_url": "http://parley.bench",
        "openai_api_key": "", "openai_base_url": "",
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": FROM, "twilio_api_base_url": stub.url, "twilio_rate": args.rate,
    }
    settings = activate(load_settings(**overrides))
    db.upgrade(settings.effective_database_url)
    with db.session_scope() as s:
        library.load(s)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_",
                                                                     "TWILIO_"))}
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    env.update(DATABASE_URL=settings.effective_database_url, PYTHONUNBUFFERED="1")

    rng = random.Random(7)
    opted = {number(i) for i in rng.sample(range(args.people), round(args.people
                                                                      * args.opted_out / 100))}
    stub.opted_out |= opted  # the carrier knows too: a send that slipped through would show
    t = time.monotonic()
    ids = create_rollout(tag, args.people, opted)
    create_s = time.monotonic() - t
    log(f"{args.people} SMS invites written in {create_s:.1f} s ({len(opted)} numbers opted "
        f"out); starting {args.workers} rq workers")
    for w in range(args.workers):
        children.start(f"worker-{w}", rq_worker() + [
            "-c", "scheduler.worker_config", "--with-scheduler", "--quiet", "-n",
            f"sms-{tag}-{w}"], env)
    wait_workers(jobs.QUEUE, args.workers, children)
    t0 = time.monotonic()
    enqueue_deliveries(ids)
    expected = args.people - len(opted)
    stopped = ""
    while True:
        time.sleep(1.0)
        children.check()
        outbox, _ = states(ids)
        done = outbox.get("sent", 0) + outbox.get("failed", 0)
        if done >= len(ids):
            time.sleep(1.0)  # a late duplicate would show up now
            break
        if time.monotonic() - t0 > args.budget:
            stopped = f"stopped at the {args.budget:.0f} s budget"
            break
    sent = list(stub.sent)
    per_number = Counter(m.to for m in sent)
    ats = [m.at for m in sent]
    total_segments = sum(m.segments for m in sent)
    # the rate over the span the sender was busy: from the first text to the moment the
    # last one's segments were through (its own segments take segments/R after it)
    span = (max(ats) - min(ats) + sent[-1].segments / args.rate) if sent else 0.0
    achieved = total_segments / span if span else 0.0
    outbox, invites = states(ids)
    return {
        "people": args.people, "opted_out": len(opted), "workers": args.workers,
        "rate_limit_segments_per_s": args.rate,
        "backend": "PostgreSQL" if "postgres" in settings.effective_database_url else "SQLite",
        "texts_sent": len(sent), "texts_expected": expected,
        "segments_sent": total_segments,
        "segments_per_text": round(total_segments / len(sent), 2) if sent else None,
        "elapsed_s": round(span, 1),
        "achieved_segments_per_s": round(achieved, 2),
        "achieved_pct_of_limit": round(100 * achieved / args.rate, 1),
        "rate_limited_429": len(stub.limited),
        "duplicates": sum(c - 1 for c in per_number.values() if c > 1),
        "sent_to_opted_out": sum(per_number[n] for n in opted),
        "outbox": outbox, "invites": invites, "stopped": stopped,
        "create_s": round(create_s, 1),
    }


def report(r: dict[str, Any]) -> str:
    return "\n".join([
        f"SMS rollout: {r['people']} invites, {r['opted_out']} numbers opted out beforehand, "
        f"{r['workers']} rq workers, {r['backend']}",
        f"  sender limit (stub) = TWILIO_RATE = {r['rate_limit_segments_per_s']:g} segments/s",
        f"  texts sent: {r['texts_sent']} of {r['texts_expected']} expected, "
        f"{r['segments_sent']} segments ({r['segments_per_text']} per text)",
        f"  achieved: {r['achieved_segments_per_s']} segments/s over {r['elapsed_s']} s = "
        f"{r['achieved_pct_of_limit']} % of the limit",
        f"  429s from the stub: {r['rate_limited_429']}",
        f"  duplicates: {r['duplicates']}; texts to opted-out numbers: "
        f"{r['sent_to_opted_out']}",
        f"  outbox: {r['outbox']}; invites: {r['invites']}",
        *([f"  NOTE: {r['stopped']}"] if r["stopped"] else []),
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sms",
                                 description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--people", type=int, default=2000, metavar="N")
    ap.add_argument("--rate", type=float, default=50.0, metavar="R",
                    help="segments/s the stub allows per sender, and TWILIO_RATE")
    ap.add_argument("--opted-out", type=float, default=5.0, metavar="P",
                    help="percent of the numbers opted out beforehand")
    ap.add_argument("--workers", type=int, default=4, metavar="W")
    ap.add_argument("--tolerance-ms", type=float, default=250.0,
                    help="how early the stub lets a text come (loopback jitter)")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="seconds at most")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp, \
            TwilioStub(rate=args.rate, tolerance=args.tolerance_ms / 1000) as stub:
        children = Children(Path(tmp))
        try:
            result = run(args, Path(tmp), stub, children)
        finally:
            children.stop()
            from core import jobs

            jobs.stop_embedded()
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
