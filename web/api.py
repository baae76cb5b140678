"""The HR REST API under /api/v1: bearer-token auth, JSON in and out."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bots import interview as interview_bot
from channels.base import enqueue_deliveries, registry
from core import db, directory, invites, jobs, sessions
from core.interviewer import generate
from core.library import make_topic
from core.models import AuditLog, Interview, Invite, Person, Session, SessionType, Topic, Turn
from web.errors import ApiError
from web.schemas import (
    InterviewEnd,
    InviteCreate,
    PersonIn,
    SessionClone,
    SessionCreate,
    SessionPatch,
    SessionTypeGenerate,
    SessionTypePatch,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPEN_ENDPOINTS = {"api.healthz", "api.openapi"}


@bp.before_request
def _authenticate():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    expected = current_app.config["SETTINGS"].admin_api_token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        current_app.logger.warning("API request with a missing or wrong token: %s", request.path)
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <ADMIN_API_TOKEN>")
    return None


def body(model: type[BaseModel]) -> Any:
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return model.model_validate(raw)


def _not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(404, "not_found", f"no {kind} with id {ident}")


def _get(s, model, ident: int, kind: str):
    obj = s.get(model, ident)
    if obj is None:
        raise _not_found(kind, ident)
    return obj


def audit(s, action: str, target_type: str, target_id: int | None, **detail) -> None:
    s.add(AuditLog(actor="admin-token", action=action, target_type=target_type,
                   target_id=target_id, detail=detail))


# ---- serialisers -------------------------------------------------------------------------

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


def session_json(s: Session) -> dict[str, Any]:
    return {
        "id": s.id, "name": s.name, "session_type": s.session_type.slug,
        "anonymity": s.anonymity, "settings": sessions.settings_of(s).model_dump(),
        "owner": s.owner, "tags": s.tags, "locked": s.locked_at is not None,
        "locked_at": _iso(s.locked_at), "cloned_from": s.cloned_from_id,
        "created_at": _iso(s.created_at), "topics": [topic_json(t) for t in s.topics],
    }


def person_json(p: Person) -> dict[str, Any]:
    return {
        "id": p.id, "name": p.name, "email": p.email, "phone": p.phone,
        "slack_user_id": p.slack_user_id, "teams_user_id": p.teams_user_id,
        "timezone": p.timezone, "manager_id": p.manager_id, "demographics": p.demographics,
    }


def interview_json(i: Interview, turns: list[Turn] | None = None) -> dict[str, Any]:
    out = {
        "id": i.id, "session_id": i.session_id, "invite_id": i.invite_id,
        "person": {"id": i.person.id, "name": i.person.name, "email": i.person.email},
        "state": i.state, "channel": i.channel, "current_topic": i.current_topic,
        "pauses_used": i.pauses_used, "drop_off_topic": i.drop_off_topic,
        "end_reason": i.end_reason, "restarted_from": i.restarted_from_id,
        "sentiment": i.sentiment, "engagement": i.engagement,
        "open_questions": (i.coverage or {}).get("open_questions", []),
        "coverage": {k: {f: v[f] for f in ("status", "questions", "probes")}
                     for k, v in (i.coverage or {}).get("topics", {}).items()},
        "created_at": _iso(i.created_at), "started_at": _iso(i.started_at),
        "ended_at": _iso(i.ended_at),
    }
    if turns is not None:
        out["turns"] = [
            {"seq": t.seq, "role": t.role, "text": t.text, "redacted_text": t.redacted_text,
             "topic": t.topic,
             "sentiment": t.sentiment, "channel": t.channel, "reasoning": t.reasoning,
             "created_at": _iso(t.created_at)}
            for t in turns
        ]
    return out


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# ---- routes ------------------------------------------------------------------------------

@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db.ping()
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        jobs.ping()
        checks["redis"] = "ok"
    except (RedisError, OSError) as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


@bp.get("/openapi.json")
def openapi():
    from web.openapi import document

    return jsonify(document(current_app))


@bp.get("/session-types")
def list_session_types():
    with db.session_scope() as s:
        types = s.scalars(select(SessionType).order_by(SessionType.id))
        return jsonify(session_types=[session_type_json(t, full=False) for t in types])


def _session_type(s, ident: int | str) -> SessionType:
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
        return jsonify(session_type_json(_session_type(s, ident)))


@bp.post("/session-types/generate")
def generate_session_type():
    """A draft SessionType from HR's description, to review and edit before use."""
    data = body(SessionTypeGenerate)
    if not data.description.strip():
        raise ApiError(400, "bad_request", "description: must not be blank")
    draft = generate.generate(data.description, current_app.config["SETTINGS"])
    with db.session_scope() as s:
        base = _slug(draft.name)
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
        session_type = _session_type(s, ident)
        if session_type.builtin:
            raise ApiError(409, "builtin_session_type", "the shipped session types cannot be "
                           "edited: create a session from one and edit that instead")
        _apply(s, session_type, data, ("name", "purpose", "anonymity", "status"))
        audit(s, "session_type.update", "session_type", session_type.id,
              fields=sorted(data.model_dump(exclude_unset=True)))
        return jsonify(session_type_json(session_type))


@bp.get("/sessions")
def list_sessions():
    with db.session_scope() as s:
        rows = s.scalars(select(Session).order_by(Session.id.desc()))
        return jsonify(sessions=[session_json(x) for x in rows])


@bp.post("/sessions")
def create_session():
    data = body(SessionCreate)
    with db.session_scope() as s:
        session_type = _session_type(s, data.session_type)
        if session_type.status != "published":
            raise ApiError(409, "draft_session_type", f"session type {session_type.slug!r} is "
                           'a draft: review it and PATCH {"status": "published"} first')
        session = sessions.create_from_type(
            s, session_type, name=data.name, owner=data.owner, tags=data.tags,
            settings=data.settings.model_dump(exclude_unset=True) if data.settings else None,
        )
        audit(s, "session.create", "session", session.id, session_type=session_type.slug)
        return jsonify(session_json(session)), 201


@bp.get("/sessions/<int:session_id>")
def get_session(session_id: int):
    with db.session_scope() as s:
        return jsonify(session_json(_get(s, Session, session_id, "session")))


@bp.patch("/sessions/<int:session_id>")
def patch_session(session_id: int):
    data = body(SessionPatch)
    with db.session_scope() as s:
        session = _get(s, Session, session_id, "session")
        if data.settings is not None or data.topics is not None:
            sessions.ensure_editable(session)
        _apply(s, session, data, ("name", "tags", "owner"))
        audit(s, "session.update", "session", session.id,
              fields=sorted(data.model_dump(exclude_unset=True)))
        return jsonify(session_json(session))


def _apply(s, owner: Session | SessionType, data, fields: tuple[str, ...]) -> None:
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
            fields["key"] = fields["key"] or _slug(item.label)
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


def _slug(label: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:100] or "topic"


@bp.post("/sessions/<int:session_id>/clone")
def clone_session(session_id: int):
    data = body(SessionClone) if request.get_data() else SessionClone()
    with db.session_scope() as s:
        source = _get(s, Session, session_id, "session")
        copy = sessions.clone(s, source, name=data.name)
        audit(s, "session.clone", "session", copy.id, source=source.id)
        return jsonify(session_json(copy)), 201


@bp.post("/people")
def upsert_person():
    data = body(PersonIn)
    with db.session_scope() as s:
        try:
            person, created = directory.upsert(s, data.model_dump(exclude_unset=True))
        except LookupError as exc:
            raise ApiError(400, "bad_request", f"manager_email: {exc}") from None
        return jsonify(person_json(person)), 201 if created else 200


@bp.get("/people")
def search_people():
    q = request.args.get("q", "")
    if len(q) > 200:
        raise ApiError(400, "bad_request", "q: at most 200 characters")
    with db.session_scope() as s:
        return jsonify(people=[person_json(p) for p in directory.search(s, q)])


@bp.post("/sessions/<int:session_id>/invites")
def create_invite(session_id: int):
    data = body(InviteCreate)
    settings = current_app.config["SETTINGS"]
    if data.channel not in registry() or not registry()[data.channel].configured(settings):
        raise ApiError(400, "bad_request",
                       f"channel: {data.channel!r} is not configured (available: "
                       f"{', '.join(sorted(registry()))})")
    with db.session_scope() as s:
        session = _get(s, Session, session_id, "session")
        if data.person is not None:
            try:
                person, _ = directory.upsert(s, data.person.model_dump(exclude_unset=True))
            except LookupError as exc:
                raise ApiError(400, "bad_request", f"person.manager_email: {exc}") from None
        else:
            person = _get(s, Person, data.person_id, "person")
        invite, token = invites.create(s, session, person, channel=data.channel,
                                       ttl_days=settings.invite_ttl_days)
        ids = []
        if data.channel != "web":  # a chat channel: the consent message goes out now
            interview, _ = invites.open_interview(s, invite)
            ids = [r.id for r in interview_bot.start(s, interview)]
        audit(s, "invite.create", "invite", invite.id, person=person.id, channel=data.channel)
        link = f"{settings.effective_public_base_url}/c/{token}"
        out = {"id": invite.id, "person_id": person.id, "channel": invite.channel, "link": link,
               "status": invite.status, "expires_at": _iso(invite.expires_at)}
    enqueue_deliveries(ids)
    return jsonify(out), 201


@bp.get("/sessions/<int:session_id>/invites")
def list_invites(session_id: int):
    """Each invite's status, with the reason when someone could not be reached."""
    with db.session_scope() as s:
        _get(s, Session, session_id, "session")
        rows = s.scalars(select(Invite).where(Invite.session_id == session_id)
                         .order_by(Invite.id))
        return jsonify(invites=[{
            "id": i.id, "person_id": i.person_id, "channel": i.channel, "status": i.status,
            "status_reason": i.status_reason, "sent_at": _iso(i.sent_at),
            "expires_at": _iso(i.expires_at)} for i in rows])


@bp.get("/sessions/<int:session_id>/interviews")
def list_interviews(session_id: int):
    with db.session_scope() as s:
        _get(s, Session, session_id, "session")
        rows = s.scalars(select(Interview).where(Interview.session_id == session_id)
                         .order_by(Interview.id))
        return jsonify(interviews=[interview_json(i) for i in rows])


@bp.get("/interviews/<int:interview_id>")
def get_interview(interview_id: int):
    with db.session_scope() as s:
        interview = _get(s, Interview, interview_id, "interview")
        turns = list(s.scalars(select(Turn).where(Turn.interview_id == interview.id)
                               .order_by(Turn.seq)))
        return jsonify(interview_json(interview, turns))


@bp.post("/interviews/<int:interview_id>/end")
def end_interview(interview_id: int):
    data = body(InterviewEnd) if request.get_data() else InterviewEnd()
    with db.session_scope() as s:
        interview = _get(s, Interview, interview_id, "interview")
        ids = [r.id for r in interview_bot.admin_end(s, interview, data.reason)]
        audit(s, "interview.end", "interview", interview.id, reason=data.reason)
        out = interview_json(interview)
    enqueue_deliveries(ids)
    return jsonify(out)


@bp.post("/interviews/<int:interview_id>/restart")
def restart_interview(interview_id: int):
    with db.session_scope() as s:
        interview = _get(s, Interview, interview_id, "interview")
        fresh = interview_bot.restart(s, interview)
        ids = [r.id for r in interview_bot.start(s, fresh)]
        audit(s, "interview.restart", "interview", interview.id, new=fresh.id)
        out = interview_json(fresh)
    enqueue_deliveries(ids)
    return jsonify(out), 201


@bp.delete("/interviews/<int:interview_id>")
def delete_interview(interview_id: int):
    with db.session_scope() as s:
        interview = _get(s, Interview, interview_id, "interview")
        turns = s.scalar(select(func.count()).select_from(Turn)
                         .where(Turn.interview_id == interview.id))
        audit(s, "interview.delete", "interview", interview.id, turns=turns,
              person=interview.person_id)
        s.delete(interview)
    return "", 204
