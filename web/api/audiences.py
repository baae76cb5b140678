"""Audience rules for HR's rule builder: preview who a rule reaches, and the demographic
fields (with their common values) a rule can use. The rules themselves live in
``core.directory.audiences``, shared by rollouts and assigned topics."""

from __future__ import annotations

from flask import jsonify

from core import db
from core.directory import audiences
from web.api import body, bp
from web.schemas import AudiencePreview


@bp.post("/audiences/preview")
def preview_audience():
    data = body(AudiencePreview)
    with db.session_scope() as s:
        return jsonify(audiences.preview(s, data.audience, limit=50))


@bp.get("/directory/fields")
def directory_fields():
    with db.session_scope() as s:
        return jsonify(fields=audiences.fields(s))
