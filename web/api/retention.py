"""Retention (core/retention.py): how long each session type keeps participant text as
written, and the daily job's last report. Erasure is DELETE /people/<id> (web/api/people.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select

from core import db, retention
from core.models import SessionType
from web.api import audit, body, bp, unprocessable
from web.api.session_types import find_session_type
from web.errors import ApiError
from web.schemas import RetentionSettingsIn


def _settings_json(s) -> dict[str, Any]:
    settings = current_app.config["SETTINGS"]
    return {
        "raw_text_days": settings.retention_raw_text_days,
        "payload_days": settings.retention_payload_days,
        "session_types": [
            {"id": st.id, "slug": st.slug, "name": st.name, "raw_text_days": st.retention_days,
             "effective_raw_text_days": st.retention_days or settings.retention_raw_text_days}
            for st in s.scalars(select(SessionType).order_by(SessionType.id))],
    }


@bp.get("/settings/retention")
def get_retention():
    with db.session_scope() as s:
        return jsonify(_settings_json(s))


@bp.put("/settings/retention")
def put_retention():
    data = body(RetentionSettingsIn)
    with db.session_scope() as s:
        changed = {}
        for item in data.session_types:
            try:
                session_type = find_session_type(s, item.session_type)
            except ApiError:
                raise unprocessable(f"session_types: no session type {item.session_type!r}") \
                    from None
            session_type.retention_days = item.raw_text_days
            changed[session_type.slug] = item.raw_text_days
        audit(s, "retention.update", "retention", None, session_types=changed)
        s.flush()
        return jsonify(_settings_json(s))


@bp.get("/ops/retention")
def retention_report():
    """The last run's counts; never a word of what was removed."""
    return jsonify(report=retention.last_report())
