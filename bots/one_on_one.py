"""The 1-on-1 thread's behaviour: what a click, a modal or a message in a pair's thread
does (DESIGN.md §1, OneOnOne). Channel-neutral: an Inbound names what it is about
("agenda:<item>", "pair:<pair>", "thread:<provider's thread id>", "people"), the words are
the same on every channel ("add: …", "done for today").
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select

from core import directory, one_on_ones
from core.interviewer import prompts
from core.messages import Inbound, Outbound
from core.models import AgendaItem, OneOnOne, OutboundRecord, Person

log = logging.getLogger(__name__)

ADD = re.compile(r"^\s*(?:add|agenda|talking point)\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)
DONE = re.compile(r"^\s*done for today[.!]?\s*$", re.IGNORECASE)  # not a mere "done"


class Ignored(Exception):
    """Nothing to do for this inbound (the reason is kept on the inbox row)."""


def handle(s, inbound: Inbound, received_at: datetime | None = None) -> list[OutboundRecord]:
    """Act on one inbound about a 1-on-1; the outbox rows to deliver. Raises Ignored.
    ``received_at`` is when it reached us: a "Done for today" clicked before the meeting
    it would close had opened was meant for the one before."""
    person = directory.by_address(s, inbound.channel, inbound.sender.key,
                                  team=inbound.sender.data.get("team"))
    if person is None:
        raise Ignored("sender not in the directory")
    kind, _, ref = (inbound.about or "").partition(":")
    if kind == "people":
        return _open(s, person, inbound)
    if kind == "agenda":
        item = _locked(s, AgendaItem, ref)
        if item is None:
            raise Ignored("no such agenda item")
        state = {"discussed": "discussed", "carry": "carried"}.get(inbound.choice or "")
        if state is None:
            raise Ignored(f"unknown choice {inbound.choice!r}")
        return _guarded(s, person, lambda: one_on_ones.mark(s, item, state, person),
                        s.get(OneOnOne, item.one_on_one_id))
    if kind == "pair":
        pair = _locked(s, OneOnOne, ref)
    elif kind == "thread":
        pair = one_on_ones.by_thread(s, ref)
        if pair is not None:
            pair = _locked(s, OneOnOne, str(pair.id))
    else:
        raise Ignored(f"not about a 1-on-1: {inbound.about!r}")
    if pair is None:
        raise Ignored("no such 1-on-1")
    return _in_pair(s, pair, person, inbound, received_at)


def _locked(s, model, ref: str):
    """The row, locked for the rest of the transaction: two clicks on one item (or two
    "Done for today" at once) are decided one after the other."""
    if not ref.isdigit() or len(ref) > 10:
        return None
    return s.scalar(select(model).where(model.id == int(ref)).with_for_update(of=model)
                    .execution_options(populate_existing=True))


def _in_pair(s, pair: OneOnOne, person: Person, inbound: Inbound,
             received_at: datetime | None) -> list[OutboundRecord]:
    choice, text = inbound.choice, inbound.text or ""
    if choice == "note":  # never a word about it in the shared thread, even a refusal
        problem = one_on_ones.note_problem(pair, person, text)
        if problem is not None:
            raise Ignored(f"private note not kept: {problem}")
        try:
            one_on_ones.add_note(s, pair, person, text)
        except one_on_ones.PairError as exc:  # retired a moment ago
            raise Ignored(f"private note not kept: {exc}") from None
        return []
    if choice == "add":
        return _guarded(s, person, lambda: one_on_ones.add_item(s, pair, text, person)[1],
                        pair)
    if choice == "close" or (choice is None and DONE.match(text)):
        return _guarded(s, person, lambda: one_on_ones.close_meeting(
            s, pair, person, asked_at=received_at), pair)
    found = ADD.match(text) if choice is None else None
    if found:
        return _guarded(s, person,
                        lambda: one_on_ones.add_item(s, pair, found.group(1), person)[1], pair)
    if choice is None:  # the two talking in their thread: activity, and nothing kept
        try:
            one_on_ones.member(pair, person.id)
        except one_on_ones.NotInPair:
            raise Ignored("not one of the pair") from None
        one_on_ones.activity(s, pair, person.id, "message")
        return []
    raise Ignored(f"unknown choice {choice!r}")


def _guarded(s, person: Person, action, pair: OneOnOne | None) -> list[OutboundRecord]:
    """Run ``action``; a refusal the person should hear (a retired pair, HR withdrew the
    topic) is said in the thread, and one from someone outside the pair is ignored."""
    try:
        return action()
    except one_on_ones.NotInPair:
        raise Ignored("not one of the pair") from None
    except one_on_ones.PairError as exc:
        if pair is None or one_on_ones.thread_address(pair) is None:
            raise Ignored(str(exc)) from None
        reply = prompts.PAIR_CLOSED if not pair.active else str(exc).split(": ", 1)[-1]
        record = one_on_ones.post(s, pair, Outbound(reply, role="system"))
        return [record] if record else []


def _open(s, person: Person, inbound: Inbound) -> list[OutboundRecord]:
    """Meet with Anyone (or a report with their manager): the pair, and its thread's intro
    the first time."""
    colleague = directory.by_address(s, inbound.channel, inbound.text,
                                     team=inbound.sender.data.get("team"))
    if colleague is None:
        raise Ignored("the colleague is not in the directory")
    try:
        pair, _ = one_on_ones.open_pair(s, person, colleague)
    except one_on_ones.PairError as exc:
        raise Ignored(str(exc)) from None
    return one_on_ones.first_message(s, pair)
