"""A session's Insights tab: what the interviews say together (summary, patterns with their
quotes, each topic, missing knowledge), the funnel and sentiment charts from the session's
analytics, running insights, and turning a pattern into a 1-on-1 topic.

Everything comes through the API, so the anonymity rule is the API's: an aggregated
session's quotes carry no interview or person (and get no link here), and under its
threshold the API answers how many more interviews are needed and no text at all.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import abort, redirect, render_template, request, url_for

from web.dashboard import Problem, bp, change, charts, get

ACTIVE = ("queued", "running")
SENTIMENTS = (("Positive", "positive"), ("Neutral", "neutral"), ("Negative", "negative"))


def _latest(session_id: int) -> tuple[dict[str, Any] | None, str | None]:
    """The latest insights (or the API's "withheld" answer), and why there are none."""
    try:
        return get(f"/sessions/{session_id}/insights"), None
    except Problem as exc:
        if exc.status in (403, 404):
            return None, exc.code if exc.status == 404 else "forbidden"
        raise


def _run(session_id: int, run_id: str | None, latest: dict[str, Any] | None
         ) -> dict[str, Any] | None:
    """The run to report on: the one just started (``?run=``) or the one the latest
    insights say is running; None once it is done (the latest insights show it)."""
    ident = run_id if run_id and run_id.isascii() and run_id.isdigit() else None
    if ident is None and latest and latest.get("running"):
        ident = latest["running"].rsplit("/", 1)[-1]
    if ident is None or len(ident) > 12:
        return None
    try:
        run = get(f"/insights/{int(ident)}")
    except Problem:
        return None
    if run["session_id"] != session_id or run["status"] == "done":
        return None
    return run


def funnel_chart(analytics: dict[str, Any]) -> charts.Chart | None:
    overall = analytics.get("overall")
    if not overall or not overall["funnel"]:
        return None
    return charts.bars("Completion funnel by topic: interviews that reached each topic",
                       [(t["label"], t["reached"]) for t in overall["funnel"]],
                       total=overall["started"] or None)


def sentiment_chart(analytics: dict[str, Any]) -> charts.Chart | None:
    periods = analytics.get("sentiment_over_time") or []
    if not periods:
        return None
    rows = [(_period_label(p), [(label, p[key], key) for label, key in SENTIMENTS])
            for p in periods]
    return charts.stacked_rows("Sentiment of completed interviews over time", rows)


def _period_label(period: dict[str, Any]) -> str:
    return period["from"] if period["from"] == period["to"] else \
        f"{period['from']} – {period['to']}"


@bp.get("/sessions/<int:session_id>/insights")
def session_insights(session_id: int):
    return _insights_page(session_id)


def _insights_page(session_id: int, typed: dict[str, str] | None = None):
    """The tab; ``typed``: a pattern's assign form as posted and refused, shown as it was."""
    session = get(f"/sessions/{session_id}")
    analytics = get(f"/sessions/{session_id}/analytics")
    latest, missing = _latest(session_id)
    run = _run(session_id, request.args.get("run"),
               latest if latest and "result" in latest else None)
    withheld = latest["withheld"] if latest and latest.get("status") == "withheld" else None
    result = latest.get("result") if latest and not withheld else None
    return render_template(
        "dashboard/insights/session.html", active="sessions", session=session,
        named=session["anonymity"] == "named", analytics=analytics, latest=latest,
        result=result, withheld=withheld, missing=missing, run=run,
        polling=run is not None and run["status"] in ACTIVE,
        funnel=funnel_chart(analytics), sentiment=sentiment_chart(analytics),
        patterns={p["id"]: p for p in (result or {}).get("patterns", [])}, typed=typed)


@bp.post("/sessions/<int:session_id>/insights")
def run_insights(session_id: int):
    started = change("POST", f"/sessions/{session_id}/insights",
                     done="Insights are being computed: this page updates when they are ready.")
    if started is None:
        return redirect(url_for("dashboard.session_insights", session_id=session_id))
    return redirect(url_for("dashboard.session_insights", session_id=session_id,
                            run=started["id"]))


@bp.post("/insights/<int:insight_id>/patterns/<pattern_id>/assign")
def assign_pattern(insight_id: int, pattern_id: str):
    """A pattern → an assigned topic (a draft) for the managers of its group, or of
    everyone's 1-on-1s; then that topic's page, where HR reviews and sends it."""
    try:
        run = get(f"/insights/{insight_id}")
    except Problem as exc:
        abort(exc.status if exc.status in (403, 404) else 400)
    form = request.form
    payload: dict[str, Any] = {"title": form.get("title", "").strip(),
                               "note": form.get("note", "").strip()}
    if form.get("audience") == "everyone":
        payload["audience"] = {"match": "all", "conditions": []}
    topic = change("POST", f"/insights/{insight_id}/patterns/{quote(pattern_id, safe='')}/assign",
                   payload,
                   done="Assigned topic saved as a draft: review it, then send it.")
    if topic is None:  # refused: the tab again, this pattern's form as typed
        return _insights_page(run["session_id"], typed={
            "pattern": pattern_id, "title": form.get("title", ""), "note": form.get("note", ""),
            "audience": form.get("audience", "group")}), 422
    return redirect(url_for("dashboard.assigned_topic", topic_id=topic["id"]))


def conversation_url(quote: dict[str, Any]) -> str | None:
    """Where a named session's quote is read in context (the conversations page); an
    aggregated session's quote names no interview, so it has none."""
    if quote.get("interview_id") is None or quote.get("turn_id") is None:
        return None
    return f"/dashboard/conversations/{int(quote['interview_id'])}#turn-{int(quote['turn_id'])}"


@bp.app_template_global("quote_url")
def _quote_url(quote: dict[str, Any], named: bool) -> str | None:
    return conversation_url(quote) if named else None

