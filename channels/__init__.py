"""One module per channel. ``CHANNELS`` is the explicit registry (no plugin discovery);
``base`` holds the contract only and ``durable`` the inbox/outbox every channel shares."""

from __future__ import annotations

from channels.base import Channel
from channels.email import EmailChannel
from channels.slack import SlackChannel
from channels.sms import SmsChannel
from channels.teams import TeamsChannel
from channels.web import WebChannel
from core.config import Settings, get_settings

CHANNELS: dict[str, type[Channel]] = {cls.name: cls for cls in (
    WebChannel, SlackChannel, TeamsChannel, SmsChannel, EmailChannel)}


def get(name: str, settings: Settings | None = None) -> Channel:
    """An instance of the named channel, on the given (or the process's) settings."""
    return CHANNELS[name](settings or get_settings())


def configured(settings: Settings) -> list[str]:
    """The names of the channels whose settings are present (the web link always is)."""
    return [name for name, cls in CHANNELS.items() if cls.configured(settings)]
