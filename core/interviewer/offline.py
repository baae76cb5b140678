"""The offline strategy: deterministic wording from the topic's own fields, no network."""

from __future__ import annotations

from typing import Any

from core.interviewer import prompts
from core.interviewer.planner import Move


def _mood(sentiment: float | None) -> str:
    if sentiment is None:
        return "neutral"
    if sentiment >= 0.3:
        return "positive"
    if sentiment <= -0.3:
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
        if text not in asked:
            return text
    return f"{prompts.GENERIC_PROBES[0]} ({topic.label})"
