"""Turns and the outbox rows that carry them, written in the caller's transaction.

The engine writes a turn and its outbound row together, so a reply is either fully
recorded and queued or not at all; `channels.durable` takes the row from the commit on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DB

from core.messages import Outbound
from core.models import Interview, OutboundRecord, Turn


def next_seq(db: DB, interview: Interview) -> int:
    current = db.scalar(select(func.max(Turn.seq)).where(Turn.interview_id == interview.id))
    return (current or 0) + 1


def add_turn(
    db: DB, interview: Interview, *, role: str, text: str, topic: str | None = None,
    choices: list[dict[str, str]] | None = None, sentiment: float | None = None,
    reasoning: dict[str, Any] | None = None, provider_ids: dict[str, Any] | None = None,
    redacted_text: str | None = None, seq: int | None = None,
) -> Turn:
    """``seq`` when the caller knows it (an interview's first turn), saving a query."""
    turn = Turn(
        interview_id=interview.id, seq=seq or next_seq(db, interview), role=role, text=text,
        redacted_text=redacted_text,
        topic=topic, choices=choices or [], sentiment=sentiment, reasoning=reasoning,
        channel=interview.channel, provider_ids=provider_ids or {},
    )
    db.add(turn)
    db.flush()
    return turn


def say(
    db: DB, interview: Interview, message: Outbound, *, topic: str | None = None,
    reasoning: dict[str, Any] | None = None, seq: int | None = None,
) -> OutboundRecord:
    """Record an interviewer/system turn and queue it for the interview's current address."""
    turn = add_turn(
        db, interview, role=message.role, text=message.text, topic=topic,
        choices=[{"value": c.value, "label": c.label} for c in message.choices],
        reasoning=reasoning, seq=seq,
    )
    record = OutboundRecord(
        channel=interview.channel, address=dict(interview.address),
        payload=replace(message, interview_id=interview.id).to_dict(),
        interview_id=interview.id, turn_id=turn.id,
    )
    db.add(record)
    db.flush()
    return record
