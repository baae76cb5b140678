"""The LLM insights engine over 1,000 and 10,000 synthetic interviews (bench/answer_bank.py),
against a loopback OpenAI-compatible stub in this process (tests/support/openai_stub.py's
``InsightsStub``: it cites the passages that carry each planted theme's words). No database:
the corpus is built in memory as ``core.insights.corpus.load`` would hand it to the engine.

Prints, per size: LLM calls by step, the largest prompt (characters, and tokens estimated
as characters / 4: the stub has no tokenizer), total time, fallbacks, and the planted
themes' counts against the truth. The figure that matters: the largest prompt stays flat
as the interviews grow tenfold (the map batches are cut by size; the reduce tree's prompts
hold capped findings of at most ``REDUCE_FANIN`` children).

    .venv/bin/python -m bench.insights_llm [--sizes 1000 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from bench.answer_bank import TOPICS, generate
from core import insights, privacy
from core.config import load_settings, using
from core.insights import llm
from core.insights.corpus import Corpus, Passage
from core.sentiment import score
from tests.support.openai_stub import InsightsStub, step_of

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


def measure(sizes=(1000, 10000)) -> list[dict]:
    out = []
    for n in sizes:
        corpus, truth = corpus_of(n)
        with InsightsStub() as stub:
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
        found = {p.id: p.participants for p in result.patterns}
        found.update({p.label.split()[-1].lower(): p.participants for p in result.patterns
                      if p.kind == "discovered"})
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = measure(tuple(args.sizes))
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
        print(f"  fallbacks: {r['fallbacks'] or 'none'}")


if __name__ == "__main__":
    main()
