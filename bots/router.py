"""The worker's entry for every inbound message: find the conversation, run the bot."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bots import interview as interview_bot
from channels.base import enqueue_deliveries
from core import db, invites
from core.messages import Inbound
from core.models import InboundEvent, Interview, Invite, utcnow

log = logging.getLogger(__name__)


def find_interview(s, inbound: Inbound) -> Interview | None:
    if inbound.channel == "web":
        invite = s.get(Invite, int(inbound.sender.key.removeprefix("invite:")))
        return invites.current_interview(s, invite) if invite else None
    return None


def process_inbound(channel: str, event_id: str) -> None:
    """RQ job ``in-<channel>-<event_id>``. Idempotent: a processed event is skipped."""
    with db.session_scope() as s:
        event = s.scalar(
            select(InboundEvent)
            .where(InboundEvent.channel == channel, InboundEvent.event_id == event_id)
            .with_for_update()
        )
        if event is None or event.status != "pending":
            return
        inbound = Inbound.from_dict(event.payload)
        interview = find_interview(s, inbound)
        if interview is None:
            event.status, event.error = "ignored", "no conversation for this sender"
            log.info("inbound %s:%s has no conversation", channel, event_id)
            ids = []
        else:
            s.execute(select(Interview.id).where(Interview.id == interview.id).with_for_update())
            ids = [r.id for r in interview_bot.handle(s, interview, inbound)]
            event.status = "processed"
        event.processed_at = utcnow()
    enqueue_deliveries(ids)
