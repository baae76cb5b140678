"""Signed webhooks: which events exist, what each carries, how a delivery is signed, and the
webhook outbox's rows (``WebhookDelivery``). The HTTP send is ``channels.webhooks.deliver``.

An event's rows are written in the transaction of the change that causes it (an interview
ending, a rollout completing, an insights run done) and enqueued once that transaction
commits; a row whose job never ran (Redis lost, worker killed) is sent by the sweeper
(``channels.durable.sweep``), which also sends each retry when its ``next_attempt_at`` comes.
At least once: a receiver drops an ``id`` it has seen.

Anonymity (DESIGN.md §6, ``core.privacy``): an aggregated session's interviews are never
addressable one by one, so its interview events name the session and counts only — no
interview, person, invite, channel, and a time to the hour.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import object_session

from core import jobs, privacy, sessions
from core.config import get_settings
from core.lifecycle import State
from core.models import (
    Insight,
    Interview,
    Rollout,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)

log = logging.getLogger(__name__)

INTERVIEW_COMPLETED, INTERVIEW_ABANDONED = "interview.completed", "interview.abandoned"
ROLLOUT_COMPLETED, INSIGHTS_READY = "rollout.completed", "insights.ready"
EVENTS = (INTERVIEW_COMPLETED, INTERVIEW_ABANDONED, ROLLOUT_COMPLETED, INSIGHTS_READY)
ENDED = {State.COMPLETED: INTERVIEW_COMPLETED, State.ABANDONED: INTERVIEW_ABANDONED}
SIGNATURE, EVENT_ID, EVENT = "Parley-Signature", "Parley-Event-Id", "Parley-Event"
ATTEMPTS = 40  # a bound besides the window: backoff reaches an hour, so ~31 fit in 24 h
FIRST_RETRY, LONGEST_WAIT = 30, 3600  # seconds: 30 s, 1 min, 2 min … doubling up to 1 h
SECRET_PREFIX = "whsec_"
_ENQUEUE = "parley_webhooks"  # Session.info key: rows to enqueue once the commit is done


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hint(secret: str) -> str:
    """What a GET shows of a secret: enough to tell two apart, not to sign."""
    prefix = SECRET_PREFIX if secret.startswith(SECRET_PREFIX) else ""
    return f"{prefix}…{secret[-4:]}"


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``Parley-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` (Stripe's
    scheme: the timestamp inside the MAC, so a receiver can refuse replays)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1, 2, …)."""
    return timedelta(seconds=min(FIRST_RETRY * 2 ** min(attempt - 1, 20), LONGEST_WAIT))


def window() -> timedelta:
    return timedelta(hours=get_settings().webhook_retry_hours)


def retry_at(created_at: datetime, attempt: int, now: datetime) -> datetime | None:
    """When to try again after failed attempt ``attempt``; None: never (failed for good)."""
    at = now + backoff(attempt)
    if attempt >= ATTEMPTS or at > created_at + window():
        return None
    return at


# ---- events --------------------------------------------------------------------------------

def emit(db: DB, event: str, data: dict[str, Any], *, interview_id: int | None = None,
         created: datetime | None = None) -> list[WebhookDelivery]:
    """Write one delivery of the event for each endpoint that wants it, in ``db``'s
    transaction; they are enqueued when it commits. One event id for all of them."""
    endpoints = _wanting(db, event)
    if not endpoints:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {"id": event_id, "type": event, "created": (created or utcnow()).isoformat(),
               "data": data}
    rows = [WebhookDelivery(endpoint_id=e.id, event=event, event_id=event_id, payload=payload,
                            interview_id=interview_id) for e in endpoints]
    db.add_all(rows)
    track(db, rows)
    return rows


def _wanting(db: DB, event: str) -> list[WebhookEndpoint]:
    """The endpoints that asked for ``event``: none, and an event's data is not even read
    (a rollout's counts take a grouped query over every recipient)."""
    if event not in EVENTS:
        raise ValueError(f"no webhook event {event!r}")
    return [e for e in db.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
            if event in (e.events or [])]


def track(db: DB, rows: list[WebhookDelivery]) -> None:
    """Enqueue these rows once ``db``'s transaction commits (not before: a worker must find
    them). Lost if the process dies first: the sweeper sends them then."""
    db.info.setdefault(_ENQUEUE, []).extend(rows)


@orm_event.listens_for(DB, "after_commit")
def _enqueue_committed(db: DB) -> None:
    if db.get_nested_transaction() is not None:  # a savepoint: the transaction goes on
        return
    rows = db.info.pop(_ENQUEUE, [])
    ids = [key.identity[0] for key in map(inspect, rows) if key.identity]
    if ids:
        enqueue(ids)


@orm_event.listens_for(DB, "after_rollback")
def _forget(db: DB) -> None:
    if db.get_nested_transaction() is None:  # a savepoint's rows would just not be found
        db.info.pop(_ENQUEUE, None)


def enqueue(ids: list[int], *, replace_started: bool = False) -> None:
    """A delivery job per row, on the bulk queue, by dotted name (``core`` never imports a
    channel). No RQ retry: the row's ``next_attempt_at`` is the retry schedule."""
    for delivery_id in ids:
        try:
            jobs.enqueue_once("channels.webhooks.deliver", delivery_id,
                              job_id=jobs.job_key("webhook", delivery_id), retry=None,
                              queue_name=jobs.BULK, replace_started=replace_started)
        except Exception as exc:  # noqa: BLE001 - after the commit: the sweeper sends it
            log.warning("webhook delivery %s not enqueued (%s), left for the sweeper: %s",
                        delivery_id, type(exc).__name__, exc)


def interview_ended(interview: Interview, now: datetime | None = None) -> None:
    """``interview.completed`` / ``interview.abandoned``, from ``core.engine.transition``."""
    event = ENDED.get(interview.state)
    db = object_session(interview)
    if event is None or db is None or not _wanting(db, event):
        return
    now = now or utcnow()
    session = interview.session
    if session.anonymity == "aggregated":
        # never one interview: an event only when a whole batch of the threshold is
        # released (core.privacy), as the API shows answers, with the released count and
        # the hour; never an abandonment (it would time one person's drop-off)
        if event != INTERVIEW_COMPLETED:
            return
        threshold = sessions.settings_of(session).anonymity_threshold
        completed = db.scalar(select(func.count()).select_from(Interview).where(
            Interview.session_id == interview.session_id,
            Interview.state == State.COMPLETED)) or 0
        released = privacy.released(threshold, completed)
        if released <= privacy.released(threshold, completed - 1):
            return
        emit(db, event, {"session_id": session.id, "anonymity": "aggregated",
                         "released": released},
             created=now.replace(minute=0, second=0, microsecond=0))
        return
    person = interview.person
    emit(db, event, {
        "session_id": session.id, "anonymity": session.anonymity,
        "interview_id": interview.id, "state": str(interview.state),
        "started_at": _iso(interview.started_at), "ended_at": _iso(interview.ended_at or now),
        "person": {"id": person.id, "name": person.name, "email": person.email}},
        interview_id=interview.id, created=now)


def rollout_completed(db: DB, rollout_id: int) -> None:
    """``rollout.completed``: the rollout's counts by progress (no one's name)."""
    from core import rollouts  # (it imports the engine, which imports this)

    rollout = db.get(Rollout, rollout_id)
    if rollout is None or not _wanting(db, ROLLOUT_COMPLETED):
        return
    emit(db, ROLLOUT_COMPLETED, {
        "rollout_id": rollout.id, "kind": rollout.kind, "session_id": rollout.session_id,
        "finished_at": _iso(rollout.finished_at), "counts": rollouts.counts(db, rollout.id)})


def insights_ready(db: DB, insight_id: int) -> None:
    """``insights.ready``: a run is done (read it at /api/v1/insights/<id>)."""
    insight = db.get(Insight, insight_id)
    if insight is None or not _wanting(db, INSIGHTS_READY):
        return
    emit(db, INSIGHTS_READY, {
        "session_id": insight.session_id, "insight_id": insight.id,
        "version": insight.version, "engine": insight.engine,
        "interviews": insight.interviews, "computed_at": _iso(insight.computed_at)})


def redeliver(db: DB, delivery: WebhookDelivery) -> WebhookDelivery:
    """A new delivery of the same event (same id and body), sent after the commit."""
    again = WebhookDelivery(endpoint_id=delivery.endpoint_id, event=delivery.event,
                            event_id=delivery.event_id, payload=dict(delivery.payload),
                            interview_id=delivery.interview_id, redelivery_of=delivery.id)
    db.add(again)
    db.flush()
    track(db, [again])
    return again


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
