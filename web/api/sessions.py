"""Sessions: HR's configured copies of a SessionType; locked once answered, cloned to change."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import select

import channels
from core import analytics, db, rollouts, sessions
from core.models import Session
from web.api import (
    access,
    audit,
    body,
    bp,
    get_or_404,
    iso,
    page,
    principal,
    unprocessable,
)
from web.api.session_types import (
    apply_patch,
    changed_fields,
    changes_content,
    find_session_type,
    same_id,
    topic_json,
)
from web.errors import ApiError
from web.schemas import SessionClone, SessionCreate, SessionPatch


def sessions_json(s, rows: list[Session]) -> list[dict[str, Any]]:
    """Sessions as the API shows them, with their counts (one query for the lot)."""
    found = sessions.counts(s, [x.id for x in rows]) if rows else {}
    zero = dict.fromkeys(sessions.COUNTS, 0)
    return [{**_session_fields(x), "counts": found.get(x.id, zero)} for x in rows]


def session_json(s, session: Session) -> dict[str, Any]:
    return sessions_json(s, [session])[0]


def _session_fields(s: Session) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "session_type": s.session_type.slug,
        "anonymity": s.anonymity, "settings": sessions.settings_of(s).model_dump(),
        "owner": s.owner, "owner_user_id": s.owner_user_id, "tags": s.tags,
        "locked": s.locked_at is not None,
        "locked_at": iso(s.locked_at), "cloned_from": s.cloned_from_id,
        "created_at": iso(s.created_at), "topics": [topic_json(t) for t in s.topics],
        "triggers": list(s.triggers or []),
    }


def triggers_of(data) -> list[dict[str, Any]]:
    """Triggers as stored: the offset spelled out, the channels resolved (default: every
    configured one, in the usual order of preference), so the daily job needs no settings."""
    from web.api.rollouts import check_channels

    available = channels.configured(current_app.config["SETTINGS"])
    default = [c for c in rollouts.CHANNELS if c in available
               and (c != "web" or "email" in available)]
    out = []
    for i, t in enumerate(data.triggers):
        names = list(t.channels) if t.channels is not None else default
        if not names:
            raise unprocessable(f"triggers[{i}].channels: no channel to invite on is "
                                "configured (a web link needs the email channel)")
        check_channels(names, f"triggers[{i}].channels")
        item: dict[str, Any] = {"on": t.on, "channels": names, "local_time": t.local_time}
        if t.days_after is not None:
            item["days_after"] = t.days_after
        elif t.days_before is not None or t.on == "end_date":  # default: on End Date
            item["days_before"] = t.days_before or 0
        else:  # default: 30 days after Start Date
            item["days_after"] = 30
        out.append(item)
    keys = [rollouts.trigger_key(t) for t in out]
    if len(set(keys)) != len(keys):
        raise ApiError(400, "bad_request", "triggers: the same trigger is listed twice")
    return out


@bp.get("/sessions")
def list_sessions():
    with db.session_scope() as s:
        stmt = select(Session)
        if (visible := access.visible_sessions(principal())) is not None:
            stmt = stmt.where(visible)  # a member: their own sessions and those shared
        rows, next_link = page(s, stmt, newest_first=True)
        return jsonify(sessions=sessions_json(s, rows), next=next_link)


@bp.post("/sessions")
def create_session():
    data = body(SessionCreate)
    triggers = triggers_of(data) if data.triggers is not None else None
    with db.session_scope() as s:
        session_type = find_session_type(s, data.session_type)
        if session_type.status != "published":
            raise ApiError(409, "draft_session_type", f"session type {session_type.slug!r} is "
                           'a draft: review it and PATCH {"status": "published"} first')
        session = sessions.create_from_type(
            s, session_type, name=data.name, owner=data.owner, tags=data.tags,
            anonymity=data.anonymity,
            settings=data.settings.model_dump(exclude_unset=True) if data.settings else None,
        )
        if triggers is not None:
            session.triggers = triggers
        session.owner_user_id = principal().user_id
        audit(s, "session.create", "session", session.id, session_type=session_type.slug)
        return jsonify(session_json(s, session)), 201


@bp.get("/sessions/<int:session_id>")
def get_session(session_id: int):
    with db.session_scope() as s:
        return jsonify(session_json(s, get_or_404(s, Session, session_id, "session")))


@bp.patch("/sessions/<int:session_id>")
def patch_session(session_id: int):
    data = body(SessionPatch)
    triggers = triggers_of(data) if data.triggers is not None else None
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        same_id(data, session)
        if changes_content(session, data):
            sessions.ensure_editable(session)
            sessions.ensure_threshold_unchanged(
                s, session, data.settings.model_dump(exclude_unset=True) if data.settings else None)
        if triggers is not None:  # not content: a locked session may change them
            session.triggers = triggers
        apply_patch(s, session, data, ("name", "tags", "owner"))
        audit(s, "session.update", "session", session.id, fields=changed_fields(data))
        return jsonify(session_json(s, session))


@bp.post("/sessions/<int:session_id>/clone")
def clone_session(session_id: int):
    data = body(SessionClone) if request.get_data() else SessionClone()
    with db.session_scope() as s:
        source = get_or_404(s, Session, session_id, "session")
        copy = sessions.clone(s, source, name=data.name)
        copy.owner_user_id = principal().user_id  # whoever clones it owns the copy
        audit(s, "session.clone", "session", copy.id, source=source.id)
        return jsonify(session_json(s, copy)), 201


@bp.get("/sessions/<int:session_id>/analytics")
def session_analytics(session_id: int):
    """Aggregates over the session's interviews (``core.analytics.session_report``)."""
    group_by = request.args.get("group_by")
    if group_by is not None and not 1 <= len(group_by.strip()) <= 100:
        raise unprocessable("group_by: a demographic key of 1 to 100 characters")
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        try:
            return jsonify(analytics.session_report(
                s, session, group_by=group_by, anonymous=principal().role == "analyst"))
        except analytics.BadGroup as exc:
            raise unprocessable(str(exc)) from None
