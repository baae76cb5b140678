"""Analytics: the figures of each ended interview, and a session's aggregates over them.

Per interview (``figures``, pure over its turns): duration from the participant's first turn
after the first question to the end, less the time spent paused; words by each side; turns;
the median time from a question to its answer; sentiment per topic; probes that drew a rich
answer; the drop-off topic; questions asked back; channels. They are computed once, when
the interview ends (``due`` from ``core.engine.transition``, written just before that
transaction commits, so the closing message counts), and kept in ``interview_analytics`` and
``interview_topic_analytics``. Interviews that ended before those tables existed get theirs
on first read (``for_interviews``, ``session_report``) or from ``parley analytics backfill``.

Per session (``session_report``): counts and sums in SQL over those rows, grouped by channel
and, on request, by a demographic; only medians read one column of durations. In an
aggregated session, figures drawn from answers cover the released interviews only (whole
batches of the threshold, as its interview list) and a small group is merged into "Other"
with the next-smallest (``protect``), so no group's figures single anyone out.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean, median
from typing import Any

from sqlalchemy import and_, case, delete, event, exists, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import lazyload, object_session

from core import privacy, sessions
from core.directory import audiences
from core.interviewer.planner import classify
from core.lifecycle import TERMINAL, State
from core.models import (
    Interview,
    InterviewAnalytics,
    Invite,
    PersonAttribute,
    Session,
    TopicAnalytics,
    Turn,
    utcnow,
)

WORD = re.compile(r"\w+")
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's usual cut of the compound score
FULL_ANSWER_WORDS = 60  # words per answer that count as full depth (as core.metrics)
LEFT = (State.ABANDONED, State.ADMIN_ENDED)  # ended before the end: a drop-off
OTHER, UNKNOWN = privacy.OTHER, "Unknown"
BACKFILL_BATCH = 200


# ---- one interview -----------------------------------------------------------------------

@dataclass(frozen=True)
class TurnRow:
    """What the figures read of a turn (a ``Turn`` fits)."""

    seq: int
    role: str
    text: str
    topic: str | None
    sentiment: float | None  # set on typed participant answers only (not on buttons)
    channel: str
    created_at: datetime
    reasoning: dict[str, Any] | None = None


@dataclass
class TopicFigures:
    topic: str
    status: str
    reached: bool
    answers: int = 0
    words: int = 0
    sentiment: float | None = None
    probed: bool = False
    rich: bool = False


@dataclass
class Figures:
    status: str
    duration_seconds: float | None
    paused_seconds: float
    turns: int
    answers: int
    interviewer_words: int
    participant_words: int
    response_seconds: float | None
    questions_asked_back: int
    probed_topics: int
    probed_topics_rich: int
    drop_off_topic: str | None
    channel: str | None
    channels: list[str]
    topics: list[TopicFigures] = field(default_factory=list)


def words(text: str) -> int:
    return len(WORD.findall(text))


def figures(turns: Sequence[TurnRow], *, state: str, coverage: dict[str, Any] | None,
            ended_at: datetime | None, paused_seconds: float = 0.0,
            current_topic: str | None = None, drop_off_topic: str | None = None) -> Figures:
    """The figures of one interview from its turns (in seq order) and its row's fields."""
    coverage = coverage or {}
    turns = sorted(turns, key=lambda t: t.seq)
    talk = [t for t in turns if t.role != "system"]
    answers = [t for t in turns if t.role == "participant" and t.sentiment is not None]
    first_question = next((t.seq for t in turns if t.role == "interviewer"), None)
    # the span starts at their first turn after the first question (an answer, or a command
    # such as Pause), so every pause they took lies inside it
    first = next((t for t in turns if t.role == "participant" and first_question is not None
                  and t.seq > first_question), None)
    duration = None
    if first is not None and ended_at is not None:
        duration = max((ended_at - first.created_at).total_seconds() - paused_seconds, 0.0)
    responses = [(turn.created_at - previous.created_at).total_seconds()
                 for previous, turn in zip(turns, turns[1:], strict=False)
                 if previous.role == "interviewer" and turn.role == "participant"
                 and turn.sentiment is not None]
    topics = _topics(turns, coverage)
    spoken = Counter(t.channel for t in turns if t.role == "participant")
    last_seen = {t.channel: t.seq for t in turns if t.role == "participant"}
    channel = max(spoken, key=lambda c: (spoken[c], last_seen[c])) if spoken else None
    if drop_off_topic is None and state in LEFT:
        drop_off_topic = current_topic
    return Figures(
        status=state, duration_seconds=_round(duration),
        paused_seconds=_round(paused_seconds) or 0.0,
        turns=len(talk), answers=len(answers),
        interviewer_words=sum(words(t.text) for t in turns if t.role == "interviewer"),
        participant_words=sum(words(t.text) for t in answers),
        response_seconds=_round(median(responses)) if responses else None,
        questions_asked_back=len(coverage.get("open_questions", [])),
        probed_topics=sum(t.probed for t in topics),
        probed_topics_rich=sum(t.rich for t in topics),
        drop_off_topic=drop_off_topic, channel=channel,
        channels=list(dict.fromkeys(t.channel for t in talk)), topics=topics,
    )


def _topics(turns: Sequence[TurnRow], coverage: dict[str, Any]) -> list[TopicFigures]:
    """Each planned topic: reached, its answers, and whether a probe drew a rich answer.
    An answer answers the last question that was not a restatement (after a resume the
    engine repeats the question, and the answer still answers the probe)."""
    planned = coverage.get("topics", {})
    order = [k for k in coverage.get("order", planned) if k in planned]
    said: dict[str, list[TurnRow]] = defaultdict(list)
    to_probe: dict[str, list[TurnRow]] = defaultdict(list)
    asking = None
    for turn in turns:
        if turn.role == "interviewer":
            action = (turn.reasoning or {}).get("action")
            if action != "repeat":
                asking = action
        elif turn.role == "participant" and turn.sentiment is not None and turn.topic:
            said[turn.topic].append(turn)
            if asking == "probe":
                to_probe[turn.topic].append(turn)
    out = []
    for key in order:
        plan = planned[key]
        answers = said.get(key, [])
        probed = plan.get("probes", 0) > 0
        out.append(TopicFigures(
            topic=key, status=plan.get("status", "pending"),
            reached=plan.get("questions", 0) > 0, answers=len(answers),
            words=sum(words(t.text) for t in answers),
            sentiment=_round(fmean(t.sentiment for t in answers), 4) if answers else None,
            probed=probed,
            rich=probed and any(classify(t.text) == "rich" for t in to_probe.get(key, [])),
        ))
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _turn_rows(db: DB, interview_id: int) -> list[TurnRow]:
    rows = db.execute(select(Turn.seq, Turn.role, Turn.text, Turn.topic, Turn.sentiment,
                             Turn.channel, Turn.created_at, Turn.reasoning)
                      .where(Turn.interview_id == interview_id).order_by(Turn.seq))
    return [TurnRow(*row) for row in rows]


def record(db: DB, interview: Interview) -> InterviewAnalytics:
    """Compute and keep the figures of an ended interview (again, if it has them)."""
    found = figures(_turn_rows(db, interview.id), state=interview.state,
                    coverage=interview.coverage, ended_at=interview.ended_at,
                    paused_seconds=interview.paused_seconds or 0.0,
                    current_topic=interview.current_topic,
                    drop_off_topic=interview.drop_off_topic)
    row = db.get(InterviewAnalytics, interview.id) or InterviewAnalytics(
        interview_id=interview.id)
    for name in ("status", "duration_seconds", "paused_seconds", "turns", "answers",
                 "interviewer_words", "participant_words", "response_seconds",
                 "questions_asked_back", "probed_topics", "probed_topics_rich",
                 "drop_off_topic", "channel", "channels"):
        setattr(row, name, getattr(found, name))
    row.computed_at = utcnow()
    db.add(row)
    db.execute(delete(TopicAnalytics).where(TopicAnalytics.interview_id == interview.id))
    if found.topics:  # plain rows, not objects: a backfill of thousands keeps none in memory
        db.execute(insert(TopicAnalytics), [
            {"interview_id": interview.id, **asdict(t)} for t in found.topics])
    db.flush()
    return row


DUE = "analytics_due"


def due(interview: Interview) -> None:
    """The interview has ended: figure it just before its transaction commits, when the
    engine has written the closing message too."""
    db = object_session(interview)
    if db is not None:
        db.info.setdefault(DUE, set()).add(interview.id)


@event.listens_for(DB, "before_commit")
def _record_due(db: DB) -> None:
    for interview_id in sorted(db.info.pop(DUE, ())):
        interview = db.get(Interview, interview_id)
        if interview is not None and interview.state in TERMINAL:
            record(db, interview)


@event.listens_for(DB, "after_rollback")
def _forget_due(db: DB) -> None:
    db.info.pop(DUE, None)


def _missing(session_id: int | None = None, ids: Iterable[int] | None = None):
    """Ended interviews without figures (they ended before migration 0016)."""
    stmt = select(Interview.id).where(
        Interview.state.in_(list(TERMINAL)),
        ~exists().where(InterviewAnalytics.interview_id == Interview.id))
    if session_id is not None:
        stmt = stmt.where(Interview.session_id == session_id)
    if ids is not None:
        stmt = stmt.where(Interview.id.in_(list(ids)))
    return stmt.order_by(Interview.id)


def backfill(db: DB, *, session_id: int | None = None, recompute: bool = False,
             batch: int = BACKFILL_BATCH) -> int:
    """Figure ended interviews that have no figures yet (every ended one with
    ``recompute``); returns how many. Walks in batches by id, flushing as it goes."""
    done, after = 0, 0
    while True:
        stmt = (select(Interview.id).where(Interview.state.in_(list(TERMINAL)))
                .order_by(Interview.id) if recompute else _missing(session_id))
        if recompute and session_id is not None:
            stmt = stmt.where(Interview.session_id == session_id)
        ids = list(db.scalars(stmt.where(Interview.id > after).limit(batch)))
        if not ids:
            return done
        for interview_id in ids:
            _figure(db, interview_id, keep=False)
        done, after = done + len(ids), ids[-1]


def _figure(db: DB, interview_id: int, *, keep: bool = True) -> None:
    """Figure one interview on a read path. In a savepoint: two first reads at once both
    figure it, and the second to write finds the first's row (IntegrityError), which is the
    same. ``keep=False`` (a backfill of thousands) leaves none of its objects in memory."""
    interview = db.get(Interview, interview_id, options=() if keep else (lazyload("*"),))
    try:
        with db.begin_nested():
            row = record(db, interview)
    except IntegrityError:
        return
    if not keep:
        db.expunge(row)
        db.expunge(interview)


def for_interviews(db: DB, interviews: Sequence[Interview]) -> dict[int, dict[str, Any]]:
    """The figures of these interviews as the API shows them (ended ones only), figuring
    any that ended before figures were kept."""
    ids = [i.id for i in interviews if i.state in TERMINAL]
    if not ids:
        return {}
    due_now = db.info.get(DUE, set())  # ended in this transaction: figured here, not twice
    for interview_id in sorted({*db.scalars(_missing(ids=ids)), *(due_now & set(ids))}):
        due_now.discard(interview_id)
        _figure(db, interview_id)
    rows = {r.interview_id: r for r in db.scalars(
        select(InterviewAnalytics).where(InterviewAnalytics.interview_id.in_(ids)))}
    topics: dict[int, list[TopicAnalytics]] = defaultdict(list)
    for t in db.scalars(select(TopicAnalytics).where(TopicAnalytics.interview_id.in_(ids))):
        topics[t.interview_id].append(t)
    by_id = {i.id: i for i in interviews}
    return {i: as_json(rows[i], topics[i], by_id[i]) for i in ids if i in rows}


def as_json(row: InterviewAnalytics, topics: Sequence[TopicAnalytics],
            interview: Interview) -> dict[str, Any]:
    plan = (interview.coverage or {}).get("order") or []
    position = {key: n for n, key in enumerate(plan)}
    return {
        "status": row.status, "duration_seconds": row.duration_seconds,
        "paused_seconds": row.paused_seconds, "turns": row.turns, "answers": row.answers,
        "interviewer_words": row.interviewer_words,
        "participant_words": row.participant_words,
        "words_per_answer": round(row.participant_words / row.answers, 1) if row.answers
        else None,
        "response_seconds_median": row.response_seconds,
        "sentiment": interview.sentiment, "engagement": interview.engagement,
        "topics": [{"topic": t.topic, "status": t.status, "reached": t.reached,
                    "answers": t.answers, "words": t.words, "sentiment": t.sentiment,
                    "probed": t.probed, "answered_richly": t.rich}
                   for t in sorted(topics, key=lambda t: position.get(t.topic, len(plan)))],
        "drop_off_topic": row.drop_off_topic,
        "questions_asked_back": row.questions_asked_back,
        "probed_topics": row.probed_topics, "probed_topics_rich": row.probed_topics_rich,
        "channel": row.channel, "channels": list(row.channels or []),
        "computed_at": row.computed_at.isoformat(),
    }


# ---- a session ---------------------------------------------------------------------------

class BadGroup(ValueError):
    """``group_by`` names no demographic anyone has."""


@dataclass
class Cell:
    """Additive figures of some interviews, so groups merge by adding."""

    invited: int = 0
    started: int = 0
    completed: int = 0
    abandoned: int = 0
    declined: int = 0
    counted: int = 0  # completed interviews whose answers the figures cover
    duration_sum: float = 0.0
    durations: list[float] = field(default_factory=list)
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    sentiment_sum: float = 0.0
    engagement_sum: float = 0.0
    engagement_n: int = 0
    words: int = 0
    answers: int = 0
    probed: int = 0
    probed_rich: int = 0
    funnel: dict[str, list[int]] = field(default_factory=dict)  # topic → [reached, left]

    ADDED = ("invited", "started", "completed", "abandoned", "declined", "counted",
             "duration_sum", "positive", "neutral", "negative", "sentiment_sum",
             "engagement_sum", "engagement_n", "words", "answers", "probed", "probed_rich")

    def add(self, other: Cell) -> Cell:
        for name in self.ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.durations += other.durations
        for topic, (reached, left) in other.funnel.items():
            mine = self.funnel.setdefault(topic, [0, 0])
            mine[0] += reached
            mine[1] += left
        return self


def _sum_if(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_of(condition, column) -> Any:
    return func.coalesce(func.sum(case((condition, column))), 0)


def group_keys(db: DB, group_by: str) -> list[str]:
    """The stored spellings of a demographic key ("department" finds "Department")."""
    wanted = audiences.key_form(group_by)
    keys = [k for k in audiences.all_keys(db) if audiences.key_form(k) == wanted]
    if not wanted or not keys:
        raise BadGroup(f"group_by: nobody in the directory has a demographic {group_by!r}")
    return keys


def session_report(db: DB, session: Session, *, group_by: str | None = None,
                   anonymous: bool = False) -> dict[str, Any]:
    """A session's aggregates: overall, per channel, and per value of ``group_by``.
    ``anonymous``: shown as an aggregated session's would be, whatever this one is (for a
    reader who may see no one's figures alone)."""
    keys = group_keys(db, group_by) if group_by is not None else None
    backfill(db, session_id=session.id)
    aggregated = anonymous or session.anonymity == "aggregated"
    threshold = sessions.settings_of(session).anonymity_threshold
    out: dict[str, Any] = {"session_id": session.id, "anonymity": session.anonymity,
                           "threshold": threshold if aggregated else None,
                           "group_by": group_by}
    completed = db.scalar(select(func.count()).select_from(Interview).where(
        Interview.session_id == session.id, Interview.state == State.COMPLETED))
    counted = Interview.state == State.COMPLETED
    if aggregated:
        released = privacy.released(threshold, completed)
        if released == 0:
            return {**out, "completed": completed, "needed": threshold, "withheld": {
                "reason": f"{completed} of {threshold} needed: this session is anonymous, and "
                          f"its figures are shown once at least {threshold} interviews have "
                          "completed."}}
        first = (select(Interview.id).where(Interview.session_id == session.id, counted)
                 .order_by(Interview.ended_at, Interview.id).limit(released))
        counted = and_(counted, Interview.id.in_(first))
        if reason := privacy.withheld_reason(threshold, completed):
            out["withheld"] = {"reason": reason}
    cells = _cells(db, session.id, counted, keys)
    labels = {t.key: t.label for t in session.topics}
    order = [t.key for t in session.topics if t.enabled]

    def shown(cell: Cell) -> dict[str, Any]:
        return _figures(cell, order, labels)

    overall = Cell()
    by_channel: dict[str, Cell] = defaultdict(Cell)
    by_group: dict[str, Cell] = defaultdict(Cell)
    for (channel, group), cell in cells.items():
        overall.add(cell)
        by_channel[channel].add(cell)
        by_group[group].add(cell)
    out["overall"] = shown(overall)
    out["channels"] = [{"channel": name, "merged": merged, **shown(cell)}
                       for name, cell, merged in protect(by_channel, threshold, aggregated)]
    if keys is not None:
        out["groups"] = [{"group": name, "merged": merged, **shown(cell)}
                         for name, cell, merged in protect(by_group, threshold, aggregated)]
    out["sentiment_over_time"] = sentiment_over_time(
        db, session.id, counted, threshold if aggregated else None)
    return out


WEEKLY_AFTER_DAYS = 45  # a named session's longer span is counted by week, a shorter by day
MAX_PERIODS = 12  # an aggregated session's points: at most this many


def sentiment_over_time(db: DB, session_id: int, counted, threshold: int | None
                        ) -> list[dict[str, Any]]:
    """Counted interviews by when they ended, each period with its positive, neutral and
    negative interviews (by the interview's sentiment; none: in ``interviews`` only).

    Named: by UTC day, or by week from Monday over a span of more than
    ``WEEKLY_AFTER_DAYS``. With ``threshold`` (an aggregated session, or a reader who may see
    no one alone) HR knows who finished when, so a period is a run of whole release
    batches instead: the released interviews in the order they were released, ``threshold``
    at a time, dated from its first to its last. A batch never changes once released, so
    two readings differ by whole batches only: no figure of fewer people follows by
    subtraction, now or after the next release."""
    rows = db.execute(select(Interview.ended_at, Interview.sentiment).where(
        Interview.session_id == session_id, counted, Interview.ended_at.is_not(None))
        .order_by(Interview.ended_at, Interview.id)).all()
    if not rows:
        return []
    if threshold is not None:
        batches = len(rows) // threshold
        if not batches:
            return []
        size = threshold * -(-batches // MAX_PERIODS)  # whole batches per period
        chunks = [rows[i:i + size] for i in range(0, batches * threshold, size)]
        return [_period(chunk[0][0].date(), chunk[-1][0].date(), chunk) for chunk in chunks]
    weekly = (rows[-1][0].date() - rows[0][0].date()).days > WEEKLY_AFTER_DAYS
    by_start: dict[date, list] = defaultdict(list)
    for row in rows:
        day = row[0].date()
        by_start[day - timedelta(days=day.weekday()) if weekly else day].append(row)
    return [_period(start, start + timedelta(days=6) if weekly else start, chunk)
            for start, chunk in by_start.items()]


def _period(first: date, last: date, rows: Sequence) -> dict[str, Any]:
    out = {"from": first.isoformat(), "to": last.isoformat(), "interviews": len(rows),
           "positive": 0, "neutral": 0, "negative": 0}
    for _, score in rows:
        if score is not None:
            out["positive" if score >= POSITIVE else "negative" if score <= NEGATIVE
                else "neutral"] += 1
    return out


def _cells(db: DB, session_id: int, counted, keys: list[str] | None
           ) -> dict[tuple[str, str], Cell]:
    """The session's invites and their live interviews, summed per (channel, group)."""
    a, t = InterviewAnalytics, TopicAnalytics
    channel = func.coalesce(a.channel, Interview.channel, Invite.channel).label("channel")
    if keys is not None:
        def of_invitee(column):
            """The invitee's value by an index probe (person_id, key): PostgreSQL joined to
            every attribute row of the key could loop over them once per invite."""
            return (select(column).where(PersonAttribute.person_id == Invite.person_id,
                                         PersonAttribute.key.in_(keys))
                    .order_by(PersonAttribute.key).limit(1).scalar_subquery())

        group, label = of_invitee(PersonAttribute.folded).label("grp"), \
            func.min(of_invitee(PersonAttribute.value))
    else:
        group, label = literal(None).label("grp"), literal("")

    def base(*columns):
        return (select(channel, group, *columns).select_from(Invite)
                .outerjoin(Interview, and_(Interview.invite_id == Invite.id,
                                           Interview.state != State.RESTARTED))
                .outerjoin(a, a.interview_id == Interview.id)
                .where(Invite.session_id == session_id))

    state = Interview.state
    rows = db.execute(base(
        label, func.count(Invite.id), func.count(Interview.started_at),
        _sum_if(state == State.COMPLETED), _sum_if(state == State.ABANDONED),
        _sum_if(state == State.DECLINED), _sum_if(counted),
        _sum_of(counted, a.duration_seconds),
        _sum_if(and_(counted, Interview.sentiment >= POSITIVE)),
        _sum_if(and_(counted, Interview.sentiment > NEGATIVE, Interview.sentiment < POSITIVE)),
        _sum_if(and_(counted, Interview.sentiment <= NEGATIVE)),
        _sum_of(counted, Interview.sentiment), _sum_of(counted, Interview.engagement),
        _sum_if(and_(counted, Interview.engagement.is_not(None))),
        _sum_of(counted, a.participant_words), _sum_of(counted, a.answers),
        _sum_of(counted, a.probed_topics), _sum_of(counted, a.probed_topics_rich),
    ).group_by(channel, group))
    cells: dict[tuple[str, str | None], Cell] = {}
    labels: dict[str | None, str] = {}  # "Sales" and "sales" are one group, shown as one
    for row in rows:
        if row[2]:
            labels[row[1]] = min(labels.get(row[1], row[2]), row[2])
        cells[(row[0], row[1])] = Cell(**dict(zip(Cell.ADDED, row[3:], strict=True)))
    for ch, grp, duration in db.execute(
            base(a.duration_seconds).where(counted, a.duration_seconds.is_not(None))):
        cells[(ch, grp)].durations.append(duration)
    reached = base(t.topic, _sum_if(t.reached)).join(t, t.interview_id == Interview.id)
    for ch, grp, topic, n in db.execute(reached.group_by(channel, group, t.topic)):
        cells[(ch, grp)].funnel.setdefault(topic, [0, 0])[0] += n
    left = base(a.drop_off_topic, func.count()).where(state.in_(list(LEFT)),
                                                      a.drop_off_topic.is_not(None))
    for ch, grp, topic, n in db.execute(left.group_by(channel, group, a.drop_off_topic)):
        cells[(ch, grp)].funnel.setdefault(topic, [0, 0])[1] += n
    return {(ch, labels.get(grp) or UNKNOWN): cell for (ch, grp), cell in cells.items()}


def protect(groups: dict[str, Cell], threshold: int, aggregated: bool
            ) -> list[tuple[str, Cell, bool]]:
    """Groups as they may be shown: (name, figures, merged). In an aggregated session the
    groups whose figures cover fewer than ``threshold`` interviews are shown only together
    as "Other", with the next-smallest while needed (``core.privacy.merged_groups``). A
    group nobody has answered in (started or declined) holds no one's response and is shown
    as it is: its invitations only."""
    names = sorted(groups)
    if not aggregated:
        return [(name, groups[name], False) for name in names]
    hidden = privacy.merged_groups(
        {n: groups[n].counted for n in names if groups[n].started or groups[n].declined},
        threshold)
    if hidden and OTHER in groups and OTHER not in hidden:  # one "Other" only
        hidden.append(OTHER)
    out = [(n, groups[n], False) for n in names if n not in hidden]
    if hidden:
        other = Cell()
        for name in hidden:
            other.add(groups[name])
        out.append((OTHER, other, True))
    return out


def _figures(cell: Cell, order: list[str], labels: dict[str, str]) -> dict[str, Any]:
    n = cell.counted
    sentiments = cell.positive + cell.neutral + cell.negative
    depth = min(cell.words / cell.answers / FULL_ANSWER_WORDS, 1) if cell.answers else None
    rich_share = cell.probed_rich / cell.probed if cell.probed else None
    parts = [p for p in (depth, rich_share) if p is not None]
    topics = order + sorted(k for k in cell.funnel if k not in order)
    return {
        "invited": cell.invited, "started": cell.started, "completed": cell.completed,
        "abandoned": cell.abandoned, "declined": cell.declined,
        "completion_rate": round(cell.completed / cell.started, 3) if cell.started else None,
        "counted": n,
        "duration": {
            "average_seconds": round(cell.duration_sum / len(cell.durations), 1)
            if cell.durations else None,
            "median_seconds": round(median(cell.durations), 1) if cell.durations else None},
        "sentiment": {
            "average": round(cell.sentiment_sum / sentiments, 4) if sentiments else None,
            "positive": cell.positive, "neutral": cell.neutral, "negative": cell.negative},
        "engagement": round(cell.engagement_sum / cell.engagement_n, 1)
        if cell.engagement_n else None,
        "quality": {
            "score": round(100 * fmean(parts), 1) if parts else None,
            "words_per_answer": round(cell.words / cell.answers, 1) if cell.answers else None,
            "probed_topics": cell.probed, "probed_topics_rich": cell.probed_rich,
            "rich_share": round(rich_share, 3) if rich_share is not None else None},
        "funnel": [{"topic": k, "label": labels.get(k, k),
                    "reached": cell.funnel.get(k, [0, 0])[0],
                    "left": cell.funnel.get(k, [0, 0])[1]} for k in topics],
    }
