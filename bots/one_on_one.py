"""The 1-on-1 thread's behaviour: what a click, a modal or a message in a pair's thread
does (DESIGN.md §1, OneOnOne). Channel-neutral: an Inbound names what it is about
("agenda:<item>", "pair:<pair>", "thread:<provider's thread id>", "people"), the words are
the same on every channel ("add: …", "done for today").
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select

from core import directory, lifecycle, one_on_ones
from core.interviewer import prompts
from core.messages import Inbound, Outbound
from core.models import AgendaItem, Interview, OneOnOne, OutboundRecord, Person

log = logging.getLogger(__name__)

ADD = re.compile(r"^\s*(?:add|agenda|talking point)\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)
DONE = re.compile(r"^\s*done for today[.!]?\s*$", re.IGNORECASE)  # not a mere "done"
# "1on1 lea@northwind.example": Meet with Anyone, from a chat or a phone (a work email
# names a colleague on every channel)
# "add lea@northwind.example: …": a talking point for the 1-on-1 with that colleague
ADD_FOR = re.compile(r"^\s*add\s+(?:for\s+|with\s+)?(\S+@\S+?)\s*:\s*(.+)$",
                     re.IGNORECASE | re.DOTALL)
OPEN = re.compile(r"^\s*(?:1\s*-?\s*on\s*-?\s*1|1:1)\s+(?:with\s+)?(\S+@\S+)\s*$", re.I)
NOTE = re.compile(r"^\s*(?:private )?note\s*:\s*(.+)$", re.IGNORECASE | re.DOTALL)
# where what a person types reaches Parley alone (their own chat, an SMS, a reply to
# Parley's address): there "note: …" is a private note; in a Slack group DM the other
# person reads it, so there a note is the `/parley note` command only
PRIVATE_WORDS = ("teams", "sms", "email")


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
    if kind == "unsure":  # words for a 1-on-1, but which one they do not say
        return _answer(s, inbound, prompts.WHICH_PAIR)
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


def claim(s, inbound: Inbound) -> Inbound:
    """A message typed in a person's own chat or by SMS that speaks the 1-on-1 words
    ("add: …", "note: …", "done for today") is about their 1-on-1 (``latest_pair``) —
    unless they are in an interview: then it is an answer ("Add: my manager…" must reach
    the interview, never a thread the manager reads)."""
    if inbound.about or inbound.choice or inbound.channel not in ("teams", "sms"):
        return inbound
    text = inbound.text or ""
    wanted = OPEN.match(text)
    if wanted:
        return replace(inbound, about="people", choice="open", text=wanted.group(1))
    named = ADD_FOR.match(text)
    if not (named or ADD.match(text) or NOTE.match(text) or DONE.match(text)):
        return inbound
    person = directory.by_address(s, inbound.channel, inbound.sender.key,
                                  team=inbound.sender.data.get("team"))
    if person is None or s.scalar(select(Interview.id).where(
            Interview.person_id == person.id,
            Interview.state.in_([str(x) for x in lifecycle.ACTIVE])).limit(1)):
        return inbound
    if named:
        colleague = directory.by_email(s, named.group(1).strip().lower())
        pair = one_on_ones.pair_with(s, person, colleague) if colleague else None
        if pair is None:
            return replace(inbound, about="unsure", text=named.group(1))
        return replace(inbound, about=f"pair:{pair.id}", text=f"add: {named.group(2)}")
    pair, count = one_on_ones.latest_pair(s, person, inbound.channel)
    if pair is None:
        return replace(inbound, about="unsure") if count else inbound
    return replace(inbound, about=f"pair:{pair.id}")


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
    typed_note = NOTE.match(text) if choice is None and inbound.channel in PRIVATE_WORDS \
        else None
    if typed_note:
        choice, text = "note", typed_note.group(1)
    if person.id not in (pair.first_id, pair.second_id):  # an outsider, a forged card:
        raise Ignored("not one of the pair")               # not a word, not even a no
    if choice == "note":  # never a word about it in the shared thread, even a refusal
        problem = one_on_ones.note_problem(pair, person, text)
        if problem is not None:
            return _privately(s, pair, person, inbound, problem, f"private note not kept: "
                              f"{problem}")
        try:
            one_on_ones.add_note(s, pair, person, text)
        except one_on_ones.PairError as exc:  # retired a moment ago
            raise Ignored(f"private note not kept: {exc}") from None
        other = one_on_ones.other(pair, person.id).name
        return _privately(s, pair, person, inbound, prompts.NOTE_KEPT.format(other=other))
    if choice == "add":
        return _guarded(s, person, lambda: one_on_ones.add_item(s, pair, text, person)[1],
                        pair)
    if choice == "close" or (choice is None and DONE.match(text)):
        return _guarded(s, person, lambda: one_on_ones.close_meeting(
            s, pair, person, asked_at=received_at), pair)
    found = ADD.match(text) if choice is None else None
    if found:
        records = _guarded(s, person, lambda: one_on_ones.add_item(
            s, pair, found.group(1), person)[1], pair)
        if inbound.channel == "sms" and one_on_ones.thread_channel(pair) != "sms":
            other = one_on_ones.other(pair, person.id).name  # they do not see the thread
            records += _answer(s, inbound, prompts.ADDED_BY_TEXT.format(other=other))
        return records
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
        if pair is None or not one_on_ones.has_thread(pair):
            raise Ignored(str(exc)) from None
        reply = prompts.PAIR_CLOSED if not pair.active else str(exc).split(": ", 1)[-1]
        message = Outbound(reply, role="system")
        return (one_on_ones.post(s, pair, message, to=person)  # said to them alone where
                or one_on_ones.post(s, pair, message))        # the thread has a place


def _privately(s, pair: OneOnOne, person: Person, inbound: Inbound, text: str,
               ignored: str | None = None) -> list[OutboundRecord]:
    """Said to ``person`` alone: in their own leg of the thread, or back where they wrote
    from (an SMS); in a Slack group DM there is no such place (the command answers
    ephemerally), so nothing. ``ignored``: the inbox's reason, when nothing was done."""
    if inbound.channel == "sms":
        records = _answer(s, inbound, text)
    else:
        records = one_on_ones.post(s, pair, Outbound(text, role="system"), to=person)
    if ignored and not records:
        raise Ignored(ignored)
    return records


def _answer(s, inbound: Inbound, text: str) -> list[OutboundRecord]:
    """Back to where the person wrote from (their chat, their number), outside any thread:
    not a row of the pair's (a send of it must not be taken for the thread's)."""
    record = OutboundRecord(channel=inbound.channel, address=inbound.sender.to_dict(),
                            payload=Outbound(text, role="system").to_dict())
    s.add(record)
    s.flush()
    return [record]


def _open(s, person: Person, inbound: Inbound) -> list[OutboundRecord]:
    """Meet with Anyone (or a report with their manager): the pair, and its thread's intro
    the first time."""
    named = inbound.text or ""
    colleague = (directory.by_address(s, inbound.channel, named,
                                      team=inbound.sender.data.get("team"))
                 or directory.by_email(s, named.strip().lower()))
    where = None if inbound.channel == "slack" else inbound  # Slack: the command answered
    if colleague is None:
        if where is None:
            raise Ignored("the colleague is not in the directory")
        return _answer(s, where, prompts.NOT_IN_DIRECTORY.format(who=named))
    try:
        pair, _ = one_on_ones.open_pair(s, person, colleague)
    except one_on_ones.PairError as exc:
        if where is None:
            raise Ignored(str(exc)) from None
        return _answer(s, where, str(exc).split(": ", 1)[-1])
    records = one_on_ones.first_message(s, pair)
    if where is not None and not any(r.channel == where.channel for r in records):
        records += _answer(s, where, prompts.PAIR_OPENED.format(other=colleague.name))
    return records
