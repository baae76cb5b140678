"""The channel contract (DESIGN.md §3), the registry, and the two durable hand-offs.

``accept`` puts verified inbound messages in the inbox and enqueues them; ``deliver`` sends
one outbox row exactly once. Both are shared by every channel.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from core import db, jobs
from core.config import Settings
from core.messages import Address, Inbound, Outbound
from core.models import InboundEvent, OutboundRecord, utcnow

log = logging.getLogger(__name__)


class Forbidden(Exception):
    """Signature or token check failed: answer 401/403 and log, never process."""


class BadPayload(Exception):
    """The provider payload is malformed: answer 400 with this reason."""


class PermanentError(Exception):
    """The provider refused for good (opted out, unknown user): do not retry."""


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
    def send(self, address: Address, message: Outbound) -> str | None:
        """The only I/O: send and return the provider's message id."""


def _registry() -> dict[str, type[Channel]]:
    from channels.web import WebChannel

    return {cls.name: cls for cls in (WebChannel,)}


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


def enqueue_deliveries(record_ids: list[int]) -> None:
    for record_id in record_ids:
        try:
            jobs.enqueue_once("channels.base.deliver", record_id,
                              job_id=jobs.job_key("out", record_id))
        except RedisError as exc:
            log.warning("queue unreachable, outbound %s left for the sweeper: %s", record_id, exc)


def deliver(record_id: int) -> str | None:
    """Send one outbox row. Idempotent: a row already sent is skipped, and a Redis lock
    keeps two workers from sending the same row at once. A failure raises so RQ retries
    with backoff; the row records the attempt and the error."""
    lock = jobs.connection().lock(f"parley:deliver:{record_id}", timeout=300)
    if not lock.acquire(blocking=False):
        raise RuntimeError(f"outbound {record_id} is being delivered by another worker")
    try:
        with db.session_scope() as s:
            record = s.get(OutboundRecord, record_id)
            if record is None or record.status != "pending":
                return None
            channel_name, address = record.channel, Address.from_dict(record.address)
            message = Outbound.from_dict(record.payload)
        try:
            provider_id = get(channel_name).send(address, message)
        except PermanentError as exc:
            _finish(record_id, status="failed", error=str(exc))
            log.error("outbound %s refused for good: %s", record_id, exc)
            return None
        except Exception as exc:
            _finish(record_id, status="pending", error=f"{type(exc).__name__}: {exc}")
            raise
        _finish(record_id, status="sent", provider_id=provider_id)
        return provider_id
    finally:
        lock.release()


def _finish(record_id: int, *, status: str, error: str = "", provider_id: str | None = None):
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id)
        record.attempts += 1
        record.status = status
        record.last_error = error[:2000]
        if status == "sent":
            record.provider_message_id = provider_id
            record.sent_at = utcnow()

