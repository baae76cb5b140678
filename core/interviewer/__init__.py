"""The interviewer: a planner that spends the question budget, and strategies that word it.

``compose`` asks the LLM strategy when one is configured and falls back to the offline
strategy for any turn the model gets wrong, so an interview never stalls on a model.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from core.config import get_settings
from core.interviewer import offline
from core.interviewer.planner import Move

log = logging.getLogger(__name__)
QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "will", "can", "could", "is",
                  "are", "do", "does", "would", "should", "am", "may", "who's", "what's"}


def asks_back(answer: str | None) -> bool:
    """Did the participant ask the interviewer something ("Will my manager see this?")?"""
    if not answer or "?" not in answer:
        return False
    last = re.split(r"(?<=[.!?])\s+", answer.strip())[-1]
    words = re.findall(r"[\w']+", last.lower())
    return last.endswith("?") and bool(words) and words[0] in QUESTION_WORDS and len(words) <= 40


def uses_model(move: Move) -> bool:
    """Whether ``compose`` calls the model for this move (never to close), so a caller can
    word it with no database transaction open."""
    return get_settings().llm_enabled and move.action != "close"


def compose(
    session, state: dict[str, Any], move: Move, answer: str | None, *, skip: bool,
    asked_back: bool, history: list[tuple[str, str]], channel: str = "web",
) -> tuple[str, dict[str, Any]]:
    """Word the planner's move; returns (message, reasoning for the audit trail).
    ``asked_back``: the answer was a question to us (see ``asks_back``); ``channel``: where
    it goes (SMS wants it short)."""
    topics = {t.key: t for t in session.topics if t.enabled}
    if asked_back:
        state.setdefault("open_questions", []).append(answer.strip()[:500])
    settings = get_settings()
    fallback = None
    if uses_model(move):
        from core.interviewer import llm_strategy

        try:
            return llm_strategy.compose(settings, session, topics, state, move, answer,
                                        history=history, asked_back=asked_back,
                                        channel=channel)
        except llm_strategy.Fallback as exc:
            fallback = str(exc)
            log.warning("LLM turn fell back to offline: %s", fallback)
    text, reasoning = offline.compose(topics, state, move, answer, skip=skip, asked_back=asked_back)
    if fallback:
        reasoning["fallback"] = fallback
    return text, reasoning
