"""Interview-level sentiment and engagement, computed when an interview ends.

Engagement (0–100) blends how much people wrote, whether probes drew out more, and how far
they got: 40 % answer length (60 words or more counts as full), 30 % probe yield (share of
probes answered richly), 30 % completion (topics answered of those planned; a skipped topic
is not answered). With no probe asked, length and completion share the whole score.
"""

from __future__ import annotations

import re
from statistics import fmean

from sqlalchemy import select
from sqlalchemy.orm import object_session

from core.interviewer.planner import classify
from core.models import Turn


def _answers(interview) -> list[tuple[str, float | None, bool]]:
    """(text, sentiment, answered a probe) for each typed participant answer."""
    turns = object_session(interview).scalars(
        select(Turn).where(Turn.interview_id == interview.id).order_by(Turn.seq))
    out, previous = [], None
    for turn in turns:
        if turn.role == "participant" and turn.sentiment is not None:
            probe = bool(previous and (previous.reasoning or {}).get("action") == "probe")
            out.append((turn.text, turn.sentiment, probe))
        if turn.role != "participant":
            previous = turn
    return out


def score(interview) -> None:
    """Set ``interview.sentiment`` and ``interview.engagement`` from its turns."""
    answers = _answers(interview)
    topics = (interview.coverage or {}).get("topics", {})
    planned = [t for t in topics.values() if t["status"] != "dropped"]
    done = [t for t in planned if t["status"] == "done"]
    completion = len(done) / len(planned) if planned else 0.0
    if not answers:
        interview.sentiment = None
        interview.engagement = round(30 * completion, 1)
        return
    interview.sentiment = round(fmean(s for _, s, _ in answers), 4)
    words = fmean(len(re.findall(r"\w+", text)) for text, _, _ in answers)
    probes = [text for text, _, probe in answers if probe]
    parts = [(0.4, min(words / 60, 1)), (0.3, completion)]
    if probes:
        parts.append((0.3, sum(classify(t) != "thin" for t in probes) / len(probes)))
    weight = sum(w for w, _ in parts)
    interview.engagement = round(100 * sum(w * v for w, v in parts) / weight, 1)
