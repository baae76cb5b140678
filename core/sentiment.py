"""Sentiment per participant turn with VADER: offline, fast, tuned for short informal text."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score(text: str) -> float | None:
    """VADER compound score in [-1, 1]; None when there is nothing to score."""
    if not text.strip():
        return None
    return round(_analyzer().polarity_scores(text[:5000])["compound"], 4)


def warm_up() -> None:
    _analyzer()
