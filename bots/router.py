"""The worker's entry for every inbound message: find the conversation, run the bot.

An event is tried at most ``ATTEMPTS`` times, then kept as ``failed`` with its error for
operators (``GET /api/v1/ops/failures``). Once a turn holds what the person wrote, the text
leaves the inbox, and the event is linked to its interview, so deleting the interview
deletes everything the person sent to it.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bots import carrier
from bots import interview as interview_bot
from bots import one_on_one as one_on_one_bot
from core import db, directory, engine, jobs, lifecycle
from core.interviewer import prompts
from core.messages import Inbound, Outbound, storable
from core.models import InboundEvent, Interview, OutboundRecord, utcnow

log = logging.getLogger(__name__)

ATTEMPTS = 5
WORDINGS = 3  # times a reply is worded again because the interview changed meanwhile


class InboundFailed(Exception):
    """One attempt failed; RQ retries. It carries only the error's description, so the
    job RQ keeps holds no statement values (what the person wrote)."""


def find_interview(s, inbound: Inbound) -> int | None:
    """The conversation this message belongs to: the link's interview on the web; the one a
    button names, when it is the sender's; else the sender's newest open interview,
    whichever channel it started on. Only its id: the row is read under the interview's lock."""
    if inbound.channel == "web":
        invite_id = int(inbound.sender.key.removeprefix("invite:"))
        return s.scalar(select(Interview.id).where(Interview.invite_id == invite_id)
                        .order_by(Interview.id.desc()).limit(1))
    person = directory.by_address(s, inbound.channel, inbound.sender.key,
                                  team=inbound.sender.data.get("team"))
    if person is None:
        return None
    if inbound.interview_id and s.scalar(select(Interview.id).where(
            Interview.id == inbound.interview_id, Interview.person_id == person.id)):
        return inbound.interview_id
    return s.scalar(
        select(Interview.id)
        .where(Interview.person_id == person.id,
               Interview.state.in_([str(x) for x in lifecycle.ACTIVE]))
        .order_by(Interview.id.desc()).limit(1)
    )


def process_inbound(channel: str, event_id: str) -> None:
    """RQ job ``in-<channel>-<event_id>``. Idempotent: only a pending event is handled.

    The attempt is counted (and the event linked to its interview) in a transaction of its
    own before the work starts, so even an attempt that kills the worker is counted."""
    counted = False
    try:
        with db.session_scope() as s:
            event = _pending(s, channel, event_id)
            if event is None:
                return
            if event.attempts >= ATTEMPTS:  # the last attempt died with its worker
                _give_up(event)
                return
            event.attempts += 1
            inbound = Inbound.from_dict(event.payload)
            interview_id, word = None, carrier.keyword(s, inbound)  # SMS: the law first
            if word is None:  # "add: …" typed in a Teams chat or an SMS: their 1-on-1
                inbound = one_on_one_bot.claim(s, inbound)
            if word not in (None, "opt_out"):
                ids = [r.id for r in carrier.handle(s, inbound, word)]
                _done(event, "processed" if word != "ignore" else "ignored",
                      "" if word != "ignore" else "the number opted out")
            elif word is None and inbound.about:  # a 1-on-1 thread's click, modal or message
                try:
                    ids = [r.id for r in one_on_one_bot.handle(s, inbound, event.received_at)]
                    _done(event, "processed")
                except one_on_one_bot.Ignored as why:
                    ids = []
                    _done(event, "ignored", str(why))
            elif word is None:
                interview_id = event.interview_id = find_interview(s, inbound)
                if interview_id is None:
                    log.info("inbound %s:%s has no conversation", channel, event_id)
                    _done(event, "ignored", "no conversation for this sender")
                    ids = _no_conversation(s, inbound)
        counted = True
        if word == "opt_out":
            ids = []
            carrier.opt_out(inbound, lambda s: _close(s, channel, event_id))
        elif interview_id is not None:
            ids = _handle(channel, event_id, interview_id, inbound)
    except Exception as exc:
        if _failed(channel, event_id, exc, counted=counted):
            return
        raise InboundFailed(describe(exc)) from None
    jobs.enqueue_deliveries(ids)


def _handle(channel: str, event_id: str, interview_id: int, inbound: Inbound) -> list[int]:
    """Run the bot on fresh state under the interview's lock; word a model's reply between
    two transactions, so no transaction is open while the model thinks."""
    words = None
    with engine.serialised(interview_id):
        for _ in range(WORDINGS):
            try:
                with db.session_scope() as s:
                    event = _pending(s, channel, event_id)
                    interview = engine.locked(s, interview_id)
                    if event is None or interview is None:  # handled meanwhile, or deleted
                        return []
                    if carrier.silenced(s, inbound):  # a STOP came before this got the lock
                        _done(event, "ignored", "the number opted out")
                        return []
                    if _earlier_waiting(s, event):  # keep the person's order
                        raise engine.Busy(f"an earlier message to interview {interview_id} "
                                          "is still waiting")
                    records = interview_bot.handle(s, interview, inbound, words=words)
                    _done(event, "processed")
                    return [r.id for r in records]
            except engine.WordingNeeded as needed:
                words = engine.word(needed.draft)
    raise RuntimeError(f"interview {interview_id} kept changing while its reply was worded")


def _earlier_waiting(s, event: InboundEvent) -> bool:
    """Is a message that arrived before this one, for the same interview, still unhandled?
    (It was busy and is retried later: answering this one first would swap the answers.)"""
    return s.scalar(select(InboundEvent.id).where(
        InboundEvent.interview_id == event.interview_id, InboundEvent.status == "pending",
        InboundEvent.id < event.id).limit(1)) is not None


def _pending(s, channel: str, event_id: str) -> InboundEvent | None:
    event = s.scalar(
        select(InboundEvent)
        .where(InboundEvent.channel == channel, InboundEvent.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return event if event is not None and event.status == "pending" else None


def _done(event: InboundEvent, status: str, error: str = "") -> None:
    """Close the event and drop the text from the inbox: the turn keeps it, if anything."""
    event.status, event.error, event.processed_at = status, error, utcnow()
    event.payload = {**event.payload, "text": ""}


def _failed(channel: str, event_id: str, exc: Exception, *, counted: bool) -> bool:
    """Keep the error on the event; True when that was its last attempt (now ``failed``)."""
    error = describe(exc)
    with db.session_scope() as s:
        event = _pending(s, channel, event_id)
        if event is None:
            return True
        if isinstance(exc, engine.Busy):  # another message holds the interview: wait a turn
            event.attempts -= counted  # not a failure of this one (the lock expires anyway)
            return False
        if not counted:
            event.attempts += 1
        event.error = error
        if event.attempts < ATTEMPTS:
            log.warning("inbound %s:%s attempt %d of %d failed: %s", channel, event_id,
                        event.attempts, ATTEMPTS, error)
            return False
        _give_up(event)
    return True


def _give_up(event: InboundEvent) -> None:
    """Failed for good: kept for operators, without what the person wrote."""
    event.status, event.processed_at = "failed", utcnow()
    event.payload = {**event.payload, "text": ""}
    event.error = event.error or "the worker stopped during every attempt"
    log.error("inbound %s:%s failed for good after %d attempts: %s", event.channel,
              event.event_id, event.attempts, event.error)


def describe(exc: BaseException) -> str:
    """The error for operators: the database driver's own message rather than SQLAlchemy's,
    which quotes the statement's values (what the person wrote)."""
    orig = getattr(exc, "orig", None)
    shown = orig if isinstance(orig, BaseException) else exc
    return storable(f"{type(shown).__name__}: {shown}")[:2000]


def _no_conversation(s, inbound: Inbound) -> list[int]:
    """A polite answer to someone who writes with nothing open, so they are not ignored
    (on SMS, a number we know nobody by hears from us once: ``bots.carrier``)."""
    if inbound.channel == "web":
        return []
    special = carrier.no_conversation(s, inbound)
    if special is not None:
        return [r.id for r in special]
    record = OutboundRecord(channel=inbound.channel, address=inbound.sender.to_dict(),
                            payload=Outbound(prompts.NO_CONVERSATION, role="system").to_dict())
    s.add(record)
    s.flush()
    return [record.id]


def _close(s, channel: str, event_id: str) -> bool:
    """Mark a pending event processed in ``s``; False when it is no longer pending."""
    event = _pending(s, channel, event_id)
    if event is None:
        return False
    _done(event, "processed")
    return True
