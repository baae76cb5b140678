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


EMOTIONAL = 0.75  # |VADER compound| at or above this is a strongly emotional answer


def classify(answer: str, sentiment: float | None = None) -> str:
    """"thin" and "emotional" answers earn a probe; "rich" ones do not."""
    words = re.findall(r"\w+", answer)
    if len(words) < 8:
        return "thin"
    if len(words) < 15 and VAGUE.search(answer):
        return "thin"
    if sentiment is not None and abs(sentiment) >= EMOTIONAL:
        return "emotional"
    return "rich"


def allocate(topics: list[PlanTopic], budget: int) -> dict[str, int]:
    """Split the budget by weight (high 3 : medium 2 : low 1), largest remainder first,
    at least the opening question each and at most opening + probe cap."""
    if not topics:
        return {}
    cap = {t.key: 1 + PROBE_CAP[t.priority] for t in topics}
    total = sum(WEIGHT[t.priority] for t in topics)
    shares = {t.key: budget * WEIGHT[t.priority] / total for t in topics}
    alloc = {k: min(cap[k], max(1, int(v))) for k, v in shares.items()}
    rank = sorted(topics, key=lambda t: (-(shares[t.key] % 1), -WEIGHT[t.priority]))
    while sum(alloc.values()) < budget and any(alloc[k] < cap[k] for k in alloc):
        for t in rank:
            if sum(alloc.values()) < budget and alloc[t.key] < cap[t.key]:
                alloc[t.key] += 1
    while sum(alloc.values()) > max(budget, len(topics)):
        victim = max(alloc, key=lambda k: (alloc[k], -WEIGHT[_priority(topics, k)]))
        alloc[victim] -= 1
    return alloc


def _priority(topics: list[PlanTopic], key: str) -> str:
    return next(t.priority for t in topics if t.key == key)


def initial(topics: list[PlanTopic], budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """The planner state for a new interview, stored in ``Interview.coverage``."""
    alloc = allocate(topics, budget)
    return {
        "budget": budget,
        "asked": 0,
        "order": [t.key for t in topics],
        "current": None,
        "wrap_up": "pending",
        "questions": [],
        "topics": {
            t.key: {"priority": t.priority, "alloc": alloc[t.key], "questions": 0, "probes": 0,
                    "status": "pending"}
            for t in topics
        },
    }


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


def next_move(
    state: dict[str, Any], answer: str | None = None, *, skip: bool = False,
    sentiment: float | None = None, asked_back: bool = False,
) -> Move:
    """Decide the next move after ``answer`` to the current question (None at the start).
    A question asked back is no answer: the topic earns a probe if the budget allows."""
    current = state["current"]
    if current and state["topics"][current]["status"] == "open":
        kind = classify(answer, sentiment) if answer is not None else None
        kind = "thin" if asked_back else kind
        if skip:
            state["topics"][current]["status"] = "skipped"
        elif kind in ("thin", "emotional") and can_probe(state, current):
            why = ("short or vague answer" if kind == "thin" else "strongly emotional answer")
            return Move("probe", current, f"{why}; probe cap not reached")
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


def note(state: dict[str, Any], key: str, answer: str, keep: int = 2, words: int = 25) -> None:
    """Keep a short note of the latest answers per topic: the bounded memory of older turns."""
    notes = state.setdefault("notes", {}).setdefault(key, [])
    notes.append(" ".join(answer.split()[:words]))
    del notes[:-keep]
