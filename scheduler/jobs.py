"""Periodic jobs. Each one is idempotent, so a duplicate or late run does no harm."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core import db, engine, exports, jobs
from core.lifecycle import State
from core.models import Interview, utcnow

log = logging.getLogger(__name__)


def tick_pauses() -> int:
    """Send resume prompts and expire pauses that ran past the session's limits.

    Each interview is changed under its lock and on a fresh read, one transaction each; one
    busy with a message right now (perhaps a resume) is left to the next tick."""
    now = utcnow()
    with db.session_scope() as s:
        paused = list(s.scalars(select(Interview.id).where(Interview.state == State.PAUSED)))
    ids: list[int] = []
    for interview_id in paused:
        try:
            with engine.serialised(interview_id, wait=0), db.session_scope() as s:
                interview = engine.locked(s, interview_id)
                if interview is not None:
                    ids += [r.id for r in engine.tick(s, interview, now)]
        except engine.Busy:
            log.info("interview %s is busy; the next tick will look again", interview_id)
    jobs.enqueue_deliveries(ids)
    return len(ids)


def prune_exports() -> int:
    """Drop the files of exports whose download link has expired (core.exports.prune)."""
    return exports.prune()
