"""Who may call what: one table of endpoint → roles, and one function every API request
passes through (``authorise``). A route missing from the table is refused to everyone
(and a test walks the URL map against its own copy of this table, so a new route without
an entry fails there first).

Roles (DESIGN.md vocabulary; the seed's Campaign Owner, Team Members, Viewers, Analysts):
- ``owner``   everything, including accounts, the directory, webhooks and settings;
- ``member``  creates and runs sessions, rollouts and assigned topics; sees the sessions
              they own or that are shared with them, and what those collect;
- ``viewer``  reads everything a member could, changes nothing;
- ``analyst`` exports and aggregate figures only: never one person's interview in a named
              session (their exports treat every session as aggregated).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session as Db

from core import db
from core.accounts import Principal
from core.models import Insight, Interview, Rollout, Session, SessionShare
from web.errors import ApiError
from web.schemas import MAX_ID

ALL = frozenset({"owner", "member", "viewer", "analyst"})
READ = frozenset({"owner", "member", "viewer"})
WRITE = frozenset({"owner", "member"})
OWNER = frozenset({"owner"})
OPEN = frozenset()  # no credential needed (health, the API description, signing in)

POLICY: dict[str, frozenset[str]] = {
    # open
    "api.healthz": OPEN, "api.openapi": OPEN, "api.login": OPEN,
    # your own account
    "api.me": ALL, "api.logout": ALL, "api.list_tokens": ALL, "api.create_token": ALL,
    "api.revoke_token": ALL,
    # accounts
    "api.list_users": OWNER, "api.create_user": OWNER, "api.patch_user": OWNER,
    "api.delete_user": OWNER,
    # session types (the library and drafts)
    "api.list_session_types": ALL, "api.get_session_type": ALL,
    "api.patch_session_type": WRITE, "api.generate_session_type": WRITE,
    # sessions and what they collect
    "api.list_sessions": ALL, "api.get_session": ALL, "api.create_session": WRITE,
    "api.patch_session": WRITE, "api.clone_session": WRITE, "api.share_session": WRITE,
    "api.session_analytics": ALL,
    "api.list_interviews": ALL,  # an analyst: aggregated sessions only (AGGREGATE_ONLY)
    # every session's interviews person by person (never an aggregated session's): an
    # analyst is refused, as for one interview
    "api.find_interviews": READ,
    "api.get_interview": READ, "api.end_interview": WRITE, "api.restart_interview": WRITE,
    "api.delete_interview": WRITE,
    "api.list_invites": READ, "api.create_invite": WRITE, "api.list_channels": READ,
    "api.list_rollouts": READ, "api.create_rollout": WRITE, "api.get_rollout": READ,
    "api.list_rollout_recipients": READ, "api.pause_rollout": WRITE,
    "api.resume_rollout": WRITE, "api.cancel_rollout": WRITE,
    "api.get_insights": ALL, "api.get_insight_run": ALL, "api.start_insights": WRITE,
    "api.assign_pattern": WRITE,
    # the directory
    "api.search_people": READ, "api.get_person": READ,
    "api.upsert_person": OWNER,  # an invite names new people; only owners edit the directory
    "api.directory_fields": READ, "api.get_hierarchy": READ, "api.put_hierarchy": OWNER,
    "api.import_directory": OWNER, "api.preview_audience": WRITE,
    # 1-on-1s and assigned topics
    "api.list_one_on_ones": READ, "api.get_one_on_one": READ, "api.create_one_on_one": WRITE,
    "api.add_agenda_item": OWNER,  # writes as one of the pair (added_by)
    "api.one_on_one_usage": ALL,
    "api.one_on_ones_link": OWNER,  # opens someone's own 1-on-1 page: their private notes
    "api.list_assigned_topics": READ, "api.get_assigned_topic": READ,
    "api.create_assigned_topic": WRITE, "api.edit_assigned_topic": WRITE,
    "api.send_assigned_topic": WRITE, "api.withdraw_assigned_topic": WRITE,
    "api.preview_assigned_topic": WRITE,
    # exports and the audit log (an analyst's exports: every session as if aggregated)
    "api.export_interview": READ, "api.create_export": ALL, "api.get_export": ALL,
    "api.download_export": ALL, "api.list_audit": OWNER,
    # operations and integrations
    "api.list_failures": OWNER, "api.retention_report": OWNER,
    # retention and erasure
    "api.get_retention": READ, "api.put_retention": OWNER, "api.erase_person": OWNER,
    "api.list_webhooks": OWNER, "api.get_webhook": OWNER, "api.create_webhook": OWNER,
    "api.delete_webhook": OWNER, "api.list_webhook_deliveries": OWNER,
    "api.redeliver_webhook_delivery": OWNER,
}

OPEN_ENDPOINTS = frozenset(e for e, roles in POLICY.items() if not roles)

# endpoints an analyst may call only for an aggregated session (a named one's answers, and
# its insights' quotes, come with the person's name)
AGGREGATE_ONLY = {"api.list_interviews", "api.get_insights", "api.get_insight_run"}


def _session_of_interview(s: Db, ident: int) -> int | None:
    return s.scalar(select(Interview.session_id).where(Interview.id == ident))


def _session_of_rollout(s: Db, ident: int) -> int | None:
    return s.scalar(select(Rollout.session_id).where(Rollout.id == ident))


def _session_of_insight(s: Db, ident: int) -> int | None:
    return s.scalar(select(Insight.session_id).where(Insight.id == ident))


# a URL argument naming something that belongs to a session → (what it is, its session)
SCOPED: dict[str, tuple[str, Callable[[Db, int], int | None]]] = {
    "session_id": ("session", lambda s, ident: ident),
    "interview_id": ("interview", _session_of_interview),
    "rollout_id": ("rollout", _session_of_rollout),
    "insight_id": ("insights run", _session_of_insight),
}


def visible_sessions(principal: Principal) -> Any:
    """A WHERE clause on Session for the sessions this principal may see (None: all)."""
    if principal.role != "member":
        return None
    shared = exists().where(SessionShare.session_id == Session.id,
                            SessionShare.user_id == principal.user_id)
    return or_(Session.owner_user_id == principal.user_id, shared)


def may_see_session(s: Db, principal: Principal, session_id: int) -> bool:
    clause = visible_sessions(principal)
    if clause is None:
        return True
    return s.scalar(select(Session.id).where(Session.id == session_id, clause)) is not None


def authorise(principal: Principal | None, endpoint: str | None,
              view_args: dict[str, Any]) -> None:
    """Refuse the request unless ``principal`` may call ``endpoint`` on these arguments:
    401 without a credential, 403 for a role the table does not list, and for a member
    404 on a session that is not theirs (as if it did not exist: its id says nothing)."""
    allowed = POLICY.get(endpoint or "")
    if allowed is None:
        raise ApiError(403, "forbidden", "this route has no access rule; nobody may call it")
    if not allowed:
        return
    if principal is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token> (an API "
                       "token, the token of POST /api/v1/auth/login, or ADMIN_API_TOKEN), "
                       "or sign in")
    if principal.role not in allowed:
        raise ApiError(403, "forbidden", f"a {principal.role} may not do this")
    # only a member's reach and an analyst's aggregate-only routes depend on the session
    if principal.role == "member" or (principal.role == "analyst"
                                      and endpoint in AGGREGATE_ONLY):
        with db.session_scope() as s:
            _scope(s, principal, endpoint, view_args)


def _scope(s: Db, principal: Principal, endpoint: str | None,
           view_args: dict[str, Any]) -> None:
    for arg, (kind, session_of) in SCOPED.items():
        ident = view_args.get(arg)
        if not isinstance(ident, int) or not 0 < ident <= MAX_ID:
            continue
        session_id = session_of(s, ident)
        if session_id is None:
            continue  # unknown (the route answers its own 404), or not a session's
        if not may_see_session(s, principal, session_id):
            raise ApiError(404, "not_found", f"no {kind} with id {ident}")
        if principal.role == "analyst" and endpoint in AGGREGATE_ONLY:
            anonymity = s.scalar(select(Session.anonymity).where(Session.id == session_id))
            if anonymity != "aggregated":
                raise ApiError(403, "forbidden", "an analyst sees aggregated sessions' "
                               "answers and insights only; use the session's analytics or an "
                               "export")
