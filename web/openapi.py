"""The OpenAPI 3.1 document for /api/v1, built from Flask's URL map so it cannot drift:
every API route must have an entry in ``OPERATIONS`` (a test checks both directions), and
request bodies come from the same pydantic models that validate them."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from web import schemas

Op = dict[str, Any]
OPERATIONS: dict[str, Op] = {
    "api.healthz": {"summary": "Database and Redis reachable", "auth": False,
                    "responses": {"200": "both reachable", "503": "one is down"}},
    "api.openapi": {"summary": "This document", "auth": False},
    "api.list_session_types": {"summary": "The SessionType library"},
    "api.get_session_type": {"summary": "One SessionType by id or slug", "not_found": True},
    "api.generate_session_type": {"summary": "Draft a SessionType from a description",
                                  "body": schemas.SessionTypeGenerate, "created": True},
    "api.patch_session_type": {"summary": "Edit or publish a generated SessionType",
                               "body": schemas.SessionTypePatch, "not_found": True,
                               "conflict": True},
    "api.list_sessions": {"summary": "Sessions, newest first"},
    "api.create_session": {"summary": "Create a session from a SessionType",
                           "body": schemas.SessionCreate, "created": True},
    "api.get_session": {"summary": "One session with its topics", "not_found": True},
    "api.patch_session": {"summary": "Edit name, tags, settings or topics (409 when locked)",
                          "body": schemas.SessionPatch, "not_found": True, "conflict": True},
    "api.clone_session": {"summary": "An editable copy of a session",
                          "body": schemas.SessionClone, "body_optional": True,
                          "created": True, "not_found": True},
    "api.upsert_person": {"summary": "Create or update a person by email",
                          "body": schemas.PersonIn, "created": True},
    "api.search_people": {"summary": "Search people by name or email (autofill)",
                          "query": {"q": "text to match"}},
    "api.create_invite": {"summary": "Invite a person; returns the private link",
                          "body": schemas.InviteCreate, "created": True, "not_found": True},
    "api.list_invites": {"summary": "Invites of a session with their delivery status",
                         "not_found": True},
    "api.list_interviews": {"summary": "Interviews of a session", "not_found": True},
    "api.get_interview": {"summary": "One interview with its turns", "not_found": True},
    "api.end_interview": {"summary": "End an interview (admin_ended)",
                          "body": schemas.InterviewEnd, "body_optional": True,
                          "not_found": True, "conflict": True},
    "api.restart_interview": {"summary": "Mark restarted and open a fresh interview",
                              "created": True, "not_found": True, "conflict": True},
    "api.list_failures": {"summary": "Inbox and outbox rows failed for good, or held for an "
                                     "operator (revoked token), newest first",
                          "query": {"limit": "page size, 1–200 (default 50)",
                                    "offset": "rows to skip (default 0); see next"}},
    "api.delete_interview": {"summary": "Delete an interview and its turns permanently",
                             "not_found": True, "no_content": True},
}

ERROR = {"$ref": "#/components/schemas/Error"}


def _operation(endpoint: str, method: str, params: list[str]) -> Op:
    spec = OPERATIONS[endpoint]
    op: Op = {"operationId": endpoint.removeprefix("api."), "summary": spec["summary"],
              "responses": {}}
    op["parameters"] = [
        {"name": p, "in": "path", "required": True,
         "schema": {"type": "string" if p == "ident" else "integer"}} for p in params
    ] + [{"name": k, "in": "query", "schema": {"type": "string"}, "description": v}
         for k, v in spec.get("query", {}).items()]
    if "body" in spec:
        op["requestBody"] = {"required": not spec.get("body_optional"),
                             "content": {"application/json": {"schema": {
                                 "$ref": f"#/components/schemas/{spec['body'].__name__}"}}}}
    ok = "204" if spec.get("no_content") else "201" if spec.get("created") else "200"
    op["responses"][ok] = {"description": "success"}
    for code, text in spec.get("responses", {}).items():
        op["responses"][code] = {"description": text}
    errors = {"400": "bad input (the message says which field and why)"}
    if spec.get("auth", True):
        errors["401"] = "missing or wrong bearer token"
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = []
    if spec.get("not_found"):
        errors["404"] = "unknown id"
    if spec.get("conflict"):
        errors["409"] = "session locked or invalid lifecycle transition"
    for code, text in errors.items():
        op["responses"].setdefault(code, {"description": text,
                                          "content": {"application/json": {"schema": ERROR}}})
    return op


def document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Op]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, method, list(rule.arguments))
    models = sorted({spec["body"] for spec in OPERATIONS.values() if "body" in spec},
                    key=lambda m: m.__name__)
    components: dict[str, Any] = {"Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"],
                                 "properties": {"code": {"type": "string"},
                                                "message": {"type": "string"}}}}}}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "Parley HR API", "version": "1"},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "ADMIN_API_TOKEN"}}},
    }
