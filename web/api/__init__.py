"""The HR REST API under /api/v1: bearer-token auth, JSON in and out.

One blueprint; each resource has its own module, which adds its routes to ``bp`` and
holds its serialisers. Endpoint names stay ``api.<view>`` (the OpenAPI document keys on them).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, request
from flask import session as flask_session
from pydantic import BaseModel
from sqlalchemy import Select

from core import accounts, db
from core.messages import storable
from core.models import AuditLog
from web.api import access
from web.errors import ApiError
from web.schemas import MAX_ID

bp = Blueprint("api", __name__, url_prefix="/api/v1")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
CURSOR = re.compile(r"[0-9a-f]{1,64}")


@bp.before_request
def _authenticate():
    """Who is asking (``g.principal``), and may they (``access.authorise``)?"""
    g.principal = None
    if request.endpoint not in access.OPEN_ENDPOINTS:
        g.principal = _principal()
    if not is_storable(request.path) or not all(map(is_storable, request.args.values())):
        raise ApiError(400, "bad_request", UNSTORABLE)
    access.authorise(g.principal, request.endpoint, request.view_args or {})
    return None


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _principal() -> accounts.Principal | None:
    """A bearer token (ADMIN_API_TOKEN, a personal token, a sign-in's token) or the signed
    session cookie of a browser sign-in, whose changes must carry its CSRF token."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        expected = current_app.config["SETTINGS"].admin_api_token
        if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode()):
            return accounts.BOOTSTRAP
        with db.session_scope() as s:
            found = accounts.principal_for_token(s, token) if scheme.lower() == "bearer" \
                else None
        if found is None:
            current_app.logger.warning("API request with a wrong token: %s", request.path)
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>: this "
                           "one is unknown, expired or revoked")
        return found
    uid, version, tok = (flask_session.get(k) for k in ("uid", "ver", "tok"))
    if not all(isinstance(v, int) for v in (uid, version, tok)):
        return None
    with db.session_scope() as s:
        found = accounts.principal_for_cookie(s, uid, version, tok)
    if found is None:
        flask_session.clear()
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        kept = flask_session.get("csrf", "")
        if not kept or not hmac.compare_digest(sent.encode(), str(kept).encode()):
            raise ApiError(403, "csrf", "a change made with the sign-in cookie must send the "
                           "X-CSRF-Token header the sign-in returned")
    return found


def principal() -> accounts.Principal:
    """The caller of this request (routes run only after ``authorise`` let them in). An
    open route has none: asking there is a bug, not the owner."""
    if g.get("principal") is None:
        raise RuntimeError(f"{request.endpoint} asked who is calling, but it is open")
    return g.principal


UNSTORABLE = "text must not contain NUL characters or unpaired surrogates"


def is_storable(text: str) -> bool:
    """Text every database can keep as it is (``core.messages.storable`` would change it)."""
    return storable(text) == text


def _storable_json(value: Any) -> bool:
    if isinstance(value, str):
        return is_storable(value)
    if isinstance(value, dict):
        return all(is_storable(k) and _storable_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(map(_storable_json, value))
    return True


def body(model: type[BaseModel]) -> Any:
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    if not _storable_json(raw):
        raise ApiError(400, "bad_request", UNSTORABLE)
    return model.model_validate(raw)


def not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(404, "not_found", f"no {kind} with id {ident}")


def unprocessable(message: str) -> ApiError:
    """A well-formed body that breaks a rule its JSON schema cannot express."""
    return ApiError(422, "unprocessable", message)


def get_or_404(s, model, ident: int, kind: str):
    obj = s.get(model, ident) if 0 < ident <= MAX_ID else None
    if obj is None:
        raise not_found(kind, ident)
    return obj


def audit(s, action: str, target_type: str, target_id: int | None, **detail) -> None:
    s.add(AuditLog(actor=principal().label, action=action, target_type=target_type,
                   target_id=target_id, detail=detail))


def iso(value) -> str | None:
    return value.isoformat() if value else None


def paging() -> tuple[int, str | None]:
    """``limit`` (1–200, default 50) and the opaque ``cursor`` of every list."""
    limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not limit.isascii() or not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise ApiError(400, "bad_request", f"limit: a whole number from 1 to {MAX_LIMIT}")
    cursor = request.args.get("cursor")
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise ApiError(400, "bad_request", "cursor: use the cursor of a `next` link")
    return int(limit), cursor


def next_link(limit: int, cursor: str) -> str:
    args = {**request.args.to_dict(), "limit": limit, "cursor": cursor}
    return f"{request.script_root}{request.path}?{urlencode(args)}"


def page(s, stmt: Select, *, newest_first: bool = False) -> tuple[list[Any], str | None]:
    """One page of a list, keyset on id: ``limit`` (1–200, default 50) rows after the
    ``cursor`` of the previous page's ``next`` link; returns the rows and the next link or
    None. ``stmt`` selects one entity; the order (by id) is set here. The cursor is opaque
    (hex), so lists paged by a key other than the id (``page_sorted``) take the same one."""
    limit, cursor = paging()
    entity = stmt.column_descriptions[0]["entity"]
    if cursor is not None:
        after = min(int(cursor, 16), MAX_ID)  # a larger number fits no id column
        stmt = stmt.where(entity.id < after if newest_first else entity.id > after)
    stmt = stmt.order_by(entity.id.desc() if newest_first else entity.id).limit(limit + 1)
    rows = list(s.scalars(stmt))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, next_link(limit, format(rows[-1].id, "x"))


def page_sorted(items: list[Any], key: Callable[[Any], str]) -> tuple[list[Any], str | None]:
    """One page of ``items`` sorted by ``key`` (lowercase hex strings of one length), for
    lists whose order must not be the id's (an aggregated session's interviews)."""
    limit, cursor = paging()
    items = sorted(items, key=key)
    if cursor is not None:
        items = [item for item in items if key(item) > cursor]
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, next_link(limit, key(items[-1]))


from web.api import (  # noqa: E402  (each module adds its routes to bp)
    audiences,
    conversations,
    directory,
    exports,
    insights,
    interviews,
    invites,
    one_on_one_links,
    one_on_ones,
    ops,
    people,
    retention,
    rollouts,
    session_types,
    sessions,
    users,
    webhooks,
)

__all__ = ["access", "audiences", "bp", "conversations", "directory", "exports", "insights",
           "interviews", "invites", "one_on_one_links", "one_on_ones", "ops", "people",
           "retention", "rollouts", "session_types", "sessions", "users", "webhooks"]
