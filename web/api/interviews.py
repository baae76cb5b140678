"""Interviews: state, coverage and turns; end, restart and delete."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import func, select

from bots import interview as interview_bot
from core import db, engine, jobs
from core.models import Interview, Session, Turn
from web.api import audit, body, bp, get_or_404, iso
from web.schemas import InterviewEnd


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
        "created_at": iso(i.created_at), "started_at": iso(i.started_at),
        "ended_at": iso(i.ended_at),
    }
    if turns is not None:
        out["turns"] = [
            {"seq": t.seq, "role": t.role, "text": t.text, "redacted_text": t.redacted_text,
             "topic": t.topic,
             "sentiment": t.sentiment, "channel": t.channel, "reasoning": t.reasoning,
             "created_at": iso(t.created_at)}
            for t in turns
        ]
    return out


@bp.get("/sessions/<int:session_id>/interviews")
def list_interviews(session_id: int):
    with db.session_scope() as s:
        get_or_404(s, Session, session_id, "session")
        rows = s.scalars(select(Interview).where(Interview.session_id == session_id)
                         .order_by(Interview.id))
        return jsonify(interviews=[interview_json(i) for i in rows])


@bp.get("/interviews/<int:interview_id>")
def get_interview(interview_id: int):
    with db.session_scope() as s:
        interview = get_or_404(s, Interview, interview_id, "interview")
        turns = list(s.scalars(select(Turn).where(Turn.interview_id == interview.id)
                               .order_by(Turn.seq)))
        return jsonify(interview_json(interview, turns))


@bp.post("/interviews/<int:interview_id>/end")
def end_interview(interview_id: int):
    data = body(InterviewEnd) if request.get_data() else InterviewEnd()
    with engine.serialised(interview_id), db.session_scope() as s:
        interview = get_or_404(s, Interview, interview_id, "interview")
        ids = [r.id for r in interview_bot.admin_end(s, interview, data.reason)]
        audit(s, "interview.end", "interview", interview.id, reason=data.reason)
        out = interview_json(interview)
    jobs.enqueue_deliveries(ids)
    return jsonify(out)


@bp.post("/interviews/<int:interview_id>/restart")
def restart_interview(interview_id: int):
    with engine.serialised(interview_id), db.session_scope() as s:
        interview = get_or_404(s, Interview, interview_id, "interview")
        fresh = interview_bot.restart(s, interview)
        ids = [r.id for r in interview_bot.start(s, fresh)]
        audit(s, "interview.restart", "interview", interview.id, new=fresh.id)
        out = interview_json(fresh)
    jobs.enqueue_deliveries(ids)
    return jsonify(out), 201


@bp.delete("/interviews/<int:interview_id>")
def delete_interview(interview_id: int):
    with engine.serialised(interview_id), db.session_scope() as s:
        interview = get_or_404(s, Interview, interview_id, "interview")
        turns = s.scalar(select(func.count()).select_from(Turn)
                         .where(Turn.interview_id == interview.id))
        audit(s, "interview.delete", "interview", interview.id, turns=turns,
              person=interview.person_id)
        s.delete(interview)
    return "", 204
