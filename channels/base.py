"""The channel contract (DESIGN.md §3), the registry, and the two durable hand-offs.

``accept`` puts verified inbound messages in the inbox and enqueues them; ``deliver`` sends
one outbox row exactly once. Both are shared by every channel.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Any, ClassVar

from redis.exceptions import RedisError
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from core import db, jobs, ratelimit
from core.config import Settings
from core.messages import Address, Inbound, Outbound
from core.models import InboundEvent, Interview, OutboundRecord, Person, utcnow

log = logging.getLogger(__name__)


class Forbidden(Exception):
    """Signature or token check failed: answer 401/403 and log, never process."""


class BadPayload(Exception):
    """The provider payload is malformed: answer 400 with this reason."""


class PermanentError(Exception):
    """The provider refused for good (opted out, unknown user): do not retry."""


class RetryAfter(Exception):
    """The provider is pacing us (HTTP 429): wait this long, then send again."""

    def __init__(self, seconds: float):
        super().__init__(f"rate limited; retry after {seconds} s")
        self.seconds = seconds


class Channel(ABC):
    name: ClassVar[str]

    def __init__(self, settings: Settings):
        self.settings = settings

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        """A channel is on when its settings are present."""
        return True

    @abstractmethod
    def verify(self, request: Any) -> Any:
        """Check the signature or token at the edge; raise Forbidden."""

    @abstractmethod
    def parse(self, request: Any) -> list[Inbound]:
        """Pure conversion of the provider payload; [] for events to ignore."""

    def render(self, message: Outbound) -> Any:
        """Pure conversion to the provider payload. The base falls back to numbered text."""
        lines = [message.text]
        if message.choices:
            lines.append("")
            lines += [f"{i}. {c.label}" for i, c in enumerate(message.choices, 1)]
        return "\n".join(lines)

    @abstractmethod
    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        """The only I/O: send and return the provider's message id. ``ref`` names the
        outbox row so ``find_sent`` can recognise the message later."""

    def resolve(self, address: Address) -> Address:
        """Complete an address before sending (look up a user id, open a DM)."""
        return address

    def remember(self, person: Person, address: Address) -> None:
        """Keep what ``resolve`` learnt about the person (their id on this channel)."""
        return None

    def pacing(self, address: Address) -> list[tuple[str, float]]:
        """Rate limits as (key, seconds between sends), shared by all workers."""
        return []

    def find_sent(self, address: Address, ref: str) -> str | None:
        """Did an interrupted attempt reach the provider? Its message id, or None."""
        return None


def _registry() -> dict[str, type[Channel]]:
    from channels.slack import SlackChannel
    from channels.web import WebChannel

    return {cls.name: cls for cls in (WebChannel, SlackChannel)}


CHANNELS: dict[str, type[Channel]] = {}


def registry() -> dict[str, type[Channel]]:
    if not CHANNELS:
        CHANNELS.update(_registry())
    return CHANNELS


def get(name: str, settings: Settings | None = None) -> Channel:
    from core.config import get_settings

    return registry()[name](settings or get_settings())


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


def enqueue_deliveries(record_ids: list[int], *, replace_started: bool = False) -> None:
    for record_id in record_ids:
        try:
            jobs.enqueue_once("channels.base.deliver", record_id,
                              job_id=jobs.job_key("out", record_id),
                              replace_started=replace_started)
        except RedisError as exc:
            log.warning("queue unreachable, outbound %s left for the sweeper: %s", record_id, exc)


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
    channel, ref = get(channel_name), f"out-{record_id}"
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


def unfinished_outbound(s, cutoff) -> tuple[list[int], list[int]]:
    """Rows the sweeper should re-enqueue: (pending ones, ones claimed by a dead worker)."""
    row = OutboundRecord
    pending = s.scalars(select(row.id).where(row.status == "pending", row.created_at <= cutoff))
    stale = s.scalars(select(row.id).where(row.status == "sending",
                                           row.claimed_at <= utcnow() - CLAIM_TTL))
    return list(pending), list(stale)
