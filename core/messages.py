"""Channel-neutral values that cross the core boundary (STYLE.md 1).

Channels turn provider payloads into ``Inbound`` and render ``Outbound``; the core never
sees a Slack block or a Twilio form field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The longest text a person may send on any channel; longer ones get prompts.too_long.
MAX_TEXT = 5000


def storable(text: str) -> str:
    """``text`` as every database can keep it: a lone UTF-16 surrogate (valid JSON, not valid
    UTF-8) becomes U+FFFD and NUL (which PostgreSQL text refuses) is dropped."""
    if text.isascii() and "\x00" not in text:
        return text
    return (text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            .replace("\x00", ""))


@dataclass(frozen=True)
class Address:
    """Where to reach someone on a channel; ``data`` holds what a proactive send needs."""

    channel: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Address:
        return cls(channel=raw["channel"], key=raw["key"], data=dict(raw.get("data") or {}))


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Inbound:
    """One thing a person said or clicked. A click names the conversation its button
    belongs to (``interview_id``), so it acts on that one even when the person has others;
    a click or a message in a 1-on-1 thread names what it is about instead (``about``:
    "agenda:<item id>", "pair:<pair id>", "thread:<provider's thread id>")."""

    channel: str
    event_id: str
    sender: Address
    text: str = ""
    choice: str | None = None
    interview_id: int | None = None
    about: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Inbound:
        return cls(
            channel=raw["channel"],
            event_id=raw["event_id"],
            sender=Address.from_dict(raw["sender"]),
            text=raw.get("text") or "",
            choice=raw.get("choice"),
            interview_id=raw.get("interview_id"),
            about=raw.get("about"),
        )


@dataclass(frozen=True)
class Outbound:
    """One message to send; ``progress`` is e.g. (3, 6) for "Topic 3 of 6";
    ``interview_id`` the conversation it belongs to, which its buttons carry back (or
    ``about``, what a 1-on-1 message's buttons act on). ``replaces`` is the provider's id
    of a message this one updates in place (a channel that cannot edit sends it anew)."""

    text: str
    choices: tuple[Choice, ...] = ()
    role: str = "interviewer"
    progress: tuple[int, int] | None = None
    interview_id: int | None = None
    about: str | None = None
    replaces: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "text": self.text,
            "choices": [asdict(c) for c in self.choices],
            "role": self.role,
            "progress": list(self.progress) if self.progress else None,
            "interview_id": self.interview_id,
        }
        if self.about:
            out["about"] = self.about
        if self.replaces:
            out["replaces"] = self.replaces
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Outbound:
        return cls(
            text=raw["text"],
            choices=tuple(Choice(**c) for c in raw.get("choices") or ()),
            role=raw.get("role", "interviewer"),
            progress=tuple(raw["progress"]) if raw.get("progress") else None,
            interview_id=raw.get("interview_id"),
            about=raw.get("about"),
            replaces=raw.get("replaces"),
        )
