"""1-on-1s (DESIGN.md §1): manager–report pairs kept in step with the hierarchy, Meet with
Anyone pairs, meetings and their agenda, private notes, and the reminder before a meeting.

A pair's thread lives on one channel, chosen from what both people can be reached on
(Slack: the group DM of the two and the bot). Where no chat tool reaches both, the thread
is the web page each person has (``web/one_on_ones.py``), and nothing is sent. Every agenda
change is an Outbound for the thread, through the same outbox as every other message: a
new item is posted; a change to one (discussed, carried, edited or withdrawn by HR) updates
the message that showed it (``replaces``), so the thread always shows the item as it is.

HR's assigned topics are in ``core.assigned_topics``; the usage report in ``core.usage``.
Private notes are read by ``notes_of(author)`` only: no report, export or admin API has a
path to them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, insert, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import aliased

from core import schedule
from core.config import get_settings
from core.interviewer import prompts
from core.messages import Address, Choice, Outbound, storable
from core.models import (
    AgendaItem,
    AssignedTopic,
    Meeting,
    OneOnOne,
    OutboundRecord,
    PairActivity,
    Person,
    PrivateNote,
    utcnow,
)

log = logging.getLogger(__name__)

REPORTING, ANYONE = "reporting", "anyone"
MAX_ITEM = 1000  # characters in a talking point
MAX_NOTE = 5000
CADENCES = (7, 14, 21, 28)  # days between meetings a pair may choose
MORNING = "09:00"  # the reminder's local time, the working day before a meeting
# what makes a meeting worth closing: something added or marked in it
AGENDA_ACTIVITY = ("item_added", "item_discussed", "item_carried", "item_open")


class PairError(ValueError):
    """A request the pair cannot take (HTTP 400 / 409 with this message)."""


class NotInPair(PermissionError):
    """The person is not one of the pair."""


# ---- pairs ----------------------------------------------------------------------------------

def sync_pairs(db: DB, now: datetime | None = None, *,
               reports: list[int] | None = None) -> dict[str, int]:
    """Keep one active reporting pair per manager link of the directory, set-based: a new
    link gets a pair (or its retired one back, history and all), a link that is gone
    retires its pair (read-only from then on). Run after every change to the hierarchy;
    ``reports`` limits it to the pairs of these people as reports (one person's manager
    set through the API, not the whole directory)."""
    now = now or utcnow()
    mine = OneOnOne.second_id.in_(reports) if reports is not None else true()
    theirs = Person.id.in_(reports) if reports is not None else true()
    manager = aliased(Person)
    linked = (select(Person.id).join(manager, manager.id == Person.manager_id)
              .where(Person.active.is_(True), manager.active.is_(True),
                     Person.id == OneOnOne.second_id, Person.manager_id == OneOnOne.first_id))
    reporting = OneOnOne.kind == REPORTING
    retired = db.execute(
        update(OneOnOne).where(reporting, mine, OneOnOne.active.is_(True), ~exists(linked))
        .values(active=False, retired_at=now, next_reminder_at=None)
        .execution_options(synchronize_session=False)).rowcount
    back = db.execute(
        update(OneOnOne).where(reporting, mine, OneOnOne.active.is_(False), exists(linked))
        .values(active=True, retired_at=None).execution_options(synchronize_session=False)
    ).rowcount
    existing = select(OneOnOne.id).where(reporting, OneOnOne.first_id == Person.manager_id,
                                         OneOnOne.second_id == Person.id)
    new_links = (select(literal(REPORTING), Person.manager_id, Person.id, literal(True),
                        literal({}, OneOnOne.thread.type), literal(7), literal(now,
                                                                               OneOnOne.created_at.type))
                 .join(manager, manager.id == Person.manager_id)
                 .where(theirs, Person.active.is_(True), manager.active.is_(True),
                        ~exists(existing)))
    before = db.scalar(select(func.count()).select_from(OneOnOne))
    db.execute(insert(OneOnOne).from_select(
        ["kind", "first_id", "second_id", "active", "thread", "cadence_days", "created_at"],
        new_links))
    created = db.scalar(select(func.count()).select_from(OneOnOne)) - before
    if created or retired or back:  # an import says so; one person's manager, quietly
        log.log(logging.INFO if created + retired + back >= 100 else logging.DEBUG,
                "1-on-1 pairs: %d new, %d retired, %d back", created, retired, back)
    return {"created": created, "retired": retired, "reactivated": back}


def open_pair(db: DB, a: Person, b: Person) -> tuple[OneOnOne, bool]:
    """The pair of ``a`` and ``b``: their reporting pair when one manages the other (made
    now if the hierarchy has not been synced), else a Meet with Anyone pair. Returns
    (pair, created)."""
    if a.id == b.id:
        raise PairError("people: a 1-on-1 needs two different people")
    if not (a.active and b.active):
        raise PairError("people: both people must be active in the directory")
    if b.manager_id == a.id or a.manager_id == b.id:
        first, second = (a, b) if b.manager_id == a.id else (b, a)
        kind = REPORTING
    else:
        first, second = sorted((a, b), key=lambda p: p.id)
        kind = ANYONE
    found = db.scalar(select(OneOnOne).where(OneOnOne.kind == kind,
                                             OneOnOne.first_id == first.id,
                                             OneOnOne.second_id == second.id))
    if found is not None:
        if not found.active and kind == REPORTING:
            found.active, found.retired_at = True, None
        return found, False
    pair = OneOnOne(kind=kind, first=first, second=second, active=True)
    try:
        with db.begin_nested():  # two opens at once: the unique key keeps one
            db.add(pair)
            db.flush()
    except IntegrityError:
        return db.scalar(select(OneOnOne).where(OneOnOne.kind == kind,
                                                OneOnOne.first_id == first.id,
                                                OneOnOne.second_id == second.id)), False
    return pair, True


def pairs_of(db: DB, person_id: int, *, include_retired: bool = True) -> list[OneOnOne]:
    stmt = select(OneOnOne).where(or_(OneOnOne.first_id == person_id,
                                      OneOnOne.second_id == person_id))
    if not include_retired:
        stmt = stmt.where(OneOnOne.active.is_(True))
    return list(db.scalars(stmt.order_by(OneOnOne.active.desc(), OneOnOne.id)))


def latest_pair(db: DB, person: Person, channel: str) -> tuple[OneOnOne | None, int]:
    """The 1-on-1 a person means by words typed outside any thread, and how many active
    ones they have: their only one, or the one whose thread wrote last to them — to their
    own leg — on ``channel``; None when that does not say (several, none written here):
    a manager's "add: …" must not land on the wrong report's agenda."""
    pairs = pairs_of(db, person.id, include_retired=False)
    if len(pairs) <= 1:
        return (pairs[0] if pairs else None), len(pairs)
    ids, leg = [p.id for p in pairs], f"p{person.id}"
    for pair_id, payload in db.execute(
            select(OutboundRecord.one_on_one_id, OutboundRecord.payload).where(
                OutboundRecord.one_on_one_id.in_(ids), OutboundRecord.channel == channel)
            .order_by(OutboundRecord.id.desc()).limit(50)):
        if (payload or {}).get("leg") == leg:
            return next(p for p in pairs if p.id == pair_id), len(pairs)
    return None, len(pairs)


def pair_with(db: DB, person: Person, colleague: Person) -> OneOnOne | None:
    """Their active 1-on-1 together, if they have one."""
    return next((p for p in pairs_of(db, person.id, include_retired=False)
                 if colleague.id in (p.first_id, p.second_id)), None)


def member(pair: OneOnOne, person_id: int | None) -> Person:
    """The pair's person with this id; NotInPair otherwise."""
    for p in (pair.first, pair.second):
        if p.id == person_id:
            return p
    raise NotInPair("only the two people of a 1-on-1 can act in it")


def other(pair: OneOnOne, person_id: int) -> Person:
    return pair.second if pair.first_id == person_id else pair.first


def email_of_member(db: DB, pair_id: int, person_id: int) -> str | None:
    """The email address (lower case) of ``person_id`` when they are one of the pair."""
    pair = db.get(OneOnOne, pair_id)
    if pair is None or person_id not in (pair.first_id, pair.second_id):
        return None
    person = pair.first if pair.first_id == person_id else pair.second
    return person.email.lower() if person.email else None


def by_thread(db: DB, thread_id: str) -> OneOnOne | None:
    return db.scalar(select(OneOnOne).where(OneOnOne.thread_id == thread_id).limit(1))


# ---- the thread -----------------------------------------------------------------------------

THREAD = "thread"  # the leg of a thread that is one conversation (Slack group DM, email)
# threads made of each person's own conversation with Parley: their Teams chat; their copy
# of the email thread (To them alone, replies to an address signed for them: no Reply All
# reaches the other, and one cannot write as the other)
PER_PERSON = ("teams", "email")
EDITABLE = ("slack", "teams")  # where a sent message can be updated in place


def thread_channel(pair: OneOnOne) -> str:
    """Where the thread is, chosen once from what both people can be reached on and kept:
    Slack (both in one workspace: their group DM with the bot), Teams (both installed the
    app: each one's personal chat, the same cards kept in step), email (one thread to
    both), else their web pages."""
    if pair.channel:
        return pair.channel
    a, b = pair.first, pair.second
    settings = get_settings()
    if (settings.slack_enabled and a.slack_user_id and b.slack_user_id
            and (a.slack_team_id == b.slack_team_id or not (a.slack_team_id
                                                            and b.slack_team_id))):
        return "slack"
    if settings.teams_enabled and a.teams_user_id and b.teams_user_id:
        return "teams"
    if settings.email_enabled and a.email and b.email:
        return "email"
    return "web"


def thread_legs(pair: OneOnOne) -> list[tuple[str, Address]]:
    """Each conversation the thread is made of, as (leg, address): none for the web."""
    channel = thread_channel(pair)
    if channel == "web":
        return []
    if channel in PER_PERSON:
        return [(f"p{p.id}", person_address(p, channel, pair))
                for p in (pair.first, pair.second)]
    if pair.thread:
        return [(THREAD, Address.from_dict(pair.thread))]
    users = sorted([pair.first.slack_user_id, pair.second.slack_user_id])
    team = pair.first.slack_team_id or pair.second.slack_team_id
    data: dict[str, Any] = {"users": users}
    if team:
        data["team"] = team
    return [(THREAD, Address("slack", ",".join(users), data))]


def person_address(person: Person, channel: str, pair: OneOnOne) -> Address:
    """A person's own conversation with Parley in the pair's thread: their Teams chat (found
    by the channel from these keys), or their copy of the email thread."""
    if channel == "teams":
        data = {k: v for k, v in (("aad", person.aad_object_id), ("email", person.email)) if v}
        return Address("teams", person.teams_user_id or "", data)
    return Address("email", person.email or "", {
        "pair": pair.id, "person": person.id,
        "subject": prompts.thread_subject(pair.first.name, pair.second.name)})


def has_thread(pair: OneOnOne) -> bool:
    return thread_channel(pair) != "web"


OPENED_BY_SEND = ("slack",)  # threads whose conversation the first send opens (group DM)


def known_thread(db: DB, pair_id: int, address: Address) -> Address:
    """``address`` with the thread's id when a send has opened it since (an intro and the
    first item are written together: one ``conversations.open`` for the two). Only a
    thread that is one conversation opened by a send: a person's own leg is theirs."""
    if address.channel not in OPENED_BY_SEND or not address.data.get("users"):
        return address
    thread = db.scalar(select(OneOnOne.thread).where(OneOnOne.id == pair_id))
    if thread and thread.get("channel") == address.channel and not address.data.get("channel"):
        return Address.from_dict(thread)
    return address


def remember_thread(db: DB, record: OutboundRecord, address: Address) -> None:
    """Keep the thread a send opened (a Slack group DM's channel id). A person's own leg
    (Teams) is the channel's to remember, not the pair's."""
    pair = db.get(OneOnOne, record.one_on_one_id)
    if (pair is None or (record.payload or {}).get("leg", THREAD) != THREAD
            or address.channel not in OPENED_BY_SEND or not address.data.get("users")):
        return
    pair.channel, pair.thread = address.channel, address.to_dict()
    pair.thread_id = address.data.get("channel") or pair.thread_id


def post(db: DB, pair: OneOnOne, message: Outbound, *, item: AgendaItem | None = None,
         queue: str = "interactive", legs: list[str] | None = None,
         to: Person | None = None, update: bool = False) -> list[OutboundRecord]:
    """The message for each leg of the thread (``legs``: only these), or for ``to`` alone
    where the thread has a conversation of theirs no one else reads (their Teams chat) or
    can have one (email: a message to them only); a Slack group DM has none. ``update``:
    ``item``'s message as it is now, in place of the one each leg shows (legs whose message
    is not out yet are updated when it is: ``message_sent``)."""
    channel = thread_channel(pair)
    if to is not None:
        targets = [(f"p{to.id}", person_address(to, channel, pair))] \
            if channel in PER_PERSON else []
    else:
        targets = [(leg, a) for leg, a in thread_legs(pair) if legs is None or leg in legs]
    if update:
        sent = (item.messages or {}) if item is not None else {}
        targets = [(leg, a) for leg, a in targets if sent.get(leg) and a.channel in EDITABLE]
    if targets and pair.channel is None:
        pair.channel = channel  # a thread stays where it began
    records = []
    for leg, address in targets:
        payload = message.to_dict()
        payload["leg"] = leg
        if item is not None:
            payload["version"] = item.version
            if update:
                payload["replaces"] = item.messages[leg]
        record = OutboundRecord(channel=address.channel, address=address.to_dict(),
                                payload=payload, one_on_one_id=pair.id,
                                agenda_item_id=item.id if item else None, queue=queue)
        db.add(record)
        records.append(record)
    db.flush()
    return records


def intro(db: DB, pair: OneOnOne) -> list[OutboundRecord]:
    """The thread's first message: what it is for, with the pair's buttons."""
    text = prompts.thread_intro(pair.first.name, pair.second.name, pair.kind,
                                thread_channel(pair))
    return post(db, pair, Outbound(text, _thread_choices(), role="system",
                                   about=f"pair:{pair.id}"))


def _thread_choices() -> tuple[Choice, ...]:
    return tuple(Choice(k, v) for k, v in prompts.THREAD_CHOICES.items())


# ---- meetings and agenda --------------------------------------------------------------------

def current_meeting(db: DB, pair: OneOnOne) -> Meeting:
    """The pair's open meeting, opened now if there is none (two at once: one wins)."""
    found = db.scalar(select(Meeting).where(Meeting.one_on_one_id == pair.id,
                                            Meeting.closed_at.is_(None))
                      .order_by(Meeting.number.desc()).limit(1))
    if found is not None:
        return found
    number = (db.scalar(select(func.max(Meeting.number))
                        .where(Meeting.one_on_one_id == pair.id)) or 0) + 1
    meeting = Meeting(one_on_one_id=pair.id, number=number)
    try:
        with db.begin_nested():
            db.add(meeting)
            db.flush()
    except IntegrityError:
        return db.scalar(select(Meeting).where(Meeting.one_on_one_id == pair.id,
                                               Meeting.number == number))
    return meeting


def lock(db: DB, pair: OneOnOne) -> None:
    """Changes to one pair one after another, whichever way they come (a click, the web
    page, the API, the dispatcher): a "Done for today" and a talking point added at the
    same moment must not leave the point in a closed meeting. The pair's row alone (its
    people are joined when it loads; they are not locked)."""
    db.execute(select(OneOnOne.id).where(OneOnOne.id == pair.id).with_for_update())
    db.refresh(pair, attribute_names=["active", "thread", "thread_id", "channel",
                                      "next_reminder_at"])


def _writable(pair: OneOnOne) -> None:
    if not pair.active:
        raise PairError("this 1-on-1 is retired (the reporting line changed): its history "
                        "is read-only")


def activity(db: DB, pair: OneOnOne, actor_id: int | None, kind: str,
             now: datetime | None = None) -> None:
    now = now or utcnow()
    db.add(PairActivity(one_on_one_id=pair.id, actor_id=actor_id, kind=kind, at=now))
    pair.last_activity_at = now


def _text(text: str | None, limit: int, empty: str) -> str:
    """What a person typed, as it is kept; PairError naming ``text`` otherwise."""
    text = storable(text or "").strip()
    if not text:
        raise PairError(f"text: {empty}")
    if len(text) > limit:
        raise PairError(f"text: at most {limit} characters")
    return text


def add_item(db: DB, pair: OneOnOne, text: str, by: Person, *,
             now: datetime | None = None) -> tuple[AgendaItem, list[OutboundRecord]]:
    """A talking point from either person, on the current meeting, shown in the thread."""
    lock(db, pair)
    _writable(pair)
    member(pair, by.id)
    text = _text(text, MAX_ITEM, "say what you want to talk about")
    records = first_message(db, pair)
    item = AgendaItem(one_on_one_id=pair.id, meeting_id=current_meeting(db, pair).id,
                      text=text, added_by_id=by.id)
    db.add(item)
    db.flush()
    activity(db, pair, by.id, "item_added", now)
    if pair.next_reminder_at is None:  # the thread is in use: its cadence starts
        schedule_reminder(pair, now or utcnow())
    return item, records + post(db, pair, item_message(db, item, pair), item=item)


def first_message(db: DB, pair: OneOnOne) -> list[OutboundRecord]:
    """The intro, before the thread's first item (the pair's thread is opened by it)."""
    if pair.thread_id or not has_thread(pair):
        return []
    posted = db.scalar(select(OutboundRecord.id).where(
        OutboundRecord.one_on_one_id == pair.id).limit(1))
    if posted is not None:
        return []
    return intro(db, pair)


def author(db: DB, item: AgendaItem) -> str:
    """"Alice Meyer", or for an assigned topic "Hannah Weber, People Team"."""
    if item.assigned_topic_id:
        topic = db.get(AssignedTopic, item.assigned_topic_id)
        return assigned_by(topic)
    person = db.get(Person, item.added_by_id) if item.added_by_id else None
    return person.name if person else "someone who has left"


def assigned_by(topic: AssignedTopic | None) -> str:
    if topic is None or topic.assigned_by is None:
        return "HR"
    team = topic.assigned_by.demographics.get("Department") or "HR"
    return f"{topic.assigned_by.name}, {team}"


def item_message(db: DB, item: AgendaItem, pair: OneOnOne) -> Outbound:
    """How an item shows in the thread now: its text, who added it, its state, and the
    buttons while it is open."""
    if item.assigned_topic_id:
        topic = db.get(AssignedTopic, item.assigned_topic_id)
        text = prompts.assigned_item(topic.title, topic.note, topic.annotation,
                                     assigned_by(topic), item.state)
    else:
        text = prompts.agenda_item(item.text, author(db, item), item.state, item.carried)
    live = item.state in ("open", "carried") and pair.active
    choices = tuple(Choice(k, v) for k, v in prompts.ONE_ON_ONE_CHOICES.items()) if live else ()
    return Outbound(text, choices, role="system", about=f"agenda:{item.id}")


def refresh(db: DB, item: AgendaItem, pair: OneOnOne) -> list[OutboundRecord]:
    """After a change to ``item``: update each message that showed it, where a channel can
    (an email stays as it was sent; the next agenda shows the change). A message not sent
    yet is updated once it is (``message_sent`` sees the newer version)."""
    item.version += 1
    return post(db, pair, item_message(db, item, pair), item=item, update=True)


def mark(db: DB, item: AgendaItem, state: str, by: Person, *,
         now: datetime | None = None) -> list[OutboundRecord]:
    """Discussed, or carried over to the next meeting, by either person."""
    pair = db.get(OneOnOne, item.one_on_one_id)
    lock(db, pair)
    # as it is now, locked: a second click waited for the pair; a leg's first message
    # landing now (``message_sent``, which locks the item) either sees this version or
    # has stored its id before this reads the legs to update
    db.refresh(item, with_for_update=True)
    _writable(pair)
    member(pair, by.id)
    if state not in ("discussed", "carried", "open"):
        raise PairError("state: discussed, carried or open")
    if item.state == "withdrawn":
        raise PairError("HR withdrew this topic")
    if item.state == state:
        return []  # a double click
    now = now or utcnow()
    item.state = state
    if state == "discussed":
        item.discussed_at, item.discussed_by_id = now, by.id
    else:
        item.discussed_at = item.discussed_by_id = None
    activity(db, pair, by.id, f"item_{state}", now)
    return refresh(db, item, pair)


def close_meeting(db: DB, pair: OneOnOne, by: Person, *, now: datetime | None = None,
                  asked_at: datetime | None = None) -> list[OutboundRecord]:
    """"Done for today": the meeting closes, what was not discussed moves to the next one,
    and the next reminder is set from today and the pair's cadence. Both people clicking
    "Done for today" close one meeting: a close asked for (``asked_at``) before the current
    meeting opened was meant for the one before, and a meeting nothing was added to or
    marked in since it opened has nothing to close (it holds only what was carried)."""
    lock(db, pair)
    _writable(pair)
    member(pair, by.id)
    now = now or utcnow()
    meeting = current_meeting(db, pair)
    if asked_at is not None and meeting.opened_at > asked_at:
        return []
    touched = select(PairActivity.id).where(
        PairActivity.one_on_one_id == pair.id, PairActivity.at >= meeting.opened_at,
        PairActivity.kind.in_(AGENDA_ACTIVITY)).limit(1)
    if db.scalar(touched) is None:  # nothing added or marked since it opened: the other
        return []                   # person's click closed the meeting a moment ago
    items = list(db.scalars(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id)
                            .with_for_update().execution_options(populate_existing=True)))
    meeting.closed_at, meeting.closed_by_id = now, by.id
    db.flush()
    following = current_meeting(db, pair)
    discussed = carried = 0
    records = []
    for item in items:
        if item.state == "discussed":
            discussed += 1
        elif item.state in ("open", "carried"):
            carried += 1
            item.meeting_id, item.carried, item.state = following.id, item.carried + 1, "open"
            records += refresh(db, item, pair)
    activity(db, pair, by.id, "meeting_closed", now)
    schedule_reminder(pair, now)
    return records + post(db, pair, Outbound(prompts.meeting_closed(discussed, carried),
                                             role="system"))


def add_note(db: DB, pair: OneOnOne, by: Person, text: str, *,
             now: datetime | None = None) -> PrivateNote:
    """A private note: its author's alone. Counted as activity, never shown to anyone else."""
    lock(db, pair)
    _writable(pair)
    member(pair, by.id)
    text = _text(text, MAX_NOTE, "the note is empty")
    note = PrivateNote(one_on_one_id=pair.id, author_id=by.id, text=text)
    db.add(note)
    activity(db, pair, by.id, "note", now)
    db.flush()
    return note


def note_problem(pair: OneOnOne | None, person: Person | None, text: str) -> str | None:
    """Why a private note cannot be kept, said to its author alone before anything is
    acknowledged; None when it can."""
    if pair is None:
        return prompts.NOT_A_THREAD
    if person is None or person.id not in (pair.first_id, pair.second_id):
        return "Only the two people of this 1-on-1 can keep notes on it."
    if not pair.active:
        return prompts.PAIR_CLOSED
    text = (text or "").strip()
    if not text:
        return "Write the note after the command: `/parley note …`"
    if len(text) > MAX_NOTE:
        return f"A note can be at most {MAX_NOTE} characters."
    return None


def notes_of(db: DB, pair: OneOnOne, author_id: int) -> list[PrivateNote]:
    """The only reader of private notes: the author's own, on their own page or thread."""
    return list(db.scalars(select(PrivateNote).where(
        PrivateNote.one_on_one_id == pair.id, PrivateNote.author_id == author_id)
        .order_by(PrivateNote.id)))


def set_cadence(db: DB, pair: OneOnOne, days: int, by: Person, *,
                now: datetime | None = None) -> None:
    _writable(pair)
    member(pair, by.id)
    if days not in CADENCES:
        raise PairError(f"cadence_days: one of {', '.join(map(str, CADENCES))}")
    pair.cadence_days = days
    activity(db, pair, by.id, "cadence", now)
    schedule_reminder(pair, now or utcnow())


# ---- reminders ------------------------------------------------------------------------------

def schedule_reminder(pair: OneOnOne, since: datetime) -> None:
    """The reminder for the next meeting (``cadence_days`` after ``since``): the working
    day before it, at the manager's local morning, out of quiet hours."""
    tz = schedule.zone(pair.first.timezone)
    window = _window()
    meeting_day = since.astimezone(tz).date() + timedelta(days=pair.cadence_days)
    day = meeting_day - timedelta(days=1)
    while schedule.DAYS[day.weekday()] not in window.days:
        day -= timedelta(days=1)
    moment = schedule.local_instant(day, schedule.parse_time(MORNING), tz)
    pair.next_reminder_at = schedule.next_open(max(moment, since), tz, window)


def remind_due(now: datetime | None = None, batch: int = 500,
               budget: float = 90.0) -> list[int]:
    """Periodic job: post each due pair's agenda to its thread, once (the row's
    ``next_reminder_at`` moves on in the same transaction that writes the message), in
    batches until none is due or the budget is spent (20,000 pairs due at one 09:00)."""
    import time as clock

    stop = clock.monotonic() + budget
    records: list[int] = []
    while clock.monotonic() < stop:
        done, seen = _remind_batch(now or utcnow(), batch)
        records += done
        if seen < batch:
            break
    return records


def _window() -> schedule.Window:
    settings = get_settings()
    return schedule.Window(quiet=schedule.parse_quiet(settings.quiet_hours),
                           days=schedule.parse_days(settings.working_days))


def _remind_batch(now: datetime, limit: int) -> tuple[list[int], int]:
    from core import db as database
    from core import jobs

    records: list[int] = []
    with database.session_scope() as s:
        pairs = list(s.scalars(select(OneOnOne).where(
            OneOnOne.active.is_(True), OneOnOne.next_reminder_at <= now)
            .order_by(OneOnOne.next_reminder_at).limit(limit)
            .with_for_update(skip_locked=True, of=OneOnOne)))
        seen = len(pairs)
        window = _window()
        for pair in pairs:
            tz = schedule.zone(pair.first.timezone)
            opens = schedule.next_open(now, tz, window)
            if opens > now:  # overdue into their night (workers were down): their morning
                pair.next_reminder_at = opens
                continue
            pair.next_reminder_at = None
            schedule_reminder(pair, now)  # the one after, should nobody close a meeting
            meeting = current_meeting(s, pair)
            items = [i.text if not i.assigned_topic_id else s.get(AssignedTopic,
                                                                  i.assigned_topic_id).title
                     for i in s.scalars(select(AgendaItem).where(
                         AgendaItem.meeting_id == meeting.id,
                         AgendaItem.state.in_(("open", "carried"))).order_by(AgendaItem.id))]
            text = prompts.pair_reminder(pair.first.name, pair.second.name, items)
            records += [r.id for r in first_message(s, pair)]  # a thread new to them
            records += [r.id for r in post(s, pair, Outbound(
                text, _thread_choices(), role="system", about=f"pair:{pair.id}"),
                queue=jobs.BULK)]
    jobs.enqueue_deliveries(records, queue_name=jobs.BULK)
    return records, seen


# ---- the outbox's side ----------------------------------------------------------------------

def message_sent(db: DB, record: OutboundRecord, provider_id: str | None) -> int | None:
    """An agenda item's message is out in one leg of the thread: keep its id there (to
    update it later); if the item changed while the message was on its way, write that
    leg's update now. The new row's id."""
    payload = record.payload or {}
    if not record.agenda_item_id or payload.get("replaces") or not provider_id:
        return None
    # locked: an edit or a withdrawal at this moment either sees the message id (and
    # updates the message) or bumped the version before this reads it (and this does)
    item = db.get(AgendaItem, record.agenda_item_id, with_for_update=True,
                  populate_existing=True)
    if item is None:
        return None
    leg = payload.get("leg", THREAD)
    item.messages = {**(item.messages or {}), leg: provider_id}
    item.provider_message_id = item.provider_message_id or provider_id
    if item.version > int(payload.get("version") or 0):
        pair = db.get(OneOnOne, item.one_on_one_id)
        rows = post(db, pair, item_message(db, item, pair), item=item, queue=record.queue,
                    legs=[leg], update=True)
        return rows[0].id if rows else None
    return None


UNSENT = ("pending", "sending", "held")


def earlier_unsent(db: DB, record: OutboundRecord) -> bool:
    """Whether a message written before this one to the same leg of the thread has not gone
    yet: a thread reads in the order it was written (the intro above the first item), even
    when both wait for the same group DM to open. Updates in place are not held back."""
    if not record.one_on_one_id or (record.payload or {}).get("replaces"):
        return False
    leg = (record.payload or {}).get("leg", THREAD)
    return any((payload or {}).get("leg", THREAD) == leg for (payload,) in db.execute(
        select(OutboundRecord.payload).where(
            OutboundRecord.one_on_one_id == record.one_on_one_id,
            OutboundRecord.id < record.id, OutboundRecord.status.in_(UNSENT))))


def next_in_thread(db: DB, record: OutboundRecord) -> list[int]:
    """Rows of the same leg written after ``record`` and still pending: sent now, in order
    (each waits for the one before it, ``earlier_unsent``)."""
    if not record.one_on_one_id:
        return []
    leg = (record.payload or {}).get("leg", THREAD)
    return [i for i, payload in db.execute(
        select(OutboundRecord.id, OutboundRecord.payload).where(
            OutboundRecord.one_on_one_id == record.one_on_one_id,
            OutboundRecord.id > record.id, OutboundRecord.status == "pending")
        .order_by(OutboundRecord.id)) if (payload or {}).get("leg", THREAD) == leg]


def still_wanted(db: DB, record: OutboundRecord) -> tuple[str, str] | None:
    """Asked just before an agenda item's message is sent: a first post of an item HR
    withdrew before it went is not sent; an update that a later one supersedes (sent
    first after a retry) is not sent either, so the thread ends with the newest state."""
    if not record.agenda_item_id:
        return None
    state, version = db.execute(select(AgendaItem.state, AgendaItem.version).where(
        AgendaItem.id == record.agenda_item_id)).one_or_none() or (None, None)
    payload = record.payload or {}
    if payload.get("replaces"):
        if version is not None and int(payload.get("version") or 0) < version:
            return "cancelled", "superseded by a later update"
        return None
    if state == "withdrawn":
        return "cancelled", "assigned topic withdrawn"
    return None


# ---- reading --------------------------------------------------------------------------------

def person_ref(person: Person | None) -> dict[str, Any] | None:
    return None if person is None else {"id": person.id, "name": person.name}


def describe(db: DB, pair: OneOnOne, *, meetings: bool = False) -> dict[str, Any]:
    """The pair for the API and the pages: never a private note."""
    out: dict[str, Any] = {
        "id": pair.id, "kind": pair.kind, "active": pair.active,
        "people": [person_ref(pair.first), person_ref(pair.second)],
        "manager": person_ref(pair.first) if pair.kind == REPORTING else None,
        "report": person_ref(pair.second) if pair.kind == REPORTING else None,
        "channel": thread_channel(pair), "cadence_days": pair.cadence_days,
        "next_reminder_at": pair.next_reminder_at.isoformat() if pair.next_reminder_at
        else None,
        "created_at": pair.created_at.isoformat(),
        "retired_at": pair.retired_at.isoformat() if pair.retired_at else None,
        "last_activity_at": pair.last_activity_at.isoformat() if pair.last_activity_at
        else None,
    }
    if meetings:
        rows = list(db.scalars(select(Meeting).where(Meeting.one_on_one_id == pair.id)
                               .order_by(Meeting.number)))
        items = list(db.scalars(select(AgendaItem).where(AgendaItem.one_on_one_id == pair.id)
                                .order_by(AgendaItem.id)))
        out["meetings"] = [{
            "id": m.id, "number": m.number, "opened_at": m.opened_at.isoformat(),
            "closed_at": m.closed_at.isoformat() if m.closed_at else None,
            "agenda": [describe_item(db, i) for i in items if i.meeting_id == m.id],
        } for m in rows]
    return out


def describe_item(db: DB, item: AgendaItem) -> dict[str, Any]:
    topic = db.get(AssignedTopic, item.assigned_topic_id) if item.assigned_topic_id else None
    return {
        "id": item.id, "text": topic.title if topic else item.text, "state": item.state,
        "carried": item.carried,
        "added_by": person_ref(db.get(Person, item.added_by_id)) if item.added_by_id
        else None,
        "assigned_topic": None if topic is None else {
            "id": topic.id, "note": topic.note, "annotation": topic.annotation,
            "assigned_by": assigned_by(topic)},
        "discussed_at": item.discussed_at.isoformat() if item.discussed_at else None,
        "created_at": item.created_at.isoformat(),
    }


def open_items(db: DB, pair: OneOnOne) -> list[AgendaItem]:
    meeting = current_meeting(db, pair)
    return list(db.scalars(select(AgendaItem).where(
        AgendaItem.meeting_id == meeting.id, AgendaItem.state != "withdrawn")
        .order_by(AgendaItem.id)))

