"""Periodic jobs. Each one is idempotent, so a duplicate or late run does no harm."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from channels.base import enqueue_deliveries, enqueue_inbound, unfinished_outbound
from core import db, engine
from core.lifecycle import State
from core.models import InboundEvent, Interview, utcnow

log = logging.getLogger(__name__)


def sweep(older_than_seconds: int = 30) -> dict[str, int]:
    """Re-enqueue inbox and outbox rows left unfinished (Redis lost, worker killed)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with db.session_scope() as s:
        inbound = s.execute(select(InboundEvent.channel, InboundEvent.event_id).where(
            InboundEvent.status == "pending", InboundEvent.received_at <= cutoff)).all()
        pending, abandoned = unfinished_outbound(s, cutoff)
    for channel, event_id in inbound:
        enqueue_inbound(channel, event_id)
    enqueue_deliveries(pending)
    enqueue_deliveries(abandoned, replace_started=True)  # their worker died mid-send
    outbound = len(pending) + len(abandoned)
    if inbound or outbound:
        log.info("sweeper re-enqueued %d inbound, %d outbound", len(inbound), outbound)
    return {"inbound": len(inbound), "outbound": outbound}


def tick_pauses() -> int:
    """Send resume prompts and expire pauses that ran past the session's limits."""
    now = utcnow()
    ids: list[int] = []
    with db.session_scope() as s:
        for interview in s.scalars(select(Interview).where(Interview.state == State.PAUSED)):
            ids += [r.id for r in engine.tick(s, interview, now)]
    enqueue_deliveries(ids)
    return len(ids)
