"""Sessions: the list HR starts from, a new session (from the library or a generated draft),
the session page (topic editor, invite and roll out) and a rollout's progress.

Everything goes through the API (``get`` / ``change``); the form helpers here only turn
form fields into the API's JSON and back."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import abort, redirect, render_template, request, url_for
from flask import session as flask_session
from werkzeug.datastructures import MultiDict

from web.dashboard import Problem, audience, bp, call, can, change, charts, get

PRIORITIES = ("high", "medium", "low")
TOPIC_FIELDS = ("label", "description", "probing_guidance", "priority", "context")
RECIPIENT_PAGE = 50
# a recipient's progress in words, and the colour of its part of the chart
PROGRESS = {"pending": ("Waiting", "pending"), "queued": ("Queued", "pending"),
            "sent": ("Sent", "sent"), "delivered": ("Delivered", "delivered"),
            "responded": ("Responded", "responded"), "unreachable": ("Unreachable", "unreachable"),
            "opted_out": ("Opted out", "opted-out"), "failed": ("Failed", "failed"),
            "cancelled": ("Cancelled", "cancelled"),
            "already_invited": ("Already invited", "other")}
# what a page says after a change (its other words are in its template)
SAID = {
    "no_create": "Your role may look at sessions but not create them.",
    "created": "Session created.",
    "drafted": "Here is a draft: review its topics, then create the session.",
    "draft_saved": "Draft saved.", "topics_saved": "Topics saved.", "moved": "Topic moved.",
    "cloned": "Cloned: this copy is yours to change.", "settings_saved": "Settings saved.",
    "invited": "{name} is invited.", "rollout": "Rollout scheduled.",
    "pause": "Rollout paused.", "resume": "Rollout resumed.", "cancel": "Rollout cancelled.",
}


# ---- the list and a new session ------------------------------------------------------------

@bp.get("/sessions")
def sessions():
    data = get("/sessions", limit=50, cursor=request.args.get("cursor"))
    return render_template("dashboard/sessions/list.html", active="sessions",
                           sessions=data["sessions"], next=_cursor(data["next"]))


@bp.get("/sessions/new")
def new_session():
    return _new_page(request.args.get("template", ""))


def _new_page(chosen: str, values: MultiDict | None = None):
    if not can("api.create_session"):
        abort(403, SAID["no_create"])
    types = get("/session-types")["session_types"]
    return render_template(
        "dashboard/sessions/new.html", active="sessions",
        templates=[t for t in types if t["status"] == "published"],
        drafts=[t for t in types if t["status"] == "draft"],
        chosen=chosen, values=values or MultiDict())


@bp.post("/sessions/new")
def create_session():
    return _create(lambda: (_new_page(request.form.get("session_type", ""), request.form),
                            422))


def _create(failed):
    """A session from the form's template, name, anonymity and tags; its page on success,
    else ``failed()``: the form again, as typed, under the API's message."""
    form = request.form
    body: dict[str, Any] = {"session_type": _int(form.get("session_type")) or
                            form.get("session_type", ""), "name": form.get("name", "").strip()}
    if form.get("anonymity") in ("named", "aggregated"):
        body["anonymity"] = form["anonymity"]
    if tags := _tags(form):
        body["tags"] = tags
    created = change("POST", "/sessions", body, done=SAID["created"])
    if created is None:
        return failed()
    return redirect(url_for("dashboard.session", session_id=created["id"]))


@bp.post("/sessions/generate")
def generate_session_type():
    draft = change("POST", "/session-types/generate",
                   {"description": request.form.get("description", "")},
                   done=SAID["drafted"])
    if draft is None:
        return redirect(url_for("dashboard.new_session"))
    return redirect(url_for("dashboard.draft", type_id=draft["id"]))


@bp.get("/sessions/drafts/<int:type_id>")
def draft(type_id: int):
    return _draft_page(type_id)


def _draft_page(type_id: int, values: MultiDict | None = None):
    session_type = get(f"/session-types/{type_id}")
    if session_type["builtin"]:
        return redirect(url_for("dashboard.new_session", template=type_id))
    return render_template("dashboard/sessions/draft.html", active="sessions",
                           session_type=session_type, editable=can("api.patch_session_type"),
                           values=values or MultiDict())


@bp.post("/sessions/drafts/<int:type_id>")
def save_draft(type_id: int):
    form = request.form
    body: dict[str, Any] = {"topics": topics_from(form)}
    if "name" in form:
        body["name"] = form["name"].strip()
    if "purpose" in form:
        body["purpose"] = form["purpose"]
    change("PATCH", f"/session-types/{type_id}", body, done=_saved(form, SAID["draft_saved"]))
    return redirect(url_for("dashboard.draft", type_id=type_id) + _anchor(form))


@bp.post("/sessions/drafts/<int:type_id>/publish")
def publish_draft(type_id: int):
    """Publish the draft and create a session from it: the second step of "describe what
    you want to explore"."""
    if change("PATCH", f"/session-types/{type_id}", {"status": "published"}) is None:
        return redirect(url_for("dashboard.draft", type_id=type_id))
    return _create(lambda: (_draft_page(type_id, request.form), 422))


# ---- one session: topics -------------------------------------------------------------------

@bp.get("/sessions/<int:session_id>")
def session(session_id: int):
    return render_template("dashboard/sessions/topics.html", active="sessions",
                           session=get(f"/sessions/{session_id}"),
                           editable=can("api.patch_session"))


@bp.post("/sessions/<int:session_id>/topics")
def save_topics(session_id: int):
    form = request.form
    change("PATCH", f"/sessions/{session_id}", {"topics": topics_from(form)},
           done=_saved(form, SAID["topics_saved"]))
    return redirect(url_for("dashboard.session", session_id=session_id) + _anchor(form))


@bp.post("/sessions/<int:session_id>/clone")
def clone_session(session_id: int):
    copy = change("POST", f"/sessions/{session_id}/clone", {},
                  done=SAID["cloned"])
    if copy is None:
        return redirect(url_for("dashboard.session", session_id=session_id))
    return redirect(url_for("dashboard.session", session_id=copy["id"]))


# ---- one session: settings -----------------------------------------------------------------

# the interview's settings the page edits, and the unit each is shown in (seconds per unit)
SETTINGS = (("question_budget", 1), ("max_pauses", 1), ("pause_prompt_seconds", 60),
            ("pause_expiry_seconds", 60), ("anonymity_threshold", 1))
# a trigger's rule as the form names it → (the date it counts from, its offset's name)
WHEN = {"start_date:after": ("start_date", "days_after"),
        "start_date:before": ("start_date", "days_before"),
        "end_date:before": ("end_date", "days_before"),
        "end_date:after": ("end_date", "days_after")}
DEFAULT_OFFSET = {"start_date": "days_after", "end_date": "days_before"}  # as the API's
TRIGGER_ROWS = 11  # the API keeps at most 10 triggers; the form adds one empty row


@bp.get("/sessions/<int:session_id>/settings")
def session_settings(session_id: int):
    session_ = get(f"/sessions/{session_id}")
    return _settings_page(session_, settings_form(session_))


@bp.post("/sessions/<int:session_id>/settings")
def save_settings(session_id: int):
    session_ = get(f"/sessions/{session_id}")
    form = request.form
    if change("PATCH", f"/sessions/{session_id}", settings_from(form, session_),
              done=SAID["settings_saved"]) is None:
        # refused: as typed, under the message (a disabled field, not posted, as it is)
        values, now = MultiDict(form), settings_form(session_)
        for key, _ in SETTINGS:
            values.setdefault(key, now[key])
        return _settings_page(session_, values), 422
    return redirect(url_for("dashboard.session_settings", session_id=session_id))


def _trigger_rows(form: MultiDict):
    """(n, when) of each trigger row the form holds that is not "Off"."""
    for n in range(min(_int(form.get("trigger-count")) or 0, TRIGGER_ROWS)):
        if (when := form.get(f"trigger-{n}-when", "")) in WHEN:
            yield n, when


def _settings_page(session_: dict[str, Any], values: MultiDict):
    channels = get("/channels")["rollout"] if can("api.list_channels") else []
    rows = []  # each trigger's fields, then one empty row to add another
    for n, when in _trigger_rows(values):
        chosen = values.getlist(f"trigger-{n}-channel")
        rows.append({"when": when, "days": values.get(f"trigger-{n}-days", ""),
                     "local_time": values.get(f"trigger-{n}-local_time") or "09:00",
                     # the trigger's channels in its order, then the others it may take
                     "channels": [(c, c in chosen) for c in
                                  [*chosen, *(c for c in channels if c not in chosen)]]})
    if len(rows) < TRIGGER_ROWS - 1 and can("api.patch_session"):
        rows.append({"when": "", "days": "", "local_time": "09:00",
                     "channels": [(c, False) for c in channels]})
    return render_template("dashboard/sessions/settings.html", active="sessions",
                           session=session_, values=values, triggers=rows,
                           editable=can("api.patch_session"))


def settings_form(session_: dict[str, Any]) -> MultiDict:
    """The settings page's fields as the session has them now."""
    form = MultiDict({"name": session_["name"], "tags": ", ".join(session_["tags"]),
                      "trigger-count": str(len(session_["triggers"]))})
    for key, unit in SETTINGS:
        form[key] = f"{session_['settings'][key] / unit:.2f}".rstrip("0").rstrip(".")
    for n, t in enumerate(session_["triggers"]):
        offset = "days_after" if "days_after" in t else "days_before"
        form[f"trigger-{n}-when"] = f"{t['on']}:{offset.removeprefix('days_')}"
        form[f"trigger-{n}-days"] = str(t.get(offset, 0))
        form[f"trigger-{n}-local_time"] = t["local_time"]
        form.setlist(f"trigger-{n}-channel", t["channels"])
    return form


def settings_from(form: MultiDict, session_: dict[str, Any]) -> dict[str, Any]:
    """The settings form as one PATCH: name, tags and triggers always (a locked session
    keeps only its topics and interview settings), and each interview setting HR changed
    from what the page showed (``shown-<key>``): one left alone is not sent, as the
    minutes shown may be rounded and someone may have changed it since. A value that is
    not a number goes to the API as it is, which says what it must be."""
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "tags": _tags(form),
        "triggers": []}
    now, settings = settings_form(session_), {}
    for key, unit in SETTINGS:
        if key not in form:  # disabled (a locked session), or not this session's
            continue
        raw = form[key].strip()
        if raw == form.get(f"shown-{key}", now[key]):  # as the page showed it
            continue
        try:
            settings[key] = round(float(raw) * unit)
        except (ValueError, OverflowError):  # "x", "inf", "1e400"
            settings[key] = raw
    if settings:  # a session locked since the page loaded: the API says so
        body["settings"] = settings
    for n, when in _trigger_rows(form):
        on, offset = WHEN[when]
        trigger: dict[str, Any] = {
            "on": on, "local_time": form.get(f"trigger-{n}-local_time") or "09:00"}
        raw = form.get(f"trigger-{n}-days", "").strip()
        if raw or offset != DEFAULT_OFFSET[on]:  # empty: the API's default, else 0
            trigger[offset] = int(raw) if raw.isascii() and raw.isdecimal() else (raw or 0)
        if chosen := form.getlist(f"trigger-{n}-channel"):
            trigger["channels"] = chosen
        body["triggers"].append(trigger)
    return body


def _tags(form: MultiDict) -> list[str]:
    """The form's comma-separated tags."""
    return [t.strip() for t in form.get("tags", "").split(",") if t.strip()]


def topics_from(form: MultiDict) -> list[dict[str, Any]]:
    """The topic editor's fields (``topic-<n>-<field>``) as the API's full ordered list,
    with a Move up / Move down button (``move=<n>:up``) applied; a new row without a
    label is left out."""
    topics = []
    for n in range(_int(form.get("topic-count")) or 0):
        item: dict[str, Any] = {f: form.get(f"topic-{n}-{f}", "") for f in TOPIC_FIELDS}
        item["enabled"] = form.get(f"topic-{n}-enabled") == "on"
        if (ident := _int(form.get(f"topic-{n}-id"))) is not None:
            item["id"] = ident
        elif not item["label"].strip():
            continue
        if item["priority"] not in PRIORITIES:
            item["priority"] = "medium"
        topics.append(item)
    index, _, direction = form.get("move", "").partition(":")
    i = _int(index)
    j = None if i is None else i - 1 if direction == "up" else i + 1
    if i is not None and j is not None and 0 <= i < len(topics) and 0 <= j < len(topics):
        topics[i], topics[j] = topics[j], topics[i]
    return topics


def _saved(form: MultiDict, saved: str) -> str:
    return SAID["moved"] if form.get("move") else saved


def _anchor(form: MultiDict) -> str:
    """Back to the moved topic (its new place), so the keyboard stays where it was."""
    index, _, direction = form.get("move", "").partition(":")
    i = _int(index)
    if i is None:
        return ""
    return f"#topic-{max(i - 1, 0) if direction == 'up' else i + 1}"


# ---- one session: invite and roll out ------------------------------------------------------

@bp.get("/sessions/<int:session_id>/invite")
def session_invite(session_id: int):
    return _invite_page(session_id)


@bp.post("/sessions/<int:session_id>/audience")
def count_audience(session_id: int):
    """The rollout form's "Count people" without JavaScript: the page again, the form as it
    was, with how many people its rule reaches (audience.js counts as HR types)."""
    form = request.form
    try:
        preview: dict[str, Any] = call("POST", "/audiences/preview",
                                       json={"audience": audience.rule_from_form(form)})
    except Problem as exc:
        preview = {"error": getattr(exc, "message", str(exc))}
    return _invite_page(session_id, values=form, preview=preview)


def _invite_page(session_id: int, values: MultiDict | None = None,
                 preview: dict[str, Any] | None = None):
    session_ = get(f"/sessions/{session_id}")
    invites = get(f"/sessions/{session_id}/invites", limit=200)["invites"]
    # the autofill: people in the directory (everyone invited before is there)
    people = get("/people", limit=200)["people"] if can("api.search_people") else []
    fields = get("/directory/fields")["fields"] if can("api.directory_fields") else []
    values = values or MultiDict()
    return render_template(
        "dashboard/sessions/invite.html", active="sessions", session=session_,
        invites=invites, people=people, channels=get("/channels"),
        rollouts=get(f"/sessions/{session_id}/rollouts", limit=50)["rollouts"],
        values=values, rule=audience.builder(
            audience.rule_from_form(values), fields=fields, preview=preview,
            preview_url="/audiences/preview",
            count_action=url_for("dashboard.count_audience", session_id=session_id)
            + "#rollout"),
        link=_new_link(session_id))


def _new_link(session_id: int) -> dict[str, Any] | None:
    """The web link an invite just made here, shown once on this session's page (kept in
    the signed, HttpOnly session cookie across the redirect, only until then)."""
    link = flask_session.get("invite_link")
    if not isinstance(link, dict) or link.get("session_id") != session_id:
        return None
    return flask_session.pop("invite_link")


@bp.post("/sessions/<int:session_id>/invites")
def create_invite(session_id: int):
    form = request.form
    person = {"name": form.get("name", "").strip(), "email": form.get("email", "").strip()}
    made = change("POST", f"/sessions/{session_id}/invites",
                  {"person": person, "channel": form.get("channel", "web")},
                  done=SAID["invited"].format(name=person["name"]))
    if made is None:  # refused: the form again, as typed, under the API's message
        return _invite_page(session_id, values=form), 422
    if made["channel"] == "web":
        flask_session["invite_link"] = {"session_id": session_id, "name": person["name"],
                                        "url": made["link"], "expires_at": made["expires_at"]}
    return redirect(url_for("dashboard.session_invite", session_id=session_id) + "#invite")


@bp.post("/sessions/<int:session_id>/rollouts")
def create_rollout(session_id: int):
    made = change("POST", f"/sessions/{session_id}/rollouts", rollout_from(request.form),
                  done=SAID["rollout"])
    if not made:  # refused: the form again, as it was, under the API's message
        return _invite_page(session_id, values=request.form), 422
    return redirect(url_for("dashboard.rollout", rollout_id=made["id"]))


def rollout_from(form: MultiDict) -> dict[str, Any]:
    """The rollout form as the API's body: channels in the order chosen (``rank-<name>``),
    a date and a local time, reminders after days."""
    chosen = form.getlist("channel")
    order = {name: _int(form.get(f"rank-{name}")) or 99 for name in chosen}
    body: dict[str, Any] = {"audience": audience.rule_from_form(form),
                            "channels": sorted(chosen, key=lambda c: (order[c],
                                                                      chosen.index(c)))}
    if date := form.get("date", "").strip():
        body["send_at"] = f"{date}T00:00:00"
        body["local_time"] = form.get("local_time") or "09:00"
    days = [d for d in (_int(v) for v in form.get("reminders", "").split(",")) if d]
    if days:
        body["reminders"] = {"after_days": days}
    return body


# ---- a rollout -----------------------------------------------------------------------------

@bp.get("/rollouts/<int:rollout_id>")
def rollout(rollout_id: int):
    data = get(f"/rollouts/{rollout_id}")
    status = request.args.get("status") or None
    cursor = request.args.get("cursor")
    if status or cursor:
        found = get(f"/rollouts/{rollout_id}/recipients", status=status, cursor=cursor,
                    limit=RECIPIENT_PAGE)
        people, after = found["recipients"], found["next"]
    else:
        people, after = data["recipients"], data["recipients_next"]
    chart = charts.stacked(f"{data['total']} people by progress", [
        (PROGRESS.get(key, (key, "other"))[0], n, PROGRESS.get(key, (key, "other"))[1])
        for key, n in data["counts"].items() if n])
    return render_template(
        "dashboard/sessions/rollout.html", active="sessions", rollout=data, chart=chart,
        labels={key: words for key, (words, _) in PROGRESS.items()},
        session=get(f"/sessions/{data['session_id']}"), recipients=people,
        status=status, next=_cursor(after))


@bp.post("/rollouts/<int:rollout_id>/<any(pause, resume, cancel):action>")
def control_rollout(rollout_id: int, action: str):
    change("POST", f"/rollouts/{rollout_id}/{action}", {}, done=SAID[action])
    return redirect(url_for("dashboard.rollout", rollout_id=rollout_id))


# ---- small helpers -------------------------------------------------------------------------

def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _cursor(link: str | None) -> str | None:
    """The cursor of an API ``next`` link, for this page's own "Next" link."""
    if not link:
        return None
    return (parse_qs(urlsplit(link).query).get("cursor") or [None])[0]
