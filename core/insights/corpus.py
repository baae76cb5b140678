"""What an insights run reads: the participant turns of a session's analysable interviews,
as the engines may see them. One query for the turns, none per interview.

Analysable: completed interviews; in an aggregated session only those the anonymity rule
has released (whole batches of the threshold, ``core.privacy.released``). Texts are the
redacted ones, and in aggregated sessions also scrubbed of the names of people in the
directory. Identity (``people``) is loaded for named sessions only, and never reaches an
engine's model: the LLM engine is given passages' ids and texts alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from core import privacy, sessions
from core.insights.text import NameScrubber
from core.lifecycle import State
from core.models import Interview, Person, PersonAttribute, Session, Turn


@dataclass(frozen=True)
class Passage:
    turn_id: int
    interview_id: int
    topic: str | None
    text: str
    asked_back: bool = False  # a question to the interviewer ("missing knowledge")
    sentiment: float | None = None  # the turn's, as scored when it was said


@dataclass
class Corpus:
    session_id: int
    anonymity: str  # named | aggregated
    threshold: int
    topics: list[tuple[str, str]]  # (key, label) in the session's order
    interviews: list[int]
    passages: list[Passage]
    completed: int = 0  # all completed interviews, released or not
    groups: dict[int, str | None] = field(default_factory=dict)  # interview → group value
    people: dict[int, dict] = field(default_factory=dict)  # interview → person (named only)
    scrub: Callable[[str], str] | None = None  # directory names out (aggregated sessions)

    @property
    def aggregated(self) -> bool:
        return self.anonymity == "aggregated"


def analysable(db: DB, session: Session) -> tuple[list[int], int]:
    """(the ids of the interviews insights may read, all completed). Aggregated: the first
    released ones, in the order they completed."""
    ids = list(db.scalars(select(Interview.id).where(
        Interview.session_id == session.id, Interview.state == State.COMPLETED)
        .order_by(Interview.ended_at, Interview.id)))
    if session.anonymity != "aggregated":
        return ids, len(ids)
    threshold = sessions.settings_of(session).anonymity_threshold
    return ids[:privacy.released(threshold, len(ids))], len(ids)


def load(db: DB, session: Session, *, group_by: str = "Department") -> Corpus:
    ids, completed = analysable(db, session)
    threshold = sessions.settings_of(session).anonymity_threshold
    corpus = Corpus(session_id=session.id, anonymity=session.anonymity, threshold=threshold,
                    topics=[(t.key, t.label) for t in sorted(session.topics,
                                                             key=lambda t: t.position)
                            if t.enabled],
                    interviews=ids, passages=[], completed=completed)
    if not ids:
        return corpus
    scrub = NameScrubber(db.scalars(select(Person.name))) if corpus.aggregated else None
    corpus.scrub = scrub
    asked: dict[int, set[str]] = {}
    for chunk in _chunks(ids):
        for iid, coverage in db.execute(select(Interview.id, Interview.coverage)
                                        .where(Interview.id.in_(chunk))):
            asked[iid] = {q.strip()[:500] for q in (coverage or {}).get("open_questions", [])}
        rows = db.execute(select(Turn.id, Turn.interview_id, Turn.topic, Turn.text,
                                 Turn.redacted_text, Turn.sentiment)
                          .where(Turn.interview_id.in_(chunk), Turn.role == "participant")
                          .order_by(Turn.interview_id, Turn.seq))
        for turn_id, iid, topic, text, redacted, sentiment in rows:
            shown = redacted if redacted is not None else privacy.redact(text)
            if scrub is not None:
                shown = scrub(shown)
            corpus.passages.append(Passage(turn_id, iid, topic, shown,
                                           text.strip()[:500] in asked.get(iid, ()),
                                           sentiment))
        person_of = dict(db.execute(select(Interview.id, Interview.person_id)
                                    .where(Interview.id.in_(chunk))).all())
        values = dict(db.execute(select(PersonAttribute.person_id, PersonAttribute.value)
                                 .where(PersonAttribute.person_id.in_(set(person_of.values())),
                                        PersonAttribute.key == group_by)).all())
        for iid, pid in person_of.items():
            corpus.groups[iid] = values.get(pid)
        if not corpus.aggregated:
            names = dict(db.execute(select(Person.id, Person.name)
                                    .where(Person.id.in_(set(person_of.values())))).all())
            for iid, pid in person_of.items():
                corpus.people[iid] = {"id": pid, "name": names.get(pid)}
    return corpus


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
