"""Sessions: HR's copy of a SessionType, its settings, locking and cloning."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DB

from core.models import Interview, Invite, Session, SessionType, utcnow


class SessionSettings(BaseModel):
    """Per-session knobs with DESIGN.md §6 defaults."""

    model_config = ConfigDict(extra="forbid")

    question_budget: int = Field(12, ge=1, le=60)
    pause_prompt_seconds: int = Field(120, ge=10, le=86_400)
    pause_expiry_seconds: int = Field(1800, ge=60, le=30 * 86_400)
    max_pauses: int = Field(3, ge=0, le=20)
    # an aggregated session shows answers once this many interviews have completed
    anonymity_threshold: int = Field(5, ge=3, le=10)


class SessionLocked(Exception):
    def __init__(self, session_id: int, why: str = "an interview has completed"):
        super().__init__(f"session {session_id} is locked because {why}; "
                         "clone it to make changes")


def settings_of(session: Session) -> SessionSettings:
    return SessionSettings(**(session.settings or {}))


def create_from_type(
    db: DB, session_type: SessionType, *, name: str, settings: dict[str, Any] | None = None,
    owner: str = "", tags: list[str] | None = None, anonymity: str | None = None,
) -> Session:
    """A new session with its own copy of the type's topics and settings (and its
    anonymity, unless HR chose one)."""
    merged = SessionSettings(**{**(session_type.settings or {}), **(settings or {})})
    session = Session(
        session_type=session_type, name=name, anonymity=anonymity or session_type.anonymity,
        settings=merged.model_dump(), owner=owner, tags=list(tags or []),
        topics=[t.copy() for t in session_type.topics],
    )
    db.add(session)
    db.flush()
    return session


def clone(db: DB, source: Session, *, name: str | None = None) -> Session:
    copy = Session(
        session_type=source.session_type, name=name or f"{source.name[:193]} (copy)",  # ≤ 200
        anonymity=source.anonymity, settings=dict(source.settings), owner=source.owner,
        tags=list(source.tags), cloned_from_id=source.id,
        topics=[t.copy() for t in source.topics],
    )
    db.add(copy)
    db.flush()
    return copy


COUNTS = ("invited", "started", "completed")


def counts(db: DB, session_ids: list[int]) -> dict[int, dict[str, int]]:
    """People invited to each session, and how many of them started and completed an
    interview (a restart counts once), in one grouped query however many sessions."""
    invited = (select(Invite.session_id.label("sid"), func.count().label("n"))
               .where(Invite.session_id.in_(session_ids)).group_by(Invite.session_id)
               .subquery())
    answered = (select(
        Interview.session_id.label("sid"),
        func.count(func.distinct(case((Interview.started_at.is_not(None),
                                       Interview.invite_id)))).label("started"),
        func.count(func.distinct(case((Interview.state == "completed",
                                       Interview.invite_id)))).label("completed"))
        .where(Interview.session_id.in_(session_ids)).group_by(Interview.session_id)
        .subquery())
    rows = db.execute(
        select(Session.id, func.coalesce(invited.c.n, 0),
               func.coalesce(answered.c.started, 0), func.coalesce(answered.c.completed, 0))
        .outerjoin(invited, invited.c.sid == Session.id)
        .outerjoin(answered, answered.c.sid == Session.id)
        .where(Session.id.in_(session_ids)))
    return {sid: dict(zip(COUNTS, map(int, figures), strict=True)) for sid, *figures in rows}


def ensure_editable(session: Session) -> None:
    if session.locked_at is not None:
        raise SessionLocked(session.id)


def ensure_threshold_unchanged(db: DB, session: Session, settings: dict | None) -> None:
    """The consent tells each participant the anonymity threshold: once anyone has been
    told it (an interview has started), it no longer changes."""
    wanted = (settings or {}).get("anonymity_threshold")
    if wanted is None or wanted == settings_of(session).anonymity_threshold:
        return
    if db.scalar(select(Interview.id).where(Interview.session_id == session.id).limit(1)):
        raise SessionLocked(session.id, "participants have been told its anonymity threshold")


def lock(session: Session) -> None:
    if session.locked_at is None:
        session.locked_at = utcnow()
