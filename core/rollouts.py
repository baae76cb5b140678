"""Rollouts: one fan-out engine (DESIGN.md §4) — audience → recipients → invites, each at
the right moment in the person's own zone, exactly once, then reminders.

Creation is set-based: one ``INSERT … SELECT`` picks every recipient's channel in SQL, and
due times are written with one UPDATE per timezone (a directory has few zones), so a
40,000-person audience never becomes 40,000 Python objects. Dispatch is the only per-person
work: batches of due recipients, each batch one transaction (invites, interviews, consent
messages on the outbox, the recipient rows), claimed with a guard so that whatever the
retries, crashes or concurrent dispatchers, a person gets one invite. Everything proactive
goes on the ``bulk`` queue, and leaves only outside the person's quiet hours and on their
working days.

Rollout states: scheduled → sending (first dispatch) → completed (no recipient left pending;
reminders still follow until capped); paused (dispatch and reminders skip it); cancelled
(pending recipients cancelled, no more reminders). A trigger's standing rollout never
completes: new people join it day by day.
"""

from __future__ import annotations

import itertools
import logging
import time as clock
from datetime import date, datetime, time, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from core import db, engine, invites, jobs, phones, schedule, webhooks
from core.config import get_settings
from core.directory import audiences
from core.interviewer import prompts
from core.lifecycle import TERMINAL, State
from core.messages import Address, Outbound
from core.models import (
    Interview,
    Invite,
    OutboundRecord,
    Person,
    PersonAttribute,
    Rollout,
    RolloutRecipient,
    Session,
    utcnow,
)

log = logging.getLogger(__name__)

R = RolloutRecipient
CHANNELS = ("slack", "teams", "sms", "email", "web")
BATCH = 50  # recipients per dispatch transaction
BUDGET = 90.0  # seconds one dispatch job works (RQ kills a job at 180); the next tick goes on
# unsent (pending, sending) bulk outbox rows one rollout keeps at most: dispatch claims only
# what the channels send in the next minute (at least BACKLOG) and the next tick (15 s) tops
# it up, so the channel never waits for a dispatch, and a pause or a cancel stops a
# 40,000-person rollout within a minute or so, not after hours of queued SMS
BACKLOG, BACKLOG_SECONDS = 200, 60
# Once the backlog holds what the channels send until the next tick (and some), a dispatcher
# steps aside for waiting replies: on a small machine it would otherwise keep one of the
# few workers filling the rest of the minute while people wait for an answer.
TICK_SECONDS = 15 + 10  # dispatch_due's period (scheduler/__main__.py), and a margin
# each channel's sends per second for a whole workspace / tenant / sender (core.config)
RATE_SETTINGS = {"slack": "slack_workspace_rate", "teams": "teams_tenant_rate",
                 "sms": "twilio_rate", "email": "email_rate", "web": "email_rate"}
MAX_REMINDERS, MAX_REMINDER_DAYS = 5, 30
CATCH_UP_DAYS = 7  # a trigger date missed by up to this many days still fires
TRIGGER_FIELDS = {"start_date": "Start Date", "end_date": "End Date"}
ACTIVE_STATES = ("scheduled", "sending")  # dispatch invites
REMINDING_STATES = ("sending", "completed")  # dispatch reminds
# an interview beyond these has heard from the person ("responded")
NOT_ANSWERED = (State.CREATED, State.CONSENT, State.ADMIN_ENDED)
REMINDER = "reminder"  # the payload flag of a reminder's outbox row (``still_wanted``)
COUNTS = ("pending", "queued", "sent", "delivered", "responded", "unreachable", "opted_out",
          "failed", "cancelled", "already_invited")


class RolloutError(ValueError):
    """Bad input for a rollout; the message names the field."""


class WrongState(Exception):
    """A pause, resume or cancel the rollout's state does not allow (HTTP 409)."""


# ---- windows and due times ------------------------------------------------------------------

def resolve_window(*, respect_quiet_hours: bool, quiet_hours: dict[str, str] | None,
                   working_days: list[str] | None) -> dict[str, Any]:
    """The quiet hours and working days a rollout keeps (the settings' defaults, overridden),
    as stored on ``Rollout.quiet_hours``."""
    if not respect_quiet_hours:
        return {}
    settings = get_settings()
    quiet = (quiet_hours["start"], quiet_hours["end"]) if quiet_hours \
        else schedule.parse_quiet(settings.quiet_hours)
    days = schedule.parse_days(working_days or settings.working_days)
    out: dict[str, Any] = {"working_days": list(days)}
    if quiet is not None:
        out.update(start=quiet[0], end=quiet[1])
    return out


def window_of(rollout: Rollout) -> schedule.Window:
    q = rollout.quiet_hours or {}
    if not rollout.respect_quiet_hours or not q:
        return schedule.ALWAYS
    quiet = (q["start"], q["end"]) if q.get("start") else None
    return schedule.Window(quiet=quiet, days=tuple(q.get("working_days") or schedule.DAYS))


def set_due(db_: DB, rollout: Rollout, now: datetime, *, on_keys: list[str] | None = None,
             offset: int = 0) -> None:
    """Give every new pending recipient (due_at still NULL) its due time: one UPDATE per
    timezone (per timezone and date demographic for a trigger), computed with zoneinfo."""
    window = window_of(rollout)
    people = select(Person.timezone).join(R, R.person_id == Person.id)
    new = and_(R.rollout_id == rollout.id, R.status == "pending", R.due_at.is_(None))
    if on_keys is None:
        for tz_name in db_.scalars(people.where(new).distinct()).all():
            when = schedule.due(schedule.zone(tz_name), now=now, send_at=rollout.send_at,
                                local_time=rollout.local_time, window=window)
            db_.execute(update(R).where(new, R.person_id.in_(
                select(Person.id).where(Person.timezone == tz_name))).values(due_at=when))
        return
    pairs = db_.execute(
        select(Person.timezone, PersonAttribute.value).join(R, R.person_id == Person.id)
        .join(PersonAttribute, PersonAttribute.person_id == Person.id)
        .where(new, PersonAttribute.key.in_(on_keys)).distinct()).all()
    for tz_name, value in pairs:
        try:
            day: date | None = date.fromisoformat(value) + timedelta(days=offset)
        except ValueError:  # not a date after all ("2026-13-01" sorts like one): at once
            day = None
        when = schedule.due(schedule.zone(tz_name), now=now, send_at=None,
                            local_time=rollout.local_time or "09:00" if day else None, on=day,
                            window=window)
        db_.execute(update(R).where(new, R.person_id.in_(
            select(Person.id).join(PersonAttribute, PersonAttribute.person_id == Person.id)
            .where(Person.timezone == tz_name, PersonAttribute.key.in_(on_keys),
                   PersonAttribute.value == value))).values(due_at=when))


# ---- recipients, set-based ------------------------------------------------------------------

def _text(value: str):
    return cast(literal(value), String)


def _add_recipients(db_: DB, rollout: Rollout, people, now: datetime, *,
                    only_new: bool = False) -> int:
    """INSERT … SELECT the people of ``people`` (a SELECT of ids) as recipients: the first
    of the rollout's channels each is reachable on, else unreachable or opted out with the
    reason; ``already_invited`` whoever holds an unexpired invite to the session already (a
    double click, overlapping rollouts, a trigger and a manual rollout). ``only_new`` skips
    people already in the rollout (the unique constraint is the final guard)."""
    channels = list(rollout.channels)
    reach = [audiences.reachable(c) for c in channels]
    channel = case(*[(r, _text(c)) for r, c in zip(reach, channels, strict=True)],
                   else_=null())
    any_reach = or_(*reach)
    no_address = ", ".join(c for c in channels if c != "sms")
    if "sms" in channels:
        opted = and_(Person.phone.is_not(None), audiences.sms_opted_out())
        opted_reason = (f"no address on {no_address}; sms opted out" if no_address
                        else "sms opted out")
        status = case((any_reach, _text("pending")), (opted, _text("opted_out")),
                      else_=_text("unreachable"))
        reason = case((any_reach, _text("")), (opted, _text(opted_reason)),
                      else_=_text(f"no address on {', '.join(channels)}"))
    else:
        status = case((any_reach, _text("pending")), else_=_text("unreachable"))
        reason = case((any_reach, _text("")), else_=_text(f"no address on {no_address}"))
    earlier = select(func.min(func.coalesce(Invite.sent_at, Invite.created_at))).where(
        Invite.session_id == rollout.session_id, Invite.person_id == Person.id,
        or_(Invite.expires_at.is_(None), Invite.expires_at > now)).scalar_subquery()
    invited_on = func.substr(cast(earlier, String), 1, 10)
    status = case((earlier.is_not(None), _text("already_invited")), else_=status)
    reason = case((earlier.is_not(None),
                   _text("already invited to this session on ") + invited_on), else_=reason)
    where = [Person.id.in_(people)]
    if only_new:
        where.append(~exists().where(R.rollout_id == rollout.id, R.person_id == Person.id))
    rows = select(cast(literal(rollout.id), Integer), Person.id, channel, status, reason,
                  cast(literal(0), Integer)).where(*where)
    size = select(func.count()).select_from(R).where(R.rollout_id == rollout.id)
    before = db_.scalar(size)  # (rowcount of INSERT … SELECT is -1 on some drivers)
    db_.execute(insert(R).from_select(
        ["rollout_id", "person_id", "channel", "status", "reason", "reminders_sent"], rows))
    return db_.scalar(size) - before


def create(db_: DB, session: Session, *, audience: dict[str, Any], channels: list[str],
           send_at: datetime | None = None, local_time: str | None = None,
           reminders: dict[str, Any] | None = None, respect_quiet_hours: bool = True,
           quiet_hours: dict[str, str] | None = None, working_days: list[str] | None = None,
           created_by: str = "", now: datetime | None = None) -> Rollout:
    """A scheduled rollout of invites to ``session`` for everyone ``audience`` matches, on
    the first of ``channels`` each can be reached on (the caller checks they are
    configured). Raises RolloutError naming the field."""
    now = now or utcnow()
    _check_channels(channels)
    if local_time is not None:
        try:
            schedule.parse_time(local_time)
        except ValueError as exc:
            raise RolloutError(f"local_time: {exc}") from None
    after = _after_days(reminders)
    try:
        people = audiences.people(audience, db=db_)
    except ValueError as exc:
        raise RolloutError(f"audience: {exc}") from None
    try:
        window = resolve_window(respect_quiet_hours=respect_quiet_hours,
                                quiet_hours=quiet_hours, working_days=working_days)
    except ValueError as exc:
        raise RolloutError(f"quiet_hours: {exc}") from None
    rollout = Rollout(
        kind="invite", session=session, audience=_plain(audience), channels=list(channels),
        send_at=send_at, local_time=local_time, reminders={"after_days": after},
        quiet_hours=window, respect_quiet_hours=respect_quiet_hours, state="scheduled",
        created_by=created_by, created_at=now)
    db_.add(rollout)
    db_.flush()
    _add_recipients(db_, rollout, people, now)
    set_due(db_, rollout, now)
    if not db_.scalar(select(exists().where(R.rollout_id == rollout.id,
                                            R.status == "pending"))):
        rollout.state, rollout.finished_at = "completed", now  # nobody to invite
        webhooks.rollout_completed(db_, rollout.id)
    return rollout


def _check_channels(channels: list[str]) -> None:
    if not channels:
        raise RolloutError("channels: name at least one channel")
    for name in channels:
        if name not in CHANNELS:
            raise RolloutError(f"channels: unknown channel {name!r}")
    if len(set(channels)) != len(channels):
        raise RolloutError("channels: a channel is listed twice")


def _after_days(reminders: dict[str, Any] | None) -> list[int]:
    after = list((reminders or {}).get("after_days") or [])
    if len(after) > MAX_REMINDERS:
        raise RolloutError(f"reminders.after_days: at most {MAX_REMINDERS} reminders")
    if any(not isinstance(d, int) or not 1 <= d <= MAX_REMINDER_DAYS for d in after):
        raise RolloutError(f"reminders.after_days: whole days from 1 to {MAX_REMINDER_DAYS}")
    return sorted(set(after))


def _plain(audience: Any) -> dict[str, Any]:
    return audience.model_dump() if hasattr(audience, "model_dump") else dict(audience)


# ---- dispatch -------------------------------------------------------------------------------

def backlog_for(channels: list[str], seconds: float = BACKLOG_SECONDS) -> int:
    """``seconds`` (a minute) of sends at the fastest of ``channels``' rates, at least
    BACKLOG."""
    settings = get_settings()
    rates = [getattr(settings, RATE_SETTINGS[c]) for c in channels if c in RATE_SETTINGS]
    return max([BACKLOG] + [int(rate * seconds) for rate in rates])


def dispatch(rollout_id: int, *, now: datetime | None = None, batch: int = BATCH,
             backlog: int | None = None) -> dict[str, int]:
    """Job: send this rollout's due invites and reminders. One dispatcher per rollout at a
    time (a shared lock); a busy rollout is left to the one working on it."""
    try:
        with jobs.lock(f"rollout:{rollout_id}", wait=0):
            now = now or utcnow()
            with db.session_scope() as s:
                channels = list(s.scalar(select(Rollout.channels)
                                         .where(Rollout.id == rollout_id)) or [])
            if backlog is None:
                backlog = backlog_for(channels)
            enough = min(backlog, backlog_for(channels, TICK_SECONDS))
            stop = clock.monotonic() + BUDGET
            invited = _invite_due(rollout_id, now, batch, stop, backlog, enough)
            _maybe_complete(rollout_id, now)
            reminded = _remind_due(rollout_id, now, batch, stop, backlog, enough)
            return {"invited": invited, "reminded": reminded}
    except jobs.Busy:
        log.info("rollout %s is being dispatched elsewhere", rollout_id)
        return {"invited": 0, "reminded": 0}


def dispatch_due(now: datetime | None = None) -> list[int]:
    """Periodic job (the scheduler, every 15 s): enqueue a dispatch of every rollout with
    an invite or a reminder due. Idempotent: one waiting job per rollout."""
    now = now or utcnow()
    with db.session_scope() as s:
        due_invites = select(Rollout.id).where(
            Rollout.state.in_(ACTIVE_STATES),
            exists().where(R.rollout_id == Rollout.id, R.status == "pending", R.due_at <= now))
        due_reminders = select(Rollout.id).where(
            Rollout.state.in_(REMINDING_STATES),
            exists().where(R.rollout_id == Rollout.id, R.status == "invited",
                           R.next_reminder_at <= now))
        ids = sorted(set(s.scalars(due_invites)) | set(s.scalars(due_reminders)))
    for rollout_id in ids:
        enqueue(rollout_id)
    return ids


def enqueue(rollout_id: int) -> None:
    """At the head of the bulk queue: behind the minute of sends it queued last time, the
    dispatcher would top the backlog up only once it had run dry, and the channel idles."""
    try:
        jobs.enqueue_once("core.rollouts.dispatch", rollout_id,
                          job_id=jobs.job_key("rollout", rollout_id), queue_name=jobs.BULK,
                          at_front=True)
    except RedisError as exc:
        log.warning("queue unreachable, rollout %s left for dispatch_due: %s", rollout_id, exc)


def _unsent(s: DB, rollout_id: int) -> int:
    """The rollout's bulk outbox rows not yet sent: first messages, fallbacks, reminders;
    for an assigned topic, its pairs' thread messages. A scan of the few unsent rows (the
    backlog keeps them few), not of the rollout."""
    unsent = and_(OutboundRecord.status.in_(("pending", "sending")),
                  OutboundRecord.queue == jobs.BULK)
    pairs = select(R.one_on_one_id).where(R.rollout_id == rollout_id,
                                          R.one_on_one_id.is_not(None))
    if s.scalar(select(Rollout.kind).where(Rollout.id == rollout_id)) == "assigned_topic":
        return s.scalar(select(func.count()).select_from(OutboundRecord).where(
            unsent, OutboundRecord.one_on_one_id.in_(pairs)))
    mine = select(R.invite_id).where(R.rollout_id == rollout_id, R.invite_id.is_not(None))
    theirs = select(Interview.id).where(Interview.invite_id.in_(mine))
    return s.scalar(select(func.count()).select_from(OutboundRecord).where(
        unsent, or_(OutboundRecord.invite_id.in_(mine), OutboundRecord.interview_id.in_(theirs))))


def _room(s: DB, rollout_id: int, batch: int, backlog: int, enough: int) -> int:
    """How many more sends (invites or reminders) this dispatch may queue now: none once
    the channels have the backlog (the next tick tops it up), nor once they have enough
    until the next tick while replies wait for a worker."""
    unsent = _unsent(s, rollout_id)
    if unsent >= enough and jobs.replies_waiting():
        return 0
    return min(batch, backlog - unsent)


def _invite_due(rollout_id: int, now: datetime, batch: int, stop: float,
                backlog: int = BACKLOG, enough: int = BACKLOG) -> int:
    settings = get_settings()
    total = 0
    while clock.monotonic() < stop:
        with db.session_scope() as s:
            rollout = s.scalar(select(Rollout).where(Rollout.id == rollout_id)
                               .with_for_update(of=Rollout))
            if rollout is None or rollout.state not in ACTIVE_STATES:
                return total
            room = _room(s, rollout_id, batch, backlog, enough)
            if room <= 0:
                return total
            rows = list(s.scalars(
                select(R).where(R.rollout_id == rollout_id, R.status == "pending",
                                R.due_at <= now)
                .order_by(R.due_at, R.id).limit(room).with_for_update(skip_locked=True)))
            if not rows:
                return total
            people = {p.id: p for p in s.scalars(
                select(Person).where(Person.id.in_([r.person_id for r in rows])))}
            for r in rows:  # left the company (a directory import) since the rollout began
                if not people[r.person_id].active:
                    r.status, r.reason = "cancelled", "no longer active"
            rows = [r for r in rows if r.status == "pending"]
            if not rows:
                continue
            rows = _still_open(rows, people, rollout, now)
            if not rows:
                continue  # every one of them waits for their morning now
            if rollout.state == "scheduled":
                rollout.state, rollout.started_at = "sending", now
            # the guard: whoever flips pending → invited sends; anyone else skips the row
            claimed = set(s.scalars(
                update(R).where(R.id.in_([r.id for r in rows]), R.status == "pending")
                .values(status="invited").returning(R.id)
                .execution_options(synchronize_session=False)))
            rows = [r for r in rows if r.id in claimed]
            step = _step(rollout.kind)
            per_recipient: list[list[int]] = []
            for recipient in rows:
                try:  # one bad recipient must not roll the batch back, again and again
                    with s.begin_nested():
                        sent = step(s, rollout, recipient, people[recipient.person_id],
                                    now, settings)
                except Exception as exc:
                    log.exception("rollout %s: inviting person %s failed", rollout_id,
                                  recipient.person_id)
                    recipient.status = "failed"
                    recipient.reason = f"{type(exc).__name__}: {exc}"[:2000]
                    continue
                per_recipient.append(sent)
                total += 1
        jobs.enqueue_deliveries(_in_turns(per_recipient), queue_name=jobs.BULK)
    return total


def _in_turns(per_recipient: list[list[int]]) -> list[int]:
    """Every recipient's first message, then every second one: a recipient's two messages
    (a 1-on-1 thread's intro and its assigned topic) go to one conversation, which takes
    one post a second, so back to back the second holds a worker asleep for that second
    and the workspace's rate goes unused (bench.one_on_ones: 27 % of it)."""
    turns = itertools.zip_longest(*per_recipient)
    return [record for turn in turns for record in turn if record is not None]


def _step(kind: str):
    """What sending to one claimed recipient means for a rollout of this kind: an invite,
    or an assigned topic on a pair's agenda (``core.one_on_ones.topics``)."""
    if kind == "assigned_topic":
        from core.one_on_ones import topics  # it builds on this engine

        return lambda s, rollout, recipient, person, now, settings: topics.deliver(
            s, rollout, recipient, now)
    return _invite_one


def _still_open(rows: list[RolloutRecipient], people: dict[int, Person], rollout: Rollout,
                now: datetime) -> list[RolloutRecipient]:
    """The recipients whose window is open now. A due time passed long ago (a pause, a
    dispatcher down for hours) may have run into someone's night: theirs moves to their
    next working morning instead of going now."""
    window = window_of(rollout)
    if window == schedule.ALWAYS:
        return rows
    opens: dict[str, datetime] = {}
    ready = []
    for r in rows:
        tz_name = people[r.person_id].timezone
        if tz_name not in opens:
            opens[tz_name] = schedule.next_open(now, schedule.zone(tz_name), window)
        if opens[tz_name] > now:
            r.due_at = opens[tz_name]
        else:
            ready.append(r)
    return ready


def _invite_one(s: DB, rollout: Rollout, recipient: RolloutRecipient, person: Person,
                now: datetime, settings) -> list[int]:
    """Invite one claimed recipient in the batch's transaction; the outbox row ids."""
    chosen = recipient.channel or "web"
    later = rollout.channels[rollout.channels.index(chosen) + 1:] \
        if chosen in rollout.channels else []
    fallback = [c for c in later if c != "web"]  # a link exists only where it was made
    invite, token = invites.create(s, rollout.session, person, channel=chosen,
                                   ttl_days=settings.invite_ttl_days, fallback=fallback)
    invite.sent_at, invite.expires_at = now, now + timedelta(days=settings.invite_ttl_days)
    records: list[OutboundRecord] = []
    if chosen == "web":
        link = f"{settings.effective_public_base_url}/c/{token}"
        mail = invites.link_mail(s, invite, link, queue=jobs.BULK)
        records = [mail] if mail is not None else []
    else:
        try:
            interview, _ = invites.open_interview(s, invite, new=True)
        except invites.Unreachable as exc:
            recipient.status, recipient.reason = "unreachable", str(exc)[:2000]
            recipient.invite_id = invite.id
            return []
        records = engine.start(s, interview)
        for record in records:
            record.queue = jobs.BULK
    recipient.status = "invited"  # as claimed (the row says so already)
    recipient.invite_id, recipient.sent_at = invite.id, now
    recipient.outbound_id = records[0].id if records else None
    recipient.next_reminder_at = _reminder_at(rollout, now, 0, schedule.zone(person.timezone),
                                              invite.expires_at)
    return [r.id for r in records]


def _maybe_complete(rollout_id: int, now: datetime) -> None:
    """Completed once no recipient is pending; a trigger's standing rollout never is."""
    with db.session_scope() as s:
        pending = exists().where(R.rollout_id == rollout_id, R.status == "pending")
        done = s.execute(update(Rollout).where(
            Rollout.id == rollout_id, Rollout.state.in_(ACTIVE_STATES),
            Rollout.trigger_key.is_(None), ~pending).values(state="completed", finished_at=now)
        ).rowcount
        if done:  # this transaction completed it: its event goes with it
            webhooks.rollout_completed(s, rollout_id)


# ---- reminders ------------------------------------------------------------------------------

def _reminder_at(rollout: Rollout, sent_at: datetime, k: int, tz,
                 expires_at: datetime | None) -> datetime | None:
    """When reminder ``k`` (0-based) is due: ``after_days[k]`` days after the invite at the
    rollout's local time (else the send's time of day), out of quiet hours; None when there
    is no such reminder or it would come after the invite expires."""
    after = (rollout.reminders or {}).get("after_days") or []
    if k >= len(after):
        return None
    sent = sent_at.astimezone(tz)
    at = schedule.parse_time(rollout.local_time) if rollout.local_time \
        else time(sent.hour, sent.minute)
    moment = schedule.local_instant(sent.date() + timedelta(days=after[k]), at, tz)
    moment = schedule.next_open(moment, tz, window_of(rollout))
    return None if expires_at and moment >= expires_at else moment


def _next_reminder(rollout: Rollout, sent_at: datetime, k: int, now: datetime, tz,
                   expires_at: datetime | None) -> datetime | None:
    """After reminder ``k`` went out ``now``: when reminder ``k + 1`` is due. Never sooner
    than the gap between the two ``after_days`` after this one (out of quiet hours), so a
    reminder that was late (a weekend, a pause, an outage) is not followed at once by the
    next: every row a dispatch reminds leaves its due set, one reminder per dispatch."""
    after = (rollout.reminders or {}).get("after_days") or []
    planned = _reminder_at(rollout, sent_at, k + 1, tz, expires_at)
    if planned is None:
        return None
    gap = now + timedelta(days=after[k + 1] - after[k])
    spaced = schedule.next_open(gap, tz, window_of(rollout))
    moment = max(planned, spaced)
    return None if expires_at and moment >= expires_at else moment


def _remind_due(rollout_id: int, now: datetime, batch: int, stop: float,
                backlog: int = BACKLOG, enough: int = BACKLOG) -> int:
    total = 0
    while clock.monotonic() < stop:
        with db.session_scope() as s:
            rollout = s.get(Rollout, rollout_id)
            if rollout is None or rollout.state not in REMINDING_STATES:
                return total
            cap = len((rollout.reminders or {}).get("after_days") or [])
            room = _room(s, rollout_id, batch, backlog, enough)
            if room <= 0:
                return total
            rows = list(s.scalars(
                select(R).where(R.rollout_id == rollout_id, R.status == "invited",
                                R.next_reminder_at <= now, R.reminders_sent < cap)
                .order_by(R.next_reminder_at, R.id).limit(room)
                .with_for_update(skip_locked=True)))
            if not rows:
                return total
            records: list[int] = []
            for recipient in rows:
                record = _remind_one(s, rollout, recipient, now)
                if record is not None:
                    records.append(record)
                    total += 1
        jobs.enqueue_deliveries(records, queue_name=jobs.BULK)
    return total


def _remind_one(s: DB, rollout: Rollout, recipient: RolloutRecipient,
                now: datetime) -> int | None:
    """Remind one person who has not finished, on the invite's channel; or stop their
    reminders (finished, expired, opted out). Guarded on ``reminders_sent``: each reminder
    goes once."""
    k = recipient.reminders_sent
    guard = and_(R.id == recipient.id, R.reminders_sent == k, R.status == "invited")
    invite = s.get(Invite, recipient.invite_id) if recipient.invite_id else None
    interview = invites.current_interview(s, invite) if invite is not None else None
    if _finished(s, invite, interview, now):
        s.execute(update(R).where(guard).values(next_reminder_at=None)
                  .execution_options(synchronize_session=False))
        return None
    tz = schedule.zone(invite.person.timezone)
    opens = schedule.next_open(now, tz, window_of(rollout))
    if opens > now:  # overdue into their night (a pause, workers down): their morning
        s.execute(update(R).where(guard).values(next_reminder_at=opens)
                  .execution_options(synchronize_session=False))
        return None
    sent_at = recipient.sent_at or invite.sent_at or now
    claimed = s.execute(update(R).where(guard).values(
        reminders_sent=k + 1,
        next_reminder_at=_next_reminder(rollout, sent_at, k, now, tz, invite.expires_at))
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return None
    if interview is None or interview.channel == "web":  # the link went by email
        record = invites.link_reminder(s, invite, queue=jobs.BULK)
        if record is None:
            return None
        record.payload = {**record.payload, REMINDER: True}
        return record.id
    named = interview.session.anonymity != "aggregated"
    first = (interview.person.name or "").split(" ")[0] if named else ""
    text = prompts.invite_reminder(first or "there", interview.session.name)
    address = Address.from_dict(interview.address)
    if address.channel == "email":  # a reminder, not a reply: Auto-Submitted
        address = Address(address.channel, address.key, {**address.data, "reminder": True})
    record = OutboundRecord(
        channel=interview.channel, address=address.to_dict(), interview_id=interview.id,
        payload={**Outbound(text, tuple(engine.offered_choices(s, interview)), role="system",
                            interview_id=interview.id).to_dict(), REMINDER: True},
        queue=jobs.BULK)
    s.add(record)
    s.flush()
    return record.id


def _finished(s: DB, invite: Invite | None, interview: Interview | None,
              now: datetime) -> bool:
    """No more reminders: the invite is gone, expired or unreachable, the person finished
    (or declined, or HR ended it), or they opted out of the channel."""
    if invite is None or invite.status == "unreachable":
        return True
    if invite.expires_at is not None and invite.expires_at <= now:
        return True
    if interview is None:
        return False
    if interview.state in TERMINAL:
        return True
    return not phones.may_text(s, interview.channel, interview.address)


def still_wanted(s: DB, record: OutboundRecord, now: datetime | None = None,
                 ) -> tuple[str, str] | None:
    """Asked by the outbox just before it sends a bulk row: None to send it, else (status,
    reason) for the row instead. A paused rollout's row stays ``pending`` for after the
    resume; a cancelled rollout's is ``cancelled`` (its person too, if nothing reached them
    yet); so is a reminder whose interview ended or whose invite expired."""
    if record.agenda_item_id is not None:  # a 1-on-1 thread's message
        return _topic_wanted(s, record)
    invite_id = record.invite_id
    if invite_id is None and record.interview_id is not None:
        invite_id = s.scalar(select(Interview.invite_id).where(
            Interview.id == record.interview_id))
    if invite_id is None:
        return None
    found = s.execute(select(R, Rollout.state).join(Rollout, Rollout.id == R.rollout_id)
                      .where(R.invite_id == invite_id).limit(1)).first()
    if found is None:
        return None  # not a rollout's message
    recipient, rollout_state = found
    if rollout_state == "paused":
        return "pending", "rollout paused"
    reminder = bool((record.payload or {}).get(REMINDER))
    if rollout_state != "cancelled" and not reminder:
        return None  # the common case: one query, no invite to load
    invite = s.get(Invite, invite_id)
    if rollout_state == "cancelled":
        first = recipient.outbound_id == record.id or (invite is not None
                                                       and invite.status == "created")
        if first and recipient.status == "invited":  # nothing reached them
            recipient.status, recipient.reason = "cancelled", "rollout cancelled before sending"
            recipient.next_reminder_at = None
        return "cancelled", "rollout cancelled"
    if reminder:
        interview = invites.current_interview(s, invite) if invite is not None else None
        if invite is None or (invite.expires_at is not None
                              and invite.expires_at <= (now or utcnow())):
            return "cancelled", "reminder after the invite expired"
        if interview is not None and interview.state in TERMINAL:
            return "cancelled", "reminder after the interview ended"
    return None


def _topic_wanted(s: DB, record: OutboundRecord) -> tuple[str, str] | None:
    """An assigned topic's first post waits while its rollout is paused, and is not sent
    once the topic is withdrawn; updates always go. (A rollout cancelled after the topic
    reached a pair's agenda still shows it there: only a withdrawal takes it off.)"""
    from core import one_on_ones

    if (record.payload or {}).get("replaces"):
        return None
    unwanted = one_on_ones.still_wanted(s, record)
    if unwanted is not None:
        return unwanted
    state = s.scalar(select(Rollout.state).join(R, R.rollout_id == Rollout.id)
                     .where(R.agenda_item_id == record.agenda_item_id).limit(1))
    return ("pending", "rollout paused") if state == "paused" else None


# ---- control --------------------------------------------------------------------------------

def pause(s: DB, rollout: Rollout) -> None:
    if rollout.state not in ACTIVE_STATES:
        raise WrongState(f"cannot pause a rollout that is {rollout.state}")
    rollout.state = "paused"


def resume(s: DB, rollout: Rollout) -> None:
    """Carry on where it stopped: nothing is recomputed; what fell due meanwhile goes at
    once, unless that is now someone's night or weekend (then their next working morning:
    the dispatcher checks each person's window as it sends)."""
    if rollout.state != "paused":
        raise WrongState(f"cannot resume a rollout that is {rollout.state}")
    rollout.state = "sending" if rollout.started_at else "scheduled"


def cancel(s: DB, rollout: Rollout, now: datetime | None = None) -> None:
    """Stop: pending recipients are cancelled and no reminder follows; what was sent stays."""
    if rollout.state == "cancelled":
        raise WrongState("the rollout is already cancelled")
    now = now or utcnow()
    s.execute(update(R).where(R.rollout_id == rollout.id, R.status == "pending")
              .values(status="cancelled", reason="rollout cancelled")
              .execution_options(synchronize_session=False))
    s.execute(update(R).where(R.rollout_id == rollout.id, R.next_reminder_at.is_not(None))
              .values(next_reminder_at=None).execution_options(synchronize_session=False))
    rollout.state, rollout.finished_at = "cancelled", rollout.finished_at or now


# ---- status ---------------------------------------------------------------------------------

SETTLED = ("sent", "delivered", "failed", "undelivered")  # an outbox row that left or never will


def progress(*, answers: bool = True):
    """SQL: what became of each recipient (one of COUNTS), read from its invite, its
    interview and the latest of its invite's outbox rows that settled (a fallback after a
    failed first channel, a reminder): ``queued`` until one has. Select it from R
    outer-joined to Invite and that row (``progress_from``). Without ``answers`` it never
    says ``responded``: how the invite travelled, not whether the person took part (one
    person's row in an aggregated session)."""
    answered = exists().where(Interview.invite_id == R.invite_id,
                              Interview.state.not_in([str(x) for x in NOT_ANSWERED]))
    return case(
        (R.status != "invited", R.status),
        (answered if answers else false(), _text("responded")),
        (or_(Invite.status == "unreachable",
             OutboundRecord.status.in_(("failed", "undelivered"))), _text("failed")),
        (OutboundRecord.status == "delivered", _text("delivered")),
        (OutboundRecord.status == "sent", _text("sent")),
        else_=_text("queued"))


class _greatest(FunctionElement):
    """GREATEST(a, b): PostgreSQL spells it so, SQLite as the two-argument max()."""

    inherit_cache = True


@compiles(_greatest)
def _greatest_default(element, compiler, **kw):
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


def progress_from(stmt):
    """``stmt`` from R, outer-joined to its Invite and to its latest settled outbox row:
    the invite's own (an email with the link, the chat invite) or its interview's. Two
    lookups an index each answers, not one OR that none can (which read the whole outbox
    once per recipient: 2 minutes for a 10,000-person rollout on PostgreSQL)."""
    by_invite, by_interview = aliased(OutboundRecord), aliased(OutboundRecord)
    # the status test inside the max, not in WHERE: SQLite would pick the status index
    of_invite = select(func.max(case((by_invite.status.in_(SETTLED), by_invite.id)))).where(
        by_invite.invite_id == R.invite_id).correlate(R).scalar_subquery()
    of_interview = select(func.max(case((by_interview.status.in_(SETTLED),
                                         by_interview.id)))).where(
        by_interview.interview_id.in_(select(Interview.id).where(
            Interview.invite_id == R.invite_id).correlate(R)),
    ).correlate(R).scalar_subquery()
    latest = _greatest(func.coalesce(of_invite, 0), func.coalesce(of_interview, 0))
    return (stmt.select_from(R).outerjoin(Invite, Invite.id == R.invite_id)
            .outerjoin(OutboundRecord, OutboundRecord.id == latest))


def counts(s: DB, rollout_id: int) -> dict[str, int]:
    """Recipients by progress, in one grouped query."""
    inner = progress_from(select(progress().label("p"))).where(
        R.rollout_id == rollout_id).subquery()
    found = dict(s.execute(select(inner.c.p, func.count()).group_by(inner.c.p)).all())
    return {name: int(found.get(name, 0)) for name in COUNTS}


# ---- triggers -------------------------------------------------------------------------------

def trigger_key(trigger: dict[str, Any]) -> str:
    if trigger.get("days_before") is not None:
        return f"{trigger['on']}-{int(trigger['days_before'])}"
    return f"{trigger['on']}+{int(trigger.get('days_after') or 0)}"


def trigger_offset(trigger: dict[str, Any]) -> int:
    """Days from the HR date to the invite: +N after, −N before."""
    if trigger.get("days_before") is not None:
        return -int(trigger["days_before"])
    return int(trigger.get("days_after") or 0)


def run_triggers(today: date | str | None = None, now: datetime | None = None,
                 ) -> dict[str, int]:
    """Daily job: add to each session trigger's standing rollout the active people whose HR
    date + N days falls in the last CATCH_UP_DAYS up to ``today``; idempotent (a person
    joins a trigger's rollout once, however often this runs or the directory is
    re-imported). Returns {trigger key: people added}."""
    now = now or utcnow()
    if isinstance(today, str):
        today = date.fromisoformat(today)
    today = today or now.date()
    with db.session_scope() as s:
        sessions = [(i, list(t or [])) for i, t in s.execute(select(Session.id,
                                                                    Session.triggers))]
    added: dict[str, int] = {}
    touched: set[int] = set()
    for session_id, triggers in sessions:
        for trigger in triggers:
            if trigger.get("on") not in TRIGGER_FIELDS or not trigger.get("channels"):
                log.warning("session %s: trigger %r skipped (no date or channels)",
                            session_id, trigger)
                continue
            rollout_id, count = _run_trigger(session_id, trigger, today, now)
            added[f"{session_id}:{trigger_key(trigger)}"] = count
            if count:
                touched.add(rollout_id)
    for rollout_id in sorted(touched):
        enqueue(rollout_id)
    return added


def _standing(s: DB, session_id: int, trigger: dict[str, Any], now: datetime) -> Rollout:
    key = trigger_key(trigger)
    found = s.scalar(select(Rollout).where(Rollout.session_id == session_id,
                                           Rollout.trigger_key == key))
    if found is not None:
        return found
    rollout = Rollout(
        kind="invite", session_id=session_id, trigger_key=key,
        audience={"trigger": dict(trigger)}, channels=list(trigger["channels"]),
        local_time=trigger.get("local_time") or "09:00",
        reminders={"after_days": list(trigger.get("reminders", {}).get("after_days", []))},
        quiet_hours=resolve_window(respect_quiet_hours=True, quiet_hours=None,
                                   working_days=None),
        respect_quiet_hours=True, state="scheduled", created_by="trigger", created_at=now)
    try:
        with s.begin_nested():  # a concurrent run made it first: use theirs
            s.add(rollout)
            s.flush()
    except IntegrityError:
        return s.scalar(select(Rollout).where(Rollout.session_id == session_id,
                                              Rollout.trigger_key == key))
    return rollout


def _date_keys(s: DB, field_name: str) -> list[str]:
    """The stored spellings of an HR date key, found as audience rules find keys (any case,
    accents, ``_`` or ``-``) and also written as one word ("StartDate")."""
    def squashed(key: str) -> str:
        return audiences.key_form(key).replace(" ", "")
    wanted = squashed(field_name)
    return [k for k in audiences.all_keys(s) if squashed(k) == wanted]


def _run_trigger(session_id: int, trigger: dict[str, Any], today: date,
                 now: datetime) -> tuple[int, int]:
    field_name = TRIGGER_FIELDS[trigger["on"]]
    offset = trigger_offset(trigger)
    # one day ahead: in UTC+10 their 09:00 comes before the UTC date turns
    first = today - timedelta(days=CATCH_UP_DAYS + offset)
    last = today + timedelta(days=1 - offset)
    with db.session_scope() as s:
        rollout = _standing(s, session_id, trigger, now)
        if rollout.state == "cancelled":
            return rollout.id, 0
        keys = _date_keys(s, field_name)
        if not keys:
            return rollout.id, 0
        people = (select(Person.id).join(PersonAttribute, PersonAttribute.person_id == Person.id)
                  .where(Person.active.is_(True), PersonAttribute.key.in_(keys),
                         func.length(PersonAttribute.value) == 10,
                         PersonAttribute.value.between(first.isoformat(), last.isoformat())))
        try:
            with s.begin_nested():
                count = _add_recipients(s, rollout, people, now, only_new=True)
        except IntegrityError:  # a concurrent run added someone first: they are in
            count = 0
        set_due(s, rollout, now, on_keys=keys, offset=offset)
        return rollout.id, count
