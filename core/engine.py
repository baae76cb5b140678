"""The interview engine: ``start`` an interview, ``handle`` what the participant sends.

Channel-neutral: it receives ``Inbound`` values whose ``choice`` has already been resolved
(buttons, typed labels, numbers, command words) and returns the ``OutboundRecord`` rows it
wrote, which the caller enqueues for delivery after the transaction commits.

Changes to one interview happen one after the other: the caller holds ``serialised`` and
reads the row with ``locked``. A reply the model must word is never worded inside the
transaction (on SQLite that would hold the database's only write lock): ``handle`` raises
``WordingNeeded``, the caller rolls back, calls ``word`` and handles the message again with
the words, which are used only if nothing changed meanwhile.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from core import (
    analytics,
    interviewer,
    jobs,
    lifecycle,
    metrics,
    phones,
    privacy,
    sentiment,
    sessions,
    webhooks,
)
from core.db import session_scope
from core.interviewer import planner, prompts
from core.lifecycle import Event, State
from core.messages import MAX_TEXT, Choice, Inbound, Outbound
from core.models import Interview, OutboundRecord, Session, Topic, Turn, utcnow
from core.turns import add_turn, say

CONSENT_CHOICES = (Choice("accept", "Yes, let's start"), Choice("decline", "No thanks"))
QUESTION_CHOICES = (Choice("pause", "Pause"), Choice("skip", "Skip"), Choice("stop", "Stop"))
WRAP_UP_CHOICES = (Choice("done", "Nothing else"), Choice("stop", "Stop"))
PAUSED_CHOICES = (Choice("resume", "Resume"), Choice("stop", "Stop"))
# typed "stop" while a question waits for words: it may not be meant, so ask first
CONFIRM_STOP_CHOICES = (Choice("stop", prompts.CONFIRM_STOP_END),
                        Choice("continue", prompts.CONFIRM_STOP_CONTINUE))


def asks_for_words(choices: list[Choice]) -> bool:
    """Whether the message that offered ``choices`` is a question, answered in words (its
    buttons are commands beside it), rather than a prompt that offers only choices."""
    return tuple(choices) == QUESTION_CHOICES


# A change waits this long for the one before it, then gives way (Busy): a worker's job is
# retried later rather than holding the worker, and an HR request answers 409 at once.
LOCK_WAIT = 5.0
Busy = jobs.Busy


def serialised(interview_id: int, *, wait: float = LOCK_WAIT):
    """Hold the interview's lock: one change at a time, across the transactions and the model
    call of one message. A Redis lock, because SQLite ignores FOR UPDATE (and one message
    spans two transactions around the model call, which a row lock cannot cover)."""
    return jobs.lock(f"interview:{interview_id}", wait=wait)


def locked(db: DB, interview_id: int) -> Interview | None:
    """The interview's row, locked for this transaction (PostgreSQL) and read afresh even
    when this session has it already."""
    return db.scalar(select(Interview).where(Interview.id == interview_id)
                     .with_for_update(of=Interview)
                     .execution_options(populate_existing=True))


@dataclass(frozen=True)
class Draft:
    """Everything the interviewer needs to word a planned move, taken under the lock."""

    session_id: int
    state: dict[str, Any]
    move: planner.Move
    answer: str | None
    skip: bool
    asked_back: bool
    history: list[tuple[str, str]]
    channel: str = "web"  # the interviewer keeps a question short for SMS

    @property
    def key(self) -> str:
        """Equal keys, equal inputs: words made for one draft fit the other."""
        return json.dumps([self.session_id, self.state, asdict(self.move), self.answer,
                           self.skip, self.asked_back, self.history, self.channel],
                          sort_keys=True)


@dataclass(frozen=True)
class Words:
    key: str
    text: str
    reasoning: dict[str, Any]
    state: dict[str, Any]  # the draft's state as the interviewer left it


class WordingNeeded(Exception):
    """Roll back, ``word(draft)`` with no transaction open, then handle the message again."""

    def __init__(self, draft: Draft):
        super().__init__(f"the model must word a {draft.move.action}")
        self.draft = draft


def word(draft: Draft, session: Session | None = None) -> Words:
    """Word a planned move: the model when one is configured, else the offline strategy."""
    if session is None:
        with session_scope() as s:  # read and closed before the model is called
            session = s.get(Session, draft.session_id)
    state = copy.deepcopy(draft.state)
    text, reasoning = interviewer.compose(
        session, state, draft.move, draft.answer, skip=draft.skip,
        asked_back=draft.asked_back, history=draft.history, channel=draft.channel)
    return Words(draft.key, text, reasoning, state)


def transition(interview: Interview, event: Event, now: datetime | None = None) -> None:
    """Apply a lifecycle event; raises InvalidTransition when it is not allowed."""
    now = now or utcnow()
    was = interview.state
    interview.state = lifecycle.next_state(interview.state, event)
    if was == State.PAUSED and interview.state != State.PAUSED and interview.paused_at:
        # a pause ends (resumed, stopped, expired, ended by HR): its time is not answering time
        paused = max((now - interview.paused_at).total_seconds(), 0.0)
        interview.paused_seconds = (interview.paused_seconds or 0.0) + paused
    if interview.state == State.IN_PROGRESS and interview.started_at is None:
        interview.started_at = now
    if interview.state in lifecycle.TERMINAL:
        interview.ended_at = interview.ended_at or now
        metrics.score(interview)
        analytics.due(interview)
        webhooks.interview_ended(interview, now)  # completed or abandoned: in this transaction


def _topics(interview: Interview) -> dict[str, Topic]:
    return {t.key: t for t in interview.session.topics if t.enabled}


def start(db: DB, interview: Interview) -> list[OutboundRecord]:
    """Open the conversation: the consent message, before any question."""
    transition(interview, Event.START)
    topics = [t for t in interview.session.topics if t.enabled]
    settings = sessions.settings_of(interview.session)
    interview.coverage = planner.initial(
        [planner.PlanTopic(t.key, t.priority) for t in topics], settings.question_budget
    )
    return [say(db, interview, consent_message(interview), seq=1)]  # its first turn


def consent_message(interview: Interview) -> Outbound:
    """The consent message in the words of the interview's channel (an invite that falls
    back to SMS must not offer "stop", the carrier's word there)."""
    topics = [t for t in interview.session.topics if t.enabled]
    settings = sessions.settings_of(interview.session)
    named = interview.session.anonymity != "aggregated"  # an anonymous transcript has no name
    first_name = interview.person.name.split()[0] if named and interview.person.name else "there"
    text = prompts.consent(
        first_name, interview.session.session_type.name, interview.session.anonymity,
        min(len(topics), settings.question_budget), settings.question_budget,
        settings.anonymity_threshold, channel=interview.channel,
    )
    return Outbound(text, CONSENT_CHOICES, role="system", interview_id=interview.id)


def offered_choices(db: DB, interview: Interview) -> list[Choice]:
    """The choices on the last message we sent, for matching typed labels and numbers."""
    turn = db.scalar(
        select(Turn)
        .where(Turn.interview_id == interview.id, Turn.role != "participant")
        .order_by(Turn.seq.desc())
        .limit(1)
    )
    return [Choice(**c) for c in (turn.choices if turn else [])]


def handle(
    db: DB, interview: Interview, inbound: Inbound, *, words: Words | None = None
) -> list[OutboundRecord]:
    """Answer one participant message according to the interview's state. Raises
    ``WordingNeeded`` when the reply needs the model and ``words`` do not fit it."""
    now = utcnow()
    interview.last_activity_at = now
    said = _participant_text(db, interview, inbound)
    state, choice = interview.state, inbound.choice
    if state in lifecycle.TERMINAL or state == State.CREATED:
        note = prompts.NOT_STARTED if state == State.CREATED else prompts.ALREADY_ENDED
        return [say(db, interview, Outbound(note, role="system"))]
    if len(inbound.text) > MAX_TEXT:  # keeping the choices, so a typed "yes" still counts
        return [say(db, interview, Outbound(prompts.too_long(MAX_TEXT),
                                            tuple(offered_choices(db, interview)), role="system"))]
    if state == State.CONSENT:
        if choice is None:  # before they agree we keep only their choice (prompts.DECLINED)
            return [say(db, interview, Outbound(prompts.CONSENT_REMINDER, CONSENT_CHOICES,
                                                role="system"))]
        said = _label(db, interview, choice)
    add_turn(
        db, interview, role="participant", text=said, topic=interview.current_topic,
        sentiment=None if choice else sentiment.score(said), redacted_text=privacy.redact(said),
    )
    if choice == "help":
        return [say(db, interview, Outbound(prompts.help_text(interview.channel),
                                            tuple(offered_choices(db, interview)),
                                            role="system"))]
    if choice == "confirm_stop":
        return [say(db, interview, Outbound(prompts.CONFIRM_STOP, CONFIRM_STOP_CHOICES,
                                            role="system"))]
    if state == State.CONSENT:
        return _consent(db, interview, choice, words)
    if state == State.PAUSED:
        if choice == "stop":
            return _stop(db, interview)
        if choice == "pause":
            return [say(db, interview, Outbound(prompts.paused(interview.channel),
                                                PAUSED_CHOICES, role="system"))]
        transition(interview, Event.RESUME, now)
        interview.paused_at = interview.resume_prompted_at = None
        if choice == "resume":
            return [_repeat(db, interview)]
    if choice == "pause":
        return _pause(db, interview, now)
    if choice == "stop":
        return _stop(db, interview)
    if choice == "skip":
        return _advance(db, interview, None, skip=True, words=words)
    if choice == "continue":  # not stopping after all
        return [_repeat(db, interview, prefix=prompts.CARRY_ON)]
    if choice in ("resume", "accept", "decline"):  # stale button: show where we are
        return [_repeat(db, interview)]
    return _advance(db, interview, said, words=words)


def _participant_text(db: DB, interview: Interview, inbound: Inbound) -> str:
    if inbound.text.strip():
        return inbound.text.strip()
    return _label(db, interview, inbound.choice or "")


def _label(db: DB, interview: Interview, choice: str) -> str:
    labels = {c.value: c.label for c in offered_choices(db, interview)}
    return labels.get(choice, choice)


def _consent(
    db: DB, interview: Interview, choice: str | None, words: Words | None
) -> list[OutboundRecord]:
    if choice == "accept":
        transition(interview, Event.ACCEPT)
        return _advance(db, interview, None, words=words)
    if choice in ("decline", "stop"):
        transition(interview, Event.DECLINE)
        interview.end_reason = "declined consent"
        return [say(db, interview, Outbound(prompts.DECLINED, role="system"))]
    return [say(db, interview, Outbound(prompts.CONSENT_REMINDER, CONSENT_CHOICES, role="system"))]


def _pause(db: DB, interview: Interview, now: datetime) -> list[OutboundRecord]:
    limit = sessions.settings_of(interview.session).max_pauses
    if interview.pauses_used >= limit:
        return [_repeat(db, interview, prefix=prompts.NO_PAUSES_LEFT)]
    transition(interview, Event.PAUSE, now)
    interview.pauses_used += 1
    interview.paused_at, interview.resume_prompted_at = now, None
    return [say(db, interview, Outbound(prompts.paused(interview.channel), PAUSED_CHOICES,
                                        role="system"))]


def pause_silently(interview: Interview, now: datetime | None = None) -> None:
    """Pause without a word and without a resume prompt: the person opted out of the
    channel (SMS STOP), so nothing may be sent; they resume wherever they can be reached.
    Not one of their pauses."""
    now = now or utcnow()
    if interview.state == State.IN_PROGRESS:
        transition(interview, Event.PAUSE, now)
        interview.paused_at = now
    if interview.state == State.PAUSED:
        interview.resume_prompted_at = now


def _stop(db: DB, interview: Interview) -> list[OutboundRecord]:
    transition(interview, Event.STOP)
    interview.drop_off_topic = interview.current_topic
    interview.end_reason = "stopped by participant"
    return [say(db, interview, Outbound(prompts.STOPPED, role="system"))]


def _repeat(db: DB, interview: Interview, prefix: str = prompts.RESUMED) -> OutboundRecord:
    """Say the current question again (after a resume, or a stale button), once prefixed."""
    recent = db.scalars(
        select(Turn)
        .where(Turn.interview_id == interview.id, Turn.role == "interviewer")
        .order_by(Turn.seq.desc())
        .limit(20)
    )
    last = next((t for t in recent if (t.reasoning or {}).get("action") != "repeat"), None)
    if last is None:
        return say(db, interview, Outbound(prompts.CONSENT_REMINDER, CONSENT_CHOICES,
                                           role="system"))
    reasoning = {"strategy": "engine", "action": "repeat", "topic": last.topic,
                 "why": f"restating turn {last.seq}: {prefix}"}
    return say(db, interview, Outbound(f"{prefix}\n\n{last.text}",
                                       tuple(Choice(**c) for c in last.choices)),
               topic=last.topic, reasoning=reasoning)


def _advance(
    db: DB, interview: Interview, answer: str | None, *, skip: bool = False,
    words: Words | None = None,
) -> list[OutboundRecord]:
    """Let the planner choose the next move, have a strategy word it, close when done."""
    state = copy.deepcopy(interview.coverage)
    asked_back = interviewer.asks_back(answer)
    move = planner.next_move(state, answer, skip=skip, asked_back=asked_back,
                             sentiment=sentiment.score(answer) if answer else None)
    if move.topic is not None and move.topic not in _topics(interview):
        # HR removed or disabled this topic mid-interview: treat it as dropped
        state["topics"][move.topic]["status"] = "dropped"
        interview.coverage = state
        return _advance(db, interview, None, words=words)
    draft = Draft(interview.session_id, state, move, answer, skip, asked_back,
                  _recent(db, interview), interview.channel)
    if words is None or words.key != draft.key:
        if interviewer.uses_model(move):
            raise WordingNeeded(draft)
        words = word(draft, interview.session)
    text, reasoning, state = words.text, words.reasoning, copy.deepcopy(words.state)
    if move.action == "close":
        interview.coverage = state
        interview.current_topic = None
        transition(interview, Event.COMPLETE)
        sessions.lock(interview.session)
        return [say(db, interview, Outbound(text), reasoning=reasoning)]
    if move.action == "wrap_up":
        choices, progress = WRAP_UP_CHOICES, None
    else:
        choices, progress = QUESTION_CHOICES, planner.progress(state, move.topic)
    planner.record(state, move, text)
    if answer is not None and interview.current_topic:
        planner.note(state, interview.current_topic, privacy.redact(answer))
    interview.coverage = state
    interview.current_topic = state["current"]
    return [say(db, interview, Outbound(text, choices, progress=progress), topic=move.topic,
                reasoning=reasoning)]


def _recent(db: DB, interview: Interview, limit: int = 6) -> list[tuple[str, str]]:
    """The last few turns (role, text; PII redacted); older ones reach the model summarised."""
    turns = db.scalars(
        select(Turn).where(Turn.interview_id == interview.id, Turn.role != "system")
        .order_by(Turn.seq.desc()).limit(limit)
    )
    return [(t.role, t.redacted_text or t.text) for t in reversed(list(turns))]


def tick(db: DB, interview: Interview, now: datetime) -> list[OutboundRecord]:
    """Time passing on a paused interview: a resume prompt, then expiry."""
    if interview.state != State.PAUSED or interview.paused_at is None:
        return []
    settings = sessions.settings_of(interview.session)
    waited = (now - interview.paused_at).total_seconds()
    if waited >= settings.pause_expiry_seconds:
        transition(interview, Event.EXPIRE, now)
        interview.drop_off_topic = interview.current_topic
        interview.end_reason = "pause expired"
        if not phones.may_text(db, interview.channel, interview.address):
            return []  # they opted out of texts (STOP): the pause ends without a word
        return [say(db, interview, Outbound(prompts.PAUSE_EXPIRED, role="system"))]
    if waited >= settings.pause_prompt_seconds and interview.resume_prompted_at is None:
        interview.resume_prompted_at = now
        return [say(db, interview, Outbound(prompts.RESUME_PROMPT, PAUSED_CHOICES, role="system"))]
    return []


def admin_end(db: DB, interview: Interview, reason: str = "ended by HR") -> list[OutboundRecord]:
    transition(interview, Event.ADMIN_END)
    interview.drop_off_topic = interview.current_topic
    interview.end_reason = reason
    return [say(db, interview, Outbound(prompts.ADMIN_ENDED, role="system"))]


def restart(db: DB, interview: Interview) -> Interview:
    """Mark this interview restarted and open a fresh one on the same invite."""
    transition(interview, Event.RESTART)
    fresh = Interview(
        invite_id=interview.invite_id, session_id=interview.session_id,
        person_id=interview.person_id, channel=interview.channel,
        address=dict(interview.address), restarted_from_id=interview.id,
    )
    db.add(fresh)
    db.flush()
    return fresh
