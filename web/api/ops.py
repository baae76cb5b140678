"""Operations: health for load balancers, the OpenAPI document, and the messages that need
an operator: inbox and outbox rows failed for good, and outbox rows held for one."""

from __future__ import annotations

from flask import current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from core import db, jobs
from core.models import InboundEvent, OutboundRecord
from web.api import bp, iso, next_link, paging


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


@bp.get("/ops/failures")
def list_failures():
    """Newest first; never the message text (it may be what a person wrote)."""
    limit, cursor = paging()  # the cursor is an offset here: failures arrive out of id order
    offset = min(int(cursor, 16), 10**9) if cursor else 0
    inbox, outbox = InboundEvent, OutboundRecord
    rows = union_all(
        select(literal("inbound").label("kind"), inbox.id, inbox.channel, inbox.status,
               inbox.attempts, inbox.error,
               func.coalesce(inbox.processed_at, inbox.received_at).label("at"))
        .where(inbox.status == "failed"),
        select(literal("outbound"), outbox.id, outbox.channel, outbox.status,
               outbox.attempts, outbox.last_error,
               func.coalesce(outbox.claimed_at, outbox.created_at))
        .where(outbox.status.in_(("failed", "held"))),
    ).subquery()
    with db.session_scope() as s:
        page = s.execute(select(rows).order_by(rows.c.at.desc(), rows.c.kind, rows.c.id.desc())
                         .limit(limit + 1).offset(offset)).all()
    # no interview id or event id: in an anonymous session either would tell whose it is
    failures = [{"kind": r.kind, "id": r.id, "channel": r.channel, "status": r.status,
                 "attempts": r.attempts, "error": r.error, "at": iso(r.at)}
                for r in page[:limit]]
    more = len(page) > limit
    return jsonify(failures=failures,
                   next=next_link(limit, format(offset + limit, "x")) if more else None)
