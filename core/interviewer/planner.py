"""Spends the question budget across topics (DESIGN.md §6).

Pure functions over the interview's ``coverage`` dict, so the same plan drives the offline
and LLM strategies and can be tested without a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WEIGHT = {"high": 3, "medium": 2, "low": 1}
PROBE_CAP = {"high": 3, "medium": 2, "low": 1}
DEFAULT_BUDGET = 12

VAGUE = re.compile(
    r"\b(fine|ok|okay|good|alright|not sure|unsure|dunno|idk|nothing|no idea|maybe|"
    r"same|whatever|n/?a|nope|yes|no)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PlanTopic:
    key: str
    priority: str


@dataclass(frozen=True)
class Move:
    """What the interviewer does next and the rule that chose it (kept for the audit trail)."""

    action: str  # ask | probe | wrap_up | close
    topic: str | None
    why: str


def classify(answer: str) -> str:
    """"thin" answers earn a probe; "rich" ones do not."""
    words = re.findall(r"\w+", answer)
    if len(words) < 8:
        return "thin"
    if len(words) < 15 and VAGUE.search(answer):
        return "thin"
    return "rich"


def initial(topics: list[PlanTopic], budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """Allocate the budget: an opening per topic, then probes round by round, high first."""
    state = {
        "budget": budget,
        "asked": 0,
        "order": [t.key for t in topics],
        "current": None,
        "wrap_up": "pending",
        "questions": [],
        "topics": {
            t.key: {"priority": t.priority, "alloc": 1, "questions": 0, "probes": 0,
                    "status": "pending"}
            for t in topics
        },
    }
    extra = budget - len(topics)
    by_priority = sorted(topics, key=lambda t: -WEIGHT[t.priority])
    for round_ in range(1, max(PROBE_CAP.values()) + 1):
        for t in by_priority:
            if extra <= 0:
                return state
            if PROBE_CAP[t.priority] >= round_:
                state["topics"][t.key]["alloc"] += 1
                extra -= 1
    return state


def _pending(state: dict[str, Any]) -> list[str]:
    return [k for k in state["order"] if state["topics"][k]["status"] == "pending"]


def _drop_to_fit(state: dict[str, Any]) -> list[str]:
    """When the budget cannot open every remaining topic, drop the lowest priority first."""
    dropped = []
    pending = _pending(state)
    left = state["budget"] - state["asked"]
    while len(pending) > max(left, 0):
        victim = min(reversed(pending), key=lambda k: WEIGHT[state["topics"][k]["priority"]])
        state["topics"][victim]["status"] = "dropped"
        pending.remove(victim)
        dropped.append(victim)
    return dropped


def can_probe(state: dict[str, Any], key: str) -> bool:
    t = state["topics"][key]
    left_after = state["budget"] - state["asked"] - 1
    return (
        t["probes"] < PROBE_CAP[t["priority"]]
        and t["questions"] < t["alloc"]
        and left_after >= len(_pending(state))
    )


def next_move(state: dict[str, Any], answer: str | None = None, *, skip: bool = False) -> Move:
    """Decide the next move after ``answer`` to the current question (None at the start)."""
    current = state["current"]
    if current and state["topics"][current]["status"] == "open":
        if skip:
            state["topics"][current]["status"] = "skipped"
        elif answer is not None and classify(answer) == "thin" and can_probe(state, current):
            return Move("probe", current, "short or vague answer; probe cap not reached")
        else:
            state["topics"][current]["status"] = "done"
    if state["wrap_up"] == "asked":
        state["wrap_up"] = "done"
        return Move("close", None, "wrap-up answered")
    dropped = _drop_to_fit(state)
    pending = _pending(state)
    if pending:
        why = "next topic in HR's order"
        if dropped:
            why += f"; budget short, dropped lowest priority: {', '.join(dropped)}"
        elif current and skip:
            why = "participant skipped; next topic in HR's order"
        return Move("ask", pending[0], why)
    if state["wrap_up"] == "pending":
        return Move("wrap_up", None, "all planned topics covered or budget spent")
    return Move("close", None, "nothing left to ask")


def record(state: dict[str, Any], move: Move, question: str) -> None:
    """Count a question the interviewer actually asked."""
    if move.action in ("ask", "probe"):
        t = state["topics"][move.topic]
        t["questions"] += 1
        if move.action == "probe":
            t["probes"] += 1
        else:
            t["status"] = "open"
        state["asked"] += 1
        state["current"] = move.topic
    elif move.action == "wrap_up":
        state["wrap_up"] = "asked"
        state["current"] = None
    state["questions"].append(question)


def progress(state: dict[str, Any], key: str) -> tuple[int, int]:
    """(n, of) for "Topic n of m": position among the topics still in the plan."""
    planned = [k for k in state["order"] if state["topics"][k]["status"] != "dropped"]
    return planned.index(key) + 1, len(planned)
