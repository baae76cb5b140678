"""Operations: health for load balancers and the OpenAPI document."""

from __future__ import annotations

from flask import current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from core import db, jobs
from web.api import bp


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
