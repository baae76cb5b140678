"""Interviews: state, coverage and turns; end, restart and delete.

Every response goes through ``core.privacy``. An aggregated session's interviews are never
addressed one by one (404 by id, for reading and for actions alike: an id, its state or its
disappearance would tell HR whose answers are whose). Its list shows counts by state and the
answers of completed interviews released in whole batches of the anonymity threshold,
without id, person, invite, channel or time, in an order keyed by a secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import func, select

from bots import interview as interview_bot
from core import analytics, db, engine, exports, insights, jobs, privacy, sessions
from core.lifecycle import State
from core.models import Interview, OutboundRecord, Person, Session, Turn
from web.api import audit, body, bp, get_or_404, iso, page, page_sorted
from web.errors import ApiError
from web.schemas import MAX_ID, InterviewEnd

API_WAIT = 2.0  # seconds HR's request waits for a message being handled, then 409 Busy


def interview_json(i: Interview, turns: list[Turn] | None = None,
                   segments: dict[int, int] | None = None,
                   figures: dict[int, dict[str, Any]] | None = None,
                   scrub=None) -> dict[str, Any]:
    """The interview as its session's anonymity allows; ``figures`` from
    ``core.analytics.for_interviews`` (an interview not ended has none: null)."""
    out = _full(i, turns, segments or {})
    out["analytics"] = (figures or {}).get(i.id)
    return privacy.shown(out, anonymity=i.session.anonymity,
                         secret=current_app.config["SETTINGS"].secret_key, scrub=scrub)


def _segments(s, turns: list[Turn]) -> dict[int, int]:
    """SMS: what each turn cost, in segments, shown with the message."""
    return dict(s.execute(
        select(OutboundRecord.turn_id, func.sum(OutboundRecord.segments))
        .where(OutboundRecord.turn_id.in_([t.id for t in turns]),
               OutboundRecord.segments.is_not(None))
        .group_by(OutboundRecord.turn_id)).all())


def addressable(s, interview_id: int) -> Interview:
    """An interview HR may address by id: any of a named session, none of an aggregated one.
    Both kinds of absence answer the same 404, so an id says nothing either way."""
    interview = s.get(Interview, interview_id) if 0 < interview_id <= MAX_ID else None
    if interview is None or interview.session.anonymity == "aggregated":
        raise ApiError(404, "not_found", privacy.NOT_ADDRESSABLE.format(id=interview_id))
    return interview


@contextlib.contextmanager
def changing(interview_id: int) -> Iterator[Any]:
    """A transaction that changes an interview HR may address: checked before its lock is
    taken (an anonymous interview's lock must not answer for it), then read afresh under it."""
    with db.session_scope() as s:
        addressable(s, interview_id)
    with engine.serialised(interview_id, wait=API_WAIT), db.session_scope() as s:
        yield s, addressable(s, interview_id)


def _full(i: Interview, turns: list[Turn] | None,
          segments: dict[int, int]) -> dict[str, Any]:
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
            {"id": t.id, "seq": t.seq, "role": t.role, "text": t.text,
             "redacted_text": t.redacted_text, "topic": t.topic,
             "sentiment": t.sentiment, "channel": t.channel, "reasoning": t.reasoning,
             "created_at": iso(t.created_at),
             **({"segments": int(segments[t.id])} if t.id in segments else {})}
            for t in turns
        ]
    return out


@bp.get("/sessions/<int:session_id>/interviews")
def list_interviews(session_id: int):
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        of_session = select(Interview).where(Interview.session_id == session_id)
        if session.anonymity != "aggregated":
            rows, next_link = page(s, of_session)
            figures = analytics.for_interviews(s, rows)
            return jsonify(interviews=[interview_json(i, figures=figures) for i in rows],
                           next=next_link)
        return jsonify(_aggregated(s, session, of_session))


def _aggregated(s, session: Session, of_session) -> dict[str, Any]:
    """Counts by state, and the released answers: the first completed interviews in whole
    batches of the threshold, listed (and paged) in an order keyed by a secret."""
    counts = dict(s.execute(select(Interview.state, func.count()).where(
        Interview.session_id == session.id).group_by(Interview.state)).all())
    threshold = sessions.settings_of(session).anonymity_threshold
    completed = counts.get(State.COMPLETED, 0)
    rows = list(s.scalars(of_session.where(Interview.state == State.COMPLETED)
                          .order_by(Interview.ended_at, Interview.id)
                          .limit(privacy.released(threshold, completed))))
    secret = current_app.config["SETTINGS"].secret_key
    rows, next_link = page_sorted(rows, key=lambda i: privacy.listing_key(secret, i.id))
    turns = _turns(s, rows)
    figures = analytics.for_interviews(s, rows)
    scrub = privacy.directory_scrubber(lambda: s.scalars(select(Person.name))) if rows else None
    out: dict[str, Any] = {"counts": counts,
                           "interviews": [interview_json(i, turns[i.id], figures=figures,
                                                         scrub=scrub) for i in rows],
                           "next": next_link}
    if reason := privacy.withheld_reason(threshold, completed):
        out["withheld"] = {"reason": reason}
    return out


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
        interview = addressable(s, interview_id)
        turns = list(s.scalars(select(Turn).where(Turn.interview_id == interview.id)
                               .order_by(Turn.seq)))
        return jsonify(interview_json(interview, turns, _segments(s, turns),
                                      analytics.for_interviews(s, [interview])))


@bp.post("/interviews/<int:interview_id>/end")
def end_interview(interview_id: int):
    data = body(InterviewEnd) if request.get_data() else InterviewEnd()
    with changing(interview_id) as (s, interview):
        ids = [r.id for r in interview_bot.admin_end(s, interview, data.reason)]
        audit(s, "interview.end", "interview", interview.id, reason=data.reason)
        out = interview_json(interview, figures=analytics.for_interviews(s, [interview]))
    jobs.enqueue_deliveries(ids)
    return jsonify(out)


@bp.post("/interviews/<int:interview_id>/restart")
def restart_interview(interview_id: int):
    with changing(interview_id) as (s, interview):
        fresh = interview_bot.restart(s, interview)
        ids = [r.id for r in interview_bot.start(s, fresh)]
        audit(s, "interview.restart", "interview", interview.id, new=fresh.id)
        out = interview_json(fresh)
    jobs.enqueue_deliveries(ids)
    return jsonify(out), 201


@bp.delete("/interviews/<int:interview_id>")
def delete_interview(interview_id: int):
    with changing(interview_id) as (s, interview):
        turn_ids = list(s.scalars(select(Turn.id).where(Turn.interview_id == interview.id)))
        quotes = insights.forget(s, interview.session_id, interview.id, turn_ids)
        files = exports.forget(s)
        audit(s, "interview.delete", "interview", interview.id, turns=len(turn_ids),
              person=interview.person_id, insight_quotes=quotes, export_files=files)
        s.delete(interview)
    return "", 204
