"""One JSON error shape for the API: {"error": {"code", "message"}} with the right status."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from core.engine import Busy
from core.lifecycle import InvalidTransition
from core.sessions import SessionLocked

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error(exc.status, exc.code, exc.message)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        return error(400, "bad_request", describe(exc))

    @app.errorhandler(SessionLocked)
    def _locked(exc: SessionLocked):
        return error(409, "session_locked", str(exc))

    @app.errorhandler(Busy)
    def _busy(exc: Busy):
        response, status = error(409, "busy", str(exc))
        response.headers["Retry-After"] = "2"
        return response, status

    @app.errorhandler(InvalidTransition)
    def _transition(exc: InvalidTransition):
        return error(409, "invalid_transition", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if request.path.startswith(("/api/", "/c/")) or request.is_json:
            code = (exc.name or "error").lower().replace(" ", "_")
            response, status = error(exc.code or 500, code, exc.description or exc.name)
            # keep what the exception adds, such as a 405's Allow header (RFC 9110)
            response.headers.extend((k, v) for k, v in exc.get_headers()
                                    if k.lower() != "content-type")
            return response, status
        if request.path.startswith("/o/"):  # a person's 1-on-1 page: its own error page
            from web.one_on_ones import http_error_page

            return http_error_page(exc)
        return exc
