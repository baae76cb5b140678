"""Insights of a session (core/insights): start a run (a background job), read the latest or
an older version, a run's status, and turn a pattern into an assigned topic for the managers
of the group it appears in. Every result left the anonymity gate when it was computed."""

from __future__ import annotations

from flask import jsonify, request, url_for
from sqlalchemy import select

from core import db, insights, sessions
from core import one_on_ones as pairs_core
from core.models import Insight, Session
from core.one_on_ones import topics
from web.api import audit, body, bp, get_or_404, unprocessable
from web.api.one_on_ones import _when
from web.errors import ApiError
from web.schemas import MAX_ID, InsightRequest, PatternAssign


def _not_enough(exc: insights.NotEnough) -> ApiError:
    return ApiError(409, "not_enough_interviews", str(exc))


@bp.post("/sessions/<int:session_id>/insights")
def start_insights(session_id: int):
    data = body(InsightRequest) if request.get_data() else InsightRequest()
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        try:
            run = insights.request(s, session, group_by=data.group_by.strip())
        except insights.NotEnough as exc:
            raise _not_enough(exc) from None
        audit(s, "insights.request", "session", session_id, version=run.version)
        s.flush()
        out = insights.describe(s, run)
    insights.enqueue(out["id"])
    status_url = url_for("api.get_insight_run", insight_id=out["id"])
    out["status_url"] = status_url
    return jsonify(out), 202, {"Location": status_url}


@bp.get("/sessions/<int:session_id>/insights")
def get_insights(session_id: int):
    """The latest computed run (or ``?version=``); for an anonymous session with too few
    interviews, how many more are needed and no text at all."""
    version = request.args.get("version")
    if version is not None and not (version.isascii() and version.isdigit()
                                    and 0 < int(version) <= MAX_ID):
        raise ApiError(400, "bad_request", "version: a positive integer")
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        try:
            insights.check_enough(s, session)
        except insights.NotEnough as exc:
            return jsonify(session_id=session_id, status="withheld",
                           withheld=exc.describe())
        found = insights.latest(s, session, int(version) if version else None)
        if found is None:
            raise ApiError(404, "not_found", f"no insights version {version} for session "
                           f"{session_id}" if version else
                           f"no insights for session {session_id} yet: POST to compute them")
        out = insights.describe(s, found)
        running = s.scalar(select(Insight.id).where(Insight.session_id == session_id,
                                                    Insight.status.in_(insights.ACTIVE)))
        if running is not None and version is None:
            out["running"] = url_for("api.get_insight_run", insight_id=running)
        return jsonify(out)


@bp.get("/insights/<int:insight_id>")
def get_insight_run(insight_id: int):
    with db.session_scope() as s:
        run = get_or_404(s, Insight, insight_id, "insight")
        return jsonify(insights.describe(s, run))


@bp.post("/insights/<int:insight_id>/patterns/<pattern_id>/assign")
def assign_pattern(insight_id: int, pattern_id: str):
    """Insight → action: an assigned topic (a draft, or scheduled) for the 1-on-1s of the
    pattern's group, as ``POST /assigned-topics`` makes it."""
    data = body(PatternAssign)
    with db.session_scope() as s:
        run = get_or_404(s, Insight, insight_id, "insight")
        found = insights.pattern(run, pattern_id) if run.status == "done" else None
        if found is None:
            raise ApiError(404, "not_found", f"no pattern {pattern_id!r} in insight "
                           f"{insight_id}")
        session = s.get(Session, run.session_id)
        threshold = sessions.settings_of(session).anonymity_threshold
        audience = (data.audience.model_dump() if data.audience is not None
                    else insights.audience_of(run, found, threshold))
        if audience is None:
            raise unprocessable(
                f"audience: no {run.group_by} group of this pattern has {threshold} or more "
                "people, so none can be targeted without singling people out; send an "
                "audience of your own")
        try:
            topic = topics.create(
                s, title=data.title, note=data.note, annotation=data.annotation,
                audience=audience, assigned_by=data.assigned_by,
                send_at=_when(data.send_at, "send_at"), local_time=data.local_time,
                respect_quiet_hours=data.respect_quiet_hours)
        except pairs_core.PairError as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "insights.assign", "assigned_topic", topic.id, insight=insight_id,
              pattern=pattern_id)
        s.flush()
        out = topics.describe(s, topic)
        out["pattern"] = {"insight_id": insight_id, "id": pattern_id,
                          "label": found.get("label")}
    topics.launched(topic)
    return jsonify(out), 201
