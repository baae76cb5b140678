"""The interview behaviour: turn what a person typed or clicked into an engine call."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session as DB

from bots import commands
from core import engine
from core.messages import Inbound
from core.models import Interview, OutboundRecord


def start(db: DB, interview: Interview) -> list[OutboundRecord]:
    return engine.start(db, interview)


def handle(
    db: DB, interview: Interview, inbound: Inbound, *, words: engine.Words | None = None
) -> list[OutboundRecord]:
    if inbound.choice is None:
        choice = commands.interpret(inbound.text, engine.offered_choices(db, interview),
                                    inbound.channel)
        if choice is not None:
            inbound = replace(inbound, choice=choice)
    interview.address = inbound.sender.to_dict()
    interview.channel = inbound.channel
    return engine.handle(db, interview, inbound, words=words)


def admin_end(db: DB, interview: Interview, reason: str) -> list[OutboundRecord]:
    return engine.admin_end(db, interview, reason)


def restart(db: DB, interview: Interview) -> Interview:
    return engine.restart(db, interview)
