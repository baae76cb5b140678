"""Exports (core/exports.py): one interview as JSON or a PDF transcript; bulk exports (CSV,
JSON lines, a ZIP of PDFs) built in the background with a status to poll and, once ready, a
download link that expires; and the audit log every export is written to.

The download link names the export with an itsdangerous token signed with SECRET_KEY and is
good until the export expires (EXPORT_LINK_MINUTES after it was ready); like every API
route it also needs the caller's credential, so a link that leaks (a log, a browser
history) is not enough on its own. A forged link is a 404, an expired one a 410.

Who may export what (``restriction``): owners and viewers every session; members the
sessions they own or that are shared with them; analysts every session as if it were
aggregated (no identity, whole batches of the threshold). An export is read and downloaded
by whoever asked for it (and by owners).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from flask import Response, current_app, jsonify, request, url_for
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select

from core import db, exports, privacy
from core.config import using
from core.models import AuditLog, Export, Session
from web.api import (
    access,
    audit,
    body,
    bp,
    get_or_404,
    iso,
    not_found,
    page,
    principal,
    unprocessable,
)
from web.api.interviews import addressable
from web.errors import ApiError
from web.schemas import MAX_ID, ExportCreate

SALT = "parley-export-download"


def restriction(s) -> tuple[set[int] | None, bool]:
    """What the caller may export: (session ids or None for all, whether identity may be
    shown)."""
    who = principal()
    visible = access.visible_sessions(who)
    session_ids = None if visible is None else set(s.scalars(select(Session.id).where(visible)))
    return session_ids, who.role != "analyst"


def _own(s, export_id: int) -> Export:
    """An export the caller asked for (an owner: any); anyone else's answers 404."""
    export = get_or_404(s, Export, export_id, "export")
    who = principal()
    if who.role != "owner" and export.actor != who.label:
        raise not_found("export", export_id)
    if export.identity and who.role == "analyst":  # made before they became an analyst
        raise not_found("export", export_id)
    return export


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SETTINGS"].secret_key, salt=SALT)


def _token(export: Export) -> str:
    return _signer().dumps([export.id, export.created_at.isoformat()])


def describe(export: Export) -> dict[str, Any]:
    status = exports.status_of(export)
    out: dict[str, Any] = {
        "id": export.id, "format": export.format, "filters": export.filters,
        "status": status, "progress": {"done": export.done, "total": export.total},
        "created_at": iso(export.created_at), "finished_at": iso(export.finished_at),
        "expires_at": iso(export.expires_at), "size": export.size,
        "withheld": export.withheld or [],
        "status_url": url_for("api.get_export", export_id=export.id),
    }
    if status == "ready":
        out["download_url"] = url_for("api.download_export", token=_token(export))
    if status in ("failed", "expired") and export.error:
        out["error"] = export.error
    return out


@bp.get("/interviews/<int:interview_id>/export")
def export_interview(interview_id: int):
    fmt = request.args.get("format", "json")
    if fmt not in exports.INTERVIEW_FORMATS:
        raise ApiError(400, "bad_request", "format: json or pdf")
    with db.session_scope() as s:
        session_ids, identity = restriction(s)
        addressable(s, interview_id)
        interview = exports.readable(s, interview_id, session_ids=session_ids,
                                     identity=identity)
        if interview is None:
            raise ApiError(404, "not_found", privacy.NOT_ADDRESSABLE.format(id=interview_id))
        if fmt == "pdf":
            data = exports.interview_pdf(s, interview)
        else:
            data = json.dumps(exports.interview_document(s, interview),
                              ensure_ascii=False).encode()
        audit(s, "export.interview", "interview", interview_id, format=fmt)
    return Response(data, mimetype=exports.MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="interview-{interview_id}.{fmt}"',
        "Cache-Control": "no-store"})


@bp.post("/exports")
def create_export():
    data = body(ExportCreate)
    f = data.filters
    try:
        filters = exports.Filters(session_id=f.session_id, start=_aware(f.from_, "from"),
                                  end=_aware(f.to, "to"), status=f.status, channel=f.channel,
                                  tag=f.tag)
    except exports.BadFilters as exc:
        raise unprocessable(str(exc)) from None
    with db.session_scope() as s:
        session_ids, identity = restriction(s)
        export = exports.request(s, data.format, filters, session_ids=session_ids,
                                 identity=identity, actor=principal().label)
        audit(s, "export.request", "export", export.id, format=data.format,
              filters=filters.as_json())
        out = describe(export)
    exports.enqueue(out["id"])
    return jsonify(out), 202, {"Location": out["status_url"]}


def _aware(value, name: str):
    if value is None:
        return None
    if not 2000 <= value.year <= 2100:
        raise unprocessable(f"filters.{name}: a time in the years 2000 to 2100")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.get("/exports/<int:export_id>")
def get_export(export_id: int):
    with db.session_scope() as s:
        return jsonify(describe(_own(s, export_id)))


def _gone_or_missing(export: Export | None) -> ApiError:
    if export is not None and exports.status_of(export) == "expired":
        return ApiError(410, "expired", export.error or f"this download link expired at "
                        f"{iso(export.expires_at)}: ask for the export again")
    return ApiError(404, "not_found", "no export to download at this link (copy the whole "
                    "download_url from the export's status)")


@bp.get("/exports/download/<token>")
def download_export(token: str):
    try:
        export_id, created = _signer().loads(token)
    except (BadData, TypeError, ValueError):
        raise _gone_or_missing(None) from None
    if not (isinstance(export_id, int) and 0 < export_id <= MAX_ID):
        raise _gone_or_missing(None)
    with db.session_scope() as s:
        export = s.get(Export, export_id)
        if export is None or iso(export.created_at) != created:
            raise _gone_or_missing(None)
        _own(s, export_id)
        if exports.status_of(export) != "ready":
            raise _gone_or_missing(export)
        audit(s, "export.download", "export", export.id, format=export.format)
        name, media, size = exports.filename(export), exports.MEDIA_TYPES[export.format], \
            export.size
    settings = current_app.config["SETTINGS"]

    def stream():
        with using(settings):  # the response is read after the request's own binding ends
            yield from exports.chunks(export_id)

    return Response(stream(), mimetype=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size), "Cache-Control": "no-store"})


# ---- the audit log ------------------------------------------------------------------------

@bp.get("/audit")
def list_audit():
    """Who did what, newest first; ``action`` keeps the actions that start with it
    (``export.`` for every export)."""
    action = request.args.get("action")
    if action is not None and not 1 <= len(action) <= 100:
        raise ApiError(400, "bad_request", "action: 1 to 100 characters")
    stmt = select(AuditLog)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True))
    with db.session_scope() as s:
        rows, next_link = page(s, stmt, newest_first=True)
        return jsonify(audit=[{"id": r.id, "at": iso(r.at), "actor": r.actor,
                               "action": r.action, "target_type": r.target_type,
                               "target_id": r.target_id, "detail": r.detail} for r in rows],
                       next=next_link)
