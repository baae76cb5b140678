"""1-on-1 benchmark: an organisation's manager–report pairs, and an HR assigned topic
created for a whole country and delivered into the pairs' Slack group DMs against a
rate-limited loopback Slack.

    .venv/bin/python -m bench.one_on_ones [--pairs N] [--deliver M] [--country C]
                                          [--workspace-rate Q] [--workers W]
                                          [--database-url URL --redis-url URL] [--json]

The issue's goal: an assigned topic to 20,000 pairs on PostgreSQL — creation time, and the
delivery rate against the enforced Slack rate (≥ 95 %, 0 duplicates). The back end is
bench.rollout's (``start_parley``: gunicorn, W rq workers with the scheduler, the clock),
pointed at ``bench.slack.RateLimitedSlack`` (429 + Retry-After over Q messages/s per
workspace and 1/s per channel).

1. Import: N+1 generated people (bench.rollout's generator, about 30 % in Germany, a tree
   of span 7: N manager links) as one CSV through ``POST /api/v1/directory/import``; the
   hierarchy rebuild syncs the pairs. How long, and how many active pairs.
2. Preview: ``POST /api/v1/assigned-topics/preview`` of "Country = C", five times.
3. Creation: a topic for "Country = C" (about 0.3 N pairs) scheduled for tomorrow 09:00
   local (the rollout and its recipients are made in the request, set-based), then
   withdrawn so nothing is sent.
4. Delivery: a draft topic for the M pairs whose report is in the "Pilot Group", sent now
   with quiet hours ignored (``POST …/send``). Each pair's thread is opened (conversations.open
   with both users → a "G…" group DM) and gets the thread's intro and the topic's item.
   From the stub: posts per group DM, duplicates (the item twice in one thread), missing
   pairs, the workspace's accepted chat.postMessage rate over the delivery span against Q,
   429s, the longest gaps; and the topic's own progress counts (``GET``).

Defaults: N=20,000 on PostgreSQL (--database-url), 2,000 embedded; M=1,500, Q=20, W=3.
Nothing is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import secrets
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.rollout import (
    CHANNEL_TAG,
    COUNTRIES,
    STALL,
    generate,
    multipart,
    start_parley,
    timed_api,
)
from bench.slack import Children, RateLimitedSlack, bench_main, logger

log = logger("one_on_ones")

TITLE = "Career growth this half"
NOTE = "What would you like to learn or take on before the summer?"
ANNOTATION = "From the People team: we are planning next half's training budget."
GERMANY_SHARE = 0.30


def country_mix(country: str, share: float) -> list:
    """bench.rollout's COUNTRIES with ``country`` weighted to about ``share`` of people."""
    rest = sum(w for c, w, _ in COUNTRIES if c != country)
    weight = rest * share / (1 - share)
    return [(c, weight if c == country else w, places) for c, w, places in COUNTRIES]


def pilot_threads(csv_bytes: bytes, slack: dict[str, str]) -> dict[str, str]:
    """The group DM each delivered pair's thread should open: {channel: report's Slack id},
    read back from the CSV (the Pilot Group's reports and their managers)."""
    out = {}
    for row in csv.DictReader(io.StringIO(csv_bytes.decode())):
        if row[CHANNEL_TAG] == "yes" and row["Manager Email"]:
            out[RateLimitedSlack.group_dm(row["Slack ID"], slack[row["Manager Email"]])] = \
                row["Slack ID"]
    return out


def active_pairs() -> int:
    from sqlalchemy import func, select

    from core import db
    from core.models import OneOnOne

    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(OneOnOne).where(
            OneOnOne.kind == "reporting", OneOnOne.active.is_(True))) or 0


# ---- phases ---------------------------------------------------------------------------------

def import_phase(port: int, csv_bytes: bytes, people: int) -> dict[str, Any]:
    body, ctype = multipart("file", "people.csv", csv_bytes)
    log(f"import: {people} people, {len(csv_bytes) / 1e6:.1f} MB of CSV")
    took, _, report = timed_api(port, "POST", "/directory/import", raw=body, ctype=ctype)
    hierarchy = report.get("hierarchy", {})
    return {"people": people, "import_s": round(took, 2), "rows_per_s": round(people / took),
            "links": hierarchy.get("links"), "pairs_synced": hierarchy.get("pairs"),
            "active_pairs": active_pairs()}


def preview_phase(port: int, rule: dict) -> dict[str, Any]:
    times, out = [], {}
    for _ in range(5):
        rtt, _, out = timed_api(port, "POST", "/assigned-topics/preview", {"audience": rule})
        times.append(rtt)
    return {"rule": rule, "pairs": out.get("pairs"), "managers": out.get("managers"),
            "runs_s": [round(t, 3) for t in times], "best_s": round(min(times), 3),
            "median_s": round(sorted(times)[2], 3)}


def create_phase(port: int, rule: dict) -> dict[str, Any]:
    """Scheduled for tomorrow 09:00 local: the request makes the rollout and every
    recipient, and nothing is due yet; withdrawn at once so nothing is ever sent."""
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    took, _, topic = timed_api(port, "POST", "/assigned-topics", {
        "title": f"{TITLE} (scheduled)", "note": NOTE, "annotation": ANNOTATION,
        "audience": rule, "send_at": f"{tomorrow}T00:00:00Z", "local_time": "09:00",
        "respect_quiet_hours": False})
    progress = topic.get("progress", {})
    gone, _, after = timed_api(port, "POST", f"/assigned-topics/{topic['id']}/withdraw")
    return {"pairs": progress.get("pairs"), "create_s": round(took, 2),
            "state": topic.get("state"), "withdraw_s": round(gone, 2),
            "state_after": after.get("state"), "progress_after": after.get("progress")}


def delivery_phase(port: int, stub: RateLimitedSlack, threads: dict[str, str],
                   args: argparse.Namespace, children: Children,
                   title: str = TITLE) -> dict[str, Any]:
    """A topic to the pilot pairs, sent now; its posts counted from the send on (a second
    topic finds the threads open: no intro, no conversations.open)."""
    rule = {"match": "all", "conditions": [{"field": CHANNEL_TAG, "op": "equals",
                                            "value": "yes"}]}
    _, _, draft = timed_api(port, "POST", "/assigned-topics", {
        "title": title, "note": NOTE, "annotation": ANNOTATION, "audience": rule,
        "respect_quiet_hours": False})
    before, opens_before = stub.count_429(), len(stub.calls("conversations.open"))
    t0 = time.monotonic()
    send_s, _, topic = timed_api(port, "POST", f"/assigned-topics/{draft['id']}/send")
    total = topic["progress"]["pairs"]
    log(f"delivery: topic {topic['id']} to {total} pairs (send took {send_s:.2f} s) at "
        f"{args.workspace_rate:g}/s")

    def has_item(channel: str) -> bool:
        return any(title in p.text for p in stub.posts(channel))

    opens = len(threads) / (args.tier3_per_minute / 60)  # a new pair's group DM: Tier 3
    budget = max(2 * total * 2 / args.workspace_rate, 1.5 * opens) + 60  # two posts a pair
    last, last_change, stopped = -1, time.monotonic(), ""
    # new group DMs: a Tier 3 minute's opens at once, then a minute's wait (and the sweeper's
    # 30 s before a message waiting for a slot is tried again)
    stall_after = 60.0 + (90.0 if args.tier3_per_minute else 0.0)
    while True:
        time.sleep(1.0)
        children.check()
        done = sum(has_item(ch) for ch in threads)
        now = time.monotonic()
        if done != last:
            last, last_change = done, now
        if done >= len(threads):
            time.sleep(3.0)  # a late duplicate would show now
            break
        if now - t0 > budget:
            stopped = f"stopped after {budget:.0f} s"
            break
        if now - last_change > stall_after:
            stopped = f"stalled: no item posted for {stall_after:.0f} s"
            break
    posts = [p for ch in threads for p in stub.posts(ch) if p.at >= t0]
    items = Counter(p.channel for p in posts if title in p.text)
    first = {}
    for p in sorted(posts, key=lambda p: p.at):
        first.setdefault(p.channel, title in p.text)
    item_first = sum(first.values())  # the topic above the thread's intro
    intros = Counter(p.channel for p in posts if title not in p.text)
    per_thread = Counter(Counter(p.channel for p in posts).values())
    ats = sorted(p.at for p in posts)
    span = ats[-1] - ats[0] if len(ats) > 1 else 0.0
    accepted = sum(1 for p in list(stub.messages) if ats and ats[0] <= p.at <= ats[-1])
    rate = (accepted - 1) / span if span else None
    gaps = sorted((b - a for a, b in itertools.pairwise(ats)), reverse=True)
    limited = stub.count_429() - before
    status = _settled(port, topic["id"])
    return {
        "pairs": total, "threads_expected": len(threads), "workspace_rate": args.workspace_rate,
        "send_s": round(send_s, 2), "posts": len(posts),
        "posts_per_thread": dict(sorted(per_thread.items())),
        "threads_with_item": len(items), "duplicates": sum(c - 1 for c in items.values()),
        "intro_duplicates": sum(c - 1 for c in intros.values() if c > 1),
        "missing": len(threads) - len(items), "item_before_intro": item_first,
        "stopped": stopped,
        "conversations_open": len(stub.calls("conversations.open")) - opens_before,
        "opens_per_minute": round((len(stub.calls("conversations.open")) - opens_before)
                                  / (ats[-1] - t0) * 60, 1) if ats else None,
        "tier3_per_minute": args.tier3_per_minute,
        "elapsed_s": round(ats[-1] - t0, 1) if ats else None,
        "span_s": round(span, 1), "workspace_accepted_per_s": round(rate, 2) if rate else None,
        "share_of_limit": round(rate / args.workspace_rate, 3) if rate else None,
        "rate_limited_429": {f"{m} {kind}": c for (m, kind), c in limited.items()},
        "rate_limited_total": sum(limited.values()),
        "longest_gaps_s": [round(g, 3) for g in gaps[:3]],
        "stalls": sum(g > STALL for g in gaps),
        "stalled_s": round(sum(g for g in gaps if g > STALL), 1),
        "first_post_after_s": round(ats[0] - t0, 2) if ats else None,
        "progress": status.get("progress"), "state": status.get("state"),
    }


def _settled(port: int, topic_id: int, limit: float = 20.0) -> dict:
    """The topic as GET shows it once nothing is pending or queued (the outbox rows'
    status follows the send by a moment), or after ``limit`` seconds."""
    end = time.monotonic() + limit
    while True:
        _, _, topic = timed_api(port, "GET", f"/assigned-topics/{topic_id}")
        p = topic.get("progress", {})
        if not (p.get("pending") or p.get("queued")) or time.monotonic() > end:
            return topic
        time.sleep(1.0)


# ---- main -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.one_on_ones",
                                 description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--pairs", type=int, default=None, metavar="N",
                    help="manager–report pairs (default 20,000 on PostgreSQL, 2,000 embedded)")
    ap.add_argument("--deliver", type=int, default=1500, metavar="M",
                    help="pairs the delivered topic reaches (default 1500)")
    ap.add_argument("--country", default="Germany", metavar="C",
                    help="the creation audience: Country = C, about 30 %% of people")
    ap.add_argument("--workspace-rate", type=float, default=20.0, metavar="Q")
    ap.add_argument("--channel-rate", type=float, default=1.0, metavar="R")
    ap.add_argument("--tolerance-ms", type=float, default=100.0)
    ap.add_argument("--tier3-per-minute", type=int, default=50, metavar="T",
                    help="conversations.open calls a minute the stub allows, as Slack's Tier 3 "
                         "(default 50): each new pair's group DM is opened once")
    ap.add_argument("--workers", type=int, default=3, metavar="W",
                    help="rq workers (3 on 2 cores, as bench.rollout)")
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--web-threads", type=int, default=4)
    ap.add_argument("--skip-delivery", action="store_true")
    ap.add_argument("--database-url", default="")
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--json", action="store_true")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, tmp: Path, stub: RateLimitedSlack,
        children: Children) -> dict[str, Any]:
    tag = secrets.token_hex(2).upper()
    n = args.pairs or (20_000 if "postgres" in args.database_url else 2_000)
    port, backend = start_parley(args, tmp, stub, children, tag)
    log(f"{backend}; generating {n + 1} people ({n} manager links)")
    csv_bytes, slack = generate(n + 1, args.deliver, tag,
                                countries_weighted=country_mix(args.country, GERMANY_SHARE))
    stub.users.update(slack)
    out: dict[str, Any] = {"backend": backend, "pairs_asked": n, "workers": args.workers}
    out["import"] = import_phase(port, csv_bytes, n + 1)
    log(f"  import {out['import']['import_s']} s, {out['import']['active_pairs']} active pairs")
    rule = {"match": "all", "conditions": [{"field": "Country", "op": "equals",
                                            "value": args.country}]}
    out["preview"] = preview_phase(port, rule)
    log(f"  preview: {out['preview']['pairs']} pairs, best {out['preview']['best_s']} s")
    out["create"] = create_phase(port, rule)
    log(f"  topic for {out['create']['pairs']} pairs created in {out['create']['create_s']} s")
    if not args.skip_delivery:
        threads = pilot_threads(csv_bytes, slack)
        out["delivery"] = delivery_phase(port, stub, threads, args, children)
        log("delivery: a second topic to the same pairs, their threads open now")
        out["delivery_open"] = delivery_phase(port, stub, threads, args, children,
                                              title=f"{TITLE}: follow-up")
    return out


def report_text(r: dict[str, Any]) -> str:
    imp, pre, cre = r["import"], r["preview"], r["create"]
    lines = [
        f"bench.one_on_ones on {r['backend']}, {imp['active_pairs']:,} pairs, "
        f"{r['workers']} workers",
        f"  import         {imp['import_s']:7.2f} s  ({imp['people']:,} people, "
        f"{imp['rows_per_s']:,} rows/s); links {imp['links']}, pairs {imp['pairs_synced']}",
        f"  preview        best {pre['best_s']:.3f} s, median {pre['median_s']:.3f} s for "
        f"{pre['pairs']:,} pairs, {pre['managers']:,} managers (Country = "
        f"{pre['rule']['conditions'][0]['value']})",
        f"  topic create   {cre['create_s']:7.2f} s for {cre['pairs']:,} pairs (scheduled, "
        f"{cre['state']}); withdrawn in {cre['withdraw_s']:.2f} s ({cre['state_after']}, "
        f"progress {cre['progress_after']})",
    ]
    for name, d in (("delivery (new threads)", r.get("delivery")),
                    ("delivery (threads open)", r.get("delivery_open"))):
        if not d:
            continue
        lines += [
            f"  {name}",
            f"                 send {d['send_s']:.2f} s for {d['pairs']:,} pairs; item in "
            f"{d['threads_with_item']:,} of {d['threads_expected']:,} threads; duplicates "
            f"{d['duplicates']} (intros {d['intro_duplicates']}), missing {d['missing']} "
            f"{d['stopped']}",
            f"                 {d['posts']:,} posts, threads by posts {d['posts_per_thread']}, "
            f"conversations.open {d['conversations_open']:,} "
            f"({d['opens_per_minute']}/min of {d['tier3_per_minute']}), item above the "
            f"intro in {d['item_before_intro']}",
            f"                 workspace {d['workspace_accepted_per_s']}/s of "
            f"{d['workspace_rate']:g}/s = {d['share_of_limit']}   goal ≥ 0.95; "
            f"{d['span_s']} s span, first post {d['first_post_after_s']} s after send",
            f"                 429s {d['rate_limited_total']} {d['rate_limited_429']}; "
            f"longest gaps {d['longest_gaps_s']} s; {d['stalls']} over {STALL} s, "
            f"{d['stalled_s']} s in all",
            f"                 progress {d['progress']} ({d['state']})",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return bench_main(run, report_text, parse_args(argv), "parley-bench-oo-", log)


if __name__ == "__main__":
    sys.exit(main())
