"""The SessionType library: the shipped templates and HR's generated drafts."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select

from core import db, sessions
from core.interviewer import generate
from core.library import make_topic
from core.models import Session, SessionType, Topic
from web.api import audit, body, bp
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


@bp.get("/session-types")
def list_session_types():
    with db.session_scope() as s:
        types = s.scalars(select(SessionType).order_by(SessionType.id))
        return jsonify(session_types=[session_type_json(t, full=False) for t in types])


def find_session_type(s, ident: int | str) -> SessionType:
    if isinstance(ident, int) or str(ident).isdigit():
        found = s.get(SessionType, int(ident))
    else:
        found = s.scalar(select(SessionType).where(SessionType.slug == ident))
    if found is None:
        raise ApiError(404, "not_found", f"no session type {ident!r}")
    return found


@bp.get("/session-types/<ident>")
def get_session_type(ident: str):
    with db.session_scope() as s:
        return jsonify(session_type_json(find_session_type(s, ident)))


@bp.post("/session-types/generate")
def generate_session_type():
    """A draft SessionType from HR's description, to review and edit before use."""
    data = body(SessionTypeGenerate)
    if not data.description.strip():
        raise ApiError(400, "bad_request", "description: must not be blank")
    draft = generate.generate(data.description, current_app.config["SETTINGS"])
    with db.session_scope() as s:
        base = slugify(draft.name)
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


@bp.patch("/session-types/<ident>")
def patch_session_type(ident: str):
    """Edit a generated or custom type; the shipped library stays as shipped."""
    data = body(SessionTypePatch)
    with db.session_scope() as s:
        session_type = find_session_type(s, ident)
        if session_type.builtin:
            raise ApiError(409, "builtin_session_type", "the shipped session types cannot be "
                           "edited: create a session from one and edit that instead")
        apply_patch(s, session_type, data, ("name", "purpose", "anonymity", "status"))
        audit(s, "session_type.update", "session_type", session_type.id,
              fields=sorted(data.model_dump(exclude_unset=True)))
        return jsonify(session_type_json(session_type))


def apply_patch(s, owner: Session | SessionType, data, fields: tuple[str, ...]) -> None:
    """A PATCH: plain fields sent, settings merged and validated, topics replaced."""
    for name in fields:
        if getattr(data, name) is not None:
            setattr(owner, name, getattr(data, name))
    if data.settings is not None:
        merged = {**owner.settings, **data.settings}
        owner.settings = sessions.SessionSettings(**merged).model_dump()
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
        raise ApiError(400, "bad_request", f"topics: no topic with id {unknown[0]} here")
    if len(set(seen_ids)) != len(seen_ids):
        raise ApiError(400, "bad_request", "topics: a topic id is listed twice")
    keys: set[str] = set()
    result = []
    for position, item in enumerate(items):
        topic = existing.get(item.id) if item.id else None
        if topic is None:
            fields = item.model_dump(exclude={"id"})
            fields["key"] = fields["key"] or slugify(item.label)
            topic = make_topic(fields, position)
        else:  # an edit changes only the fields sent
            for name, value in item.model_dump(exclude={"id"}, exclude_unset=True).items():
                if value is not None or name not in ("key", "label"):
                    setattr(topic, name, value)
        topic.position = position
        if topic.key in keys:
            raise ApiError(400, "bad_request", f"topics: key {topic.key!r} is used twice")
        keys.add(topic.key)
        result.append(topic)
    if not any(t.enabled for t in result):
        raise ApiError(400, "bad_request", "topics: at least one topic must be enabled")
    owner.topics = result


def slugify(label: str) -> str:

    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:100] or "topic"
