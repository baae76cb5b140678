"""The OpenAPI 3.1 document for /api/v1, built from Flask's URL map so it cannot drift:
every API route must have an entry in ``OPERATIONS`` (a test checks both directions),
request bodies come from the same pydantic models that validate them, and schemathesis
(tests/integration/test_schemathesis.py) checks every answer against it.

To document a new route: add its ``op(...)`` under its endpoint name, and the schema of
what it answers to ``RESPONSES`` when it is a new shape."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel

import channels
from core.exports import FORMATS as EXPORT_FORMATS
from core.exports import INTERVIEW_FORMATS
from core.exports import STATUSES as EXPORT_STATUSES
from core.lifecycle import State
from core.rollouts import COUNTS as ROLLOUT_COUNTS
from core.webhooks import EVENTS
from web import schemas
from web.api import CURSOR, DEFAULT_LIMIT, MAX_LIMIT

Op = dict[str, Any]
ERRORS = {
    400: "bad input: not JSON, a wrong type, a missing or unknown field, a limit broken "
         "(the message names the field and why)",
    401: "missing or wrong bearer token",
    403: "your role may not do this, or a change made with the sign-in cookie lacks its "
         "X-CSRF-Token",
    429: "too many failed sign-ins for the address lately",
    404: "unknown id",
    410: "gone: the link has expired",
    409: "session locked, a draft or shipped session type, an invalid lifecycle transition, "
         "or a rollout in a state that does not allow it",
    413: "body larger than 1 MiB (the directory import: IMPORT_MAX_BYTES, 50 MB by default)",
    422: "well-formed, but breaks a rule the schema cannot express (the message says which)",
}


def op(summary: str, *, ok: Any = None, status: int = 200, body: type[BaseModel] | None = None,
       body_optional: bool = False, errors: tuple[int, ...] = (), paged: str | None = None,
       query: dict[str, dict[str, Any]] | None = None, auth: bool = True,
       also: dict[int, tuple[str, Any]] | None = None,
       content: dict[str, Any] | None = None,
       ok_content: dict[str, Any] | None = None) -> Op:
    """One operation: ``ok`` is the success schema (a RESPONSES name or a JSON schema),
    ``paged`` the key of a paginated list of that schema, ``also`` other answers,
    ``content`` a request body by media type when it is not one pydantic model,
    ``ok_content`` the success body by media type when it is not (only) JSON."""
    return {"summary": summary, "ok": ok, "status": status, "body": body,
            "body_optional": body_optional, "errors": errors, "paged": paged,
            "query": query or {}, "auth": auth, "also": also or {}, "content": content,
            "ok_content": ok_content}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(json_type: str) -> dict[str, Any]:
    return {"type": [json_type, "null"]}


TEXT, INT, BOOL, WHEN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, \
    nullable("string")
NUMBER_OR_NULL = nullable("number")


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object schema whose properties are all present unless listed in ``optional``."""
    return {"type": "object", "properties": properties,
            "required": [k for k in properties if k not in optional]}


TOPIC = obj({"id": INT, "key": TEXT, "label": TEXT, "description": TEXT,
             "probing_guidance": TEXT, "priority": {"enum": ["low", "medium", "high"]},
             "context": TEXT, "opening_question": TEXT, "probes": {"type": "array",
                                                                   "items": TEXT},
             "enabled": BOOL, "position": INT})
SETTINGS = {"type": "object", "additionalProperties": INT}
SESSION_TYPE_SUMMARY = obj({
    "id": INT, "slug": TEXT, "name": TEXT, "purpose": TEXT,
    "anonymity": {"enum": ["named", "aggregated"]}, "builtin": BOOL,
    "status": {"enum": ["draft", "published"]}, "settings": SETTINGS, "topic_count": INT})
RESPONSES: dict[str, dict[str, Any]] = {
    "Topic": TOPIC,
    "SessionTypeSummary": SESSION_TYPE_SUMMARY,
    "SessionType": {**SESSION_TYPE_SUMMARY,
                    "properties": {**SESSION_TYPE_SUMMARY["properties"],
                                   "topics": {"type": "array", "items": ref("Topic")},
                                   "generation": {"type": "object"}},
                    "required": [*SESSION_TYPE_SUMMARY["required"], "topics"]},
    "Session": obj({
        "id": INT, "name": TEXT, "session_type": TEXT,
        "anonymity": {"enum": ["named", "aggregated"]}, "settings": SETTINGS,
        "owner": TEXT, "owner_user_id": nullable("integer"),
        "tags": {"type": "array", "items": TEXT}, "locked": BOOL,
        "locked_at": WHEN, "cloned_from": nullable("integer"), "created_at": TEXT,
        "topics": {"type": "array", "items": ref("Topic")},
        "triggers": {"type": "array", "items": {"type": "object"}},
        "counts": {**obj({"invited": INT, "started": INT, "completed": INT}),
                   "description": "people invited, and how many started and completed an "
                   "interview"}}),
    "Person": obj({
        "id": INT, "name": TEXT, "email": nullable("string"), "phone": nullable("string"),
        "slack_user_id": nullable("string"), "teams_user_id": nullable("string"),
        "aad_object_id": nullable("string"),
        "timezone": nullable("string"), "manager_id": nullable("integer"),
        "demographics": {"type": "object", "additionalProperties": TEXT}}),
    "InviteCreated": obj({
        "id": INT, "person_id": INT, "channel": TEXT, "fallback": {"type": "array", "items": TEXT},
        "link": TEXT, "status": TEXT, "status_reason": TEXT, "expires_at": WHEN}),
    "Invite": obj({
        "id": INT, "person_id": {**INT, "description": "named sessions only"},
        "channel": TEXT, "fallback": {"type": "array", "items": TEXT}, "status": TEXT,
        "status_reason": nullable("string"), "sent_at": WHEN, "expires_at": WHEN,
        "name": {**TEXT, "description": "named sessions only"},
        "email": {**nullable("string"), "description": "named sessions only"}},
        optional=("person_id", "name", "email")),
    # What HR may see of an interview depends on the session's anonymity (core/privacy.py).
    "Interview": {"type": "object", "required": ["state"],
                  "properties": {"id": INT, "state": TEXT, "analytics": {
                      "type": ["object", "null"],
                      "description": "figures of an ended interview (core/analytics.py); "
                                     "null until it ends"}}},
    "Rollout": obj({
        "id": INT, "session_id": nullable("integer"),
        "state": {"enum": ["draft", "scheduled", "sending", "paused", "completed",
                           "cancelled"]},
        "audience": {"type": "object"}, "channels": {"type": "array", "items": TEXT},
        "send_at": WHEN, "local_time": nullable("string"), "reminders": {"type": "object"},
        "respect_quiet_hours": BOOL, "quiet_hours": {"type": "object"},
        "trigger_key": nullable("string"),
        "counts": obj({name: INT for name in ROLLOUT_COUNTS}), "total": INT,
        "percent": {"type": "number", "minimum": 0, "maximum": 100},
        "created_by": TEXT, "created_at": TEXT, "started_at": WHEN, "finished_at": WHEN,
        "recipients": {"type": "array", "items": ref("RolloutRecipient")},
        "recipients_next": nullable("string")}, optional=("recipients", "recipients_next")),
    "RolloutRecipient": obj({
        "id": INT, "person_id": INT, "name": TEXT, "channel": nullable("string"),
        "status": {"enum": list(ROLLOUT_COUNTS)}, "reason": TEXT, "due_at": WHEN,
        "sent_at": WHEN, "invite_id": {**nullable("integer"), "description":
                                        "named sessions only"},
        "reminders_sent": INT, "next_reminder_at": WHEN}, optional=("invite_id",)),
    "Health": obj({"status": {"enum": ["ok", "unavailable"]},
                   "checks": {"type": "object", "additionalProperties": TEXT}}),
    "AudiencePreviewResult": obj({
        "count": INT, "warnings": {"type": "array", "items": TEXT},
        "people": {"type": "array", "maxItems": 50, "items": obj({
            "id": INT, "name": TEXT, "email": nullable("string"), "timezone": TEXT,
            "demographics": {"type": "object", "additionalProperties": TEXT}})}}),
    "DirectoryFields": obj({"fields": {"type": "array", "items": obj({
        "key": TEXT, "people": INT, "values": {"type": "array", "maxItems": 20, "items": obj({
            "value": TEXT, "people": INT})}})}}),
    "Error": obj({"error": obj({"code": TEXT, "message": TEXT})}),
    "User": obj({"id": INT, "email": TEXT, "name": TEXT,
                 "role": {"enum": ["owner", "member", "viewer", "analyst"]}, "active": BOOL,
                 "has_password": BOOL, "created_at": TEXT, "last_login_at": WHEN,
                 "signin_link": TEXT}, optional=("signin_link",)),
    "Token": obj({"id": INT, "name": TEXT, "prefix": TEXT, "created_at": TEXT,
                  "expires_at": WHEN, "last_used_at": WHEN, "token": TEXT},
                 optional=("token",)),
    "ImportReport": obj({
        "mode": {"enum": ["merge", "full"]}, "dry_run": BOOL, "rows": INT,
        "counts": obj({k: INT for k in ("created", "updated", "unchanged", "deactivated",
                                         "reactivated", "rejected", "unresolved")}),
        "rejected": {"type": "array", "items": obj(
            {"line": INT, "reason": TEXT, "employee_id": TEXT, "email": TEXT},
            optional=("employee_id", "email"))},
        "unresolved": {"type": "array", "items": ref("UnresolvedManager")},
        "changes": {"type": "array", "maxItems": 100, "items": obj({
            "action": {"enum": ["created", "updated", "reactivated", "deactivated"]},
            "line": nullable("integer"), "employee_id": nullable("string"),
            "email": nullable("string"),
            "fields": {"type": "object", "description": "field → [before, after]"}})},
        "hierarchy": {"type": "object"}}),
    "UnresolvedManager": obj({
        "line": nullable("integer"), "person_id": INT, "employee_id": nullable("string"),
        "email": nullable("string"), "manager": TEXT, "reason": TEXT}, optional=("line",)),
    "Hierarchy": obj({
        "source": {"enum": ["manager_column", "demographic"]},
        "demographic": nullable("string"), "links": INT, "links_changed": INT,
        "with_manager_value": INT, "unresolved_count": INT, "validated": BOOL,
        "unresolved": {"type": "array", "maxItems": 100, "items": ref("UnresolvedManager")}},
        optional=("links_changed",)),
    # the JSON body of POST /directory/import (a request body, kept with the components)
    "DirectoryImport": {"oneOf": [
        {"type": "array", "items": ref("ImportPerson"), "minItems": 1},
        obj({"people": {"type": "array", "items": ref("ImportPerson"), "minItems": 1}})]},
    # 1-on-1s (core/one_on_ones): never a private note
    "OneOnOne": obj({
        "id": INT, "kind": {"enum": ["reporting", "anyone"]}, "active": BOOL,
        "people": {"type": "array", "minItems": 2, "maxItems": 2, "items": ref("PersonRef")},
        "manager": {"oneOf": [ref("PersonRef"), {"type": "null"}]},
        "report": {"oneOf": [ref("PersonRef"), {"type": "null"}]},
        "channel": TEXT, "cadence_days": INT, "next_reminder_at": WHEN, "created_at": TEXT,
        "retired_at": WHEN, "last_activity_at": WHEN,
        "meetings": {"type": "array", "items": obj({
            "id": INT, "number": INT, "opened_at": TEXT, "closed_at": WHEN,
            "agenda": {"type": "array", "items": ref("AgendaItem")}})}},
        optional=("meetings",)),
    "PersonRef": obj({"id": INT, "name": TEXT}),
    "AgendaItem": obj({
        "id": INT, "text": TEXT,
        "state": {"enum": ["open", "carried", "discussed", "withdrawn"]}, "carried": INT,
        "added_by": {"oneOf": [ref("PersonRef"), {"type": "null"}]},
        "assigned_topic": {"oneOf": [{"type": "null"}, obj({
            "id": INT, "note": TEXT, "annotation": TEXT, "assigned_by": TEXT})]},
        "discussed_at": WHEN, "created_at": TEXT}),
    "AssignedTopic": obj({
        "id": INT, "title": TEXT, "note": TEXT, "annotation": TEXT,
        "audience": {"type": "object"},
        "assigned_by": {"oneOf": [ref("PersonRef"), {"type": "null"}]},
        "state": {"enum": ["draft", "scheduled", "sending", "paused", "sent", "withdrawn",
                           "cancelled"]},
        "rollout_id": nullable("integer"), "send_at": WHEN, "local_time": nullable("string"),
        "respect_quiet_hours": BOOL, "created_at": TEXT, "updated_at": TEXT,
        "withdrawn_at": WHEN,
        "progress": obj({k: INT for k in ("pairs", "pending", "queued", "delivered",
                                          "failed", "cancelled", "discussed")})}),
    "AssignedTopicPreviewResult": obj({
        "pairs": INT, "managers": INT, "first": {"type": "array", "maxItems": 50,
                                                 "items": obj({"id": INT,
                                                               "manager": ref("PersonRef"),
                                                               "report": ref("PersonRef")})}}),
    "OneOnOneUsage": obj({
        "days": {"enum": [7, 30]}, "since": TEXT, "until": TEXT,
        "department": nullable("string"), "threshold": INT,
        "hero": obj({k: INT for k in (
            "managers", "managers_with_active_one_on_one", "pairs", "active_pairs",
            "agenda_items_added", "items_discussed", "assigned_topics_discussed")}
            | {"share_of_pairs_active": {"type": "number"}}),
        "departments": {"type": "array", "items": obj({
            "department": TEXT, "managers": INT, "people": INT, "pairs": INT,
            "active_pairs": INT, "share_active": {"type": "number"},
            "agenda_items_added": INT, "merged": BOOL})},
        "managers": {"type": "array", "items": obj({
            "manager": ref("PersonRef"), "pairs": INT, "active_pairs": INT,
            "agenda_items_added": INT, "items_discussed": INT})},
        "trend": {"type": "array", "items": obj({
            "date": TEXT, "active_pairs": INT, "agenda_items_added": INT})}}),
    "OneOnOnesLink": obj({
        "url": {"type": "string", "description": "PUBLIC_BASE_URL/o/<token>"},
        "expires_at": {"type": "string", "format": "date-time"}}),
    "SessionAnalytics": obj({
        "session_id": INT, "anonymity": {"enum": ["named", "aggregated"]},
        "threshold": {**nullable("integer"), "description": "an aggregated session's"},
        "group_by": nullable("string"),
        "overall": ref("AnalyticsFigures"),
        "channels": {"type": "array", "items": {"allOf": [ref("AnalyticsFigures"), obj({
            "channel": {"type": "string", "description": "Other: small channels merged"},
            "merged": BOOL})]}},
        "groups": {"type": "array", "items": {"allOf": [ref("AnalyticsFigures"), obj({
            "group": {"type": "string", "description": "the demographic's value; Unknown: "
                      "none; Other: small groups merged"}, "merged": BOOL})]}},
        "completed": INT, "needed": INT,
        "withheld": obj({"reason": TEXT}),
        "sentiment_over_time": {"type": "array", "description": (
            "counted interviews by when they ended (from, to: UTC dates), by sentiment. "
            "Named: per day, or per week over a longer span; aggregated: runs of whole "
            "release batches of the threshold, so no period is fewer people"),
            "items": obj({"from": TEXT, "to": TEXT, "interviews": INT, "positive": INT,
                          "neutral": INT, "negative": INT})}},
        optional=("overall", "channels", "groups", "completed", "needed", "withheld",
                  "sentiment_over_time")),
    "AnalyticsFigures": obj({
        "invited": INT, "started": INT, "completed": INT, "abandoned": INT, "declined": INT,
        "completion_rate": {**NUMBER_OR_NULL, "description": "completed / started"},
        "counted": {"type": "integer", "description": "completed interviews the figures from "
                    "answers cover (an aggregated session's: the released ones)"},
        "duration": obj({"average_seconds": NUMBER_OR_NULL, "median_seconds": NUMBER_OR_NULL}),
        "sentiment": obj({"average": NUMBER_OR_NULL, "positive": INT, "neutral": INT,
                          "negative": INT}),
        "engagement": NUMBER_OR_NULL,
        "quality": obj({"score": NUMBER_OR_NULL, "words_per_answer": NUMBER_OR_NULL,
                        "probed_topics": INT, "probed_topics_rich": INT,
                        "rich_share": NUMBER_OR_NULL}),
        "funnel": {"type": "array", "items": obj({"topic": TEXT, "label": TEXT,
                                                  "reached": INT, "left": INT})}}),
    "Failure": obj({"kind": {"enum": ["inbound", "outbound"]}, "id": INT, "channel": TEXT,
                    "status": {"enum": ["failed", "held"]}, "attempts": INT, "error": TEXT,
                    "at": WHEN}),
}

# One person of a JSON import: the canonical column names (any header spelling works, every
# other key is a demographic); an employee id or an email is needed to match them.
IMPORT_CELL = {"type": ["string", "number", "boolean", "null"]}
# a key is a column's header: not blank, no NUL, at most 100 characters
IMPORT_KEY = {"maxLength": 100, "allOf": [{"pattern": "\\S"}, {"pattern": "^[^\\x00]*$"}]}
IMPORT_PERSON = {
    "type": "object",
    "propertyNames": IMPORT_KEY,
    "properties": {**{k: IMPORT_CELL for k in (
        "name", "email", "employee_id", "phone", "slack_id", "teams_id", "timezone",
        "manager")},
        "demographics": {"type": ["object", "null"], "propertyNames": IMPORT_KEY,
                         "additionalProperties": IMPORT_CELL}},
    "additionalProperties": IMPORT_CELL,
    "anyOf": [{"required": ["email"]}, {"required": ["employee_id"]}],
}
RESPONSES["ImportPerson"] = IMPORT_PERSON
IMPORT_BODY = {
    "multipart/form-data": {"schema": obj({"file": {
        "type": "string", "pattern": r"^(email|employee_id)\r?\n",
        "description": "CSV (UTF-8; comma, semicolon or tab; the header row first, with an "
                       "email or employee id column, any spelling: Work Email, Employee ID …) "
                       "or JSON as in the application/json body. The pattern is the smallest "
                       "header accepted; anything else unreadable is a 400"}})},
    "application/json": {"schema": ref("DirectoryImport")},
}

OPERATIONS: dict[str, Op] = {
    "api.healthz": op("Database and Redis reachable", ok="Health", auth=False,
                      also={503: ("one is down", "Health")}),
    "api.openapi": op("This document", ok={"type": "object"}, auth=False),
    "api.login": op("Sign in: a session cookie for a browser, a 12-hour bearer token for a "
                    "script, and the CSRF token a browser's changes send", auth=False,
                    body=schemas.Login, errors=(401, 429), ok=obj({
                        "user": ref("User"), "token": TEXT, "expires_at": WHEN,
                        "csrf_token": TEXT})),
    "api.logout": op("End this sign-in (the cookie, or the sign-in's bearer token)",
                     status=204),
    "api.me": op("Who this credential acts as", ok=obj({
        "role": {"enum": ["owner", "member", "viewer", "analyst"]},
        "user": {"anyOf": [ref("User"), {"type": "null"}]}, "bootstrap": BOOL})),
    "api.list_users": op("HR accounts (owners only)", ok="User", paged="users"),
    "api.create_user": op("Add an HR account; without a password the answer holds a one-time "
                          "sign-in link (24 hours)", ok="User", status=201,
                          body=schemas.UserCreate, errors=(422,)),
    "api.patch_user": op("Change an account's email, name, role, password or active flag "
                         "(422 for the last owner)", ok="User", body=schemas.UserPatch,
                         errors=(404, 422)),
    "api.delete_user": op("Disable an account and revoke its tokens (kept for the audit log)",
                          ok="User", errors=(404, 422)),
    "api.list_tokens": op("Your personal API tokens (never their values)", ok="Token",
                          paged="tokens", errors=(422,)),
    "api.create_token": op("A personal API token: the value is in this answer only",
                           ok="Token", status=201, body=schemas.TokenCreate, errors=(422,)),
    "api.revoke_token": op("Revoke one of your personal tokens", status=204,
                           errors=(404, 422)),
    "api.share_session": op("Share a session with members (replaces the list; its owner or "
                            "an owner)", body=schemas.SessionShares, errors=(404, 422),
                            ok=obj({"session_id": INT, "user_ids": {
                                "type": "array", "items": INT}, "url": TEXT})),
    "api.list_session_types": op("The SessionType library", ok=obj(
        {"session_types": {"type": "array", "items": ref("SessionTypeSummary")}})),
    "api.get_session_type": op("One SessionType by id or slug", ok="SessionType",
                               errors=(404,)),
    "api.generate_session_type": op("Draft a SessionType from a description", ok="SessionType",
                                    status=201, body=schemas.SessionTypeGenerate),
    "api.patch_session_type": op("Edit or publish a generated SessionType", ok="SessionType",
                                 body=schemas.SessionTypePatch, errors=(404, 409, 422)),
    "api.list_sessions": op("Sessions, newest first", ok="Session", paged="sessions"),
    "api.create_session": op("Create a session from a SessionType", ok="Session", status=201,
                             body=schemas.SessionCreate, errors=(404, 409, 422)),
    "api.get_session": op("One session with its topics", ok="Session", errors=(404,)),
    "api.patch_session": op("Edit name, tags, settings or topics (409 when locked)",
                            ok="Session", body=schemas.SessionPatch, errors=(404, 409, 422)),
    "api.clone_session": op("An editable copy of a session", ok="Session", status=201,
                            body=schemas.SessionClone, body_optional=True, errors=(404,)),
    "api.upsert_person": op("Create (201) or update (200) a person by email", ok="Person",
                            status=201, body=schemas.PersonIn, errors=(422,),
                            also={200: ("updated", "Person")}),
    "api.search_people": op("People whose name or email contains q (autofill), by id",
                            ok="Person", paged="people", query={"q": {
                                "description": "text to match", "schema": {
                                    "type": "string", "maxLength": 200}}}),
    "api.get_person": op("One person", ok="Person", errors=(404,)),
    "api.create_invite": op("Invite a person; returns the private link", ok="InviteCreated",
                            status=201, body=schemas.InviteCreate, errors=(404, 422)),
    "api.list_channels": op(
        "The channels this server can invite on, in the usual order of preference: `invite` "
        "for one person, `rollout` for an audience (web links go out by email)",
        ok=obj({"invite": {"type": "array", "items": TEXT},
                "rollout": {"type": "array", "items": TEXT}})),
    "api.list_invites": op("Invites of a session with their delivery status", ok="Invite",
                           paged="invites", errors=(404,)),
    "api.list_interviews": op(
        "Interviews of a session. An aggregated session's carry no identity, ids or times, "
        "in no telling order; their answers (turns, figures) only once anonymity_threshold "
        "have completed, else withheld.reason says why",
        ok="Interview", paged="interviews", errors=(404,)),
    "api.get_interview": op(
        "One interview with its turns (an aggregated session's: state only, withheld.reason "
        "says why)", ok="Interview", errors=(404,)),
    "api.end_interview": op("End an interview (admin_ended)", ok="Interview",
                            body=schemas.InterviewEnd, body_optional=True, errors=(404, 409)),
    "api.restart_interview": op("Mark restarted and open a fresh interview", ok="Interview",
                                status=201, errors=(404, 409)),
    "api.list_failures": op("Inbox and outbox rows failed for good, or held for an operator "
                            "(revoked token), newest first; never the message text",
                            ok="Failure", paged="failures"),
    "api.preview_audience": op(
        "How many active people an audience rule reaches, the first 50 (by id), and warnings "
        "(a demographic nobody has)", ok="AudiencePreviewResult", body=schemas.AudiencePreview),
    "api.directory_fields": op(
        "Each demographic key with how many active people have it and its 20 most common "
        "values (for a rule builder)", ok="DirectoryFields"),
    "api.import_directory": op(
        "Import people from HR's CSV or JSON (upsert by employee id, else email): the report "
        "per row; 200 whether committed or a dry run (?dry_run=1). mode=full marks active "
        "people missing from the file inactive", ok="ImportReport", content=IMPORT_BODY,
        query={"dry_run": {"description": "1: report what would change, write nothing",
                           "schema": {"enum": ["0", "1", "true", "false"], "default": "0"}},
               "mode": {"description": "merge (default) or full",
                        "schema": {"enum": ["merge", "full"], "default": "merge"}}}),
    "api.get_hierarchy": op("Where manager links come from, how many, what did not resolve",
                            ok="Hierarchy"),
    "api.put_hierarchy": op("Choose the hierarchy's source and rebuild every manager link",
                            ok="Hierarchy", body=schemas.HierarchyIn, errors=(422,)),
    "api.one_on_ones_link": op(
        "A private link to the person's 1-on-1 page (their pairs, agendas and own notes), "
        "for someone on no chat tool; valid 90 days", ok="OneOnOnesLink", errors=(404,)),
    "api.session_analytics": op(
        "Aggregates: invited, started, completed, durations, a drop-off funnel by topic, "
        "sentiment (and over time), engagement and quality, overall and per channel, and per "
        "value of group_by. An aggregated session's: nothing below its threshold (needed says how "
        "many), figures from its released interviews only, small groups merged into Other",
        ok="SessionAnalytics", errors=(404, 422),
        query={"group_by": {"description": "a demographic key (Department, Country …)",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 100}}}),
    "api.delete_interview": op("Delete an interview and its turns permanently", status=204,
                               errors=(404,)),
}

OPERATIONS.update({
    "api.create_rollout": op(
        "Invite an audience to this session: each person on the first channel they can be "
        "reached on, at local_time in their zone, outside quiet hours", ok="Rollout",
        status=201, body=schemas.RolloutCreate, errors=(404, 422)),
    "api.list_rollouts": op("Rollouts of a session, newest first", ok="Rollout",
                            paged="rollouts", errors=(404,)),
    "api.get_rollout": op("A rollout: state, counts by progress, the first recipients",
                          ok="Rollout", errors=(404,)),
    "api.list_rollout_recipients": op(
        "A rollout's recipients with their progress, by id", ok="RolloutRecipient",
        paged="recipients", errors=(404,), query={"status": {
            "description": "only recipients with this progress",
            "schema": {"enum": list(ROLLOUT_COUNTS)}}}),
    "api.pause_rollout": op("Pause sending (scheduled or sending)", ok="Rollout",
                            errors=(404, 409)),
    "api.resume_rollout": op("Resume a paused rollout where it stopped", ok="Rollout",
                             errors=(404, 409)),
    "api.cancel_rollout": op("Cancel: pending invites and reminders are dropped; what was "
                             "sent stays", ok="Rollout", errors=(404, 409)),
})

OPERATIONS.update({
    "api.list_one_on_ones": op(
        "1-on-1 pairs (manager–report and Meet with Anyone), by id", ok="OneOnOne",
        paged="one_on_ones", query={"person": {
            "description": "only this person's pairs (a person id)",
            "schema": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}}}),
    "api.create_one_on_one": op(
        "Meet with Anyone: the pair of two people (their reporting pair when one manages "
        "the other); 200 when it exists already", ok="OneOnOne", status=201,
        body=schemas.OneOnOneCreate, errors=(404, 422),
        also={200: ("the pair existed already", ref("OneOnOne"))}),
    "api.get_one_on_one": op(
        "A pair with its meetings and agenda (who added each item, its state); never a "
        "private note", ok="OneOnOne", errors=(404,)),
    "api.add_agenda_item": op(
        "Add a talking point as one of the pair; it is posted to their thread",
        ok="AgendaItem", status=201, body=schemas.AgendaItemCreate, errors=(404, 409, 422)),
    "api.one_on_one_usage": op(
        "The usage report: hero figures, departments (small ones merged into Other), each "
        "manager's counts, a daily trend. Never a direct report's name; a department "
        "smaller than REPORT_GROUP_MINIMUM is refused (422)", ok="OneOnOneUsage",
        errors=(422,),
        query={"days": {"description": "7 or 30 (default 30)",
                        "schema": {"enum": ["7", "30"]}},
               "department": {"description": "only pairs whose manager is in it",
                              "schema": {"type": "string", "maxLength": 200}}}),
    "api.preview_assigned_topic": op(
        "How many manager–report pairs (and managers) an audience over the reports reaches",
        ok="AssignedTopicPreviewResult", body=schemas.AssignedTopicPreview, errors=(422,)),
    "api.create_assigned_topic": op(
        "A draft topic, or scheduled with send_at / local_time", ok="AssignedTopic",
        status=201, body=schemas.AssignedTopicCreate, errors=(422,)),
    "api.list_assigned_topics": op("Assigned topics, newest first", ok="AssignedTopic",
                                   paged="assigned_topics"),
    "api.get_assigned_topic": op("An assigned topic with its delivery progress (counts)",
                                 ok="AssignedTopic", errors=(404,)),
    "api.edit_assigned_topic": op(
        "Change the wording (sent messages are updated in place) or a draft's audience and "
        "time; a field sent as null is left as it is", ok="AssignedTopic",
        body=schemas.AssignedTopicPatch, errors=(404, 409, 422)),
    "api.send_assigned_topic": op("Send a draft now", ok="AssignedTopic", errors=(404, 409)),
    "api.withdraw_assigned_topic": op(
        "Withdraw: off every agenda where it was not discussed; nothing more is sent",
        ok="AssignedTopic", errors=(404, 409)),
})

RESPONSES["Insight"] = obj({
    "id": INT, "session_id": INT, "version": INT,
    "status": {"enum": ["queued", "running", "done", "failed"]},
    "engine": {"enum": ["offline", "llm"]}, "group_by": TEXT, "created_at": TEXT,
    "computed_at": WHEN, "interviews": INT, "error": TEXT, "newer_interviews": INT,
    "status_url": TEXT, "running": TEXT,
    "result": {"type": "object", "description": (
        "summary (health, sentiment, key_quotes, actions), patterns (each with participants, "
        "sentiment, quotes, groups), topics, missing_knowledge, withheld, fallbacks; every "
        "quote names its turn_id")}},
    optional=("error", "newer_interviews", "result", "status_url", "running"))
RESPONSES["InsightWithheld"] = obj({
    "session_id": INT, "status": {"enum": ["withheld"]},
    "withheld": obj({"needed": INT, "completed": INT, "message": TEXT})})

OPERATIONS.update({
    "api.start_insights": op(
        "Compute the session's insights in the background: 202 with the run and its status "
        "URL (a run already queued or running is returned instead). 409 when an anonymous "
        "session has fewer completed interviews than its threshold",
        ok="Insight", status=202, body=schemas.InsightRequest, body_optional=True,
        errors=(404, 409)),
    "api.get_insights": op(
        "The latest computed insights (or ?version=N): summary, patterns, per-topic "
        "analysis, missing knowledge, whether newer interviews exist. An anonymous session "
        "below its threshold: how many more are needed, and no text",
        ok={"oneOf": [ref("Insight"), ref("InsightWithheld")]}, errors=(404,),
        query={"version": {"description": "an older run",
                           "schema": {"type": "integer", "minimum": 1,
                                      "maximum": schemas.MAX_ID}}}),
    "api.get_insight_run": op("One insights run: its status, and its result once done",
                              ok="Insight", errors=(404,)),
    "api.assign_pattern": op(
        "An assigned topic from a pattern, for the 1-on-1s of the group it appears in (its "
        "group_by values with at least the threshold of people), or for an audience given",
        ok="AssignedTopic", status=201, body=schemas.PatternAssign, errors=(404, 422)),
})

RESPONSES["Webhook"] = obj({
    "id": INT, "url": TEXT, "events": {"type": "array", "items": {"enum": list(EVENTS)}},
    "secret_hint": TEXT, "created_by": TEXT, "created_at": TEXT,
    "secret": {"type": "string", "description": "only in the answer that creates it"}},
    optional=("secret",))
RESPONSES["WebhookDelivery"] = obj({
    "id": INT, "event": {"enum": list(EVENTS)}, "event_id": TEXT,
    "status": {"enum": ["pending", "sending", "delivered", "failed"]}, "attempts": INT,
    "last_status_code": nullable("integer"), "last_error": TEXT,
    "last_response": {"type": "string", "description": "the first characters of the "
                      "receiver's last answer"},
    "created_at": {"type": "string", "description": "the event's time (an aggregated "
                   "session's interview event: to the hour)"},
    "delivered_at": WHEN, "next_attempt_at": WHEN, "redelivery_of": nullable("integer")})

OPERATIONS.update({
    "api.create_webhook": op(
        "Register an endpoint for events. Deliveries are POSTed with Parley-Signature "
        "(t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">); the secret is in this answer "
        "only. 422 when the URL is not http(s) or resolves to a non-public address",
        ok="Webhook", status=201, body=schemas.WebhookCreate, errors=(422,)),
    "api.list_webhooks": op("Webhook endpoints, by id (a hint of each secret)",
                            ok="Webhook", paged="webhooks"),
    "api.get_webhook": op("One webhook endpoint (a hint of its secret)", ok="Webhook",
                          errors=(404,)),
    "api.delete_webhook": op("Delete an endpoint with its deliveries; nothing more is sent",
                             status=204, errors=(404,)),
    "api.list_webhook_deliveries": op(
        "An endpoint's deliveries, newest first: status, attempts, the last status code, "
        "error and the start of the answer", ok="WebhookDelivery", paged="deliveries",
        errors=(404,)),
    "api.redeliver_webhook_delivery": op(
        "Deliver an event again: a new delivery with the same event id and body",
        ok="WebhookDelivery", status=201, errors=(404,)),
})

RESPONSES["Export"] = obj({
    "id": INT, "format": {"enum": list(EXPORT_FORMATS)},
    "filters": {"type": "object", "description": "the filters asked for (from, to as ISO)"},
    "status": {"enum": list(EXPORT_STATUSES)},
    "progress": obj({"done": INT, "total": INT}),
    "created_at": TEXT, "finished_at": WHEN, "expires_at": WHEN, "size": nullable("integer"),
    "withheld": {"type": "array", "items": obj({"session_id": INT, "reason": TEXT}),
                 "description": "anonymous sessions whose answers are (partly) not in the "
                                "export yet, and why"},
    "status_url": TEXT,
    "download_url": {"type": "string", "description": "once ready: the file, until "
                     "expires_at"},
    "error": TEXT}, optional=("download_url", "error"))
RESPONSES["InterviewExport"] = obj({
    "metadata": {"type": "object", "description": "session, type, person, channels, "
                 "started, completed, duration, status, sentiment, engagement"},
    "turns": {"type": "array", "items": {"type": "object"}},
    "analytics": {"type": ["object", "null"]}})
RESPONSES["AuditEntry"] = obj({
    "id": INT, "at": TEXT, "actor": TEXT, "action": TEXT, "target_type": TEXT,
    "target_id": nullable("integer"), "detail": {"type": "object"}})
BINARY = {"type": "string", "format": "binary"}

OPERATIONS.update({
    "api.export_interview": op(
        "One interview of a named session as JSON (metadata, turns with reasoning, "
        "analytics) or a PDF transcript. An aggregated session's: 404, as every read by id",
        errors=(404,), ok_content={"application/json": {"schema": ref("InterviewExport")},
                                   "application/pdf": {"schema": BINARY}},
        query={"format": {"description": "json (default) or pdf",
                          "schema": {"enum": list(INTERVIEW_FORMATS), "default": "json"}}}),
    "api.create_export": op(
        "Export interviews in bulk (CSV, JSON lines, or a ZIP of PDF transcripts) in the "
        "background: 202 with the export and its status URL. Aggregated sessions: their "
        "released answers only, without identity, never sliced by time or channel. 422 "
        "when from is not before to",
        ok="Export", status=202, body=schemas.ExportCreate, errors=(422,)),
    "api.get_export": op("An export's status and progress; once ready, its download_url",
                         ok="Export", errors=(404,)),
    "api.download_export": op(
        "The export's file, at the signed link its status gives once ready. 404: no such "
        "link; 410: it expired", errors=(404, 410),
        ok_content={"text/csv": {"schema": BINARY}, "application/x-ndjson": {"schema": BINARY},
                    "application/zip": {"schema": BINARY}}),
    "api.list_audit": op(
        "The audit log (who did what: exports, ends, deletes …), newest first",
        ok="AuditEntry", paged="audit", query={"action": {
            "description": "only actions starting with this (export. for every export)",
            "schema": {"type": "string", "minLength": 1, "maxLength": 100}}}),
})

RETENTION_COUNTS = obj({k: INT for k in (
    "turns", "coverage", "inbound_payloads", "outbound_payloads", "audit_details",
    "private_notes", "agenda_items", "webhook_payloads")})
RESPONSES["RetentionSettings"] = obj({
    "raw_text_days": {"type": "integer", "description": "RETENTION_RAW_TEXT_DAYS"},
    "payload_days": {"type": "integer", "description": "RETENTION_PAYLOAD_DAYS"},
    "session_types": {"type": "array", "items": obj({
        "id": INT, "slug": TEXT, "name": TEXT,
        "raw_text_days": {**nullable("integer"), "description": "the override; null: default"},
        "effective_raw_text_days": INT})}})
RESPONSES["RetentionReport"] = obj({"report": {"oneOf": [{"type": "null"}, obj({
    "at": TEXT, "as_of": TEXT, "counts": RETENTION_COUNTS, "seconds": {"type": "number"},
    "batches": INT, "longest_transaction_seconds": {"type": "number"},
    "seconds_per_kind": {"type": "object", "additionalProperties": {"type": "number"}},
    "limits": {"type": "object"}}, optional=("seconds_per_kind",))]}})
RESPONSES["Erasure"] = obj({"id": INT, "erased": {"enum": [True]}, "removed": {
    "type": "object", "additionalProperties": INT, "description": (
        "rows changed per kind: turns, interviews, insight_quotes, inbound_payloads, "
        "outbound_payloads, agenda_items, private_notes, audit_details, demographics, "
        "manager_links, phone_numbers, teams_contacts, webhook_payloads, export_files")}})

OPERATIONS.update({
    "api.erase_person": op(
        "GDPR erasure: the person's identity (name, addresses, chat ids, demographics, "
        "phone and Teams records, manager links to them) and everything they wrote or was "
        "sent to them, in every session and 1-on-1 (turns, inbox and outbox content, agenda "
        "items, private notes, insight quotes). Interviews stay as anonymous counted shells. "
        "A second erasure is a 404, as for an unknown id", ok="Erasure", errors=(404,)),
    "api.get_retention": op(
        "How long participant text is kept as written (per session type; then only its "
        "redacted copy) and message payloads and audit details are kept",
        ok="RetentionSettings"),
    "api.put_retention": op(
        "Set or clear (null) session types' raw-text retention, by id or slug",
        ok="RetentionSettings", body=schemas.RetentionSettingsIn, errors=(422,)),
    "api.retention_report": op(
        "The daily retention job's last report: counts per kind, time, the longest "
        "transaction (null before the first run)", ok="RetentionReport"),
})

PAGE_QUERY = {
    "limit": {"description": "page size", "schema": {
        "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    "cursor": {"description": "where the page starts: copy it from the previous page's "
               "`next` link (opaque)",
               "schema": {"type": "string", "pattern": f"^{CURSOR.pattern}$"}},
}


RESPONSES["InterviewRow"] = obj({
    "id": INT, "session": obj({"id": INT, "name": TEXT, "session_type": TEXT}),
    "invite_id": INT, "person": obj({"id": INT, "name": TEXT, "email": nullable("string")}),
    "state": {"enum": [s.value for s in State]}, "channel": TEXT,
    "sentiment": {**NUMBER_OR_NULL, "description": "mean over the typed answers"},
    "sentiment_label": {"enum": ["positive", "neutral", "negative", None]},
    "engagement": NUMBER_OR_NULL, "turns": INT, "answers": INT,
    "current_topic": nullable("string"), "created_at": TEXT, "started_at": WHEN,
    "ended_at": WHEN, "updated_at": {"type": "string", "description": "last activity"},
    "last_turn": {"oneOf": [{"type": "null"}, obj({
        "id": INT, "role": {"enum": ["interviewer", "participant"]}, "text": TEXT,
        "topic": nullable("string"), "created_at": TEXT})]}})
OPERATIONS["api.find_interviews"] = op(
    "Interviews of every session you may read, person by person, newest first, with filters "
    "that combine. An aggregated session's are never listed (nor matched by q): "
    "aggregated.interviews counts them, following the session, session_type and tag filters "
    "only. Sentiment: the mean over typed answers, positive at or above 0.05, negative at or "
    "below -0.05, neutral between. Analysts: 403 (aggregate figures only). 422 when from is "
    "after to",
    errors=(422,), ok_content={"application/json": {"schema": obj({
        "interviews": {"type": "array", "items": ref("InterviewRow")},
        "next": {**nullable("string"), "description": "the next page, or null on the last"},
        "aggregated": obj({"interviews": INT, "message": nullable("string")})})}},
    query={
        "channel": {"description": "the interview's channel",
                    "schema": {"enum": sorted(channels.CHANNELS)}},
        "sentiment": {"description": "of the mean sentiment (thresholds above)",
                      "schema": {"enum": ["positive", "neutral", "negative"]}},
        "has_responses": {"description": "whether the person typed an answer",
                          "schema": {"enum": ["true", "false"]}},
        "q": {"description": "part of the person's name, email or phone number",
              "schema": {"type": "string", "maxLength": 200}},
        "session_type": {"description": "a session type's slug",
                         "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
        "session": {"description": "a session id",
                    "schema": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}},
        "status": {"description": "lifecycle states (repeat it, or separate with commas)",
                   "schema": {"type": "array", "items": {"enum": [s.value for s in State]}},
                   "style": "form", "explode": True},
        "tag": {"description": "a tag of the session",
                "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
        "from": {"description": "created on or after this day (UTC)",
                 "schema": {"type": "string", "format": "date"}},
        "to": {"description": "created on or before this day (UTC)",
               "schema": {"type": "string", "format": "date"}},
        **PAGE_QUERY})


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": ref(schema) if isinstance(schema, str) else schema}}


TEXT_PARAMS = {"ident", "pattern_id", "token"}  # path parameters that are not ids


def _operation(endpoint: str, params: list[str]) -> Op:
    spec = OPERATIONS[endpoint]
    out: Op = {"operationId": endpoint.removeprefix("api."), "summary": spec["summary"],
               "responses": {}}
    out["parameters"] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}
         if p in TEXT_PARAMS else {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}}
        for p in params
    ] + [{"name": name, "in": "query", **q}
         for name, q in {**spec["query"], **(PAGE_QUERY if spec["paged"] else {})}.items()]
    if spec["body"] is not None:
        out["requestBody"] = {"required": not spec["body_optional"],
                              "content": _json(spec["body"].__name__)}
    elif spec["content"] is not None:
        out["requestBody"] = {"required": True, "content": spec["content"]}
    ok: Op = {"description": "success"}
    if spec["paged"]:
        ok["content"] = _json(obj({
            spec["paged"]: {"type": "array", "items": ref(spec["ok"])},
            "next": {**nullable("string"), "description": "the next page, or null on the last"},
        }))
    elif spec["ok_content"] is not None:
        ok["content"] = spec["ok_content"]
    elif spec["ok"] is not None:
        ok["content"] = _json(spec["ok"])
    out["responses"][str(spec["status"])] = ok
    for code, (text, schema) in spec["also"].items():
        out["responses"][str(code)] = {"description": text, "content": _json(schema)}
    codes = {400, *spec["errors"]}
    if spec["auth"]:
        codes.update((401, 403))
        out["security"] = [{"bearer": []}]
    else:
        out["security"] = []
    if spec["body"] is not None or spec["content"] is not None:
        codes.add(413)
    for code in sorted(codes):
        out["responses"][str(code)] = {"description": ERRORS[code], "content": _json("Error")}
    return out


def document(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Op]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, list(rule.arguments))
    components: dict[str, Any] = dict(RESPONSES)
    for model in sorted({spec["body"] for spec in OPERATIONS.values() if spec["body"]},
                        key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    # the channels this server can invite on, which depend on its settings
    available = sorted(channels.configured(app.config["SETTINGS"]))
    components["InviteCreate"]["properties"]["channel"] = {"enum": available, "default": "web"}
    components["InviteCreate"]["properties"]["fallback"]["items"] = {"enum": available}
    components["RolloutCreate"]["properties"]["channels"]["items"] = {"enum": available}
    for option in components["Trigger"]["properties"]["channels"]["anyOf"]:
        if option.get("type") == "array":
            option["items"] = {"enum": available}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Parley HR API", "version": "1", "description": (
            "Lists are paged: `limit` (1–200, default 50) and the `next` link. Text must not "
            "contain NUL characters or unpaired surrogates (400).")},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": (
                "a personal API token (POST /api/v1/tokens), the token of POST "
                "/api/v1/auth/login, or ADMIN_API_TOKEN (the bootstrap owner)")}}},
    }
