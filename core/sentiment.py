"""Sentiment per participant turn with VADER: offline, fast, tuned for short informal text."""

from __future__ import annotations

import re
from functools import lru_cache
from statistics import fmean

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def score(text: str) -> float | None:
    """Mean VADER compound of the sentences, in [-1, 1]; None when there is nothing to score.

    VADER's compound saturates as text grows, so a long, calm answer would read as
    "strongly emotional" if scored whole; averaging sentences keeps the scale."""
    sentences = [s for s in SENTENCE.split(text[:5000]) if s.strip()][:50]
    if not sentences:
        return None
    analyzer = _analyzer()
    return round(fmean(analyzer.polarity_scores(s)["compound"] for s in sentences), 4)


def warm_up() -> None:
    _analyzer()
