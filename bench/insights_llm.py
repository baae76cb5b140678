"""The LLM insights engine over 1,000 and 10,000 synthetic interviews (bench/answer_bank.py),
against a loopback OpenAI-compatible stub in this process (tests/support/openai_stub.py's
``InsightsStub``: it cites the passages that carry each planted theme's words). No database:
the corpus is built in memory as ``core.insights.corpus.load`` would hand it to the engine.

Prints, per size: LLM calls by step, the largest prompt (characters, and tokens estimated
as characters / 4: the stub has no tokenizer), total time, fallbacks, and the planted
themes' counts against the truth. The figure that matters: the largest prompt stays flat
as the interviews grow tenfold (the map batches are cut by size; the reduce tree's prompts
hold capped findings of at most ``REDUCE_FANIN`` children).

    .venv/bin/python -m bench.insights_llm [--sizes 1000 10000] [--fail-share 0.1] [--json]

``--fail-share`` makes about that share of the map calls answer invalid JSON: those batches
are analysed by the offline engine (the counts should hold).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time

from bench.answer_bank import TOPICS, generate
from core import insights, privacy
from core.config import load_settings, using
from core.insights import llm
from core.insights.corpus import Corpus, Passage
from core.sentiment import score
from tests.support.openai_stub import InsightsStub, Reply, completion, step_of

SIGNALS = ("burnout", "pay_recognition", "flight_risk")


def corpus_of(n: int, seed: int = 7) -> tuple[Corpus, dict[str, int]]:
    """``n`` completed interviews' participant turns, as an aggregated session's corpus."""
    data, truth = generate(n, seed)
    passages, groups, turn = [], {}, 0
    for iid, interview in enumerate(data, 1):
        groups[iid] = interview.department
        for topic, text, asked in interview.answers:
            turn += 1
            passages.append(Passage(turn, iid, topic, privacy.redact(text), asked,
                                    None if asked else score(text)))
    corpus = Corpus(session_id=1, anonymity="aggregated", threshold=5,
                    topics=[(t, t.replace("-", " ").capitalize()) for t in TOPICS],
                    interviews=list(groups), passages=passages, completed=n, groups=groups)
    return corpus, truth


def failing(share: float):
    """The stub's ``fail``: about ``share`` of the map calls answer invalid JSON (chosen
    by a hash of the request, so a retry fails too and a run is repeatable)."""
    def fail(step, body):
        digest = hashlib.sha256(json.dumps(body["messages"]).encode()).digest()
        if step == "map" and digest[0] < share * 256:
            return Reply(200, completion('{"themes": ['))
        return None

    return fail if share else None


def measure(sizes=(1000, 10000), fail_share: float = 0.0) -> list[dict]:
    out = []
    for n in sizes:
        corpus, truth = corpus_of(n)
        with InsightsStub(fail=failing(fail_share)) as stub:
            settings = load_settings(openai_api_key="bench-key", openai_base_url=stub.base_url,
                                     secret_key="bench", admin_api_token="bench")
            with using(settings):
                started = time.perf_counter()
                result = insights.run(corpus, "llm")  # the engine, then the anonymity gate
                elapsed = time.perf_counter() - started
            calls = stub.calls()
        sizes_by_step: dict[str, list[int]] = {}
        for body in calls:
            chars = sum(len(m["content"]) for m in body["messages"])
            sizes_by_step.setdefault(step_of(body), []).append(chars)
        largest = max(c for v in sizes_by_step.values() for c in v)
        found = {p.id: str(p.participants) for p in result.patterns}
        for word in ("parking", "documentation"):  # a theme in two patterns shows as a+b
            found[word] = "+".join(str(p.participants) for p in result.patterns
                                   if p.kind == "discovered" and (
                                       word in p.label.lower() or word in p.terms)) or "0"
        out.append({
            "interviews": n, "passages": len(corpus.passages),
            "calls": {k: len(v) for k, v in sizes_by_step.items()}, "total_calls": len(calls),
            "largest_prompt_chars": largest, "largest_prompt_tokens_est": largest // 4,
            "largest_by_step_tokens_est": {k: max(v) // 4 for k, v in sizes_by_step.items()},
            "seconds": round(elapsed, 2), "fallbacks": result.fallbacks,
            "counts": {k: (found.get(f"signal:{k}", found.get(k)), truth[k])
                       for k in (*SIGNALS, "parking", "documentation")},
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--fail-share", type=float, default=0.0,
                        help="share of map calls the stub answers with invalid JSON")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a fallback's warning per failed call
    rows = measure(tuple(args.sizes), args.fail_share)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"LLM insights engine via a loopback stub (map batches ≤ {llm.MAP_CHARS:,} chars of "
          f"passages, reduce fan-in {llm.REDUCE_FANIN}, {llm.WORKERS} calls in flight); "
          "tokens estimated as characters / 4")
    for r in rows:
        steps = ", ".join(f"{k} {v}" for k, v in r["calls"].items())
        per_step = ", ".join(f"{k} {v:,}" for k, v in r["largest_by_step_tokens_est"].items())
        print(f"\n{r['interviews']:,} interviews ({r['passages']:,} passages)")
        print(f"  LLM calls: {r['total_calls']} ({steps})")
        print(f"  largest prompt: {r['largest_prompt_chars']:,} chars ≈ "
              f"{r['largest_prompt_tokens_est']:,} tokens (by step: {per_step})")
        print(f"  total time: {r['seconds']} s")
        print("  planted themes (found / true): " + ", ".join(
            f"{k} {f}/{t}" for k, (f, t) in r["counts"].items()))
        print("  fallbacks: " + ("; ".join(r["fallbacks"]) or "none"))


if __name__ == "__main__":
    main()
