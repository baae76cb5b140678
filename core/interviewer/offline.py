"""The offline strategy: deterministic wording from the topic's own fields, no network."""

from __future__ import annotations

from typing import Any

from core import sentiment
from core.interviewer import prompts
from core.interviewer.planner import Move


def _mood(sentiment: float | None) -> str:
    if sentiment is None:
        return "neutral"
    if sentiment >= 0.5:  # only clear feelings change the acknowledgement: VADER is
        return "positive"  # English-only and reads tone, not content
    if sentiment <= -0.5:
        return "negative"
    return "neutral"


def acknowledgement(sentiment: float | None, seed: int, last: str | None) -> str:
    """Vary the acknowledgement with the turn number, and never the same one twice running."""
    options = prompts.ACKNOWLEDGEMENTS[_mood(sentiment)]
    pick = options[seed % len(options)]
    if pick == last:
        pick = options[(seed + 1) % len(options)]
    return pick


def _candidates(move: Move, topic: Any, probes_used: int) -> list[str]:
    if move.action == "ask":
        return [
            topic.opening_question or prompts.opening_from(topic.label, topic.description),
            prompts.opening_from(topic.label, topic.description),
        ]
    scripted = list(topic.probes or [])
    return (
        scripted[probes_used:]
        + [prompts.probe_from(topic.probing_guidance, n) for n in range(3)]
        + prompts.GENERIC_PROBES
    )


def question(move: Move, topic: Any, probes_used: int, asked: list[str]) -> str:
    """The first candidate wording not already asked in this interview."""
    for text in _candidates(move, topic, probes_used):
        if not any(text in earlier for earlier in asked):
            return text
    return f"{prompts.GENERIC_PROBES[0]} ({topic.label})"


def compose(
    topics: dict[str, Any], state: dict[str, Any], move: Move, answer: str | None, *,
    skip: bool, asked_back: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The whole message for a move: acknowledgement, then the question or the close."""
    parts = []
    if asked_back:
        parts.append(prompts.ASKED_BACK)
    elif skip:
        parts.append(prompts.SKIPPED)
    elif answer is not None and move.action != "probe":
        ack = acknowledgement(sentiment.score(answer), len(state["questions"]),
                              state.get("last_ack"))
        state["last_ack"] = ack
        parts.append(ack)
    if move.action == "close":
        parts.append(prompts.CLOSING)
    elif move.action == "wrap_up":
        parts.append(prompts.WRAP_UP)
    else:
        probes_used = state["topics"][move.topic]["probes"]
        parts.append(question(move, topics[move.topic], probes_used, state["questions"]))
    reasoning = {"strategy": "offline", "action": move.action, "topic": move.topic,
                 "why": move.why + ("; participant asked a question: noted for HR"
                                    if asked_back else "")}
    return "\n\n".join(parts), reasoning
