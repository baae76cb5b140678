"""The HR REST API under /api/v1: bearer-token auth, JSON in and out.

One blueprint; each resource has its own module, which adds its routes to ``bp`` and
holds its serialisers. Endpoint names stay ``api.<view>`` (the OpenAPI document keys on them).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, request
from pydantic import BaseModel

from core.models import AuditLog
from web.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPEN_ENDPOINTS = {"api.healthz", "api.openapi"}


@bp.before_request
def _authenticate():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    expected = current_app.config["SETTINGS"].admin_api_token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        current_app.logger.warning("API request with a missing or wrong token: %s", request.path)
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <ADMIN_API_TOKEN>")
    return None


def body(model: type[BaseModel]) -> Any:
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return model.model_validate(raw)


def not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(404, "not_found", f"no {kind} with id {ident}")


def get_or_404(s, model, ident: int, kind: str):
    obj = s.get(model, ident)
    if obj is None:
        raise not_found(kind, ident)
    return obj


def audit(s, action: str, target_type: str, target_id: int | None, **detail) -> None:
    s.add(AuditLog(actor="admin-token", action=action, target_type=target_type,
                   target_id=target_id, detail=detail))


def iso(value) -> str | None:
    return value.isoformat() if value else None


from web.api import (  # noqa: E402  (each module adds its routes to bp)
    interviews,
    invites,
    ops,
    people,
    session_types,
    sessions,
)

__all__ = ["bp", "interviews", "invites", "ops", "people", "session_types", "sessions"]
