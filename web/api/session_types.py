"""The SessionType library: the shipped templates and HR's generated drafts."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select
from werkzeug.routing import BaseConverter

from core import db, sessions
from core.interviewer import generate
from core.library import make_topic
from core.models import Session, SessionType, Topic
from web.api import MAX_ID, audit, body, bp, unprocessable
from web.errors import ApiError
from web.schemas import SessionTypeGenerate, SessionTypePatch


def topic_json(t: Topic) -> dict[str, Any]:
    return {
        "id": t.id, "key": t.key, "label": t.label, "description": t.description,
        "probing_guidance": t.probing_guidance, "priority": t.priority, "context": t.context,
        "opening_question": t.opening_question, "probes": t.probes, "enabled": t.enabled,
        "position": t.position,
    }


def session_type_json(st: SessionType, full: bool = True) -> dict[str, Any]:
    out = {"id": st.id, "slug": st.slug, "name": st.name, "purpose": st.purpose,
           "anonymity": st.anonymity, "builtin": st.builtin, "status": st.status,
           "settings": st.settings, "topic_count": len(st.topics)}
    if full:
        out["topics"] = [topic_json(t) for t in st.topics]
    return out


class IdentConverter(BaseConverter):
    """A session type's id or slug, but not "generate": that path is POST-only, and the
    methods it allows (a 405's and OPTIONS's Allow) must say so."""

    regex = r"(?!generate$)[^/]+"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("ident", IdentConverter))


@bp.get("/session-types")
def list_session_types():
    with db.session_scope() as s:
        types = s.scalars(select(SessionType).order_by(SessionType.id))
        return jsonify(session_types=[session_type_json(t, full=False) for t in types])


def find_session_type(s, ident: int | str) -> SessionType:
    """By id (a number, also as text in a URL) or by slug."""
    if isinstance(ident, str) and ident.isascii() and ident.isdigit():
        ident = int(ident)
    if isinstance(ident, int):
        found = s.get(SessionType, ident) if 0 < ident <= MAX_ID else None
    else:
        found = s.scalar(select(SessionType).where(SessionType.slug == ident))
    if found is None:
        raise ApiError(404, "not_found", f"no session type {ident!r}")
    return found


@bp.get("/session-types/<ident:ident>")
def get_session_type(ident: str):
    with db.session_scope() as s:
        return jsonify(session_type_json(find_session_type(s, ident)))


@bp.post("/session-types/generate")
def generate_session_type():
    """A draft SessionType from HR's description, to review and edit before use."""
    data = body(SessionTypeGenerate)  # its pattern refuses a blank description
    draft = generate.generate(data.description, current_app.config["SETTINGS"])
    with db.session_scope() as s:
        base = slugify(draft.name)[:90]  # room for a "-<n>" suffix within 100
        slug, n = base, 1
        while s.scalar(select(SessionType.id).where(SessionType.slug == slug)):
            n += 1
            slug = f"{base}-{n}"
        session_type = SessionType(
            slug=slug, name=draft.name, purpose=draft.purpose, anonymity=draft.anonymity,
            settings=sessions.SessionSettings(**draft.settings).model_dump(), builtin=False,
            status="draft", topics=[make_topic(t, i) for i, t in enumerate(draft.topics)],
        )
        s.add(session_type)
        s.flush()
        audit(s, "session_type.generate", "session_type", session_type.id,
              strategy=draft.strategy, description=data.description)
        out = session_type_json(session_type)
        out["generation"] = {"strategy": draft.strategy, "notes": draft.notes}
        return jsonify(out), 201


@bp.patch("/session-types/<ident:ident>")
def patch_session_type(ident: str):
    """Edit a generated or custom type; the shipped library stays as shipped."""
    data = body(SessionTypePatch)
    with db.session_scope() as s:
        session_type = find_session_type(s, ident)
        if session_type.builtin:
            raise ApiError(409, "builtin_session_type", "the shipped session types cannot be "
                           "edited: create a session from one and edit that instead")
        same_id(data, session_type)
        apply_patch(s, session_type, data, ("name", "purpose", "anonymity", "status"))
        audit(s, "session_type.update", "session_type", session_type.id,
              fields=changed_fields(data))
        return jsonify(session_type_json(session_type))


def same_id(data, owner: Session | SessionType) -> None:
    """A body sent back from GET names its resource: it must be the one in the URL."""
    if data.id is not None and data.id != owner.id:
        raise unprocessable(f"id: {data.id} is not the id in the URL ({owner.id})")


def changed_fields(data) -> list[str]:
    """The fields a PATCH may change that it sent (read-only ones are left out)."""
    read_only = {name for name, info in type(data).model_fields.items()
                 if (info.json_schema_extra or {}).get("readOnly")}
    return sorted(set(data.model_dump(exclude_unset=True)) - read_only - {"id"})


def merged_settings(owner: Session | SessionType, data) -> dict[str, Any]:
    return sessions.SessionSettings(
        **{**(owner.settings or {}), **data.settings.model_dump(exclude_unset=True)}).model_dump()


def changes_content(owner: Session | SessionType, data) -> bool:
    """Whether a PATCH changes settings or topics (what a locked session keeps), as opposed
    to sending the current ones back."""
    if data.settings is not None and merged_settings(owner, data) != owner.settings:
        return True
    if data.topics is None:
        return False
    current = [topic_json(t) for t in owner.topics]
    if len(data.topics) != len(current):
        return True
    for item, now in zip(data.topics, current, strict=True):
        if item.id != now["id"]:
            return True
        for name, value in item.model_dump(exclude={"id", "position"},
                                           exclude_unset=True).items():
            if now[name] != value and not (value is None and name in ("key", "label")):
                return True
    return False


def apply_patch(s, owner: Session | SessionType, data, fields: tuple[str, ...]) -> None:
    """A PATCH: plain fields sent, settings merged and validated, topics replaced."""
    for name in fields:
        if getattr(data, name) is not None:
            setattr(owner, name, getattr(data, name))
    if data.settings is not None:
        owner.settings = merged_settings(owner, data)
    if data.topics is not None:
        _replace_topics(owner, data.topics)
    s.flush()
    s.refresh(owner)


def _replace_topics(owner: Session | SessionType, items) -> None:
    """Apply a full ordered topic list to a session or a session type."""
    existing = {t.id: t for t in owner.topics}
    seen_ids = [i.id for i in items if i.id is not None]
    unknown = [i for i in seen_ids if i not in existing]
    if unknown:
        raise unprocessable(f"topics: no topic with id {unknown[0]} here")
    if len(set(seen_ids)) != len(seen_ids):
        raise unprocessable("topics: a topic id is listed twice")
    keys: set[str] = set()
    result = []
    for position, item in enumerate(items):
        topic = existing.get(item.id) if item.id else None
        if topic is None:
            fields = item.model_dump(exclude={"id", "position"})
            fields["key"] = fields["key"] or slugify(item.label)
            topic = make_topic(fields, position)
        else:  # an edit changes only the fields sent
            for name, value in item.model_dump(exclude={"id", "position"},
                                               exclude_unset=True).items():
                if value is not None or name not in ("key", "label"):
                    setattr(topic, name, value)
        topic.position = position
        if topic.key in keys:
            raise unprocessable(f"topics: key {topic.key!r} is used twice")
        keys.add(topic.key)
        result.append(topic)
    if not any(t.enabled for t in result):
        raise unprocessable("topics: at least one topic must be enabled")
    owner.topics = result


def slugify(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:100] or "topic"
