"""Insights: what all of a session's conversations say together (DESIGN.md §2).

A run is an ``Insight`` row: requested (``request``), computed by a background job
(``compute``) from the session's analysable interviews (``corpus``), by the offline engine
(``offline``) or, with ``OPENAI_*`` set, the LLM engine (``llm``) with the offline engine as
the fallback for any step that fails; the anonymity gate (``gate``) trims whatever an engine
produced before it is kept. A computed run never changes: the next one is a new version.
``refresh_due`` (scheduler) re-runs a session's insights once enough new interviews have
completed since its last run.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB

from core import jobs, privacy, sessions, webhooks
from core.config import get_settings
from core.insights import corpus as corpora
from core.insights import gate, words
from core.insights.schema import Result
from core.lifecycle import State
from core.models import Insight, Interview, Session, utcnow

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STOPPED_BY_DELETE = ("stopped: an interview of the session was deleted or its person erased "
                     "while the run read it; ask for insights again")
REFRESH_AFTER = 20  # new completed interviews that make ``refresh_due`` re-run a session's
MAX_GROUP_KEY = 100
# an LLM run is hundreds of model calls (bench.insights_llm: about 1,200 for 10,000
# interviews); its engine hands what is left to the offline engine before this
# (``llm.RUN_SECONDS``), so the run ends with a result rather than killed by RQ
RUN_TIMEOUT = 2 * 3600
# a run still active this long after it was asked for had its worker die (or RQ stopped
# it): it is failed, and asking again starts anew
STALE = timedelta(seconds=RUN_TIMEOUT + 300)


class NotEnough(Exception):
    """An aggregated session has fewer released interviews than its threshold."""

    def __init__(self, needed: int, completed: int):
        self.needed, self.completed = needed, completed
        super().__init__(f"This session is anonymous: insights are shown once at least "
                         f"{needed} interviews have completed ({completed} so far; "
                         f"{needed - completed} more needed).")

    def describe(self) -> dict[str, Any]:
        return {"needed": self.needed, "completed": self.completed, "message": str(self)}


def check_enough(db: DB, session: Session) -> None:
    if session.anonymity != "aggregated":
        return
    threshold = sessions.settings_of(session).anonymity_threshold
    completed = db.scalar(select(func.count()).select_from(Interview).where(
        Interview.session_id == session.id, Interview.state == State.COMPLETED)) or 0
    if privacy.released(threshold, completed) == 0:
        raise NotEnough(threshold, completed)


def request(db: DB, session: Session, *, group_by: str = "Department") -> Insight:
    """A new run, queued (the caller enqueues it after its commit: ``enqueue``). One run at
    a time per session: while one is queued or running, that one is returned."""
    check_enough(db, session)
    db.execute(select(Session.id).where(Session.id == session.id).with_for_update())
    db.execute(update(Insight).where(
        Insight.session_id == session.id, Insight.status.in_(ACTIVE),
        Insight.created_at < utcnow() - STALE).values(
        status="failed", error="the run did not finish (its worker stopped)",
        computed_at=utcnow()))
    running = db.scalar(select(Insight).where(Insight.session_id == session.id,
                                              Insight.status.in_(ACTIVE))
                        .order_by(Insight.version.desc()).limit(1))
    if running is not None:
        return running
    version = (db.scalar(select(func.max(Insight.version))
                         .where(Insight.session_id == session.id)) or 0) + 1
    insight = Insight(session_id=session.id, version=version, group_by=group_by,
                      engine="llm" if get_settings().llm_enabled else "offline")
    try:
        with db.begin_nested():  # two asks at once (SQLite locks no row): one run
            db.add(insight)
            db.flush()
    except IntegrityError:
        return db.scalar(select(Insight).where(Insight.session_id == session.id,
                                               Insight.version == version))
    return insight


def enqueue(insight_id: int) -> None:
    jobs.enqueue_once("core.insights.compute", insight_id,
                      job_id=jobs.job_key("insight", insight_id), queue_name=jobs.BULK,
                      job_timeout=RUN_TIMEOUT)


def compute(insight_id: int) -> str:
    """Job: compute one run, once. The corpus is read in one transaction, the engines run
    with none open (an LLM run takes minutes), and the result is written in another. A
    failure is kept on the row (``failed`` with its error), visible, never retried in a
    loop: HR asks again."""
    from core import db as database

    with database.session_scope() as s:
        claimed = s.execute(update(Insight).where(Insight.id == insight_id,
                                                  Insight.status == "queued")
                            .values(status="running")).rowcount
        insight = s.get(Insight, insight_id)
        if insight is None or not claimed:
            return insight.status if insight is not None else "gone"
        session = s.get(Session, insight.session_id)
        corpus = corpora.load(s, session, group_by=insight.group_by)
        engine = insight.engine
    try:
        result = run(corpus, engine)
    except Exception as exc:
        log.exception("insights %s failed", insight_id)
        with database.session_scope() as s:
            s.execute(update(Insight).where(Insight.id == insight_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                computed_at=utcnow()))
        return "failed"
    with database.session_scope() as s:  # only the run this job claimed, still its own
        done = s.execute(update(Insight).where(Insight.id == insight_id,
                                               Insight.status == "running").values(
            status="done", result=result.model_dump(mode="json"),
            interviews=len(corpus.interviews), computed_at=utcnow())).rowcount
        if done:  # the event in the transaction that makes the run done
            webhooks.insights_ready(s, insight_id)
    return "done"


def run(corpus: corpora.Corpus, engine: str = "offline") -> Result:
    """An engine's result, through the anonymity gate."""
    from core.insights import offline  # scikit-learn: loaded by the job, not every web process

    if engine == "llm":
        try:
            from core.insights import llm

            result = llm.analyse(corpus)
        except Exception as exc:  # the engine's own steps fall back one by one; this is
            log.exception("LLM insights failed whole; offline instead")  # the last resort
            result = offline.analyse(corpus)
            result.fallbacks.append(f"the LLM engine failed ({type(exc).__name__}): the "
                                    "offline engine computed this run")
    elif engine == "offline":
        result = offline.analyse(corpus)
    else:
        raise ValueError(f"no insights engine {engine!r}")
    return gate.apply(result, corpus, corpus.scrub)


# ---- reading --------------------------------------------------------------------------------

def latest(db: DB, session: Session, version: int | None = None) -> Insight | None:
    stmt = select(Insight).where(Insight.session_id == session.id)
    if version is not None:
        stmt = stmt.where(Insight.version == version)
    else:
        stmt = stmt.where(Insight.status == "done")
    return db.scalar(stmt.order_by(Insight.version.desc()).limit(1))


def describe(db: DB, insight: Insight, *, with_result: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": insight.id, "session_id": insight.session_id, "version": insight.version,
        "status": insight.status, "engine": insight.engine, "group_by": insight.group_by,
        "created_at": insight.created_at.isoformat(),
        "computed_at": insight.computed_at.isoformat() if insight.computed_at else None,
        "interviews": insight.interviews,
    }
    if insight.status == "failed":
        out["error"] = insight.error
    if insight.status == "done":
        session = db.get(Session, insight.session_id)
        now = len(corpora.analysable(db, session)[0])
        out["newer_interviews"] = max(now - insight.interviews, 0)
        if with_result:
            out["result"] = insight.result
    return out


def pattern(insight: Insight, pattern_id: str) -> dict[str, Any] | None:
    for p in (insight.result or {}).get("patterns", []):
        if p.get("id") == pattern_id:
            return p
    return None


def audience_of(insight: Insight, found: dict[str, Any], threshold: int) -> dict[str, Any] | None:
    """The audience rule for a pattern's group: the group_by values it appears in with at
    least ``threshold`` people (never "Other" or "Not set", which name no one group)."""
    values = [g["value"] for g in found.get("groups", [])
              if g["participants"] >= threshold and g["value"] not in (gate.OTHER,
                                                                       words.NO_GROUP)]
    if not values:
        return None
    return {"match": "all", "conditions": [{"field": insight.group_by, "op": "in",
                                            "value": values}]}


# ---- deleting what a person said --------------------------------------------------------------

def forget(db: DB, session_id: int, interview_id: int, turn_ids: list[int]) -> int:
    """An interview is deleted: its words leave every insight of its session too (a run is
    immutable but for this). Quotes of its turns go; a question group whose wording was
    theirs takes another asker's words, or goes. Returns the quotes removed."""
    secret = get_settings().secret_key
    refs = {privacy.turn_ref(secret, t) for t in turn_ids}
    ids = set(turn_ids)

    def theirs(quote: dict[str, Any]) -> bool:
        return (quote.get("turn_id") in ids or quote.get("turn_ref") in refs
                or quote.get("interview_id") == interview_id)

    removed = 0
    for insight in db.scalars(select(Insight).where(Insight.session_id == session_id,
                                                    Insight.result.is_not(None))):
        result, before = dict(insight.result), removed

        def keep(quotes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal removed
            kept = [q for q in quotes if not theirs(q)]
            removed += len(quotes) - len(kept)
            return kept

        for section in ("patterns", "topics"):
            result[section] = [{**x, "quotes": keep(x.get("quotes", []))}
                               for x in result.get(section, [])]
        questions = []
        for q in result.get("missing_knowledge", []):
            mine = [x for x in q.get("quotes", []) if theirs(x)]
            rest = keep(q.get("quotes", []))
            if mine and q.get("question") in {x.get("text") for x in mine}:
                if not rest:
                    continue
                q = {**q, "question": rest[0]["text"]}
            questions.append({**q, "quotes": rest})
        result["missing_knowledge"] = questions
        summary = dict(result.get("summary", {}))
        summary["key_quotes"] = keep(summary.get("key_quotes", []))
        result["summary"] = summary
        if removed > before:
            result["withheld"] = [*result.get("withheld", []),
                                  f"{removed - before} quote(s) removed: their interview was "
                                  "deleted."]
            insight.result = result
    # a run reading the session now may have read them: it must not write them back
    # (``compute`` writes only a run still "running"); the next run starts afresh
    db.execute(update(Insight).where(Insight.session_id == session_id,
                                     Insight.status.in_(ACTIVE))
               .values(status="failed", error=STOPPED_BY_DELETE))
    return removed


# ---- the scheduler's part -------------------------------------------------------------------

def refresh_due(after: int = REFRESH_AFTER) -> list[int]:
    """Periodic job: a new run for each session whose last run is ``after`` or more
    interviews behind (only sessions someone asked insights of; one run at a time)."""
    from core import db as database

    started = []
    with database.session_scope() as s:
        last = (select(Insight.session_id, func.max(Insight.version).label("version"))
                .group_by(Insight.session_id).subquery())
        rows = s.execute(select(Insight).join(last, (Insight.session_id == last.c.session_id)
                                              & (Insight.version == last.c.version))
                         .where(Insight.status == "done")).scalars().all()
        for insight in rows:
            session = s.get(Session, insight.session_id)
            if session is None:
                continue
            now = len(corpora.analysable(s, session)[0])
            if now - insight.interviews >= after:
                fresh = request(s, session, group_by=insight.group_by)
                started.append(fresh.id)
    for insight_id in started:
        enqueue(insight_id)
    return started
