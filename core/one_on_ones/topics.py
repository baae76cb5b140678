"""HR's assigned topics: a discussion prompt for every manager–report pair whose report
matches an audience rule ("Country = Germany"), shown in the pair's thread as an agenda
item "Assigned by <name>, <team>" with the note and HR's annotation.

Delivery is a Rollout (kind "assigned_topic") of the rollout engine: its recipients are the
reports, each with their pair, so scheduling at each person's local time, quiet hours,
pacing, pause and cancel, crash recovery and the claim that sends each recipient once are
the engine's. A topic reaches a pair once whatever the retries: an agenda item is unique
per (topic, pair). Meet-with-Anyone pairs never get assigned topics.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, cast, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB

from core import jobs, rollouts, schedule, webhooks
from core.directory import audiences
from core.models import (
    AgendaItem,
    AssignedTopic,
    OneOnOne,
    OutboundRecord,
    Person,
    Rollout,
    RolloutRecipient,
    utcnow,
)
from core.one_on_ones import (
    REPORTING,
    PairError,
    current_meeting,
    first_message,
    item_message,
    lock,
    person_ref,
    post,
)

R = RolloutRecipient
KIND = "assigned_topic"
MAX_TITLE = 200
MAX_TEXT = 4000
SHOWN = 50


class WrongState(Exception):
    """An action the topic's state does not allow (HTTP 409)."""


def pairs_matching(db: DB, audience: dict[str, Any]):
    """SELECT (pair id, report id) of the active manager–report pairs whose report the
    rule matches. Raises PairError for a bad rule."""
    try:
        reports = audiences.people(audience, db=db)
    except ValueError as exc:
        raise PairError(f"audience: {exc}") from None
    return select(OneOnOne.id, OneOnOne.second_id).where(
        OneOnOne.kind == REPORTING, OneOnOne.active.is_(True),
        OneOnOne.second_id.in_(reports))


def preview(db: DB, audience: dict[str, Any], *, limit: int = SHOWN) -> dict[str, Any]:
    """How many pairs and managers the rule reaches, and the first pairs."""
    pairs = pairs_matching(db, audience).subquery()
    count = db.scalar(select(func.count()).select_from(pairs)) or 0
    managers = db.scalar(select(func.count(func.distinct(OneOnOne.first_id)))
                         .where(OneOnOne.id.in_(select(pairs.c.id)))) or 0
    first = list(db.scalars(select(OneOnOne).where(OneOnOne.id.in_(select(pairs.c.id)))
                            .order_by(OneOnOne.id).limit(limit)))
    return {"pairs": count, "managers": managers,
            "first": [{"id": p.id, "manager": person_ref(p.first),
                       "report": person_ref(p.second)} for p in first]}


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PairError(f"{name}: a string")
    value = value.strip()
    if required and not value:
        raise PairError(f"{name}: required")
    if len(value) > limit:
        raise PairError(f"{name}: at most {limit} characters")
    return value


def create(db: DB, *, title: str, note: str = "", annotation: str = "",
           audience: dict[str, Any], assigned_by: int | None = None,
           send_at: datetime | None = None, local_time: str | None = None,
           respect_quiet_hours: bool = True, now: datetime | None = None) -> AssignedTopic:
    """A draft, or with ``send_at`` / ``local_time`` a scheduled topic (its rollout made
    now, sending at that time in each report's zone)."""
    now = now or utcnow()
    pairs_matching(db, audience)  # the rule is checked before anything is written
    if assigned_by is not None and db.get(Person, assigned_by) is None:
        raise PairError(f"assigned_by: no person {assigned_by}")
    if local_time is not None:
        try:
            schedule.parse_time(local_time)
        except ValueError as exc:
            raise PairError(f"local_time: {exc}") from None
    topic = AssignedTopic(
        title=_text(title, "title", MAX_TITLE, required=True),
        note=_text(note, "note", MAX_TEXT), annotation=_text(annotation, "annotation", MAX_TEXT),
        audience=dict(audience), assigned_by_id=assigned_by, state="draft", send_at=send_at,
        local_time=local_time, respect_quiet_hours=respect_quiet_hours, created_at=now,
        updated_at=now)
    db.add(topic)
    db.flush()
    if send_at is not None or local_time is not None:
        _launch(db, topic, now)
    return topic


def send(db: DB, topic: AssignedTopic, now: datetime | None = None) -> None:
    """Send a draft now (quiet hours still apply unless the topic ignores them)."""
    if topic.state != "draft":
        raise WrongState(f"only a draft can be sent; this topic is {state_of(db, topic)}")
    topic.send_at, topic.local_time = None, None
    _launch(db, topic, now or utcnow())


def _launch(db: DB, topic: AssignedTopic, now: datetime) -> Rollout:
    """The topic's rollout: its recipients are the matching pairs' reports (set-based)."""
    window = rollouts.resolve_window(respect_quiet_hours=topic.respect_quiet_hours,
                                     quiet_hours=None, working_days=None)
    rollout = Rollout(kind=KIND, session_id=None, audience=dict(topic.audience),
                      channels=["slack", "web"], send_at=topic.send_at,
                      local_time=topic.local_time, reminders={}, quiet_hours=window,
                      respect_quiet_hours=topic.respect_quiet_hours, state="scheduled",
                      created_by=f"assigned topic {topic.id}", created_at=now)
    db.add(rollout)
    db.flush()
    pairs = pairs_matching(db, topic.audience).subquery()
    rows = select(cast(literal(rollout.id), Integer), pairs.c.second_id, pairs.c.id,
                  cast(literal("pending"), String), cast(literal(""), String),
                  cast(literal(0), Integer))
    db.execute(insert(R).from_select(
        ["rollout_id", "person_id", "one_on_one_id", "status", "reason", "reminders_sent"],
        rows))
    rollouts.set_due(db, rollout, now)
    topic.rollout_id, topic.state, topic.updated_at = rollout.id, "scheduled", now
    if not db.scalar(select(func.count()).select_from(R).where(R.rollout_id == rollout.id)):
        rollout.state, rollout.finished_at = "completed", now
        webhooks.rollout_completed(db, rollout.id)
    return rollout


def deliver(db: DB, rollout: Rollout, recipient: RolloutRecipient,
            now: datetime) -> list[int]:
    """The rollout engine's step for one claimed recipient: the topic on the pair's
    current agenda, and its message for the thread. The outbox row ids."""
    topic = db.scalar(select(AssignedTopic).where(AssignedTopic.rollout_id == rollout.id))
    pair = db.get(OneOnOne, recipient.one_on_one_id) if recipient.one_on_one_id else None
    if topic is None or topic.state == "withdrawn":
        recipient.status, recipient.reason = "cancelled", "topic withdrawn"
        return []
    if pair is not None:
        lock(db, pair)  # not into a meeting being closed at this moment
    if pair is None or not pair.active:
        recipient.status, recipient.reason = "cancelled", "the reporting line changed"
        return []
    item = AgendaItem(one_on_one_id=pair.id, meeting_id=current_meeting(db, pair).id,
                      text=topic.title, assigned_topic_id=topic.id)
    try:
        with db.begin_nested():
            db.add(item)
            db.flush()
    except IntegrityError:  # on their agenda already (a rerun after a crash): once per pair
        recipient.status, recipient.reason = "invited", "on the agenda already"
        recipient.agenda_item_id = db.scalar(select(AgendaItem.id).where(
            AgendaItem.assigned_topic_id == topic.id, AgendaItem.one_on_one_id == pair.id))
        return []
    records = first_message(db, pair)
    shown = post(db, pair, item_message(db, item, pair), item=item)
    records += shown
    for record in records:
        record.queue = jobs.BULK
    recipient.channel = pair.channel or ("web" if not shown else shown[0].channel)
    recipient.status, recipient.sent_at, recipient.agenda_item_id = "invited", now, item.id
    recipient.outbound_id = shown[0].id if shown else None
    if topic.state == "scheduled":
        topic.state = "sending"
    return [r.id for r in records]


def edit(db: DB, topic: AssignedTopic, changes: dict[str, Any],
         now: datetime | None = None) -> bool:
    """Change the wording (any time: what was sent is updated in place) or, for a draft,
    the audience and the time. True when the messages already sent need updating (the
    caller runs ``update_messages`` after the commit)."""
    if topic.state == "withdrawn":
        raise WrongState("this topic was withdrawn")
    now = now or utcnow()
    later = {"audience", "send_at", "local_time", "respect_quiet_hours"} & set(changes)
    if later and topic.state != "draft":
        raise WrongState(f"{', '.join(sorted(later))}: only a draft's audience and time can "
                         "change; withdraw this topic and assign it again")
    if "audience" in changes:
        pairs_matching(db, changes["audience"])
        topic.audience = dict(changes["audience"])
    for name in ("send_at", "local_time", "respect_quiet_hours"):
        if name in changes:
            setattr(topic, name, changes[name])
    wording = False
    for name, limit in (("title", MAX_TITLE), ("note", MAX_TEXT), ("annotation", MAX_TEXT)):
        if name in changes:
            value = _text(changes[name], name, limit, required=name == "title")
            wording |= value != getattr(topic, name)
            setattr(topic, name, value)
    topic.updated_at = now
    if not wording:
        return False
    topic.version += 1
    db.execute(update(AgendaItem).where(AgendaItem.assigned_topic_id == topic.id)
               .values(text=topic.title, version=AgendaItem.version + 1)
               .execution_options(synchronize_session=False))
    return True


def withdraw(db: DB, topic: AssignedTopic, now: datetime | None = None) -> None:
    """Off every agenda where it was not discussed yet, in one statement; nothing more is
    sent, and the messages already sent say so (``update_messages`` after the commit)."""
    if topic.state == "withdrawn":
        raise WrongState("this topic was withdrawn already")
    now = now or utcnow()
    topic.state, topic.withdrawn_at, topic.updated_at = "withdrawn", now, now
    rollout = db.get(Rollout, topic.rollout_id) if topic.rollout_id else None
    if rollout is not None and rollout.state != "cancelled":
        rollouts.cancel(db, rollout, now)
    db.execute(update(AgendaItem).where(AgendaItem.assigned_topic_id == topic.id,
                                        AgendaItem.state.in_(("open", "carried")))
               .values(state="withdrawn", version=AgendaItem.version + 1)
               .execution_options(synchronize_session=False))


def enqueue_updates(topic: AssignedTopic) -> None:
    """After an edit's or a withdrawal's commit: update the threads in the background (a
    topic may be in 20,000 of them; HR's request does not wait for that)."""
    jobs.enqueue_once("core.one_on_ones.topics.update_messages", topic.id,
                      job_id=jobs.job_key("topic-updates", topic.id, topic.version,
                                          topic.state),
                      queue_name=jobs.BULK)


UPDATE_BATCH = 500


def update_messages(topic_id: int) -> int:
    """Job: write an update for every sent message of the topic's items, as each item is
    now, in batches (each item locked while its update is written, so a first message
    landing at that moment is updated by one side or the other). Returns the rows."""
    from core import db as database

    after, written = 0, 0
    while True:
        with database.session_scope() as s:
            items = list(s.scalars(
                select(AgendaItem).where(AgendaItem.assigned_topic_id == topic_id,
                                         AgendaItem.id > after,
                                         AgendaItem.provider_message_id.is_not(None))
                .order_by(AgendaItem.id).limit(UPDATE_BATCH)
                .with_for_update(of=AgendaItem)))
            if not items:
                return written
            pairs = {p.id: p for p in s.scalars(select(OneOnOne).where(
                OneOnOne.id.in_({i.one_on_one_id for i in items})))}
            ids = []
            for item in items:
                ids += [r.id for r in post(s, pairs[item.one_on_one_id],
                                           item_message(s, item, pairs[item.one_on_one_id]),
                                           item=item, queue=jobs.BULK, update=True)]
            after = items[-1].id
        jobs.enqueue_deliveries(ids, queue_name=jobs.BULK)
        written += len(ids)


# ---- reading --------------------------------------------------------------------------------

def state_of(db: DB, topic: AssignedTopic) -> str:
    """draft | scheduled | sending | sent | withdrawn (sent: every pair has it)."""
    if topic.state in ("draft", "withdrawn") or topic.rollout_id is None:
        return topic.state
    rollout_state = db.scalar(select(Rollout.state).where(Rollout.id == topic.rollout_id))
    if rollout_state == "completed":
        return "sent"
    if rollout_state == "paused":
        return "paused"
    if rollout_state == "cancelled":  # through POST /rollouts/<id>/cancel
        return "cancelled"
    return topic.state


def progress(db: DB, topic: AssignedTopic) -> dict[str, int]:
    """Counts only: pairs to reach, delivered (on the agenda: the thread's message sent, or
    on the web page), queued, failed, cancelled, and how many discussed it."""
    out = {"pairs": 0, "pending": 0, "queued": 0, "delivered": 0, "failed": 0,
           "cancelled": 0, "discussed": 0}
    if topic.rollout_id is None:
        return out
    rows = db.execute(
        select(R.status, OutboundRecord.status, func.count())
        .select_from(R).outerjoin(OutboundRecord, OutboundRecord.id == R.outbound_id)
        .where(R.rollout_id == topic.rollout_id).group_by(R.status, OutboundRecord.status))
    for status, sent, n in rows:
        out["pairs"] += n
        if status == "pending":
            out["pending"] += n
        elif status != "invited":
            out["cancelled"] += n
        elif sent is None or sent in ("sent", "delivered"):
            out["delivered"] += n
        elif sent in ("failed", "undelivered"):
            out["failed"] += n
        elif sent == "cancelled":
            out["cancelled"] += n
        else:
            out["queued"] += n
    out["discussed"] = db.scalar(select(func.count()).select_from(AgendaItem).where(
        AgendaItem.assigned_topic_id == topic.id, AgendaItem.state == "discussed")) or 0
    return out


def describe(db: DB, topic: AssignedTopic) -> dict[str, Any]:
    return {
        "id": topic.id, "title": topic.title, "note": topic.note,
        "annotation": topic.annotation, "audience": topic.audience,
        "assigned_by": person_ref(topic.assigned_by),
        "state": state_of(db, topic), "rollout_id": topic.rollout_id,
        "send_at": topic.send_at.isoformat() if topic.send_at else None,
        "local_time": topic.local_time, "respect_quiet_hours": topic.respect_quiet_hours,
        "created_at": topic.created_at.isoformat(), "updated_at": topic.updated_at.isoformat(),
        "withdrawn_at": topic.withdrawn_at.isoformat() if topic.withdrawn_at else None,
        "progress": progress(db, topic),
    }


def launched(topic: AssignedTopic) -> None:
    """After the commit: let the dispatcher start on what is due now."""
    if topic.rollout_id is not None:
        rollouts.enqueue(topic.rollout_id)
