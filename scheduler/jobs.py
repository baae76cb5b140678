"""Periodic jobs. Each one is idempotent, so a duplicate or late run does no harm."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core import db, engine, jobs
from core.lifecycle import State
from core.models import Interview, utcnow

log = logging.getLogger(__name__)


def tick_pauses() -> int:
    """Send resume prompts and expire pauses that ran past the session's limits."""
    now = utcnow()
    ids: list[int] = []
    with db.session_scope() as s:
        for interview in s.scalars(select(Interview).where(Interview.state == State.PAUSED)):
            ids += [r.id for r in engine.tick(s, interview, now)]
    jobs.enqueue_deliveries(ids)
    return len(ids)
