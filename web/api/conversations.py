"""GET /api/v1/interviews: one list of the interviews HR may read person by person, across
sessions, with filters that combine (the dashboard's Conversations and Live pages).

Anonymity (DESIGN.md §6, ``core.privacy``): an aggregated session's interviews are never a
row here, whatever the filters; ``q`` never searches their people. The answer says how many
were left out (``aggregated``), counted with the session filters only (session, type, tag),
never with the person, channel, sentiment, state, answer or date filters, so the count
cannot tell whether someone in particular took part, or when, or how it went. The session's
own list and insights summarise them.

Roles: owners and viewers every session, members the sessions they own or that are shared
with them (``access.visible_sessions``). An analyst is refused (403, ``access.POLICY``): each
row names a person, and an analyst sees aggregate figures only (a session's analytics, an
export without identity).

Sentiment is the interview's mean over its typed answers, cut where the session analytics
cut it (``core.analytics.POSITIVE``/``NEGATIVE``, VADER's usual ±0.05): positive at or above
0.05, negative at or below −0.05, neutral between; an interview without an answer has none
and matches no sentiment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import jsonify, request
from sqlalchemy import Select, and_, case, exists, func, or_, select

import channels
from core import analytics, db, privacy
from core.lifecycle import State
from core.models import Interview, Person, Session, SessionType, Turn
from web.api import access, bp, iso, page, principal
from web.errors import ApiError
from web.schemas import MAX_ID

SENTIMENTS = ("positive", "neutral", "negative")
STATES = tuple(s.value for s in State)
BOOLEANS = {"true": True, "false": False}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
Q_MAX, TEXT_MAX = 200, 100
PHONE_LIKE = re.compile(r"[\d\s()+.\-]+")
AGGREGATED_NOTE = ("{n} interview(s) in anonymous sessions are not listed: their answers are "
                   "shown only together, in each session's interviews and insights. This count "
                   "follows the session, session_type and tag filters only.")


def sentiment_label(value: float | None) -> str | None:
    if value is None:
        return None
    if value >= analytics.POSITIVE:
        return "positive"
    if value <= analytics.NEGATIVE:
        return "negative"
    return "neutral"


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


@dataclass(frozen=True)
class Filters:
    channel: str | None = None
    sentiment: str | None = None
    has_responses: bool | None = None
    q: str = ""
    session_type: str | None = None
    session: int | None = None
    states: tuple[str, ...] = ()
    tag: str | None = None
    start: datetime | None = None  # from, inclusive
    end: datetime | None = None  # the day after ``to``: exclusive

    @classmethod
    def read(cls, args) -> Filters:
        """The query string, checked: 400 naming the parameter and what it takes."""
        out: dict[str, Any] = {}
        if (channel := args.get("channel")) is not None:
            if channel not in channels.CHANNELS:
                raise _bad(f"channel: one of {', '.join(sorted(channels.CHANNELS))}")
            out["channel"] = channel
        if (sentiment := args.get("sentiment")) is not None:
            if sentiment not in SENTIMENTS:
                raise _bad("sentiment: positive, neutral or negative")
            out["sentiment"] = sentiment
        if (answered := args.get("has_responses")) is not None:
            if answered not in BOOLEANS:
                raise _bad("has_responses: true or false")
            out["has_responses"] = BOOLEANS[answered]
        q = args.get("q", "")
        if len(q) > Q_MAX:
            raise _bad(f"q: at most {Q_MAX} characters")
        out["q"] = q.strip()
        for name in ("session_type", "tag"):
            if (value := args.get(name)) is not None:
                if not 1 <= len(value) <= TEXT_MAX:
                    raise _bad(f"{name}: 1 to {TEXT_MAX} characters")
                out[name] = value
        if (session := args.get("session")) is not None:
            if not (session.isascii() and session.isdigit() and 0 < int(session) <= MAX_ID):
                raise _bad(f"session: a session id (a whole number from 1 to {MAX_ID})")
            out["session"] = int(session)
        states = [part for value in args.getlist("status") for part in value.split(",")]
        if any(state not in STATES for state in states):
            raise _bad(f"status: one or more of {', '.join(STATES)}")
        out["states"] = tuple(dict.fromkeys(states))
        start, end = _day(args, "from"), _day(args, "to")
        if start and end and start > end:
            raise ApiError(422, "unprocessable", "from must not be after to")
        out["start"] = start and datetime.combine(start, time(), UTC)
        if end is not None and end < date.max:
            out["end"] = datetime.combine(end + timedelta(days=1), time(), UTC)
        return cls(**out)

    def sessions(self, s, visible) -> Select:
        """The ids of the sessions in view: the caller's (``visible``), narrowed by the
        session filters, the only ones the count of aggregated interviews follows."""
        stmt = select(Session.id)
        if visible is not None:
            stmt = stmt.where(visible)
        if self.session is not None:
            stmt = stmt.where(Session.id == self.session)
        if self.session_type is not None:
            stmt = stmt.where(Session.session_type_id.in_(
                select(SessionType.id).where(SessionType.slug == self.session_type)))
        if self.tag is not None:  # tags are a JSON list: matched here, over the sessions
            tagged = [sid for sid, tags in s.execute(select(Session.id, Session.tags))
                      if self.tag in (tags or [])]
            stmt = stmt.where(Session.id.in_(tagged))
        return stmt

    def by_interview(self, stmt: Select) -> Select:
        """The filters on the interview and its person (named sessions only)."""
        if self.channel is not None:
            stmt = stmt.where(Interview.channel == self.channel)
        if self.sentiment == "positive":
            stmt = stmt.where(Interview.sentiment >= analytics.POSITIVE)
        elif self.sentiment == "negative":
            stmt = stmt.where(Interview.sentiment <= analytics.NEGATIVE)
        elif self.sentiment == "neutral":
            stmt = stmt.where(Interview.sentiment > analytics.NEGATIVE,
                              Interview.sentiment < analytics.POSITIVE)
        if self.has_responses is not None:
            answered = exists().where(Turn.interview_id == Interview.id,
                                      Turn.role == "participant", Turn.sentiment.is_not(None))
            stmt = stmt.where(answered if self.has_responses else ~answered)
        if self.states:
            stmt = stmt.where(Interview.state.in_(self.states))
        if self.start is not None:
            stmt = stmt.where(Interview.created_at >= self.start)
        if self.end is not None:
            stmt = stmt.where(Interview.created_at < self.end)
        if self.q:
            stmt = stmt.where(Interview.person_id.in_(_people(self.q)))
        return stmt


def _day(args, name: str) -> date | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        if not DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{name}: a date as YYYY-MM-DD") from None


def _people(q: str) -> Select:
    """People whose name or email contains ``q`` (any case), or whose phone holds its digits
    when ``q`` reads as part of a phone number. Never an erased person."""
    needle = q.lower()
    matches = [func.lower(Person.name).contains(needle, autoescape=True),
               func.lower(Person.email).contains(needle, autoescape=True)]
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3 and PHONE_LIKE.fullmatch(q):
        matches.append(Person.phone.contains(digits, autoescape=True))
    return select(Person.id).where(Person.erased_at.is_(None), or_(*matches))


def _counts(s, ids: list[int]) -> dict[int, tuple[int, int]]:
    """(turns, answers) per interview: turns said by the interviewer or the participant,
    answers typed by the participant (as ``core.analytics`` counts them)."""
    if not ids:
        return {}
    rows = s.execute(
        select(Turn.interview_id,
               func.sum(case((Turn.role != "system", 1), else_=0)),
               func.sum(case((and_(Turn.role == "participant", Turn.sentiment.is_not(None)),
                              1), else_=0)))
        .where(Turn.interview_id.in_(ids)).group_by(Turn.interview_id))
    return {i: (int(turns or 0), int(answers or 0)) for i, turns, answers in rows}


def _latest(s, ids: list[int]) -> dict[int, Turn]:
    """The last turn of each interview that is not a system notice."""
    if not ids:
        return {}
    last = (select(Turn.interview_id, func.max(Turn.seq).label("seq"))
            .where(Turn.interview_id.in_(ids), Turn.role != "system")
            .group_by(Turn.interview_id).subquery())
    return {t.interview_id: t for t in s.scalars(select(Turn).join(
        last, and_(Turn.interview_id == last.c.interview_id, Turn.seq == last.c.seq)))}


def row_json(i: Interview, counts: tuple[int, int], latest: Turn | None) -> dict[str, Any]:
    turns, answers = counts
    out = {
        "id": i.id, "session": {"id": i.session.id, "name": i.session.name,
                                "session_type": i.session.session_type.slug},
        "invite_id": i.invite_id,
        "person": {"id": i.person.id, "name": i.person.name, "email": i.person.email},
        "state": i.state, "channel": i.channel, "sentiment": i.sentiment,
        "sentiment_label": sentiment_label(i.sentiment), "engagement": i.engagement,
        "turns": turns, "answers": answers, "current_topic": i.current_topic,
        "created_at": iso(i.created_at), "started_at": iso(i.started_at),
        "ended_at": iso(i.ended_at), "updated_at": iso(i.last_activity_at),
        "last_turn": None if latest is None else {
            "id": latest.id, "role": latest.role, "text": latest.text,
            "topic": latest.topic, "created_at": iso(latest.created_at)},
    }
    # only named sessions are listed; the rule is asked all the same, as on every read path
    return privacy.shown(out, anonymity=i.session.anonymity)


@bp.get("/interviews")
def find_interviews():
    filters = Filters.read(request.args)
    visible = access.visible_sessions(principal())
    with db.session_scope() as s:
        in_view = filters.sessions(s, visible)
        named = filters.by_interview(select(Interview).where(Interview.session_id.in_(
            in_view.where(Session.anonymity != "aggregated"))))
        left_out = int(s.scalar(select(func.count(Interview.id)).where(
            Interview.session_id.in_(in_view.where(Session.anonymity == "aggregated"))))
            or 0)
        rows, next_link = page(s, named, newest_first=True)
        ids = [i.id for i in rows]
        counts, latest = _counts(s, ids), _latest(s, ids)
        return jsonify(
            interviews=[row_json(i, counts.get(i.id, (0, 0)), latest.get(i.id)) for i in rows],
            next=next_link,
            aggregated={"interviews": left_out,
                        "message": AGGREGATED_NOTE.format(n=left_out) if left_out else None})
