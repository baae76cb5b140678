"""Conversations: every interview HR may read person by person (GET /api/v1/interviews),
one conversation's transcript with its analytics, actions and exports, and the live view of
interviews in progress.

Filters live in the URL (a GET form), so a filtered view can be bookmarked and shared; the
API checks them and its message is shown above the form. An aggregated session's interviews
are never rows here (the API leaves them out and says how many), and never a page of their
own (the API answers 404 with its reason, shown as it is).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Response, abort, redirect, render_template, request, url_for

from web.dashboard import Problem, back, bp, call_raw, can, change, get

FILTERS = ("q", "channel", "sentiment", "status", "has_responses", "session", "session_type",
           "tag", "from", "to")
LIVE = ("consent", "in_progress", "paused")
ACTIVE = "consent,in_progress,paused"  # the status filter "in progress, any stage"
STATES = ("created", "consent", "in_progress", "paused", "completed", "declined", "abandoned",
          "admin_ended", "restarted")
CHANNELS = {"web": "Web link", "slack": "Slack", "teams": "Teams", "sms": "SMS",
            "email": "Email"}
SENTIMENTS = ("positive", "neutral", "negative")
ANSWERED = {"true": "With answers", "false": "Without answers"}
LABELS = {"q": "Search", "channel": "Channel", "sentiment": "Sentiment", "status": "Status",
          "has_responses": "Answers", "session": "Session", "session_type": "Type",
          "tag": "Tag", "from": "From", "to": "To"}
PAGE_SIZE = 25
WORD = re.compile(r"\w+")
FOR_ANALYSTS = ("Conversations name the people who answered, so your role does not see "
                "them: a session's analytics and insights give the aggregate figures.")


def _filters() -> dict[str, str]:
    """The filters in the URL, blank ones left out."""
    return {k: v.strip() for k in FILTERS if (v := request.args.get(k, "")).strip()}


def _cursor(next_link: str | None) -> str | None:
    """The cursor of the API's next link (the page after this one)."""
    if not next_link:
        return None
    return (parse_qs(urlsplit(next_link).query).get("cursor") or [None])[0]


def _url(filters: dict[str, str], **extra: str) -> str:
    query = urlencode({**filters, **{k: v for k, v in extra.items() if v}})
    return url_for("dashboard.conversations") + (f"?{query}" if query else "")


def _value_label(name: str, value: str, sessions: dict[int, str]) -> str:
    if name == "channel":
        return CHANNELS.get(value, value)
    if name == "status":
        return "in progress (any stage)" if value == ACTIVE else value.replace("_", " ")
    if name == "sentiment":
        return value.capitalize()
    if name == "has_responses":
        return ANSWERED.get(value, value)
    if name == "session" and value.isdigit():
        return sessions.get(int(value), f"#{value}")
    return value


def _choices() -> tuple[list[dict], list[dict]]:
    """The sessions (the ones this user may see) and session types for the form."""
    sessions = get("/sessions", limit=200)["sessions"]
    types = get("/session-types")["session_types"]
    return sessions, types


@bp.get("/conversations")
def conversations():
    if not can("api.find_interviews"):  # an analyst: say why, rather than the API's 403
        return render_template("dashboard/error.html", title="Not for your role",
                               message=FOR_ANALYSTS), 403
    filters = _filters()
    cursor = request.args.get("cursor", "")
    if any(not v.strip() for v in request.args.values()):  # the form sends blank fields too
        return redirect(_url(filters, cursor=cursor))
    sessions, types = _choices()
    names = {s["id"]: s["name"] for s in sessions}
    problem, rows, next_cursor, aggregated = None, [], None, None
    try:
        data = get("/interviews", limit=PAGE_SIZE, cursor=cursor, **filters)
    except Problem as exc:
        if exc.status != 400 and exc.status != 422:
            raise
        problem = exc.message
    else:
        rows, aggregated = data["interviews"], data["aggregated"]
        next_cursor = _cursor(data["next"])
    chips = [{"label": LABELS[k], "value": _value_label(k, v, names),
              "remove": _url({n: w for n, w in filters.items() if n != k})}
             for k, v in filters.items()]
    return render_template(
        "dashboard/conversations/list.html", active="conversations", rows=rows,
        filters=filters, chips=chips, problem=problem, aggregated=aggregated,
        next_url=_url(filters, cursor=next_cursor) if next_cursor else None,
        first_url=_url(filters) if cursor else None, clear_url=_url({}),
        sessions=sessions, types=types, channels=CHANNELS, sentiments=SENTIMENTS,
        states=STATES, active_states=ACTIVE, answered=ANSWERED,
        session_name=names.get(int(filters["session"])) if filters.get("session", "")
        .isdigit() else None)


# ---- one conversation -------------------------------------------------------------------

def _words(text: str) -> int:
    return len(WORD.findall(text or ""))


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return max((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds(), 0.0)


def _figures(interview: dict[str, Any]) -> dict[str, Any]:
    """What the analytics box shows: the API's figures of an ended interview; for one still
    going, the same counts read off its turns so far."""
    turns = interview["turns"]
    answers = [t for t in turns if t["role"] == "participant" and t["sentiment"] is not None]
    saved = interview.get("analytics")
    if saved:
        return {"duration": saved["duration_seconds"], "turns": saved["turns"],
                "answers": saved["answers"], "participant_words": saved["participant_words"],
                "interviewer_words": saved["interviewer_words"],
                "words_per_answer": saved["words_per_answer"],
                "engagement": interview["engagement"], "so_far": False}
    said = [t for t in turns if t["role"] != "system"]
    # from their first turn after the first question (as core.analytics counts it)
    asked = next((t["seq"] for t in turns if t["role"] == "interviewer"), None)
    first = next((t for t in turns if t["role"] == "participant" and asked is not None
                  and t["seq"] > asked), None)
    participant_words = sum(_words(t["text"]) for t in answers)
    return {"duration": _seconds(first and first["created_at"],
                                 said[-1]["created_at"] if said else None),
            "turns": len(said), "answers": len(answers),
            "participant_words": participant_words,
            "interviewer_words": sum(_words(t["text"]) for t in turns
                                     if t["role"] == "interviewer"),
            "words_per_answer": round(participant_words / len(answers), 1) if answers
            else None, "engagement": interview["engagement"], "so_far": True}


def _coverage(interview: dict[str, Any], topics: list[dict]) -> list[dict[str, Any]]:
    """Each topic of the session in its order, with how far the interview got in it."""
    covered = interview.get("coverage") or {}
    figures = {t["topic"]: t for t in (interview.get("analytics") or {}).get("topics", [])}
    out = []
    for topic in topics:
        if not topic.get("enabled", True) and topic["key"] not in covered:
            continue
        seen = covered.get(topic["key"]) or {}
        out.append({"key": topic["key"], "label": topic["label"],
                    "status": seen.get("status") or "not reached",
                    "questions": seen.get("questions", 0), "probes": seen.get("probes", 0),
                    "answers": (figures.get(topic["key"]) or {}).get("answers")})
    known = {t["key"] for t in topics}
    out += [{"key": k, "label": k, "status": v.get("status") or "—",
             "questions": v.get("questions", 0), "probes": v.get("probes", 0),
             "answers": None} for k, v in covered.items() if k not in known]
    return out


@bp.get("/conversations/<int:interview_id>")
def conversation(interview_id: int):
    try:
        interview = get(f"/interviews/{interview_id}")
    except Problem as exc:
        if exc.status != 404:
            raise
        return render_template("dashboard/conversations/unavailable.html",
                               active="conversations", message=exc.message), 404
    try:
        session = get(f"/sessions/{interview['session_id']}")
    except Problem:
        session = None
    topics = (session or {}).get("topics", [])
    labels = {t["key"]: t["label"] for t in topics}
    return render_template(
        "dashboard/conversations/detail.html", active="conversations", i=interview,
        session=session, labels=labels, figures=_figures(interview),
        coverage=_coverage(interview, topics), channels=CHANNELS,
        live=interview["state"] in LIVE,
        may_end=can("api.end_interview") and interview["state"] in (*LIVE, "created"),
        may_restart=can("api.restart_interview") and interview["state"] != "restarted",
        may_delete=can("api.delete_interview"), may_export=can("api.export_interview"))


@bp.post("/conversations/<int:interview_id>/end")
def end_conversation(interview_id: int):
    reason = request.form.get("reason", "").strip()
    change("POST", f"/interviews/{interview_id}/end", {"reason": reason} if reason else None,
           done="The interview was ended.")
    return back(url_for("dashboard.conversation", interview_id=interview_id))


@bp.post("/conversations/<int:interview_id>/restart")
def restart_conversation(interview_id: int):
    fresh = change("POST", f"/interviews/{interview_id}/restart",
                   done="The interview was restarted: the person is asked again from the "
                        "start, in this new conversation.")
    if fresh and fresh.get("id"):
        return back(url_for("dashboard.conversation", interview_id=fresh["id"]))
    return back(url_for("dashboard.conversation", interview_id=interview_id))


@bp.post("/conversations/<int:interview_id>/delete")
def delete_conversation(interview_id: int):
    if change("DELETE", f"/interviews/{interview_id}",
              done="The interview and its answers were deleted.") is None:
        return back(url_for("dashboard.conversation", interview_id=interview_id))
    return back(url_for("dashboard.conversations"))


@bp.get("/conversations/<int:interview_id>/export.<fmt>")
def export_conversation(interview_id: int, fmt: str):
    """The API's file, passed through as it is (its type and attachment name); a refusal
    is shown as a page."""
    if fmt not in ("pdf", "json"):
        abort(404)
    response = call_raw("GET", f"/interviews/{interview_id}/export", query={"format": fmt})
    if response.status_code >= 400:
        error = (response.get_json(silent=True) or {}).get("error") or {}
        raise Problem(response.status_code, error.get("code", "error"),
                      error.get("message", response.status))
    out = Response(response.get_data(), status=response.status_code,
                   mimetype=response.mimetype)
    out.headers["Content-Disposition"] = response.headers.get(
        "Content-Disposition", f'attachment; filename="interview-{interview_id}.{fmt}"')
    return out


# ---- live ---------------------------------------------------------------------------------

@bp.get("/live")
def live():
    if not can("api.find_interviews"):  # an analyst: say why, rather than the API's 403
        return render_template("dashboard/error.html", title="Not for your role",
                               message=FOR_ANALYSTS), 403
    data = get("/interviews", status=ACTIVE, limit=100)
    return render_template("dashboard/conversations/live.html", active="live",
                           rows=data["interviews"], more=bool(data["next"]),
                           aggregated=data["aggregated"], live_states=ACTIVE, limit=100,
                           now_iso=datetime.now(UTC).isoformat())
