"""Interviews: state, coverage and turns; end, restart and delete.

Every response goes through ``core.privacy.shown``: an aggregated session's interviews carry
no id, person, invite or time, and their answers appear only in the session's list, once
enough have completed. HR can still end, restart or delete one by an id it already holds;
the responses then show the lifecycle state only.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import func, select

from bots import interview as interview_bot
from core import db, engine, jobs, privacy, sessions
from core.lifecycle import State
from core.models import Interview, Session, Turn
from web.api import audit, body, bp, get_or_404, iso, page, page_sorted
from web.schemas import InterviewEnd


def interview_json(i: Interview, turns: list[Turn] | None = None, *, listed: bool = False,
                   completed: int = 0) -> dict[str, Any]:
    """The interview as this session's anonymity allows (``completed``: the session's
    completed interviews, needed only when ``listed``)."""
    threshold = sessions.settings_of(i.session).anonymity_threshold
    reason = privacy.withheld_reason(i.session.anonymity, threshold, completed, state=i.state,
                                     listed=listed)
    return privacy.shown(_full(i, turns), anonymity=i.session.anonymity, reason=reason)


def _full(i: Interview, turns: list[Turn] | None) -> dict[str, Any]:
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
        session = get_or_404(s, Session, session_id, "session")
        of_session = select(Interview).where(Interview.session_id == session_id)
        completed = s.scalar(select(func.count()).select_from(Interview).where(
            Interview.session_id == session_id, Interview.state == State.COMPLETED))
        if session.anonymity != "aggregated":
            rows, next_link = page(s, of_session)
            return jsonify(interviews=[interview_json(i, listed=True, completed=completed)
                                       for i in rows], next=next_link)
        # an order (and a cursor) keyed by a secret, so neither says who is who
        secret = current_app.config["SETTINGS"].secret_key
        rows, next_link = page_sorted(list(s.scalars(of_session)),
                                      key=lambda i: privacy.listing_key(secret, i.id))
        turns = _turns(s, [i for i in rows if i.state == State.COMPLETED])
        return jsonify(interviews=[
            interview_json(i, turns.get(i.id), listed=True, completed=completed) for i in rows],
            next=next_link)


def _turns(s, rows: list[Interview]) -> dict[int, list[Turn]]:
    """Turns of the listed interviews: an aggregated session's answers are read only here."""
    out: dict[int, list[Turn]] = {i.id: [] for i in rows}
    for turn in s.scalars(select(Turn).where(Turn.interview_id.in_(list(out)))
                          .order_by(Turn.interview_id, Turn.seq)):
        out[turn.interview_id].append(turn)
    return out


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
