"""Slack channel benchmark: Parley over real HTTP and real RQ workers against a loopback Slack
Web API that enforces rate limits, compared with a bare bolt + RQ floor.

    .venv/bin/python -m bench.slack [--interviews K] [--workers W] [--channel-rate R]
                                    [--workspace-rate Q] [--json]

1. A throwaway back end in a temp dir (SQLite file + embedded Redis, or --database-url /
   --redis-url), migrated, with the SessionType library loaded.
2. ``RateLimitedSlack``: tests.support.slack_stub.SlackStub that answers chat.postMessage
   with HTTP 429 + an integer Retry-After (as Slack does) when a DM channel goes
   over R messages/s or the workspace over Q messages/s (GCRA, i.e. a token bucket; a message
   may arrive up to --tolerance-ms early so loopback jitter is not punished), and counts them.
3. Parley served by gunicorn (as the Procfile runs it) on an ephemeral loopback port and W
   ``rq worker -c scheduler.worker_config`` subprocesses, settings passed in the environment.
4. K concurrent interviews through the HR API and signed Slack requests: each person waits
   for the consent message, clicks Accept (signed block_actions) and answers every question
   with a signed DM event until the closing message.
5. The floor (bench.slack_floor): bare bolt on Flask + RQ posting a fixed reply through
   slack_sdk, same stub, same W workers, same number of DM events per person.
A rollout's delivery against the same stub is bench.rollout's (through the rollout engine,
as HR starts one). About 2 minutes on two cores. Only loopback traffic. Nothing is asserted
on timings: it measures and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.slack_stub import Gcra, Posted, SlackStub, block_action, dm_event, signed
from tests.support.stub_server import Recorded, Reply

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
ADMIN_TOKEN = "bench-admin-token"
TEAM = "T0001"
CLOSING = "Thank you — that's everything"
MAX_ANSWERS = 40  # safety stop for an interview that never closes
ANSWERS = [  # long, concrete answers: the planner moves on rather than probing
    "The team is the main reason I stay; we plan together on Mondays and people help each "
    "other when a release gets tight.",
    "I would consider leaving if my role stopped growing, for example if I spent another year "
    "only maintaining the old billing system without new projects.",
    "My manager checks in every two weeks, which helps, although the feedback tends to be "
    "about deadlines rather than how I am developing as an engineer.",
    "Workload is manageable most months, but the quarter end brings long evenings and I have "
    "had to cancel plans with my family twice this spring.",
    "Recognition mostly happens in the team channel; a short note from a director about the "
    "migration project meant more to me than the bonus did.",
    "I would change how priorities are set, because three teams asked me for urgent work last "
    "week and nobody agreed which request came first.",
]


def logger(name: str):
    """A progress printer for one benchmark: stderr, so the figures on stdout stay clean."""
    def log(msg: str) -> None:
        print(f"[bench.{name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
    return log


log = logger("slack")


# ---- the rate-limited Slack Web API -----------------------------------------------------------

class RateLimitedSlack(SlackStub):
    """SlackStub whose chat.postMessage answers 429 + Retry-After over the per-channel and
    workspace limits (chat.update is Tier 3: a per-workspace limit of its own), and whose
    Tier 3 lookups (conversations.open, users.lookupByEmail) do over ``tier3_per_minute``.

    Keeps an index of accepted posts per DM so drivers can wait for "the next message"."""

    LIMITED = ("chat.postMessage",)

    def __init__(self, channel_rate: float, workspace_rate: float, tolerance: float,
                 tier3_per_minute: int | None = 50):
        super().__init__(users={}, team=TEAM, tier3_per_minute=tier3_per_minute)
        self.per_channel = Gcra(channel_rate, tolerance)
        self.per_workspace = Gcra(workspace_rate, tolerance)
        self.rate_lock = threading.Lock()
        self.cond = threading.Condition()
        self.by_channel: dict[str, list[Posted]] = defaultdict(list)
        self.by_ts: dict[str, Posted] = {}
        self.wall: dict[str, float] = {}  # ts → time.time() at receipt (to line up with the DB)
        self.accepted: Counter[str] = Counter()
        # each 429: (at, method, limit "channel" | "workspace", channel, seconds too early)
        self.refused: list[tuple[float, str, str, str, float]] = []

    def _answer(self, request: Recorded) -> Reply:
        method = request.path.split("?")[0].removeprefix("/api/")
        if method in self.LIMITED:
            channel = self.conversation(self.args(request).get("channel", ""))
            with self.rate_lock:
                now = time.monotonic()
                waits = {"channel": self.per_channel.wait(channel, now),
                         "workspace": self.per_workspace.wait(self.team, now)}
                over = {kind: w for kind, w in waits.items() if w > 0}
                if over:
                    kind = max(over, key=over.__getitem__)
                    self.refused.append((now, method, kind, channel, over[kind]))
                    retry_after = max(1, math.ceil(over[kind]))  # Slack sends whole seconds
                    return Reply(429, {"ok": False, "error": "ratelimited"},
                                 headers={"Retry-After": str(retry_after)})
                self.per_channel.book(channel, now)
                self.per_workspace.book(self.team, now)
        return super()._answer(request)

    def _chat_postMessage(self, args, token):
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self.cond:
            self.counter += 1
            ts = f"1700000000.{self.counter:06d}"
            post = Posted(self.conversation(args["channel"]), ts, args.get("text", ""), blocks,
                          args.get("metadata"), time.monotonic(), token)
            self.messages.append(post)
            self.by_channel[post.channel].append(post)
            self.by_ts[ts] = post
            self.wall[ts] = time.time()
            self.accepted["chat.postMessage"] += 1
            self.cond.notify_all()
        return {"ok": True, "channel": post.channel, "ts": ts}

    def _chat_update(self, args, token):
        with self.cond:
            post = self.by_ts.get(args.get("ts", ""))
            if post is None:
                return {"ok": False, "error": "message_not_found"}
            post.updates.append({"text": args.get("text"), "blocks": args.get("blocks")})
            self.accepted["chat.update"] += 1
        return {"ok": True, "ts": post.ts, "channel": post.channel}

    def wait_post(self, channel: str, index: int, timeout: float) -> Posted | None:
        """The ``index``-th accepted post to ``channel`` (0-based), waiting up to ``timeout``."""
        with self.cond:
            if self.cond.wait_for(lambda: len(self.by_channel[channel]) > index, timeout):
                return self.by_channel[channel][index]
        return None

    def posts(self, channel: str) -> list[Posted]:
        with self.cond:
            return list(self.by_channel.get(channel, []))

    def count_429(self) -> Counter[tuple[str, str]]:
        with self.rate_lock:
            return Counter((method, kind) for _, method, kind, _, _ in self.refused)


def repeats(posts: list[Posted]) -> int:
    """Duplicates: the same text posted twice in a row to one DM."""
    return sum(a.text == b.text for a, b in zip(posts, posts[1:], strict=False))


# ---- child processes --------------------------------------------------------------------------

class Children:
    """Subprocesses in their own process groups; ``stop`` kills the whole group."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: dict[str, tuple[subprocess.Popen, Any]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        out = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = (proc, out)

    def check(self) -> None:
        for name, (proc, _) in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, prefix: str = "") -> None:
        names = [n for n in self.procs if n.startswith(prefix)]
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.procs[name][0].pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for name in names:
            proc, out = self.procs.pop(name)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # the group: worker and work-horse
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            out.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- HTTP to the service --------------------------------------------------------------------

def fetch(port: int, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, float, float]:
    """One request on a fresh connection: (status, body, sent_at monotonic, round trip s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = time.monotonic()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, sent, time.monotonic() - sent
    finally:
        conn.close()


def post_signed(port: int, body: str, form: bool = False) -> tuple[int, float, float]:
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    status, _, sent, rtt = fetch(port, "POST", "/slack/events", body.encode(),
                                signed(body, secret=SIGNING_SECRET, content_type=ctype))
    return status, sent, rtt


def api(port: int, method: str, path: str, payload: dict | None = None) -> dict:
    body = json.dumps(payload).encode() if payload is not None else None
    status, data, _, _ = fetch(port, method, f"/api/v1{path}", body,
                              {"Authorization": f"Bearer {ADMIN_TOKEN}",
                               "Content-Type": "application/json"})
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data)


def wait_http(port: int, path: str, children: Children, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        children.check()
        with contextlib.suppress(OSError):
            status, _, _, _ = fetch(port, "GET", path)
            if status < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {limit:.0f} s")


def wait_workers(queue_name: str, count: int, children: Children, limit: float = 60.0) -> None:
    from rq import Queue, Worker

    from core import jobs

    q = Queue(queue_name, connection=jobs.connection())
    end = time.monotonic() + limit
    while time.monotonic() < end:
        children.check()
        if len(Worker.all(queue=q)) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} rq workers on {queue_name!r} did not start in {limit:.0f} s")


def warm(port: int, n: int = 8) -> None:
    """A few signed url_verification requests: every web worker has loaded bolt."""
    body = json.dumps({"type": "url_verification", "challenge": "warm", "token": "x"})
    for _ in range(n):
        post_signed(port, body)


def drain(queue_name: str, limit: float = 30.0) -> None:
    """Wait until the queue is empty and nothing is running."""
    from rq import Queue

    from core import jobs

    q = Queue(queue_name, connection=jobs.connection())
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if q.count == 0 and q.started_job_registry.count == 0:
            return
        time.sleep(0.2)


def _epoch(moment: datetime) -> float:
    """RQ's timestamps are UTC, naive or aware depending on the version."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class JobWatcher:
    """Reads RQ's own timestamps of every finished job on a queue while a phase runs (RQ keeps
    them only ``result_ttl`` seconds): queue wait (enqueued → started) and run time (started →
    ended, which for a forking worker includes the work-horse's cold start)."""

    def __init__(self, queue_name: str, interval: float = 3.0):
        self.queue_name, self.interval = queue_name, interval
        self.seen: dict[str, tuple[str, float, float]] = {}
        self.spans: list[tuple[float, float]] = []  # (started, ended) epoch of this phase's jobs
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> JobWatcher:
        self.since = time.time() - 1.0  # jobs of earlier phases are still in the registry
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self.scan()

    def _loop(self) -> None:
        while not self.stop_flag.wait(self.interval):
            with contextlib.suppress(Exception):
                self.scan()

    def scan(self) -> None:
        from rq import Queue
        from rq.job import Job

        from core import jobs

        conn = jobs.connection()
        q = Queue(self.queue_name, connection=conn)
        ids = [i for i in q.finished_job_registry.get_job_ids() if i not in self.seen]
        for start in range(0, len(ids), 200):
            for job in Job.fetch_many(ids[start:start + 200], connection=conn):
                if job and job.enqueued_at and job.started_at and job.ended_at:
                    if _epoch(job.enqueued_at) < self.since:
                        self.seen[job.id] = ("", 0.0, 0.0)  # not this phase's
                        continue
                    self.spans.append((_epoch(job.started_at), _epoch(job.ended_at)))
                    self.seen[job.id] = (
                        job.func_name.rsplit(".", 1)[-1],
                        (job.started_at - job.enqueued_at).total_seconds(),
                        (job.ended_at - job.started_at).total_seconds())

    def figures(self, workers: int) -> dict[str, Any]:
        by_func: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for func, wait, run in self.seen.values():
            if func:
                by_func[func].append((wait, run))
        out: dict[str, Any] = {
            func: {"jobs": len(rows), "queue_wait": summary([w for w, _ in rows]),
                   "run": summary([r for _, r in rows])}
            for func, rows in sorted(by_func.items())}
        if self.spans:
            # While the queue is never empty, W workers × the span / jobs is what one job
            # really costs a worker; minus the job body, that is RQ's own per-job overhead
            # (dequeue, fork, horse start-up, waitpid, registries).
            span = max(e for _, e in self.spans) - min(b for b, _ in self.spans)
            per_job = workers * span / len(self.spans)
            body = sum(e - b for b, e in self.spans) / len(self.spans)
            waits = [w for f, w, _ in self.seen.values() if f]
            runs = [r for f, _, r in self.seen.values() if f]
            out["_workers"] = {"jobs": len(self.spans), "span_s": round(span, 1),
                               "saturated": (pct(waits, 50) or 0) > (pct(runs, 50) or 0),
                               "worker_ms_per_job": round(per_job * 1000),
                               "body_ms_per_job": round(body * 1000),
                               "outside_body_ms_per_job": round((per_job - body) * 1000)}
        return out


# ---- figures ------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": _ms(pct(values, 50)), "p99_ms": _ms(pct(values, 99)),
            "max_ms": _ms(max(values) if values else None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def ratio(ours: float | None, floor: float | None) -> float | None:
    return None if not ours or not floor else round(ours / floor, 2)


# ---- conversations ----------------------------------------------------------------------------

@dataclass
class Convo:
    index: int
    user: str
    answers: int = 0  # DM events sent
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    click_ack: float | None = None
    click_reply: float | None = None
    consent_at: float | None = None
    first_sent: float | None = None
    last_reply: float | None = None
    statuses: Counter[int] = field(default_factory=Counter)
    completed: bool = False
    error: str = ""

    @property
    def dm(self) -> str:
        return f"D{self.user}"


def say(port: int, convo: Convo, tag: str, text: str) -> float:
    event = dm_event(convo.user, text, f"Ev{tag}{convo.index:04d}n{convo.answers:03d}",
                     team=TEAM)
    status, sent, rtt = post_signed(port, json.dumps(event))
    convo.statuses[status] += 1
    convo.acks.append(rtt)
    convo.answers += 1
    if convo.first_sent is None:
        convo.first_sent = sent
    return sent


def parley_person(port: int, stub: RateLimitedSlack, convo: Convo, tag: str,
                  timeout: float, think: float, spread: float = 0.0) -> None:
    """Consent → Accept → answer every question until the closing message, ``think``
    seconds after each and up to ``spread`` more, at random. (Answering every 1.000 s
    keeps each reply in step with a workspace limiter's 50 ms slots: it measures one
    phase of them, the same one every time, not a person answering at any moment.)"""
    rng = random.Random(convo.user)

    def pause() -> None:
        time.sleep(think + rng.uniform(0, spread))

    consent = stub.wait_post(convo.dm, 0, timeout)
    if consent is None:
        convo.error = "no consent message"
        return
    convo.consent_at = consent.at
    if "accept" not in consent.buttons():
        convo.error = f"first message has no Accept button: {consent.text[:80]!r}"
        return
    if think:  # a person reads the consent before clicking
        pause()
    body = "payload=" + urllib.parse.quote(json.dumps(
        block_action(convo.user, consent, "accept", team=TEAM)))
    status, sent, rtt = post_signed(port, body, form=True)
    convo.statuses[status] += 1
    convo.click_ack = rtt
    question = stub.wait_post(convo.dm, 1, timeout)
    if question is None:
        convo.error = "no first question after Accept"
        return
    convo.click_reply = question.at - sent
    index = 2
    while convo.answers < MAX_ANSWERS:
        if think:
            pause()
        sent = say(port, convo, tag, ANSWERS[(convo.index + convo.answers) % len(ANSWERS)])
        reply = stub.wait_post(convo.dm, index, timeout)
        if reply is None:
            convo.error = f"no reply to answer {convo.answers} within {timeout:.0f} s"
            return
        index += 1
        convo.replies.append(reply.at - sent)
        convo.last_reply = reply.at
        if CLOSING in reply.text:
            convo.completed = True
            return
    convo.error = f"not closed after {MAX_ANSWERS} answers"


def floor_person(port: int, stub: RateLimitedSlack, convo: Convo, tag: str, answers: int,
                 timeout: float, think: float) -> None:
    for index in range(answers):
        if think:
            time.sleep(think)
        sent = say(port, convo, tag, ANSWERS[(convo.index + index) % len(ANSWERS)])
        reply = stub.wait_post(convo.dm, index, timeout)
        if reply is None:
            convo.error = f"no reply to answer {index + 1} within {timeout:.0f} s"
            return
        convo.replies.append(reply.at - sent)
        convo.last_reply = reply.at
    convo.completed = True


def guarded(fn, *args) -> None:
    """Run one participant; an exception ends only that conversation, as an error."""
    try:
        fn(*args)
    except Exception as exc:  # reported with the figures, not as a thread traceback
        convo = next(a for a in args if isinstance(a, Convo))
        convo.error = f"{type(exc).__name__}: {exc}"


def run_threads(targets: list[tuple[Any, tuple]], limit: float) -> None:
    threads = [threading.Thread(target=guarded, args=(fn, *a), daemon=True)
               for fn, a in targets]
    for t in threads:
        t.start()
    end = time.monotonic() + limit
    for t in threads:
        t.join(timeout=max(0.1, end - time.monotonic()))


def phase_figures(convos: list[Convo], stub: RateLimitedSlack,
                  before_429: Counter[tuple[str, str]]) -> dict[str, Any]:
    acks = [a for c in convos for a in c.acks]
    replies = [r for c in convos for r in c.replies]
    starts = [c.first_sent for c in convos if c.first_sent is not None]
    ends = [c.last_reply for c in convos if c.last_reply is not None]
    span = (max(ends) - min(starts)) if starts and ends else 0.0
    after = stub.count_429()
    limited = {f"{m} {k}": after[(m, k)] - before_429[(m, k)] for m, k in after
               if after[(m, k)] - before_429[(m, k)]}
    statuses: Counter[int] = Counter()
    for c in convos:
        statuses.update(c.statuses)
    return {
        "conversations": len(convos), "completed": sum(c.completed for c in convos),
        "errors": [f"{c.user}: {c.error}" for c in convos if c.error][:10],
        "dm_events": sum(c.answers for c in convos), "replies": len(replies),
        "ack": summary(acks), "reply": summary(replies),
        "span_s": round(span, 2),
        "replies_per_s": round(len(replies) / span, 2) if span else None,
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rate_limited_429": sum(limited.values()), "rate_limited_by": limited,
        "duplicates": sum(repeats(stub.posts(c.dm)) for c in convos),
    }


# ---- the phases ----------------------------------------------------------------------------

@dataclass
class Ctx:
    args: argparse.Namespace
    tag: str
    tmp: Path
    stub: RateLimitedSlack
    children: Children
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)


def email(tag: str, kind: str, i: int) -> str:
    return f"{kind}{i:05d}.{tag.lower()}@bench.example"


def parley_phase(ctx: Ctx, port: int) -> tuple[dict[str, Any], list[Convo]]:
    args, stub = ctx.args, ctx.stub
    convos = [Convo(i, f"U{ctx.tag}{i:04d}") for i in range(args.interviews)]
    for c in convos:
        stub.users[email(ctx.tag, "p", c.index)] = c.user
    session = api(port, "POST", "/sessions", {"session_type": "stay-interview",
                                              "name": f"bench slack {ctx.tag}"})
    before = stub.count_429()
    targets = [(parley_person, (port, stub, c, ctx.tag, args.reply_timeout, args.think))
               for c in convos]
    threads = threading.Thread(target=run_threads, args=(targets, args.phase_timeout),
                               daemon=True)
    threads.start()  # everyone waits for their consent message
    invited: dict[str, float] = {}
    for c in convos:
        invited[c.user] = time.monotonic()
        api(port, "POST", f"/sessions/{session['id']}/invites",
            {"person": {"name": f"Bench Person{c.index}", "email": email(ctx.tag, "p", c.index)},
             "channel": "slack"})
    threads.join(timeout=args.phase_timeout + 5)
    from core import jobs

    drain(jobs.QUEUE)  # the last deliver job records its Slack ts just after the post
    figures = phase_figures(convos, stub, before)
    consent = [c.consent_at - invited[c.user] for c in convos if c.consent_at]
    figures["invite_to_consent"] = summary(consent)
    figures["click"] = {"ack": summary([c.click_ack for c in convos if c.click_ack]),
                        "reply": summary([c.click_reply for c in convos if c.click_reply])}
    figures["answers_per_interview"] = sorted({c.answers for c in convos})
    states = Counter(i["state"] for i in
                     api(port, "GET", f"/sessions/{session['id']}/interviews")["interviews"])
    figures["interview_states"] = dict(states)
    figures["breakdown"] = reply_stages(ctx.stub, session["id"], f"Ev{ctx.tag}%")
    figures["dm_gap"] = dm_gaps(convos, stub)
    return figures, convos


def dm_gaps(convos: list[Convo], stub: RateLimitedSlack) -> dict[str, Any]:
    """Seconds between consecutive accepted posts to one DM (1.0 = the per-DM limit binds)."""
    gaps = []
    for c in convos:
        posts = stub.posts(c.dm)
        gaps += [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    return {"n": len(gaps), "min_s": round(min(gaps), 3) if gaps else None,
            "p50_s": round(pct(gaps, 50), 3) if gaps else None,
            "share_within_1.1s": round(sum(g < 1.1 for g in gaps) / len(gaps), 2)
            if gaps else None}


def reply_stages(stub: RateLimitedSlack, session_id: int, events_like: str,
                 emails_like: str = "%") -> dict[str, Any]:
    """Where a reply's time goes, from the rows' own timestamps (all in UTC wall time), for
    the interviews of ``session_id`` whose person's email is like ``emails_like`` and the
    Slack events whose id is like ``events_like``."""
    from sqlalchemy import select

    from core import db
    from core.models import InboundEvent, Interview, OutboundRecord, Person

    with db.session_scope() as s:
        inbound = s.execute(select(InboundEvent.received_at, InboundEvent.processed_at)
                            .where(InboundEvent.channel == "slack",
                                   InboundEvent.event_id.like(events_like))).all()
        interview_ids = list(s.scalars(select(Interview.id)
                                       .join(Person, Person.id == Interview.person_id)
                                       .where(Interview.session_id == session_id,
                                              Person.email.like(emails_like))))
        rows = s.execute(select(OutboundRecord.interview_id, OutboundRecord.id,
                                OutboundRecord.created_at, OutboundRecord.claimed_at,
                                OutboundRecord.sent_at, OutboundRecord.provider_message_id,
                                OutboundRecord.attempts)
                         .where(OutboundRecord.interview_id.in_(interview_ids))
                         .order_by(OutboundRecord.id)).all()
    job = [(p - r).total_seconds() for r, p in inbound if p and r]
    seen, queued, sending, attempts = set(), [], [], Counter()
    for interview_id, _id, created, claimed, _sent, ts, tries in rows:
        attempts[tries] += 1
        if interview_id not in seen:  # the consent message: sent before anyone answered
            seen.add(interview_id)
            continue
        if claimed and created:
            queued.append((claimed - created).total_seconds())
        if claimed and ts in stub.wall:
            sending.append(stub.wall[ts] - claimed.timestamp())
    return {
        "inbound_job": summary(job),  # stored at ack → the inbound job has written the reply
        "outbound_queue": summary(queued),  # reply row written → a worker claims it
        "claim_to_slack": summary(sending),  # claim → Slack has it (pacing wait + HTTP)
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
    }


def floor_phase(ctx: Ctx, answers: list[int]) -> dict[str, Any]:
    args, stub = ctx.args, ctx.stub
    port = free_port()
    ctx.children.start("floor-web", gunicorn(port, "bench.slack_floor:create_app()", args),
                       ctx.env)
    for w in range(args.workers):
        ctx.children.start(f"floor-worker-{w}", [str(BIN / "rq"), "worker", "-c",
                                                  "bench.slack_floor", "--quiet", "-n",
                                                  f"floor-{ctx.tag}-{w}"], ctx.env)
    try:
        wait_http(port, "/", ctx.children)
        from bench.slack_floor import QUEUE

        wait_workers(QUEUE, args.workers, ctx.children)
        warm(port)
        convos = [Convo(i, f"UF{ctx.tag}{i:04d}") for i in range(len(answers))]
        before = stub.count_429()
        with JobWatcher(QUEUE) as watcher:
            run_threads([(floor_person, (port, stub, c, ctx.tag, n, args.reply_timeout, args.think))
                         for c, n in zip(convos, answers, strict=True)], args.phase_timeout)
            drain(QUEUE)
        figures = phase_figures(convos, stub, before)
        figures["jobs"] = watcher.figures(args.workers)
    finally:
        ctx.children.stop("floor-")
    return figures


def rq_worker(stock_fork: bool = False) -> list[str]:
    """The Procfile's worker (in-process SimpleWorker), or with --stock-fork RQ's default
    forking worker, to compare."""
    return [str(BIN / "rq"), "worker"] + ([] if stock_fork else ["-w", "rq.worker.SimpleWorker"])


def gunicorn(port: int, target: str, args: argparse.Namespace) -> list[str]:
    return [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
            str(args.web_workers), "--threads", str(args.web_threads), "--log-level", "warning",
            target]


# ---- main ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.slack",
                                 description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--interviews", type=int, default=20, metavar="K")
    ap.add_argument("--workers", type=int, default=2, metavar="W", help="rq workers")
    ap.add_argument("--channel-rate", type=float, default=1.0, metavar="R",
                    help="messages/s per DM channel the stub allows (default 1)")
    ap.add_argument("--workspace-rate", type=float, default=20.0, metavar="Q",
                    help="messages/s per workspace the stub allows; also Parley's "
                         "SLACK_WORKSPACE_RATE unless --parley-workspace-rate (default 20)")
    ap.add_argument("--parley-workspace-rate", type=float, default=None, metavar="Q2")
    ap.add_argument("--tolerance-ms", type=float, default=100.0,
                    help="how early a message may arrive before its slot (GCRA tolerance; "
                         "0 = strict; default 100)")
    ap.add_argument("--think", type=float, default=0.0, metavar="S",
                    help="seconds a participant waits before answering (default 0)")
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (Procfile: 2)")
    ap.add_argument("--web-threads", type=int, default=4, help="gunicorn threads (Procfile: 4)")
    ap.add_argument("--reply-timeout", type=float, default=60.0)
    ap.add_argument("--phase-timeout", type=float, default=240.0)
    ap.add_argument("--skip-floor", action="store_true")
    ap.add_argument("--stock-fork", action="store_true",
                    help="compare: run Parley's workers with RQ's default fork-per-job worker "
                         "instead of the Procfile's SimpleWorker")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the report")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, tmp: Path, stub: RateLimitedSlack,
        children: Children) -> dict[str, Any]:
    from core import db, jobs, library
    from core.config import activate, load_settings

    t_all = time.monotonic()
    tag = secrets.token_hex(3).upper()
    redis_url = args.redis_url or jobs.embedded_url(tmp / "redis")
    port = free_port()
    overrides = {
        "database_url": args.database_url or f"sqlite:///{tmp / 'parley.db'}",
        "redis_url": redis_url, "var_dir": tmp / "var", "secret_key": "bench-secret",
        "admin_api_token": ADMIN_TOKEN, "public_base_url": f"http://127.0.0.1:{port}",
        "slack_signing_secret": SIGNING_SECRET, "slack_bot_token": BOT_TOKEN,
        "slack_api_base_url": stub.base_url, "openai_api_key": "", "openai_base_url": "",
        "slack_workspace_rate": args.parley_workspace_rate or args.workspace_rate,
    }
    settings = activate(load_settings(**overrides))
    db.upgrade(settings.effective_database_url)
    with db.session_scope() as s:
        library.load(s)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_"))}
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    env.update(DATABASE_URL=settings.effective_database_url, PYTHONUNBUFFERED="1")
    ctx = Ctx(args, tag, tmp, stub, children, env)
    backend = ("PostgreSQL" if "postgres" in settings.effective_database_url else "SQLite") + \
        " + " + ("Redis " + redis_url.split("@")[-1] if args.redis_url else "embedded Redis")

    log(f"starting Parley: gunicorn on 127.0.0.1:{port} and {args.workers} rq workers")
    children.start("parley-web", gunicorn(port, "app:create_app()", args), env)
    for w in range(args.workers):
        children.start(f"parley-worker-{w}", rq_worker(args.stock_fork) + [
            "-c", "scheduler.worker_config", "--with-scheduler", "--quiet", "-n",
            f"parley-{tag}-{w}"], env)
    wait_http(port, "/api/v1/healthz", children)
    wait_workers(jobs.QUEUE, args.workers, children)
    warm(port)
    setup_s = time.monotonic() - t_all

    log(f"phase 1: {args.interviews} concurrent Slack interviews through Parley")
    t = time.monotonic()
    with JobWatcher(jobs.QUEUE) as watcher:
        ours, convos = parley_phase(ctx, port)
        drain(jobs.QUEUE)
    ours["jobs"] = watcher.figures(args.workers)
    ours["phase_s"] = round(time.monotonic() - t, 1)
    log(f"  {ours['completed']}/{ours['conversations']} completed, {ours['replies']} replies "
        f"in {ours['phase_s']} s")

    floor = None
    if not args.skip_floor:
        answers = [max(1, c.answers) for c in convos]
        log(f"phase 2: the floor (bare bolt + RQ), {sum(answers)} DM events")
        t = time.monotonic()
        floor = floor_phase(ctx, answers)
        floor["phase_s"] = round(time.monotonic() - t, 1)
        log(f"  {floor['replies']} replies in {floor['phase_s']} s")

    ratios = None
    if floor:
        ratios = {
            "ack_p50": ratio(ours["ack"]["p50_ms"], floor["ack"]["p50_ms"]),
            "ack_p99": ratio(ours["ack"]["p99_ms"], floor["ack"]["p99_ms"]),
            "reply_p50": ratio(ours["reply"]["p50_ms"], floor["reply"]["p50_ms"]),
            "reply_p99": ratio(ours["reply"]["p99_ms"], floor["reply"]["p99_ms"]),
            "replies_per_s": ratio(ours["replies_per_s"], floor["replies_per_s"]),
        }
    return {
        "config": {"interviews": args.interviews, "workers": args.workers,
                   "channel_rate": args.channel_rate, "workspace_rate": args.workspace_rate,
                   "parley_workspace_rate": overrides["slack_workspace_rate"],
                   "tolerance_ms": args.tolerance_ms,
                   "think_s": args.think, "stock_fork": args.stock_fork,
                   "web": f"gunicorn {args.web_workers}x{args.web_threads} threads",
                   "backend": backend, "cpus": os.cpu_count()},
        "setup_s": round(setup_s, 1), "parley": ours, "floor": floor, "ratios": ratios,
        "notes": ctx.notes + interpret(ours, floor, args),
        "total_s": round(time.monotonic() - t_all, 1),
    }


def _outside(figures: dict) -> int | None:
    """RQ's per-job overhead, when the workers were busy enough to measure it."""
    w = figures.get("_workers") or {}
    return w.get("outside_body_ms_per_job") if w.get("saturated") else None


def _p50(figures: dict, func: str, what: str) -> float | None:
    return (figures.get(func) or {}).get(what, {}).get("p50_ms")


def interpret(ours: dict, floor: dict | None, args: argparse.Namespace) -> list[str]:
    """Plain-language reading of the figures (what dominates)."""
    notes = []
    b = ours["breakdown"]
    parts = [("inbound (queue wait + job)", b["inbound_job"]["p50_ms"]),
             ("outbound queue wait", b["outbound_queue"]["p50_ms"]),
             ("claim → Slack (pacing wait + HTTP)", b["claim_to_slack"]["p50_ms"])]
    if all(v is not None for _, v in parts) and ours["reply"]["p50_ms"]:
        name, _ = max(parts, key=lambda p: p[1])
        notes.append(
            f"Parley reply p50 {ours['reply']['p50_ms']:.0f} ms ≈ "
            + " + ".join(f"{n} {v:.0f}" for n, v in parts) + f" ms; largest: {name}")
    jobs = ours.get("jobs") or {}
    inbound, deliver = _p50(jobs, "process_inbound", "run"), _p50(jobs, "deliver", "run")
    if inbound and deliver:
        waits = [_p50(jobs, f, "queue_wait") or 0 for f in ("process_inbound", "deliver")]
        outside = _outside(jobs)
        text = (f"each reply is two RQ jobs: process_inbound (body p50 {inbound:.0f} ms) "
                f"and deliver (body p50 {deliver:.0f} ms, pacing sleep included); ")
        if outside is not None:
            text += (f"with about {outside} ms of RQ overhead per job, {args.workers} workers "
                     f"top out near "
                     f"{args.workers * 1000 / (inbound + deliver + 2 * outside):.1f} replies/s; ")
        notes.append(text + f"measured {ours['replies_per_s']}/s, queue wait p50 "
                            f"{waits[0]:.0f} / {waits[1]:.0f} ms")
    floor_jobs = (floor or {}).get("jobs") or {}
    floor_run = _p50(floor_jobs, "reply", "run")
    if floor_run is not None:
        outside = _outside(floor_jobs)
        notes.append(f"the floor's one job per reply: body p50 {floor_run:.0f} ms (slack_sdk "
                     f"preloaded, no database; slack_sdk's sleeps after a 429 count as body)"
                     + (f" plus about {outside} ms of RQ overhead per job"
                        if outside is not None else ""))
    notes.append("the Accept click costs two calls on the DM: the chat.update that marks the "
                 "choice (Tier 3, a workspace slot only) and the first question (a post, "
                 "paced at the per-DM rate)")
    gap = ours["dm_gap"]
    if gap["p50_s"] is not None:
        notes.append(
            f"consecutive posts to one DM: median gap {gap['p50_s']:.2f} s, "
            f"{gap['share_within_1.1s']:.0%} within 1.1 s of the previous one "
            f"(the per-DM limit is {1 / args.channel_rate:.2f} s; near 100 % means the "
            f"pacing binds)")
    if floor and floor["rate_limited_429"]:
        notes.append(
            f"the floor does no pacing: {floor['rate_limited_429']} of its posts were refused "
            f"with 429 and retried by slack_sdk after Retry-After (whole seconds)")
    return notes


def job_lines(figures: dict | None) -> list[str]:
    if not figures:
        return []
    lines = ["  rq jobs (RQ's timestamps): queue wait | run (the job body in the work-horse)"]
    for func, f in figures.items():
        if func.startswith("_"):
            continue
        w, r = f["queue_wait"], f["run"]
        lines.append(f"    {func:18} n={f['jobs']:<5} wait p50 {w['p50_ms']:7.0f} p99 "
                     f"{w['p99_ms']:7.0f} ms | run p50 {r['p50_ms']:6.0f} p99 "
                     f"{r['p99_ms']:6.0f} ms")
    w = figures.get("_workers")
    if w and w["saturated"]:
        lines.append(f"    per job: workers × span / jobs = {w['worker_ms_per_job']} ms, job body "
                     f"{w['body_ms_per_job']} ms, outside the body {w['outside_body_ms_per_job']}"
                     f" ms (the queue was rarely empty)")
    return lines


def report_text(r: dict[str, Any]) -> str:
    cfg, ours, floor = r["config"], r["parley"], r["floor"]

    def lat(s: dict) -> str:
        if not s["n"]:
            return "n=0"
        return f"p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms  (n={s['n']})"

    lines = [
        "Parley Slack channel benchmark",
        f"  {cfg['interviews']} interviews, {cfg['workers']} rq workers, {cfg['web']}, "
        f"{cfg['backend']}, {cfg['cpus']} CPUs",
        f"  stub limits: {cfg['channel_rate']:g} msg/s per DM, {cfg['workspace_rate']:g} msg/s "
        f"per workspace (GCRA, {cfg['tolerance_ms']:g} ms tolerance); Parley's "
        f"SLACK_WORKSPACE_RATE={cfg['parley_workspace_rate']:g}; think time {cfg['think_s']:g} s",
        f"  setup {r['setup_s']} s, total {r['total_s']} s",
        "",
        "1. Interviews through Parley (gunicorn + rq worker -c scheduler.worker_config"
        + (", RQ's forking worker)" if cfg["stock_fork"] else ", SimpleWorker as in Procfile)"),
        f"  completed            {ours['completed']}/{ours['conversations']}  states "
        f"{ours['interview_states']}  answers per interview {ours['answers_per_interview']}",
        f"  invite → consent     {lat(ours['invite_to_consent'])}",
        f"  Accept click ack     {lat(ours['click']['ack'])}",
        f"  Accept → question    {lat(ours['click']['reply'])}",
        f"  DM ack               {lat(ours['ack'])}",
        f"  DM → reply           {lat(ours['reply'])}",
        f"  replies/s            {ours['replies_per_s']}  ({ours['replies']} replies in "
        f"{ours['span_s']} s)",
        f"  429s                 {ours['rate_limited_429']}  {ours['rate_limited_by'] or ''}",
        f"  duplicates           {ours['duplicates']}",
        f"  HTTP statuses        {ours['http_statuses']}",
        "  where a reply's time goes (from the rows' timestamps):",
        f"    inbound job        {lat(ours['breakdown']['inbound_job'])}",
        f"    outbound queue     {lat(ours['breakdown']['outbound_queue'])}",
        f"    claim → Slack      {lat(ours['breakdown']['claim_to_slack'])}",
        f"    outbox attempts    {ours['breakdown']['attempts']}",
        *job_lines(ours.get("jobs")),
    ]
    if ours["errors"]:
        lines.append(f"  errors               {ours['errors']}")
    lines.append("")
    if floor:
        lines += [
            "2. Floor: bare slack-bolt on Flask + RQ job posting a fixed reply (bench.slack_floor)",
            f"  completed            {floor['completed']}/{floor['conversations']}",
            f"  DM ack               {lat(floor['ack'])}",
            f"  DM → reply           {lat(floor['reply'])}",
            f"  replies/s            {floor['replies_per_s']}  ({floor['replies']} replies in "
            f"{floor['span_s']} s)",
            f"  429s                 {floor['rate_limited_429']}  "
            f"{floor['rate_limited_by'] or ''}",
            f"  duplicates           {floor['duplicates']}",
            *job_lines(floor.get("jobs")),
        ]
        if floor["errors"]:
            lines.append(f"  errors               {floor['errors']}")
        rt = r["ratios"]
        lines += [
            "",
            "   ours / floor        ack p50 {ack_p50}x  ack p99 {ack_p99}x  reply p50 "
            "{reply_p50}x  reply p99 {reply_p99}x  replies/s {replies_per_s}x".format(**rt),
            "",
        ]
    else:
        lines += ["2. Floor: skipped", ""]
    if r["notes"]:
        lines.append("Notes")
        lines += [f"  - {n}" for n in r["notes"]]
    return "\n".join(lines)


def _stop_embedded_redis() -> None:
    import redis

    from core import jobs

    with contextlib.suppress(redis.RedisError, OSError):
        jobs.connection().shutdown(nosave=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-slack-"))
    children = Children(tmp)
    stub = RateLimitedSlack(args.channel_rate, args.workspace_rate, args.tolerance_ms / 1000)
    result = run_cleanly(run, args, tmp, stub, children, log)
    print(json.dumps(result, indent=2) if args.json else report_text(result))
    return 0


def bench_main(run, report_text, args: argparse.Namespace, prefix: str, log) -> int:
    """The ``main`` of a bench against the rate-limited Slack (bench.rollout,
    bench.one_on_ones): quiet logging, SIGTERM as an exit (so children stop), a temp dir,
    ``run`` under ``run_cleanly``, and its figures as text or ``--json``."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    signal.signal(signal.SIGTERM, lambda signum, _f: (_ for _ in ()).throw(SystemExit(143)))
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    children = Children(tmp)
    stub = RateLimitedSlack(args.channel_rate, args.workspace_rate, args.tolerance_ms / 1000,
                            getattr(args, "tier3_per_minute", 50))
    stub.team = TEAM
    result = run_cleanly(run, args, tmp, stub, children, log)
    print(json.dumps(result, indent=2) if args.json else report_text(result))
    return 0


def run_cleanly(run, args: argparse.Namespace, tmp: Path, stub: RateLimitedSlack,
                children: Children, log) -> dict[str, Any]:
    """``run(args, tmp, stub, children)`` with the stub serving; whatever happens, the child
    processes stop, the embedded Redis shuts down and the temp dir goes (a failure prints
    each child's last lines first)."""
    try:
        with stub:
            try:
                return run(args, tmp, stub, children)
            except Exception:
                for name in list(children.procs):
                    log(f"last lines of {name}:\n{children.tail(name, 15)}")
                raise
            finally:
                children.stop()
    finally:
        children.stop()
        if not args.redis_url:
            _stop_embedded_redis()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
