"""The durable inbox and outbox every channel shares (DESIGN.md §4).

``accept`` stores verified inbound messages once and enqueues them; ``deliver`` sends one
outbox row exactly once; ``sweep`` re-enqueues whatever the database says is unfinished.
Turns and their outbox rows are written by the engine in its own transaction
(``core.turns``); from the commit on, every step of their life is here.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

import channels
from channels.base import Channel, PermanentError, RetryAfter
from core import db, jobs, ratelimit
from core.messages import Address, Inbound, Outbound
from core.models import InboundEvent, Interview, OutboundRecord, utcnow

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


def _claim(record_id: int) -> bool | None:
    """Atomically take the row for sending. Returns None when it is not ours to send (sent,
    failed, or being sent right now), else whether an earlier attempt may have gone out."""
    now = utcnow()
    row = OutboundRecord
    takeovers = (
        (True, and_(row.status == "sending", row.claimed_at < now - CLAIM_TTL)),
        (False, row.status == "pending"),
    )
    with db.session_scope() as s:
        for in_flight, condition in takeovers:
            claimed = s.execute(
                update(row).where(row.id == record_id, condition)
                .values(status="sending", claimed_at=now, attempts=row.attempts + 1)
            ).rowcount
            if claimed:
                return in_flight
    return None


def deliver(record_id: int) -> str | None:
    """Send one outbox row exactly once.

    The row is claimed atomically in the database, so two workers never send it together;
    a claim left by a dead worker expires and the next attempt first asks the channel
    whether the message already went out. Failures put the row back to pending and raise
    so RQ retries with backoff; a provider's Retry-After pauses that channel for everyone.
    """
    in_flight = _claim(record_id)
    if in_flight is None:
        return None
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        channel_name, address = record.channel, Address.from_dict(record.address)
        message = Outbound.from_dict(record.payload)
    channel, ref = channels.get(channel_name), f"out-{record_id}"
    try:
        resolved = channel.resolve(address)
        if resolved != address:
            _remember(record_id, channel, resolved)
        if in_flight and (provider_id := channel.find_sent(resolved, ref)):
            _finish(record_id, status="sent", provider_id=provider_id)
            return provider_id
        provider_id = _send_paced(channel, resolved, message, ref)
    except PermanentError as exc:
        _finish(record_id, status="failed", error=str(exc))
        log.error("outbound %s refused for good: %s", record_id, exc)
        return None
    except Exception as exc:
        _finish(record_id, status="pending", error=f"{type(exc).__name__}: {exc}")
        raise
    _finish(record_id, status="sent", provider_id=provider_id)
    return provider_id


def _send_paced(channel: Channel, address: Address, message: Outbound, ref: str) -> str | None:
    # A channel without limits still gets a key of its own, so a Retry-After holds it too.
    limits = channel.pacing(address) or [(f"{channel.name}:{address.key}", 0.0)]
    for _ in range(RETRY_AFTER_ATTEMPTS):
        ratelimit.pace(*limits)
        try:
            return channel.send(address, message, ref=ref)
        except RetryAfter as exc:
            log.warning("%s asked us to wait %s s", channel.name, exc.seconds)
            for key, _interval in limits:
                ratelimit.hold(key, exc.seconds)
    raise RetryAfter(0)


def _remember(record_id: int, channel: Channel, address: Address) -> None:
    """Keep a resolved address on the row, the interview and the person."""
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        record.address = address.to_dict()
        interview = s.get(Interview, record.interview_id) if record.interview_id else None
        if interview is not None:
            if interview.channel == address.channel:
                interview.address = address.to_dict()
            channel.remember(interview.person, address)


def _finish(record_id: int, *, status: str, error: str = "", provider_id: str | None = None):
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        record.status = status
        record.last_error = error[:2000]
        if status == "sent":
            record.provider_message_id = provider_id
            record.sent_at = utcnow()
            if record.interview_id:
                invite = s.get(Interview, record.interview_id).invite
                if invite.status == "created":
                    invite.status = "sent"
        if status == "failed" and record.interview_id:
            interview = s.get(Interview, record.interview_id)
            if interview.invite.status in ("created", "sent"):
                interview.invite.status = "unreachable"
                interview.invite.status_reason = error[:2000]


def sweep(older_than_seconds: int = 30) -> dict[str, int]:
    """Periodic job: re-enqueue inbox and outbox rows left unfinished (Redis lost, worker
    killed). Idempotent: every job it enqueues checks the row again before acting."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    row = OutboundRecord
    with db.session_scope() as s:
        inbound = s.execute(select(InboundEvent.channel, InboundEvent.event_id).where(
            InboundEvent.status == "pending", InboundEvent.received_at <= cutoff)).all()
        pending = list(s.scalars(select(row.id).where(row.status == "pending",
                                                      row.created_at <= cutoff)))
        abandoned = list(s.scalars(select(row.id).where(
            row.status == "sending", row.claimed_at <= utcnow() - CLAIM_TTL)))
    for channel, event_id in inbound:
        enqueue_inbound(channel, event_id)
    jobs.enqueue_deliveries(pending)
    jobs.enqueue_deliveries(abandoned, replace_started=True)  # their worker died mid-send
    outbound = len(pending) + len(abandoned)
    if inbound or outbound:
        log.info("sweeper re-enqueued %d inbound, %d outbound", len(inbound), outbound)
    return {"inbound": len(inbound), "outbound": outbound}
