"""The carrier's keywords on SMS: opt-out law, handled before any interview sees the text.

STOP and its kin record the opt-out in the ledger and pause the number's open interviews,
silently (nothing more may be sent there); START, UNSTOP or YES from an opted-out number
record the opt-in and confirm it in one line; HELP or INFO says who we are and how to stop.
A number that opted out is sent nothing else, whatever it writes. A number we know nobody
by gets one polite reply, ever.
"""

from __future__ import annotations

import contextlib
import logging

from bots import commands
from core import db, directory, engine, lifecycle, phones
from core.interviewer import prompts
from core.messages import Inbound, Outbound
from core.models import OutboundRecord

log = logging.getLogger(__name__)


def keyword(s, inbound: Inbound) -> str | None:
    """What the carrier makes of this message: "opt_out", "opt_in", "help", "ignore" (an
    opted-out number that did not opt in), or None for a message the interview handles."""
    if inbound.channel not in commands.CARRIER_CHANNELS:
        return None
    word = commands.carrier_keyword(inbound.channel, inbound.text)
    if phones.opted_out(s, inbound.sender.key):
        return "opt_in" if word == "opt_in" else "ignore"
    return None if word == "opt_in" else word  # "yes" to a question is an answer


def silenced(s, inbound: Inbound) -> bool:
    """Has the sender opted out? Asked again under the interview's lock: a STOP handled
    after ``keyword`` read the ledger must not let this message resume the interview."""
    return (inbound.channel in commands.CARRIER_CHANNELS
            and phones.opted_out(s, inbound.sender.key))


def handle(s, inbound: Inbound, word: str) -> list[OutboundRecord]:
    """Opt-in and help, in the caller's transaction; the replies it wrote."""
    number = inbound.sender.key
    if word == "opt_in":
        phones.opt_in(s, number, inbound.text.strip().upper()[:20])
        return [_reply(s, inbound, prompts.SMS_OPTED_IN)]
    if word == "help":
        return [_reply(s, inbound, prompts.sms_help())]
    log.info("message from opted-out number %s ignored", number[-4:])
    return []


def opt_out(inbound: Inbound, is_pending) -> bool:
    """Record the opt-out and pause the number's open interviews, each under its lock, in
    one transaction; False when the event was handled meanwhile (``is_pending(s)``)."""
    number = inbound.sender.key
    with db.session_scope() as s:
        open_ids = phones.interviews_of(s, number, lifecycle.ACTIVE)
    with contextlib.ExitStack() as locks:
        for interview_id in open_ids:
            locks.enter_context(engine.serialised(interview_id))
        with db.session_scope() as s:
            if not is_pending(s):
                return False
            phones.opt_out(s, number, inbound.text.strip().upper()[:20])
            for interview_id in open_ids:
                interview = engine.locked(s, interview_id)
                if interview is not None and interview.state in lifecycle.ACTIVE:
                    engine.pause_silently(interview)
            log.info("number ending %s opted out; %d interview(s) paused", number[-4:],
                     len(open_ids))
    return True


def no_conversation(s, inbound: Inbound) -> list[OutboundRecord] | None:
    """A number we know nobody by gets one polite reply, then silence (no loops with an
    auto-responder, no cost per stray text). None: not a stranger on a carrier channel,
    so the caller answers as usual."""
    if inbound.channel not in commands.CARRIER_CHANNELS:
        return None
    if directory.by_address(s, inbound.channel, inbound.sender.key) is not None:
        return None
    if phones.first_stranger_reply(s, inbound.sender.key):
        return [_reply(s, inbound, prompts.SMS_STRANGER)]
    return []


def _reply(s, inbound: Inbound, text: str) -> OutboundRecord:
    record = OutboundRecord(channel=inbound.channel, address=inbound.sender.to_dict(),
                            payload=Outbound(text, role="system").to_dict())
    s.add(record)
    s.flush()
    return record
