"""1-on-1s: HR's assigned topics (the list with progress, a new topic with its audience and
time, a topic's page where it is edited, sent or withdrawn) and the usage report."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import flash, redirect, render_template, request, url_for

from web.dashboard import Problem, audience, bp, call, can, change, charts, get


def _fields() -> list[dict[str, Any]]:
    try:
        return get("/directory/fields")["fields"]
    except Problem:
        return []


def _builder(rule: dict[str, Any] | None, preview: dict[str, Any] | None = None, *,
             counts: bool = True) -> dict[str, Any]:
    """The rule builder of a topic's audience (``counts``: with a count button that posts
    the new-topic form back, for browsers without JavaScript)."""
    return {"rule": audience.builder(
        rule, fields=_fields(), preview=preview, preview_url="/assigned-topics/preview",
        count_action=url_for("dashboard.create_assigned_topic") if counts else None)}


def _preview(rule: dict[str, Any]) -> dict[str, Any] | None:
    return change("POST", "/assigned-topics/preview", {"audience": rule}) or None


def _schedule(form) -> tuple[dict[str, Any], str]:
    """The time fields of the form → (API fields, "draft" | "now" | "schedule")."""
    when = form.get("when", "draft")
    if when != "schedule":
        return {}, "now" if when == "now" else "draft"
    at = form.get("send_at", "").strip()
    if form.get("local") and "T" in at:
        day, clock = at.split("T", 1)
        return {"send_at": f"{day}T00:00:00", "local_time": clock[:5]}, when
    return {"send_at": f"{at}:00" if len(at) == 16 else at}, when


def _cursor(link: str | None) -> str | None:
    """The cursor of an API ``next`` link, for this page's own "older" link."""
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0] if link else None


# ---- the list ---------------------------------------------------------------------------------

@bp.get("/one-on-ones")
def one_on_ones():
    if not can("api.list_assigned_topics"):
        return redirect(url_for("dashboard.one_on_one_usage"))
    data = get("/assigned-topics", limit=50, cursor=request.args.get("cursor"))
    return render_template("dashboard/one_on_ones/topics.html", active="one_on_ones",
                           tab="topics", topics=data["assigned_topics"],
                           cursor=_cursor(data["next"]),
                           describe=audience.describe)


# ---- a new topic ------------------------------------------------------------------------------

@bp.get("/one-on-ones/topics/new")
def new_assigned_topic():
    return render_template("dashboard/one_on_ones/new.html", active="one_on_ones",
                           tab="topics", form={}, **_builder(None))


@bp.post("/one-on-ones/topics/new")
def create_assigned_topic():
    form = request.form
    rule = audience.rule_from_form(form)
    if form.get("intent") == "preview":
        return render_template("dashboard/one_on_ones/new.html", active="one_on_ones",
                               tab="topics", form=form, **_builder(rule, _preview(rule)))
    timing, when = _schedule(form)
    payload = {"title": form.get("title", ""), "note": form.get("note", ""),
               "annotation": form.get("annotation", ""), "audience": rule,
               "respect_quiet_hours": form.get("ignore_quiet_hours") != "1", **timing}
    topic = change("POST", "/assigned-topics", payload,
                   done="Scheduled." if when == "schedule" else
                   None if when == "now" else "Saved as a draft.")
    if topic is None:  # the API's message is flashed; the form keeps what was typed
        return render_template("dashboard/one_on_ones/new.html", active="one_on_ones",
                               tab="topics", form=form, **_builder(rule)), 422
    if when == "now":
        change("POST", f"/assigned-topics/{topic['id']}/send",
               done="Sending to the managers' 1-on-1s.")
    return redirect(url_for("dashboard.assigned_topic", topic_id=topic["id"]))


# ---- one topic --------------------------------------------------------------------------------

def progress_chart(topic: dict[str, Any]) -> charts.Chart | None:
    p = topic["progress"]
    if not p["pairs"]:
        return None
    return charts.stacked(f"Progress over {p['pairs']} pairs", [
        ("On the agenda", p["delivered"], "delivered"), ("Queued", p["queued"], "sent"),
        ("Pending", p["pending"], "pending"), ("Failed", p["failed"], "failed"),
        ("Cancelled", p["cancelled"], "cancelled")])


@bp.get("/one-on-ones/topics/<int:topic_id>")
def assigned_topic(topic_id: int):
    return _topic_page(topic_id)


def _topic_page(topic_id: int, typed=None):
    """A topic's page; ``typed``: its edit form as posted and refused, shown as it was."""
    topic = get(f"/assigned-topics/{topic_id}")
    rule = audience.rule_from_form(typed) if typed and typed.get("draft") == "1" \
        else topic["audience"]
    return render_template("dashboard/one_on_ones/topic.html", active="one_on_ones",
                           tab="topics", topic=topic, chart=progress_chart(topic),
                           describe=audience.describe, typed=typed,
                           **_builder(rule, counts=False))


@bp.post("/one-on-ones/topics/<int:topic_id>/edit")
def edit_assigned_topic(topic_id: int):
    form = request.form
    here = url_for("dashboard.assigned_topic", topic_id=topic_id)
    payload: dict[str, Any] = {name: form.get(name, "") for name in
                               ("title", "note", "annotation")}
    if form.get("draft") == "1":  # a draft's audience can change too
        payload["audience"] = audience.rule_from_form(form)
    if change("PATCH", f"/assigned-topics/{topic_id}", payload,
              done="Saved. Messages already sent are updated in place.") is None:
        return _topic_page(topic_id, typed=form), 422  # refused: as typed, under the message
    return redirect(here)


@bp.post("/one-on-ones/topics/<int:topic_id>/send")
def send_assigned_topic(topic_id: int):
    change("POST", f"/assigned-topics/{topic_id}/send", done="Sending to the managers' 1-on-1s.")
    return redirect(url_for("dashboard.assigned_topic", topic_id=topic_id))


@bp.post("/one-on-ones/topics/<int:topic_id>/withdraw")
def withdraw_assigned_topic(topic_id: int):
    change("POST", f"/assigned-topics/{topic_id}/withdraw",
           done="Withdrawn: it is off every agenda where it was not discussed yet.")
    return redirect(url_for("dashboard.assigned_topic", topic_id=topic_id))


# ---- usage ------------------------------------------------------------------------------------

def _day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%b %-d")


def trend_chart(report: dict[str, Any]) -> charts.Chart:
    return charts.line(f"Active 1-on-1 pairs per day, last {report['days']} days",
                       [(_day(p["date"]), p["active_pairs"]) for p in report["trend"]])


@bp.get("/one-on-ones/usage")
def one_on_one_usage():
    days = request.args.get("days", "30")
    days = days if days in ("7", "30") else "30"
    department = request.args.get("department", "").strip()
    everyone = call("GET", "/one-on-ones/usage", query={"days": days})
    report = everyone
    if department:  # a department too small to show alone: the API says so
        try:
            report = call("GET", "/one-on-ones/usage",
                          query={"days": days, "department": department})
        except Problem as exc:
            flash(exc.message, "error")
            department = ""
    names = [d["department"] for d in everyone["departments"] if not d["merged"]]
    return render_template("dashboard/one_on_ones/usage.html", active="one_on_ones",
                           tab="usage", report=report, days=int(days),
                           department=department, departments=names,
                           chart=trend_chart(report))
