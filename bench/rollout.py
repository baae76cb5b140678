"""Directory and rollout benchmark: import an organisation, preview an audience, create a
rollout for tens of thousands, and deliver one against a rate-limited loopback Slack while
people are mid-interview.

    .venv/bin/python -m bench.rollout [--people N] [--audience-share F] [--deliver M]
                                      [--workspace-rate Q] [--interviews K] [--waves V]
                                      [--database-url URL --redis-url URL] [--json]

1. A throwaway back end (SQLite file + embedded Redis in a temp dir, or --database-url /
   --redis-url), migrated, the SessionType library loaded; Parley served by gunicorn (as the
   Procfile runs it) with W ``rq worker -c scheduler.worker_config`` subprocesses, pointed at
   ``bench.slack.RateLimitedSlack`` (HTTP 429 + Retry-After over Q messages/s per workspace),
   and the scheduler (``python -m scheduler``), whose dispatcher tops up the rollouts.
2. Import: N generated people (countries with their time zones, departments, locations,
   roles, start and end dates, Slack ids, a manager hierarchy about 6 levels deep) as one CSV
   through ``POST /api/v1/directory/import``. Then the same file again (nothing changes).
3. Preview: ``POST /api/v1/audiences/preview`` of a 3-condition rule (Country in […],
   Department not Sales, Start Date before …), five times.
4. Rollout creation: ``POST /api/v1/sessions/<id>/rollouts`` for an audience of about F×N
   people, scheduled for tomorrow 09:00 local (so nothing is sent), then cancelled.
5. Delivery: a baseline of V waves of K Slack interviews (reply latency with no rollout),
   then a rollout of M people (the "Pilot Group") sent now at Q/s while waves of K interviews
   run until it is delivered: duplicates, missing, the achieved rate against Q (the rollout's
   own, and the workspace's with the interviews' messages, which share its limit), and the
   interviews' reply latency during the rollout (a few hundred replies: a p99, not a max).

Defaults: N=100,000 on PostgreSQL (--database-url), 10,000 on the embedded default;
F=0.4, M=1,500, Q=20, K=6 (answering 1–1.5 s after each question), V=8, W=3. Nothing is asserted:
it measures and prints.
"""

from __future__ import annotations

import argparse
import csv
import gc
import http.client
import io
import itertools
import json
import random
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.slack import (
    ADMIN_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    Children,
    Convo,
    RateLimitedSlack,
    api,
    bench_main,
    free_port,
    gunicorn,
    logger,
    parley_person,
    reply_stages,
    rq_worker,
    run_threads,
    summary,
    wait_http,
    wait_workers,
    warm,
)

log = logger("rollout")

COUNTRIES = [  # (country, share, [(location, time zone)])
    ("United States", 30, [("New York", "America/New_York"), ("Chicago", "America/Chicago"),
                           ("San Francisco", "America/Los_Angeles"),
                           ("Austin", "America/Chicago")]),
    ("Germany", 14, [("Berlin", "Europe/Berlin"), ("München", "Europe/Berlin"),
                     ("Hamburg", "Europe/Berlin")]),
    ("United Kingdom", 10, [("London", "Europe/London"), ("Manchester", "Europe/London")]),
    ("India", 12, [("Bengaluru", "Asia/Kolkata"), ("Pune", "Asia/Kolkata")]),
    ("France", 6, [("Paris", "Europe/Paris"), ("Lyon", "Europe/Paris")]),
    ("Japan", 5, [("Tokyo", "Asia/Tokyo"), ("Ōsaka", "Asia/Tokyo")]),
    ("Brazil", 5, [("São Paulo", "America/Sao_Paulo")]),
    ("Canada", 5, [("Toronto", "America/Toronto"), ("Vancouver", "America/Vancouver")]),
    ("Spain", 4, [("Madrid", "Europe/Madrid"), ("Barcelona", "Europe/Madrid")]),
    ("Australia", 4, [("Sydney", "Australia/Sydney"), ("Melbourne", "Australia/Melbourne")]),
    ("Netherlands", 3, [("Amsterdam", "Europe/Amsterdam")]),
    ("Poland", 2, [("Kraków", "Europe/Warsaw")]),
]
DEPARTMENTS = [("Engineering", 32), ("Sales", 16), ("Customer Success", 12), ("Product", 7),
               ("Marketing", 7), ("Operations", 9), ("Finance", 5), ("People", 4),
               ("Legal", 2), ("Design", 6)]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Jürgen", "Amélie", "Hiro", "Priya",
         "Chloé", "Mateus", "Olivia", "Noah", "Sofia", "Liam", "Zoë", "Ravi", "Yuki", "Lena",
         "Tomás", "Aisha", "Emil", "Ingrid", "Kofi", "Mei", "Omar", "Paula", "Søren"]
LAST = ["Lovelace", "Hopper", "Turing", "Müller", "Schmidt", "Dubois", "Tanaka", "Sharma",
        "Silva", "Smith", "Johnson", "García", "Kowalski", "Nakamura", "O'Brien", "Nguyen",
        "Rossi", "Andersen", "Patel", "Fischer", "Martin", "Okafor", "Chen", "Haddad"]
HEADER = ["Employee ID", "Name", "Email", "Phone", "Slack ID", "Time Zone", "Manager",
          "Manager Email", "Country", "Department", "Location", "Role", "Start Date",
          "End Date", "Pilot Group"]
CHANNEL_TAG = "Pilot Group"


def generate(n: int, deliver: int, tag: str, seed: int = 7,
             countries_weighted: list | None = None) -> tuple[bytes, dict[str, str]]:
    """N people as an HR export would have them: a CSV and their Slack ids by email. The
    hierarchy is a tree (span about 7) so every manager link resolves: N-1 manager links.
    ``countries_weighted`` replaces COUNTRIES (another mix of the same shape)."""
    rnd = random.Random(seed)
    mix = countries_weighted or COUNTRIES
    countries = rnd.choices(mix, weights=[c[1] for c in mix], k=n)
    departments = rnd.choices([d for d, _ in DEPARTMENTS], weights=[w for _, w in DEPARTMENTS],
                              k=n)
    today = date.today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    ids = [f"E{tag}{i:06d}" for i in range(n)]
    emails = [f"p{i:06d}.{tag.lower()}@bench.example" for i in range(n)]
    slack: dict[str, str] = {}
    pilots = set(rnd.sample(range(1, n), min(deliver, n - 1)))
    for i in range(n):
        country, _, places = countries[i]
        location, zone = places[i % len(places)]
        manager = (i - 1) // 7 if i else None  # person 0 is the CEO
        levels = 0 if i == 0 else 1 + (levels_of(i))
        role = ("Chief Executive" if i == 0 else "Director" if levels <= 2 else
                "Manager" if levels <= 4 and i * 7 + 1 < n else "Individual Contributor")
        start = today - timedelta(days=rnd.randint(10, 3650))
        end = (today + timedelta(days=rnd.randint(0, 60))) if rnd.random() < 0.02 else None
        user = f"U{tag}{i:06d}"
        slack[emails[i]] = user
        writer.writerow([
            ids[i], f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}",
            emails[i], f"+1415555{i % 10000:04d}" if rnd.random() < 0.3 else "", user, zone,
            ids[manager] if manager is not None else "",
            emails[manager] if manager is not None else "", country, departments[i],
            location, role, start.isoformat(), end.isoformat() if end else "",
            "yes" if i in pilots else "no",
        ])
    return out.getvalue().encode(), slack


def levels_of(i: int) -> int:
    depth = 0
    while i:
        i = (i - 1) // 7
        depth += 1
    return depth


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def timed_api(port: int, method: str, path: str, payload: Any = None, *,
              raw: bytes | None = None, ctype: str = "application/json",
              ) -> tuple[float, int, Any]:
    body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None
                                        else None)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)  # an import: minutes
    try:
        sent = time.monotonic()
        conn.request(method, f"/api/v1{path}", body=body,
                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": ctype})
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
        rtt = time.monotonic() - sent
    finally:
        conn.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data[:300]
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {str(parsed)[:400]}")
    return rtt, status, parsed


# ---- phases ---------------------------------------------------------------------------------

def import_phase(port: int, csv_bytes: bytes, n: int) -> dict[str, Any]:
    body, ctype = multipart("file", "people.csv", csv_bytes)
    log(f"import: {n} people, {len(csv_bytes) / 1e6:.1f} MB of CSV")
    first, _, report = timed_api(port, "POST", "/directory/import", raw=body, ctype=ctype)
    log(f"  first import {first:.1f} s; again (nothing to change)")
    again, _, report2 = timed_api(port, "POST", "/directory/import", raw=body, ctype=ctype)
    _, _, hierarchy = timed_api(port, "GET", "/directory/hierarchy")
    return {"people": n, "csv_mb": round(len(csv_bytes) / 1e6, 1),
            "first_s": round(first, 2), "rows_per_s": round(n / first),
            "reimport_s": round(again, 2),
            "first_counts": _counts(report), "reimport_counts": _counts(report2),
            "hierarchy": {k: hierarchy.get(k) for k in ("source", "validated", "links")}}


def _counts(report: dict) -> dict:
    counts = report.get("counts", report)
    return {k: v for k, v in counts.items() if isinstance(v, int)}


def preview_phase(port: int, rule: dict) -> dict[str, Any]:
    times, count = [], None
    for _ in range(5):
        rtt, _, out = timed_api(port, "POST", "/audiences/preview", {"audience": rule})
        times.append(rtt)
        count = out["count"]
    return {"rule": rule, "count": count, "runs_s": [round(t, 3) for t in times],
            "best_s": round(min(times), 3), "median_s": round(sorted(times)[2], 3)}


def create_phase(port: int, session_id: int, rule: dict) -> dict[str, Any]:
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    rtt, _, rollout = timed_api(port, "POST", f"/sessions/{session_id}/rollouts", {
        "audience": rule, "channels": ["slack"], "send_at": f"{tomorrow}T00:00:00Z",
        "local_time": "09:00", "reminders": {"after_days": [3, 5]}})
    counts = rollout.get("counts", {})
    timed_api(port, "POST", f"/rollouts/{rollout['id']}/cancel")
    return {"recipients": rollout.get("total", sum(counts.values())), "create_s": round(rtt, 2),
            "counts": counts, "state_after": rollout.get("state")}


def interviews(port: int, stub: RateLimitedSlack, session_id: int, tag: str, label: str,
               k: int, timeout: float, think: float) -> tuple[list[Convo], threading.Thread]:
    """K people invited on Slack, each answering every question ``think`` seconds after it
    comes (with 0, Slack's one message per second per DM, not Parley, sets the latency)."""
    convos = [Convo(i, f"UI{tag}{label}{i:03d}") for i in range(k)]  # Slack ids: U…
    for c in convos:
        stub.users[f"i{label}{c.index:03d}.{tag.lower()}@bench.example"] = c.user
    targets = [(parley_person, (port, stub, c, f"{tag}{label}", timeout, think, SPREAD))
               for c in convos]
    thread = threading.Thread(target=run_threads, args=(targets, timeout * 20), daemon=True)
    thread.start()
    for c in convos:
        api(port, "POST", f"/sessions/{session_id}/invites",
            {"person": {"name": f"Interactive {label}{c.index}",
                        "email": f"i{label}{c.index:03d}.{tag.lower()}@bench.example"},
             "channel": "slack"})
    return convos, thread


def latency(convos: list[Convo]) -> dict[str, Any]:
    replies = [r for c in convos for r in c.replies]
    out = summary(replies)
    out["completed"] = sum(c.completed for c in convos)
    out["errors"] = [c.error for c in convos if c.error][:5]
    return out


SPREAD = 0.5  # s: a participant answers 1–1.5 s after a question (think 1), at random
STALL = 0.25  # s between two sends: five slots of a 20/s workspace left unused


def delivery_phase(port: int, stub: RateLimitedSlack, session_id: int, tag: str,
                   args: argparse.Namespace, children: Children) -> dict[str, Any]:
    log(f"delivery: baseline of {args.waves} waves of {args.interviews} interviews with no "
        "rollout running")
    base = []
    for w in range(args.waves):
        wave, thread = interviews(port, stub, session_id, tag, f"b{w}", args.interviews, 60.0,
                                  args.think)
        thread.join()
        base += wave
    baseline = latency(base)
    log(f"  baseline reply p50 {baseline['p50_ms']} ms p99 {baseline['p99_ms']} ms "
        f"(n={baseline['n']})")

    rule = {"match": "all", "conditions": [{"field": CHANNEL_TAG, "op": "equals",
                                            "value": "yes"}]}
    before = stub.count_429()
    t0 = time.monotonic()
    _, _, rollout = timed_api(port, "POST", f"/sessions/{session_id}/rollouts", {
        "audience": rule, "channels": ["slack"], "send_at": None, "local_time": None,
        "respect_quiet_hours": False})
    log(f"delivery: rollout {rollout['id']} of {rollout.get('total')} Slack invites at "
        f"{args.workspace_rate:g}/s, waves of {args.interviews} interviews alongside")
    time.sleep(min(10.0, args.deliver / args.workspace_rate / 4))  # let the rollout get going
    during: list[Convo] = []
    delivered = threading.Event()

    def waves() -> None:  # interviews for as long as the rollout sends (at least one wave)
        w = 0
        while w == 0 or not delivered.is_set():
            wave, thread = interviews(port, stub, session_id, tag, f"d{w}", args.interviews,
                                      60.0, args.think)
            thread.join()
            during.extend(wave)
            w += 1

    thread = threading.Thread(target=waves, daemon=True)
    thread.start()
    total = rollout.get("total") or args.deliver
    pilots = {u for e, u in stub.users.items() if u.startswith(f"U{tag}")}
    budget = total / args.workspace_rate * 2 + 60
    last, last_change, stopped = -1, time.monotonic(), ""
    while True:
        time.sleep(1.0)
        children.check()
        sent = sum(len(stub.posts(f"D{u}")) for u in pilots)
        now = time.monotonic()
        if sent != last:
            last, last_change = sent, now
        if sent >= total:
            time.sleep(2.0)  # a late duplicate would show now
            break
        if now - t0 > budget:
            stopped = f"stopped after {budget:.0f} s"
            break
        if now - last_change > 60:
            stopped = "stalled: nothing sent for 60 s"
            break
    delivered.set()
    thread.join(timeout=180)
    posts = [p for u in pilots for p in stub.posts(f"D{u}")]
    per_dm = Counter(p.channel for p in posts)
    ats = sorted(p.at for p in posts)
    span = ats[-1] - ats[0] if len(ats) > 1 else 0.0
    after = stub.count_429()
    _, _, status = timed_api(port, "GET", f"/rollouts/{rollout['id']}")
    during_lat = latency(during)
    ratio = (round(during_lat["p99_ms"] / baseline["p99_ms"], 2)
             if during_lat.get("p99_ms") and baseline.get("p99_ms") else None)
    steady = (len(ats) - 1) / span if span else None
    # the interviews' messages share the workspace limit with the rollout's
    used = sum(1 for p in list(stub.messages) if ats and ats[0] <= p.at <= ats[-1])
    used_rate = (used - 1) / span if span else None
    gaps = [(a, b - a) for a, b in itertools.pairwise(ats)]
    stalls = [g for _, g in gaps if g > STALL]
    return {
        "recipients": total, "workspace_rate": args.workspace_rate,
        "sent": len(posts), "distinct": len(per_dm),
        "duplicates": sum(c - 1 for c in per_dm.values() if c > 1),
        "missing": total - len(per_dm), "stopped": stopped,
        "elapsed_s": round(ats[-1] - t0, 1) if ats else None,
        "steady_rate_per_s": round(steady, 2) if steady else None,
        "share_of_limit": round(steady / args.workspace_rate, 3) if steady else None,
        "workspace_used_per_s": round(used_rate, 2) if used_rate else None,
        "workspace_share": round(used_rate / args.workspace_rate, 3) if used_rate else None,
        "rate_limited_429": sum(after.values()) - sum(before.values()),
        "longest_gap_s": round(max(g for _, g in gaps), 3) if gaps else None,
        "stalls": len(stalls), "stalled_s": round(sum(stalls), 1),
        "stalled_at": [(round(a - ats[0], 1), round(g, 2)) for a, g in gaps if g > STALL],
        "status_counts": status.get("counts"), "state": status.get("state"),
        "reply_baseline": baseline, "reply_during_rollout": during_lat,
        "reply_p99_ratio": ratio,
        "refused": refusals(stub, t0),
        "stages": {"baseline": stages(stub, session_id, tag, "b", base),
                   "during": stages(stub, session_id, tag, "d", during)},
    }


def refusals(stub: RateLimitedSlack, since: float) -> list[dict[str, Any]]:
    """Each 429 the stub answered after ``since``: which limit, how early the post came
    (ms), and the ms between the accepted posts before it (a burst shows as small gaps)."""
    out = []
    for at, _method, kind, channel, early in stub.refused:
        if at < since:
            continue
        before = sorted(p.at for p in list(stub.messages) if at - 0.5 <= p.at <= at)
        out.append({"at_s": round(at - since, 2), "limit": kind, "dm": channel,
                    "early_ms": round(early * 1000, 1),
                    "gaps_ms": [round((b - a) * 1000) for a, b in
                                itertools.pairwise(before + [at])][-8:]})
    return out


def stages(stub: RateLimitedSlack, session_id: int, tag: str, label: str,
           convos: list[Convo]) -> dict[str, Any]:
    """Where the replies of the interviews labelled ``label`` (b: baseline, d: during the
    rollout) spent their time: the event's HTTP ack, then ``bench.slack.reply_stages``."""
    out = {"ack": summary([a for c in convos for a in c.acks])}
    out.update(reply_stages(stub, session_id, f"Ev{tag}{label}%",
                            f"i{label}%.{tag.lower()}@bench.example"))
    return out


# ---- main -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.rollout",
                                 description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--people", type=int, default=None, metavar="N",
                    help="directory size (default 100,000 on PostgreSQL, 10,000 embedded)")
    ap.add_argument("--audience-share", type=float, default=0.4, metavar="F",
                    help="share of the directory in the rollout-creation audience (0.4)")
    ap.add_argument("--deliver", type=int, default=1500, metavar="M",
                    help="recipients of the delivered rollout (default 1500)")
    ap.add_argument("--workspace-rate", type=float, default=20.0, metavar="Q")
    ap.add_argument("--channel-rate", type=float, default=1.0, metavar="R")
    ap.add_argument("--tolerance-ms", type=float, default=100.0)
    ap.add_argument("--interviews", type=int, default=6, metavar="K")
    ap.add_argument("--waves", type=int, default=8, metavar="W",
                    help="waves of K interviews for the baseline; during the rollout, waves "
                    "run until it is delivered (default 8: as many replies as during)")
    ap.add_argument("--think", type=float, default=1.0, metavar="S",
                    help="seconds a participant takes to answer (default 1)")
    ap.add_argument("--workers", type=int, default=3, metavar="W",
                    help="rq workers (3 on 2 cores: a worker mostly waits on a send slot, the "
                    "database or the network)")
    ap.add_argument("--reply-workers", type=int, default=1, metavar="R",
                    help="rq workers on the interactive queue only (the Procfile's replies): "
                    "a reply never waits behind a rollout's sends")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=4)
    ap.add_argument("--skip-delivery", action="store_true")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def audience_for(share: float) -> dict:
    """Countries whose people add up to about ``share`` of the directory."""
    total = sum(c[1] for c in COUNTRIES)
    chosen, got = [], 0.0
    for name, weight, _ in sorted(COUNTRIES, key=lambda c: -c[1]):
        if got >= share:
            break
        if got + weight / total <= share + 0.05:
            chosen.append(name)
            got += weight / total
    return {"match": "all", "conditions": [{"field": "Country", "op": "in", "value": chosen}]}


def start_parley(args: argparse.Namespace, tmp: Path, stub: RateLimitedSlack,
                 children: Children, tag: str) -> tuple[int, str]:
    """A throwaway back end (a reset PostgreSQL schema or a SQLite file, embedded or given
    Redis), migrated, the library loaded; gunicorn, ``args.workers`` rq workers and the
    scheduler serving it, pointed at ``stub``. Shared with bench.one_on_ones so both
    measure the same deployment. Returns (port, a label for the back end)."""
    import os

    from core import db, jobs, library
    from core.config import activate, load_settings

    postgres = "postgres" in args.database_url
    redis_url = args.redis_url or jobs.embedded_url(tmp / "redis")
    port = free_port()
    overrides = {
        "database_url": args.database_url or f"sqlite:///{tmp / 'parley.db'}",
        "redis_url": redis_url, "var_dir": tmp / "var", "secret_key": "bench-secret",
        "admin_api_token": ADMIN_TOKEN, "public_base_url": f"http://127.0.0.1:{port}",
        "slack_signing_secret": SIGNING_SECRET, "slack_bot_token": BOT_TOKEN,
        "slack_api_base_url": stub.base_url, "openai_api_key": "", "openai_base_url": "",
        "slack_workspace_rate": args.workspace_rate,
    }
    settings = activate(load_settings(**overrides))
    if postgres:  # a clean schema, as the test suite does
        from sqlalchemy import create_engine, text

        engine = create_engine(settings.effective_database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    jobs.connection().flushdb()
    db.upgrade(settings.effective_database_url)
    with db.session_scope() as s:
        library.load(s)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_"))}
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    env.update(DATABASE_URL=settings.effective_database_url, PYTHONUNBUFFERED="1")
    backend = ("PostgreSQL" if postgres else "SQLite") + " + " + \
        ("Redis" if args.redis_url else "embedded Redis")
    children.start("parley-web", gunicorn(port, "app:create_app()", args), env)
    for w in range(args.workers):
        children.start(f"parley-worker-{w}", rq_worker() + [
            "-c", "scheduler.worker_config", "--with-scheduler", "--quiet", "-n",
            f"parley-{tag}-{w}"], env)
    for r in range(getattr(args, "reply_workers", 0)):  # the Procfile's `replies`
        children.start(f"parley-replies-{r}", rq_worker() + [
            "-c", "scheduler.worker_config", "--quiet", "-n", f"parley-{tag}-replies-{r}",
            jobs.INTERACTIVE], env)
    # the Procfile's clock: dispatch_due tops each rollout's backlog up every 15 s
    children.start("parley-scheduler", [sys.executable, "-m", "scheduler"], env)
    wait_http(port, "/api/v1/healthz", children)
    wait_workers(jobs.QUEUE, args.workers + getattr(args, "reply_workers", 0), children)
    warm(port)
    return port, backend


def run(args: argparse.Namespace, tmp: Path, stub: RateLimitedSlack,
        children: Children) -> dict[str, Any]:
    tag = secrets.token_hex(2).upper()
    n = args.people or (100_000 if "postgres" in args.database_url else 10_000)
    port, backend = start_parley(args, tmp, stub, children, tag)
    log(f"{backend}; generating {n} people")
    csv_bytes, slack_ids = generate(n, args.deliver, tag)
    stub.users.update(slack_ids)
    out: dict[str, Any] = {"backend": backend, "people": n, "workers": args.workers,
                           "reply_workers": args.reply_workers}
    out["import"] = import_phase(port, csv_bytes, n)
    log(f"  import {out['import']['first_s']} s, re-import {out['import']['reimport_s']} s")
    cutoff = (date.today() - timedelta(days=365)).isoformat()
    rule = {"match": "all", "conditions": [
        {"field": "Country", "op": "in", "value": ["Germany", "France", "Spain"]},
        {"field": "Department", "op": "not_equals", "value": "Sales"},
        {"field": "Start Date", "op": "before", "value": cutoff}]}
    out["preview"] = preview_phase(port, rule)
    log(f"  preview of a 3-condition rule: {out['preview']['count']} people, best "
        f"{out['preview']['best_s']} s")
    session = api(port, "POST", "/sessions", {"session_type": "stay-interview",
                                              "name": f"bench rollout {tag}"})
    out["create"] = create_phase(port, session["id"], audience_for(args.audience_share))
    log(f"  rollout of {out['create']['recipients']} created in {out['create']['create_s']} s")
    if not args.skip_delivery:
        del csv_bytes, slack_ids
        # The stub stands for Slack's servers: a collection of this process's heap (100,000
        # people's ids, every request and post kept) must not hold its clock still while
        # posts queue at its socket and then stamp them all at once (a burst Parley never
        # sent, answered 429). What exists now is kept out of every collection.
        gc.collect()
        gc.freeze()
        out["delivery"] = delivery_phase(port, stub, session["id"], tag, args, children)
    return out


def report_text(r: dict[str, Any]) -> str:
    imp, pre, cre = r["import"], r["preview"], r["create"]
    lines = [
        f"bench.rollout on {r['backend']}, {r['people']:,} people, {r['workers']} workers "
        f"+ {r.get('reply_workers', 0)} on replies only",
        f"  import         {imp['first_s']:7.2f} s  ({imp['rows_per_s']:,} rows/s, "
        f"{imp['csv_mb']} MB)   goal ≤ 60 s for 100k",
        f"                 counts {imp['first_counts']}",
        f"  re-import      {imp['reimport_s']:7.2f} s  counts {imp['reimport_counts']}",
        f"  hierarchy      {imp['hierarchy']}",
        f"  preview        best {pre['best_s']:.3f} s, median {pre['median_s']:.3f} s for "
        f"{pre['count']:,} people (3 conditions)   goal ≤ 1 s",
        f"  rollout create {cre['create_s']:7.2f} s for {cre['recipients']:,} recipients   "
        f"goal ≤ 10 s for 40k",
    ]
    d = r.get("delivery")
    if d:
        b, du = d["reply_baseline"], d["reply_during_rollout"]
        lines += [
            f"  delivery       {d['sent']:,} sent to {d['distinct']:,} of {d['recipients']:,}; "
            f"duplicates {d['duplicates']}, missing {d['missing']}, 429s "
            f"{d['rate_limited_429']} {d['stopped']}",
            f"                 rollout {d['steady_rate_per_s']}/s of {d['workspace_rate']:g}/s "
            f"= {d['share_of_limit']}; with the interviews' messages "
            f"{d['workspace_used_per_s']}/s = {d['workspace_share']}   goal ≥ 0.95",
            f"                 longest gap {d['longest_gap_s']} s; {d['stalls']} gaps over "
            f"{STALL} s, {d['stalled_s']} s in all",
            f"                 status {d['status_counts']} ({d['state']})",
            f"  reply latency  no rollout p50 {b['p50_ms']} ms p99 {b['p99_ms']} ms (n={b['n']}); "
            f"during p50 {du['p50_ms']} ms p99 {du['p99_ms']} ms (n={du['n']}); "
            f"p99 ratio {d['reply_p99_ratio']}   goal ≤ 2",
        ]
        for r in d.get("refused", []):
            lines.append(f"    429 at {r['at_s']} s: {r['limit']} limit, {r['early_ms']} ms early "
                         f"({r['dm']}); gaps before it {r['gaps_ms']} ms")
        for name in ("ack", "inbound_job", "outbound_queue", "claim_to_slack"):
            b, du = d["stages"]["baseline"][name], d["stages"]["during"][name]
            lines.append(f"    {name:15} p50 {b['p50_ms']} → {du['p50_ms']} ms, p99 "
                         f"{b['p99_ms']} → {du['p99_ms']} ms, max {b['max_ms']} → "
                         f"{du['max_ms']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return bench_main(run, report_text, parse_args(argv), "parley-bench-rollout-", log)


if __name__ == "__main__":
    sys.exit(main())
