"""Teams channel benchmark: Parley over real HTTP, real RQ workers and real Bot Framework
authentication against a loopback Bot Connector that enforces Teams' limits.

    .venv/bin/python -m bench.teams [--interviews K] [--workers W] [--tenant-rate Q]
                                    [--rollout N] [--json]

1. A throwaway back end in a temp dir (SQLite + embedded Redis, or --database-url /
   --redis-url), migrated, with the SessionType library loaded.
2. tests.support.teams_stub: a Bot Connector that answers 429 + Retry-After to a send over
   any per-conversation window (7/1 s, 8/2 s, 60/30 s, 1800/h) or over Q sends/s for the
   tenant (GCRA, --tolerance-ms early allowed), OpenID metadata + JWKS for inbound tokens,
   and an https login authority (its own certificate, trusted via REQUESTS_CA_BUNDLE).
3. Parley served by gunicorn (as the Procfile runs it) and W ``rq worker`` processes.
4. K concurrent interviews: each person installs the app (signed installationUpdate), HR
   invites them on Teams, they click Accept on the consent card (signed Action.Submit) and
   answer every question until the closing card. Ack = the signed POST's round trip; reply =
   from sending an answer to the connector receiving the next message.
5. Rollout: N people who installed the app get an Exit Interview invite on Teams (rows
   created in the database in bulk), their consent cards delivered by the W workers; the
   achieved rate against the per-tenant limit Parley enforces (goal ≥ 95 %), duplicates and
   missing.

Nothing is asserted: it measures and prints. Only loopback traffic.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.slack import (
    Children,
    drain,
    fetch,
    free_port,
    gunicorn,
    logger,
    pct,
    rq_worker,
    summary,
    wait_http,
    wait_workers,
)
from tests.support.slack_stub import Gcra
from tests.support.stub_server import Recorded, Reply
from tests.support.teams_stub import (
    APP_ID,
    APP_PASSWORD,
    TENANT,
    Authority,
    BotConnector,
    Sent,
    sign,
    windows_kept,
)
from tests.support.teams_stub import Person as TeamsUser

ADMIN_TOKEN = "bench-admin-token"
CLOSING = "Thank you — that's everything"
MAX_ANSWERS = 40
ANSWERS = [
    "I am leaving mostly because the role stopped growing; I spent the last year maintaining "
    "the old billing system and asked twice for a move that never came.",
    "My manager was supportive day to day, but our one-to-ones were about deadlines rather "
    "than how I was developing, and that made the decision easier.",
    "The team itself was the best part; people helped each other when releases got tight and "
    "I will miss the Monday planning sessions.",
    "Workload was fine most months, but quarter ends meant long evenings and I had to cancel "
    "plans with my family more than once this spring.",
    "If the company wants to keep people like me it should make internal moves easier and say "
    "clearly which projects are coming next year.",
]


log = logger("teams")


class TenantLimitedConnector(BotConnector):
    """The Bot Connector stub, also refusing sends over ``rate`` per second for the tenant."""

    def __init__(self, rate: float, tolerance: float):
        super().__init__()
        self.tenant = Gcra(rate, tolerance)
        self.tenant_lock = threading.Lock()
        self.limited_by: Counter[str] = Counter()

    def _answer(self, request: Recorded) -> Reply:
        if request.method == "POST" and request.path.startswith("/teams/v3/conversations/"):
            with self.tenant_lock:
                wait = self.tenant.wait(TENANT, request.at)
                if wait > 0:
                    self.limited_by["tenant"] += 1
                    self.limited.append(request)
                    return Reply(429, {"error": {"code": "TooManyRequests"}},
                                 headers={"Retry-After": str(max(1, math.ceil(wait)))})
                self.tenant.book(TENANT, request.at)
        before = len(self.limited)
        reply = super()._answer(request)
        if len(self.limited) > before:
            self.limited_by["conversation"] += 1
        return reply


@dataclass
class Convo:
    index: int
    user: TeamsUser
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    answers: int = 0
    completed: bool = False
    error: str = ""
    first: float | None = None
    last: float | None = None


def post(port: int, activity: dict, token: str, convo: Convo) -> float:
    status, _, sent, rtt = fetch(port, "POST", "/api/messages", json.dumps(activity).encode(),
                                 {"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"})
    convo.statuses[status] += 1
    convo.acks.append(rtt)
    convo.first = convo.first or sent
    return sent


def api(port: int, method: str, path: str, payload: dict | None = None) -> dict:
    body = json.dumps(payload).encode() if payload is not None else None
    status, data, _, _ = fetch(port, method, f"/api/v1{path}", body,
                               {"Authorization": f"Bearer {ADMIN_TOKEN}",
                                "Content-Type": "application/json"})
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data)


def person_thread(port: int, stub: BotConnector, convo: Convo, token: str, invited,
                  timeout: float) -> None:
    try:
        user, chat = convo.user, convo.user.conversation
        post(port, user.install(stub), token, convo)
        if stub.wait(chat, 0, timeout) is None:
            raise RuntimeError("no greeting")
        invited.wait(timeout)
        consent = stub.wait(chat, 1, timeout)
        if consent is None or "accept" not in consent.buttons():
            raise RuntimeError("no consent card")
        sent = post(port, user.click(stub, consent, "accept"), token, convo)
        index = 2
        reply = stub.wait(chat, index, timeout)
        if reply is None:
            raise RuntimeError("no first question")
        convo.replies.append(reply.at - sent)
        while convo.answers < MAX_ANSWERS:
            text = ANSWERS[(convo.index + convo.answers) % len(ANSWERS)]
            sent = post(port, user.message(stub, text), token, convo)
            convo.answers += 1
            index += 1
            reply = stub.wait(chat, index, timeout)
            if reply is None:
                raise RuntimeError(f"no reply to answer {convo.answers}")
            convo.replies.append(reply.at - sent)
            convo.last = reply.at
            if CLOSING in reply.text:
                convo.completed = True
                return
        raise RuntimeError("not closed")
    except Exception as exc:
        convo.error = f"{type(exc).__name__}: {exc}"


def interviews_phase(args, port: int, stub: TenantLimitedConnector) -> dict[str, Any]:
    token = sign(stub.service_url)
    convos = [Convo(i, TeamsUser(1000 + i, name=f"Bench {i}")) for i in range(args.interviews)]
    for c in convos:
        api(port, "POST", "/people", {"name": c.user.name, "email": f"p{c.index}@bench.example",
                                      "aad_object_id": c.user.aad})
    session = api(port, "POST", "/sessions", {"session_type": "exit-interview",
                                              "name": "bench teams"})
    invited = threading.Event()
    threads = [threading.Thread(target=person_thread, daemon=True, args=(
        port, stub, c, token, invited, args.reply_timeout)) for c in convos]
    before = dict(stub.limited_by)
    for t in threads:
        t.start()
    for c in convos:  # the app installed and greeted, then HR invites
        stub.wait(c.user.conversation, 0, args.reply_timeout)
        api(port, "POST", f"/sessions/{session['id']}/invites",
            {"person": {"name": c.user.name, "email": f"p{c.index}@bench.example"},
             "channel": "teams"})
    invited.set()
    for t in threads:
        t.join(timeout=args.phase_timeout)
    acks = [a for c in convos for a in c.acks]
    replies = [r for c in convos for r in c.replies]
    starts = [c.first for c in convos if c.first]
    ends = [c.last for c in convos if c.last]
    span = max(ends) - min(starts) if starts and ends else 0.0
    statuses: Counter[int] = Counter()
    for c in convos:
        statuses.update(c.statuses)
    sent = [m for c in convos for m in stub.to(c.user.conversation)]
    return {
        "interviews": len(convos), "completed": sum(c.completed for c in convos),
        "errors": [f"{c.index}: {c.error}" for c in convos if c.error][:10],
        "ack": summary(acks), "reply": summary(replies), "replies": len(replies),
        "span_s": round(span, 1), "replies_per_s": round(len(replies) / span, 2) if span else None,
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rate_limited_429": {k: v - before.get(k, 0) for k, v in stub.limited_by.items()},
        "duplicates": duplicates(sent), "windows_kept": windows_kept(sent),
    }


def duplicates(sent: list[Sent]) -> int:
    """The same activity text sent twice in a row to one chat."""
    by_chat: dict[str, list[str]] = {}
    for m in sent:
        by_chat.setdefault(m.conversation, []).append(m.text)
    return sum(a == b for texts in by_chat.values() for a, b in zip(texts, texts[1:],
                                                                     strict=False))


def create_rollout(stub: BotConnector, n: int, batch: int = 250) -> tuple[list[int], list[str]]:
    """N people who installed the app (a contact with its reference), their invites and
    consent rows, straight into the database in batches."""
    from sqlalchemy import select

    from bots import interview as interview_bot
    from core import db, directory, invites, sessions
    from core.models import Session, SessionType, TeamsContact

    with db.session_scope() as s:
        kind = s.scalar(select(SessionType).where(SessionType.slug == "exit-interview"))
        session_id = sessions.create_from_type(s, kind, name="bench rollout", owner="bench").id
    ids: list[int] = []
    chats: list[str] = []
    for start in range(0, n, batch):
        with db.session_scope() as s:
            session = s.get(Session, session_id)
            for i in range(start, min(n, start + batch)):
                user = TeamsUser(100_000 + i)
                person, _ = directory.upsert(s, {
                    "email": f"r{i}@bench.example", "name": f"Rollout {i}",
                    "teams_user_id": user.user_id, "aad_object_id": user.aad})
                s.add(TeamsContact(user_id=user.user_id, aad_object_id=user.aad,
                                   tenant_id=TENANT, person_id=person.id,
                                   reference=reference(stub, user)))
                invite, _ = invites.create(s, session, person, channel="teams", ttl_days=7)
                interview, _ = invites.open_interview(s, invite)
                ids += [r.id for r in interview_bot.start(s, interview)]
                chats.append(user.conversation)
    return ids, chats


def reference(stub: BotConnector, user: TeamsUser) -> dict[str, Any]:
    return {"user": {"id": user.user_id, "aadObjectId": user.aad},
            "bot": {"id": f"28:{APP_ID}", "name": "Parley"},
            "conversation": {"id": user.conversation, "conversationType": "personal",
                             "tenantId": TENANT},
            "channelId": "msteams", "serviceUrl": stub.service_url}


def rollout_phase(args, stub: TenantLimitedConnector, children: Children) -> dict[str, Any]:
    from core import jobs
    from core.jobs import enqueue_deliveries

    t = time.monotonic()
    ids, chats = create_rollout(stub, args.rollout)
    created_s = time.monotonic() - t
    log(f"rollout: {len(ids)} consent rows created in {created_s:.1f} s; delivering")
    before = dict(stub.limited_by)
    t0 = time.monotonic()
    enqueue_deliveries(ids)
    stopped, last, last_change = "", -1, time.monotonic()
    while True:
        time.sleep(0.5)
        children.check()
        count = sum(len(stub.by_conversation.get(c, ())) for c in chats)
        if count != last:
            last, last_change = count, time.monotonic()
        if count >= len(chats):
            drain(jobs.QUEUE)
            time.sleep(1.0)  # a late duplicate would show up now
            break
        if time.monotonic() - t0 > args.rollout_budget:
            stopped = f"stopped at the {args.rollout_budget:.0f} s budget"
            break
        if time.monotonic() - last_change > 30:
            stopped = "stalled for 30 s"
            break
    sent = [m for c in chats for m in stub.to(c)]
    per_chat = Counter(m.conversation for m in sent)
    ats = sorted(m.at for m in sent)
    elapsed = ats[-1] - t0 if ats else time.monotonic() - t0
    steady = (len(ats) - 1) / (ats[-1] - ats[0]) if len(ats) > 1 and ats[-1] > ats[0] else None
    rate = len(sent) / elapsed if elapsed > 0 else None
    return {
        "invites": len(chats), "sent": len(sent), "distinct_chats": len(per_chat),
        "duplicates": sum(v - 1 for v in per_chat.values() if v > 1),
        "missing": len(chats) - len(per_chat), "stopped": stopped,
        "elapsed_s": round(elapsed, 1), "tenant_limit_per_s": args.tenant_rate,
        "rate_per_s": round(rate, 2) if rate else None,
        "steady_rate_per_s": round(steady, 2) if steady else None,
        "share_of_limit": round(rate / args.tenant_rate, 3) if rate else None,
        "steady_share_of_limit": round(steady / args.tenant_rate, 3) if steady else None,
        "gap_p50_ms": round(1000 * (pct([b - a for a, b in zip(ats, ats[1:], strict=False)],
                                        50) or 0), 1),
        "rate_limited_429": {k: v - before.get(k, 0) for k, v in stub.limited_by.items()},
    }


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench.teams")
    ap.add_argument("--interviews", type=int, default=10, metavar="K")
    ap.add_argument("--workers", type=int, default=6, metavar="W")
    ap.add_argument("--tenant-rate", type=float, default=30.0, metavar="Q",
                    help="sends/s per tenant: what the stub enforces and Parley paces to")
    ap.add_argument("--tolerance-ms", type=float, default=100.0)
    ap.add_argument("--rollout", type=int, default=2000, metavar="N")
    ap.add_argument("--rollout-budget", type=float, default=240.0)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=4)
    ap.add_argument("--reply-timeout", type=float, default=60.0)
    ap.add_argument("--phase-timeout", type=float, default=300.0)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from core import db, jobs, library
    from core.config import activate, load_settings

    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-teams-"))
    children = Children(tmp)
    with TenantLimitedConnector(args.tenant_rate, args.tolerance_ms / 1000) as stub, \
            Authority(tmp) as authority:
        try:
            os.environ["REQUESTS_CA_BUNDLE"] = str(authority.cert_file)
            port = free_port()
            overrides = {
                "database_url": args.database_url or f"sqlite:///{tmp / 'parley.db'}",
                "redis_url": args.redis_url or jobs.embedded_url(tmp / "redis"),
                "var_dir": tmp / "var", "secret_key": "bench", "admin_api_token": ADMIN_TOKEN,
                "public_base_url": f"http://127.0.0.1:{port}", "openai_api_key": "",
                "teams_app_id": APP_ID, "teams_app_password": APP_PASSWORD,
                "teams_tenant_id": TENANT, "teams_openid_metadata_url": stub.metadata_url,
                "teams_login_url": authority.url, "teams_tenant_rate": args.tenant_rate,
            }
            settings = activate(load_settings(**overrides))
            db.upgrade(settings.effective_database_url)
            with db.session_scope() as s:
                library.load(s)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEAMS_"))}
            env.update({k.upper(): str(v) for k, v in overrides.items()})
            env.update(DATABASE_URL=settings.effective_database_url, PYTHONUNBUFFERED="1")
            tag = secrets.token_hex(3)
            children.start("web", gunicorn(port, "app:create_app()", args), env)
            for w in range(args.workers):
                children.start(f"worker-{w}", rq_worker() + [
                    "-c", "scheduler.worker_config", "--with-scheduler", "--quiet", "-n",
                    f"teams-{tag}-{w}"], env)
            wait_http(port, "/api/v1/healthz", children)
            wait_workers(jobs.QUEUE, args.workers, children)
            log(f"phase 1: {args.interviews} concurrent Teams interviews")
            figures: dict[str, Any] = {"workers": args.workers}
            figures["interviews"] = interviews_phase(args, port, stub)
            drain(jobs.QUEUE)
            if args.rollout:
                log(f"phase 2: rollout of {args.rollout} Teams invites at "
                    f"{args.tenant_rate:g}/s per tenant")
                figures["rollout"] = rollout_phase(args, stub, children)
        finally:
            children.stop()
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


def report(f: dict[str, Any]) -> str:
    i, r = f["interviews"], f.get("rollout")
    lines = [
        f"Teams: {i['completed']}/{i['interviews']} interviews completed with {f['workers']} "
        f"workers ({i['replies']} replies in {i['span_s']} s, {i['replies_per_s']} replies/s)",
        f"  ack   p50 {i['ack']['p50_ms']} ms  p99 {i['ack']['p99_ms']} ms",
        f"  reply p50 {i['reply']['p50_ms']} ms  p99 {i['reply']['p99_ms']} ms",
        f"  429s {i['rate_limited_429']}  duplicates {i['duplicates']}  "
        f"windows kept {i['windows_kept']}  HTTP {i['http_statuses']}",
    ]
    if i["errors"]:
        lines.append(f"  errors: {i['errors']}")
    if r:
        lines += [
            f"Rollout: {r['distinct_chats']}/{r['invites']} consent cards in {r['elapsed_s']} s "
            f"= {r['rate_per_s']}/s ({r['share_of_limit']:.1%} of the {r['tenant_limit_per_s']}"
            f"/s tenant limit; steady {r['steady_rate_per_s']}/s = "
            f"{r['steady_share_of_limit']:.1%})",
            f"  duplicates {r['duplicates']}  missing {r['missing']}  429s "
            f"{r['rate_limited_429']}  {r['stopped']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
