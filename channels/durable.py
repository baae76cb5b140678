"""The durable inbox and outbox every channel shares (DESIGN.md §4).

``accept`` stores verified inbound messages once and enqueues them; ``deliver`` sends one
outbox row exactly once; ``sweep`` re-enqueues whatever the database says is unfinished.
Turns and their outbox rows are written by the engine in its own transaction
(``core.turns``); from the commit on, every step of their life is here.

An outbox row is tried at most ``ATTEMPTS`` times and then kept as ``failed`` with its
error; one whose channel refused our own credentials is ``held`` for an operator and tried
again every ``HOLD``, within the same bound. A rollout's row that its rollout no longer
wants (cancelled, or a reminder overtaken) is kept as ``cancelled``, final like ``failed``.

The webhook outbox (``channels.webhooks``) is claimed by the same ``claim`` and swept by the
same ``sweep``; its rows are its own table, as what a send means differs (an endpoint and a
signature, not a channel and an address; 24 hours of backoff, not eight tries).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from redis.exceptions import RedisError
from rq import get_current_job
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

import channels
from channels.base import Channel, NeedsOperator, PermanentError, RetryAfter
from core import (
    db,
    engine,
    invites,
    jobs,
    lifecycle,
    one_on_ones,
    ratelimit,
    rollouts,
    webhooks,
)
from core.messages import Address, Inbound, Outbound, storable
from core.models import (
    InboundEvent,
    Interview,
    Invite,
    OutboundRecord,
    Person,
    Turn,
    WebhookDelivery,
    utcnow,
)

log = logging.getLogger(__name__)


def accept(inbounds: list[Inbound]) -> int:
    """Store each inbound once and enqueue it; returns how many were new.

    A duplicate (provider retry, double submit) hits the unique (channel, event_id) key and
    is dropped here. If Redis is unreachable the row stays pending and the sweeper enqueues
    it later: what we acknowledge is never lost.
    """
    fresh = []
    with db.session_scope() as s:
        for inbound in inbounds:
            inbound = replace(inbound, text=storable(inbound.text))
            try:
                with s.begin_nested():
                    s.add(InboundEvent(channel=inbound.channel, event_id=inbound.event_id,
                                       payload=inbound.to_dict()))
                fresh.append(inbound)
            except IntegrityError:
                log.info("duplicate inbound %s:%s dropped", inbound.channel, inbound.event_id)
    for inbound in fresh:
        enqueue_inbound(inbound.channel, inbound.event_id)
    return len(fresh)


def enqueue_inbound(channel: str, event_id: str) -> None:
    try:
        jobs.enqueue_once("bots.router.process_inbound", channel, event_id,
                          job_id=jobs.job_key("in", channel, event_id))
    except RedisError as exc:
        log.warning("queue unreachable, inbound %s:%s left for the sweeper: %s",
                    channel, event_id, exc)


# A claim older than this is from a worker that died mid-send: longer than RQ lets a job run.
CLAIM_TTL = timedelta(seconds=jobs.JOB_TIMEOUT + 120)
RETRY_AFTER_ATTEMPTS = 3
ATTEMPTS = 8  # about as many as RQ's retry schedule (core.jobs.DEFAULT_RETRY) runs
HOLD = timedelta(minutes=15)  # between tries of a row held for an operator
HOLD_FOR = timedelta(days=3)  # how long a held message waits for an operator, then fails
DELIVERY_REPORTS = ("delivered", "undelivered", "failed")  # what a provider reports after "sent"


def claim(row: type[OutboundRecord] | type[WebhookDelivery], record_id: int, *,
          due: ColumnElement[bool] | None = None) -> int | None:
    """Atomically take an outbox row (the messages' or the webhooks') for sending, counting
    the attempt before any work. Returns None when it is not ours to send (sent, failed,
    being sent right now, or not ``due`` yet), else the number of this attempt."""
    now = utcnow()
    ours = or_(row.status.in_(("pending", "held")),
               and_(row.status == "sending", row.claimed_at < now - CLAIM_TTL))
    if due is not None:
        ours = and_(ours, due)
    with db.session_scope() as s:
        return s.execute(
            update(row).where(row.id == record_id, ours)
            .values(status="sending", claimed_at=now, attempts=row.attempts + 1)
            .returning(row.attempts)
        ).scalar()


def deliver(record_id: int) -> str | None:
    """Send one outbox row exactly once.

    The row is claimed atomically in the database, so two workers never send it together.
    Every attempt after the first begins by asking the channel whether an earlier one got
    through (a timeout after the request went out, a worker that died mid-send): a send
    that was attempted is in flight until the channel says it was not delivered. Failures
    put the row back to pending and raise so RQ retries with backoff, up to ``ATTEMPTS``;
    a provider's Retry-After pauses that channel for everyone.
    """
    attempt = claim(OutboundRecord, record_id)
    if attempt is None:
        return None
    if attempt > ATTEMPTS:  # the last attempt died with its worker
        _give_up(record_id, attempt - 1, None)
        return None
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        if record is None:
            return None
        channel_name, address = record.channel, Address.from_dict(record.address)
        if record.one_on_one_id:  # a thread opened since this row was written: no reopening
            address = one_on_ones.known_thread(s, record.one_on_one_id, address)
            # an earlier message of the thread still to go: this one follows it (``_finish``
            # of that one sends this), so the thread reads in the order it was written
            behind = one_on_ones.earlier_unsent(s, record)
        else:
            behind = False
        message, created_at = Outbound.from_dict(record.payload), record.created_at
        proactive = record.queue == jobs.BULK
        # a rollout paused or cancelled since this row was written, a reminder overtaken,
        # an agenda item's update a newer one supersedes (two clicks: the second's goes)
        unwanted = (rollouts.still_wanted(s, record) if proactive
                    else one_on_ones.still_wanted(s, record))
    if unwanted is not None:
        status, reason = unwanted
        _finish(record_id, status=status, error=reason, uncount=True)
        log.info("outbound %s not sent: %s", record_id, reason)
        return None
    if behind:
        _finish(record_id, status="pending", error=None, uncount=True)
        return None
    channel, ref = channels.get(channel_name), f"out-{record_id}"
    try:
        try:  # the lookups before a send: paced by the provider, nothing sent yet
            resolved = channel.resolve(address)
            if resolved != address:  # before sending: a click on it must find its person
                _remember(record_id, channel, resolved)
            found = channel.find_sent(resolved, ref) if attempt > 1 else None
        except ratelimit.TooLong as exc:
            raise WaitForSlot(exc.seconds) from None
        if found:
            _finish(record_id, status="sent", provider_id=found)
            return found
        provider_id = _send_paced(channel, resolved, message, ref, proactive=proactive)
    except ratelimit.GiveWay:
        # replies are waiting for a worker: this rollout message steps aside, uncounted, to
        # the back of the bulk queue, under the other of two alternate job ids (this job is
        # still running), so a row that keeps giving way has two jobs at most
        _finish(record_id, status="pending", error=None, uncount=True)
        jobs.enqueue_deliveries([record_id], queue_name=jobs.BULK,
                                again=_other_turn(record_id))
        return None
    except WaitForSlot as exc:
        # the sender's slots are booked further ahead than a job waits (a big rollout): not
        # a failure, as nothing was sent; the sweeper sends it again once the slots come near
        _finish(record_id, status="pending", error=None, uncount=True)
        log.info("outbound %s waits for a send slot (%s); left for the sweeper", record_id, exc)
        return None
    except PermanentError as exc:
        _finish(record_id, status="failed", error=str(exc))
        log.error("outbound %s refused for good: %s", record_id, exc)
        return None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, NeedsOperator) and utcnow() - created_at < HOLD_FOR:
            # our credentials, not the message: the try does not count against it
            _finish(record_id, status="held", error=error, uncount=True)
            log.error("OPERATOR: %s refused Parley's credentials; outbound %s held, next try "
                      "in %s (it fails if still refused %s after it was written): %s",
                      channel_name, record_id, HOLD, HOLD_FOR, exc)
            return None
        if attempt >= ATTEMPTS or isinstance(exc, NeedsOperator):
            _give_up(record_id, attempt, error)
            return None
        _finish(record_id, status="pending", error=error)
        raise
    _finish(record_id, status="sent", provider_id=provider_id)
    return provider_id


def _other_turn(record_id: int) -> str:
    """"b" when this job is the row's "a" job, else "a"."""
    current = get_current_job()
    return "b" if current is not None and current.id == jobs.job_key("out", record_id, "a") \
        else "a"


class WaitForSlot(ratelimit.TooLong):
    """No send slot soon enough, and nothing was sent in this attempt."""


def _send_paced(channel: Channel, address: Address, message: Outbound, ref: str, *,
                proactive: bool = False) -> str | None:
    """Send once its slot comes. A proactive (bulk) message never books ahead and gives way
    to waiting replies until it has tried to send (``ratelimit.pace_proactive``)."""
    # A channel without limits still gets a key of its own, so a Retry-After holds it too.
    limits = (channel.pacing(address, message)
              or [ratelimit.Limit.every(f"{channel.name}:{address.key}", 0.0)])
    for tried in range(RETRY_AFTER_ATTEMPTS):
        try:
            if proactive:
                ratelimit.pace_proactive(*limits, give_way=jobs.replies_waiting if not tried
                                         else (lambda: False))
            else:
                ratelimit.pace(*limits)
        except ratelimit.TooLong as exc:
            if tried:  # after a send was tried (part of it may be out): a counted attempt,
                raise  # so the next one asks find_sent first
            raise WaitForSlot(exc.seconds) from None
        try:
            return channel.send(address, message, ref=ref)
        except RetryAfter as exc:
            log.warning("%s asked us to wait %s s", channel.name, exc.seconds)
            ratelimit.hold(limits[0].key, exc.seconds)  # the address's own limit
    raise RetryAfter(0)


def _remember(record_id: int, channel: Channel, address: Address) -> None:
    """Keep a resolved address on the row, the interview and the person. Without the
    interview's eager loads (its invite, session, topics, the person's demographics):
    three rows are all this needs, once for every first message of a rollout."""
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        if record is None:  # its interview was deleted meanwhile
            return
        record.address = address.to_dict()
        if record.one_on_one_id:  # a 1-on-1 thread opened by this send (a group DM)
            one_on_ones.remember_thread(s, record, address)
        interview = (s.get(Interview, record.interview_id, options=[lazyload("*")])
                     if record.interview_id else None)
        if interview is not None:
            if interview.channel == address.channel:
                interview.address = address.to_dict()
            channel.remember(s.get(Person, interview.person_id, options=[lazyload("*")]),
                             address)


def _give_up(record_id: int, attempts: int, error: str | None) -> None:
    """The row is failed for good; ``error`` None keeps the last attempt's error."""
    _finish(record_id, status="failed", error=error)
    log.error("outbound %s failed for good after %d attempts: %s", record_id, attempts,
              error or "the worker stopped during the last attempt")


def _finish(record_id: int, *, status: str, error: str | None = "",
            provider_id: str | None = None, uncount: bool = False):
    fresh, queue_name, followed, following = None, jobs.INTERACTIVE, None, []
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        if record is None:  # its interview was deleted meanwhile: nothing left to record
            return
        queue_name = record.queue
        if record.status in ("failed", "cancelled") and status != "sent":
            return  # ended meanwhile (superseded, its person erased): not to be tried again
        # a provider's delivery report (SMS status callback) may come before our own "sent"
        reported = status == "sent" and record.status in DELIVERY_REPORTS
        if not reported:
            record.status = status
        record.attempts -= uncount
        if error is not None and not reported:
            record.last_error = storable(error)[:2000]
        error = record.last_error
        if status == "sent":
            record.provider_message_id = provider_id
            record.sent_at = utcnow()
            # an agenda item's message: kept to update it; an edit meanwhile follows now
            followed = one_on_ones.message_sent(s, record, provider_id)
        if status in ("sent", "failed", "cancelled"):  # the thread's next messages may go
            following = one_on_ones.next_in_thread(s, record)
            if record.interview_id:  # the invite's first message is out: one statement
                s.execute(update(Invite).where(
                    Invite.id == select(Interview.invite_id)
                    .where(Interview.id == record.interview_id).scalar_subquery(),
                    Invite.status == "created").values(status="sent")
                    .execution_options(synchronize_session=False))
        if status == "failed" and record.interview_id:
            interview = s.get(Interview, record.interview_id)
            if interview.invite.status in ("created", "sent"):  # they never answered
                fresh = _fall_back(s, record, interview, error)
        if record.invite_id and not record.interview_id:  # a link to an invite, sent apart
            _invite_reached(s.get(Invite, record.invite_id), record.channel, status, error)
        if status in ("sent", "failed"):
            record.payload = channels.get(record.channel).settled(record.payload)
    if fresh is not None:
        jobs.enqueue_deliveries([fresh], queue_name=queue_name)
    if followed is not None:
        jobs.enqueue_deliveries([followed], queue_name=queue_name)
    if following:
        jobs.enqueue_deliveries(following, queue_name=queue_name)


def _invite_reached(invite: Invite | None, channel: str, status: str, error: str) -> None:
    """A message carrying an invite's link settled: the invite was sent, or the person is
    unreachable there."""
    if invite is None:
        return
    if status == "sent" and invite.status == "created":
        invite.status = "sent"
    elif status == "failed" and invite.status in ("created", "sent"):
        invite.status, invite.status_reason = "unreachable", f"{channel}: {error}"[:2000]


def _fall_back(s, record: OutboundRecord, interview: Interview, error: str) -> int | None:
    """Send the message again on the invite's next fallback channel, if it has one; the
    new row is a new message there (nothing reached the person on the first channel)."""
    address = invites.fall_back(s, interview, error)
    if address is None:
        log.warning("invite %s unreachable: %s", interview.invite_id,
                    interview.invite.status_reason)
        return None
    payload = record.payload
    turn = s.get(Turn, record.turn_id) if record.turn_id else None
    if turn is not None and turn.seq == 1 and interview.state == lifecycle.State.CONSENT:
        # the consent names the commands in the new channel's words (SMS: not "stop")
        payload = engine.consent_message(interview).to_dict()
        turn.text, turn.channel = payload["text"], address.channel
    again = OutboundRecord(channel=address.channel, address=address.to_dict(),
                           payload=payload, interview_id=record.interview_id,
                           turn_id=record.turn_id, queue=record.queue)
    s.add(again)
    s.flush()
    log.info("invite %s falls back to %s", interview.invite_id, address.channel)
    return again.id


def sweep(older_than_seconds: int = 30) -> dict[str, int]:
    """Periodic job: re-enqueue inbox and outbox rows left unfinished (Redis lost, worker
    killed), and webhook deliveries whose next attempt is due (their retries are this).
    Idempotent: every job it enqueues checks the row again before acting."""
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    row, hook = OutboundRecord, WebhookDelivery
    with db.session_scope() as s:
        hooks_due = list(s.scalars(select(hook.id).where(
            hook.status == "pending", hook.next_attempt_at <= now)))
        hooks_abandoned = list(s.scalars(select(hook.id).where(
            hook.status == "sending", hook.claimed_at <= now - CLAIM_TTL)))
        inbound = s.execute(select(InboundEvent.channel, InboundEvent.event_id).where(
            InboundEvent.status == "pending", InboundEvent.received_at <= cutoff)).all()
        pending = s.execute(select(row.id, row.queue).where(
            row.status == "pending", row.created_at <= cutoff)).all()
        pending += s.execute(select(row.id, row.queue).where(
            row.status == "held", row.claimed_at <= utcnow() - HOLD)).all()
        abandoned = s.execute(select(row.id, row.queue).where(
            row.status == "sending", row.claimed_at <= utcnow() - CLAIM_TTL)).all()
    for channel, event_id in inbound:
        enqueue_inbound(channel, event_id)
    for name in jobs.QUEUES:
        jobs.enqueue_deliveries([i for i, q in pending if q == name], queue_name=name)
        jobs.enqueue_deliveries([i for i, q in abandoned if q == name], queue_name=name,
                                replace_started=True)  # their worker died mid-send
    webhooks.enqueue(hooks_due)
    webhooks.enqueue(hooks_abandoned, replace_started=True)  # their worker died mid-send
    outbound, hooks = len(pending) + len(abandoned), len(hooks_due) + len(hooks_abandoned)
    if inbound or outbound or hooks:
        log.info("sweeper re-enqueued %d inbound, %d outbound, %d webhook deliveries",
                 len(inbound), outbound, hooks)
    return {"inbound": len(inbound), "outbound": outbound, "webhooks": hooks}
