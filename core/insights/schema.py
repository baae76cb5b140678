"""The one output schema of both insight engines (offline and LLM), as pydantic models:
the API returns it, the LLM engine asks the model for parts of it as strict JSON schema,
and the anonymity gate (``core.insights.gate``) reads and trims it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_serializer


class Quote(BaseModel):
    """A participant's words, verbatim from their turn (redacted; in aggregated sessions
    names of people in the directory replaced). The turn is ``turn_id`` in a named session
    (with ``interview_id`` and ``person``); in an aggregated one ``turn_ref``, the ``ref``
    its turn has in the session's interview list (``core.privacy.turn_ref``)."""

    turn_id: int | None = None
    turn_ref: str | None = None
    text: str
    interview_id: int | None = None
    person: dict | None = None

    @model_serializer(mode="wrap")
    def _present(self, handler):
        """An aggregated session's quote has no interview or person keys at all."""
        return {k: v for k, v in handler(self).items() if v is not None}


class Group(BaseModel):
    value: str
    participants: int


class Pattern(BaseModel):
    id: str
    label: str
    kind: Literal["signal", "discovered"]
    signal: str | None = None  # flight_risk, burnout, … for the HR signals
    participants: int
    share: float  # of the interviews analysed
    sentiment: float | None = None
    terms: list[str] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)  # by the run's group_by demographic
    # internal, never returned: which interviews it appears in (the assign endpoint's
    # audience and the gate's counts are computed from these, then they are dropped)
    interview_ids: list[int] = Field(default_factory=list, exclude=True)


class SubTheme(BaseModel):
    label: str
    participants: int
    pattern_id: str | None = None


class TopicAnalysis(BaseModel):
    topic: str
    label: str
    participants: int
    summary: str
    sentiment: float | None = None
    sub_themes: list[SubTheme] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)


class Question(BaseModel):
    question: str
    participants: int
    quotes: list[Quote] = Field(default_factory=list)


class Action(BaseModel):
    text: str
    pattern_id: str | None = None
    topic: str | None = None


class Summary(BaseModel):
    health: str
    sentiment: float | None = None
    sentiment_distribution: dict[str, int] = Field(default_factory=dict)
    key_quotes: list[Quote] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)


class Result(BaseModel):
    engine: str
    interviews: int
    summary: Summary
    patterns: list[Pattern] = Field(default_factory=list)
    topics: list[TopicAnalysis] = Field(default_factory=list)
    missing_knowledge: list[Question] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)  # what the anonymity rule held back
    fallbacks: list[str] = Field(default_factory=list)  # LLM steps the offline engine did
