"""The worker's entry for every inbound message: find the conversation, run the bot."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bots import interview as interview_bot
from core import db, directory, invites, jobs, lifecycle
from core.interviewer import prompts
from core.messages import Inbound, Outbound
from core.models import InboundEvent, Interview, Invite, OutboundRecord, utcnow

log = logging.getLogger(__name__)


def find_interview(s, inbound: Inbound) -> Interview | None:
    """The conversation this message belongs to: the link's interview on the web; the one a
    button names, when it is the sender's; else the sender's newest open interview,
    whichever channel it started on."""
    if inbound.channel == "web":
        invite = s.get(Invite, int(inbound.sender.key.removeprefix("invite:")))
        return invites.current_interview(s, invite) if invite else None
    person = directory.by_address(s, inbound.channel, inbound.sender.key)
    if person is None:
        return None
    named = s.get(Interview, inbound.interview_id) if inbound.interview_id else None
    if named is not None and named.person_id == person.id:
        return named
    return s.scalar(
        select(Interview)
        .where(Interview.person_id == person.id,
               Interview.state.in_([str(x) for x in lifecycle.ACTIVE]))
        .order_by(Interview.id.desc())
    )


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
            ids = [_no_conversation(s, inbound)] if inbound.channel != "web" else []
        else:
            s.execute(select(Interview.id).where(Interview.id == interview.id).with_for_update())
            ids = [r.id for r in interview_bot.handle(s, interview, inbound)]
            event.status = "processed"
        event.processed_at = utcnow()
    jobs.enqueue_deliveries(ids)


def _no_conversation(s, inbound: Inbound) -> int:
    """A polite answer to someone who writes with nothing open, so they are not ignored."""
    record = OutboundRecord(channel=inbound.channel, address=inbound.sender.to_dict(),
                            payload=Outbound(prompts.NO_CONVERSATION, role="system").to_dict())
    s.add(record)
    s.flush()
    return record.id
