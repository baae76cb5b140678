"""The channel contract (DESIGN.md §3): what every channel module implements, and the
exceptions it raises. The registry is in ``channels/__init__.py``; the durable inbox and
outbox that every channel shares are in ``channels/durable.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from core.config import Settings
from core.messages import Address, Inbound, Outbound
from core.models import Person
from core.ratelimit import Limit


class Forbidden(Exception):
    """Signature or token check failed: answer 401/403 and log, never process."""


class BadPayload(Exception):
    """The provider payload is malformed: answer 400 with this reason."""


class PermanentError(Exception):
    """The provider refused for good (opted out, unknown user): do not retry."""


class NeedsOperator(Exception):
    """The provider refused our own credentials (revoked token, app uninstalled): nothing
    the person did, and no quick retry will help. Hold the message and alert an operator."""


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

    def pacing(self, address: Address, message: Outbound | None = None) -> list[Limit]:
        """The provider's rate limits for sending ``message`` there, shared by all workers
        (``core.ratelimit``); a message may cost several units (SMS segments). The first is
        the address's own (its DM, chat or number): a provider's Retry-After holds that one,
        not a whole workspace or tenant."""
        return []

    def find_sent(self, address: Address, ref: str) -> str | None:
        """Did an interrupted attempt reach the provider? Its message id, or None."""
        return None

    def settled(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload to keep once its outbox row is settled (sent, or failed for good;
        not while held, since it is tried again): drop what must not outlive the sending,
        e.g. a secret link. ``channels.durable`` stores what this returns."""
        return payload
