"""The Sessions area of the dashboard (issue 15) through the Flask test client: each page for
the roles that may see it, what a role may not do is not offered, forms change data through
the API and show its messages. tests/browser/test_sessions.py drives the same pages in a
browser."""

from __future__ import annotations

import html
import re

import pytest

from core import db
from core.models import Session, utcnow
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_dashboard import sign_in
from tests.support.factories import ApiClient, completed_interviews, invite, make_session


@pytest.fixture
def app(make_app, tmp_path):
    """The library loaded, and an email channel writing files (a rollout's web links go
    out by email)."""
    return make_app(library=True, mail_dir=str(tmp_path / "mail"))


@pytest.fixture
def api(client):
    return ApiClient(client, ADMIN_TOKEN)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def topics_form(session: dict, csrf: str, **extra) -> dict:
    """The topic editor's fields as the page fills them in."""
    form = {"csrf": csrf, "topic-count": str(len(session["topics"]) + 1)}
    for n, t in enumerate(session["topics"]):
        form |= {f"topic-{n}-id": str(t["id"]), f"topic-{n}-label": t["label"],
                 f"topic-{n}-description": t["description"],
                 f"topic-{n}-probing_guidance": t["probing_guidance"],
                 f"topic-{n}-priority": t["priority"], f"topic-{n}-context": t["context"]}
        if t["enabled"]:
            form[f"topic-{n}-enabled"] = "on"
    return form | extra


# ---- the list -------------------------------------------------------------------------------

def test_the_api_counts_invited_started_and_completed_per_session(api):
    busy, quiet = make_session(api), make_session(api, "exit-interview")
    invite(api, busy["id"])
    completed_interviews(busy["id"], [{"name": "Grace Hopper", "email": "grace@example.com",
                                       "answers": [("growth", "Plenty.", False)]}])
    listed = {s["id"]: s["counts"] for s in api.get("/sessions").get_json()["sessions"]}
    assert listed[busy["id"]] == {"invited": 2, "started": 1, "completed": 1}
    assert listed[quiet["id"]] == {"invited": 0, "started": 0, "completed": 0}
    assert api.get(f"/sessions/{busy['id']}").get_json()["counts"]["completed"] == 1


@pytest.mark.parametrize("role", ["owner", "member", "viewer", "analyst"])
def test_the_list_shows_counts_and_offers_new_session_to_writers(app, client, api, role):
    csrf = sign_in(client, role)
    if role == "member":  # a member's list holds what they made
        made = client.post("/dashboard/sessions/new", data={
            "csrf": csrf, "session_type": "stay-interview", "name": "Mine"})
        assert made.status_code == 302
    else:
        session = make_session(api)
        invite(api, session["id"])
    page = client.get("/dashboard/sessions")
    assert page.status_code == 200
    body = text(page)
    assert ("New session" in body) == (role in ("owner", "member"))
    assert re.search(r"Invited</th>.*Started</th>.*Completed</th>", body, re.S)
    assert client.get("/dashboard/sessions/new").status_code == (
        200 if role in ("owner", "member") else 403)


# ---- a new session --------------------------------------------------------------------------

def test_a_session_from_a_template_with_aggregated_answers(client, api):
    csrf = sign_in(client)
    page = text(client.get("/dashboard/sessions/new"))
    assert "Stay Interview" in page and "Describe what you want to explore".lower() in page.lower()
    made = client.post("/dashboard/sessions/new", data={
        "csrf": csrf, "session_type": "stay-interview", "name": "Stay, Q1",
        "anonymity": "aggregated", "tags": "engineering, q1"})
    assert made.status_code == 302
    session_id = int(made.headers["Location"].rsplit("/", 1)[1])
    session = api.get(f"/sessions/{session_id}").get_json()
    assert (session["name"], session["anonymity"], session["tags"]) == (
        "Stay, Q1", "aggregated", ["engineering", "q1"])
    page = text(client.get(made.headers["Location"]))
    assert "Session created." in page and "Aggregated answers" in page


def test_a_refused_session_shows_the_api_message_over_the_form_as_typed(client):
    csrf = sign_in(client)
    refused = client.post("/dashboard/sessions/new", data={
        "csrf": csrf, "session_type": "no-such-type", "name": "Stay, Q1",
        "anonymity": "aggregated", "tags": "q1, engineering"})
    assert refused.status_code == 422
    page = text(refused)
    assert "no session type 'no-such-type'" in page
    assert 'value="Stay, Q1"' in page and 'value="q1, engineering"' in page
    assert 'value="aggregated" checked' in page


def test_a_described_session_is_a_draft_to_edit_then_publish(client, api):
    csrf = sign_in(client)
    drafted = client.post("/dashboard/sessions/generate", data={
        "csrf": csrf, "description": "Why do new engineers leave in their first year?"})
    assert drafted.status_code == 302 and "/dashboard/sessions/drafts/" in drafted.headers[
        "Location"]
    type_id = int(drafted.headers["Location"].rsplit("/", 1)[1])
    draft = api.get(f"/session-types/{type_id}").get_json()
    assert draft["status"] == "draft"
    page = text(client.get(drafted.headers["Location"]))
    assert "Save draft" in page and draft["topics"][0]["label"] in page
    form = topics_form(draft, csrf)
    form["topic-0-label"] = "Their first weeks"
    client.post(f"/dashboard/sessions/drafts/{type_id}", data=form)
    assert api.get(f"/session-types/{type_id}").get_json()["topics"][0]["label"] == \
        "Their first weeks"
    made = client.post(f"/dashboard/sessions/drafts/{type_id}/publish", data={
        "csrf": csrf, "session_type": str(type_id), "name": "New engineers", "anonymity": ""})
    assert made.status_code == 302 and "/drafts/" not in made.headers["Location"]
    assert api.get(f"/session-types/{type_id}").get_json()["status"] == "published"
    session_id = int(made.headers["Location"].rsplit("/", 1)[1])
    assert api.get(f"/sessions/{session_id}").get_json()["topics"][0]["label"] == \
        "Their first weeks"


# ---- the topic editor -----------------------------------------------------------------------

def test_topics_are_edited_and_moved_through_the_api(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    url = f"/dashboard/sessions/{session['id']}"
    page = text(client.get(url))
    assert "Only the interviewer sees this — never shown to the participant" in page
    first, second = session["topics"][0], session["topics"][1]
    form = topics_form(session, csrf, move="1:up")
    form["topic-1-description"] = "What would make them stay longer?"
    form["topic-1-priority"] = "low"
    moved = client.post(f"{url}/topics", data=form)
    assert moved.headers["Location"].endswith(f"{url}#topic-0")
    topics = api.get(f"/sessions/{session['id']}").get_json()["topics"]
    assert [t["id"] for t in topics[:2]] == [second["id"], first["id"]]
    assert (topics[0]["description"], topics[0]["priority"]) == (
        "What would make them stay longer?", "low")
    added = topics_form({"topics": topics}, csrf)
    added[f"topic-{len(topics)}-label"] = "Tools"
    added[f"topic-{len(topics)}-priority"] = "high"
    client.post(f"{url}/topics", data=added)
    assert api.get(f"/sessions/{session['id']}").get_json()["topics"][-1]["label"] == "Tools"


def test_the_api_message_shows_when_it_refuses_topics(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    form = {k: v for k, v in topics_form(session, csrf).items() if not k.endswith("-enabled")}
    refused = client.post(f"/dashboard/sessions/{session['id']}/topics", data=form,
                          follow_redirects=True)
    assert "at least one topic must be enabled" in text(refused)


def test_a_topic_label_with_markup_is_shown_as_text(client, api):
    sign_in(client)
    session = make_session(api)
    topics = [{"id": session["topics"][0]["id"], "label": "<script>alert(1)</script>"}]
    assert api.patch(f"/sessions/{session['id']}", {"topics": topics}).status_code == 200
    page = client.get(f"/dashboard/sessions/{session['id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def locked_session(api) -> dict:
    """A session locked as if someone had completed it."""
    session = make_session(api)
    with db.session_scope() as s:
        s.get(Session, session["id"]).locked_at = utcnow()
    return session


def test_a_locked_session_is_read_only_and_offers_a_clone(client, api):
    csrf = sign_in(client)
    session = locked_session(api)
    page = text(client.get(f"/dashboard/sessions/{session['id']}"))
    assert "This session is locked because people have answered it. Clone to change" in page
    assert "Save topics" not in page and 'name="topic-0-label"' not in page
    cloned = client.post(f"/dashboard/sessions/{session['id']}/clone", data={"csrf": csrf})
    copy_id = int(cloned.headers["Location"].rsplit("/", 1)[1])
    assert copy_id != session["id"]
    assert "Save topics" in text(client.get(cloned.headers["Location"]))


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_readers_see_topics_but_no_editor(client, api, role):
    sign_in(client, role)
    session = make_session(api)
    page = text(client.get(f"/dashboard/sessions/{session['id']}"))
    assert session["topics"][0]["label"] in page
    assert "Save topics" not in page and "Move up" not in page
    invite_page = client.get(f"/dashboard/sessions/{session['id']}/invite")
    if role == "analyst":
        assert invite_page.status_code == 403 and "Invite &amp; roll out" not in page
    else:
        body = text(invite_page)
        assert invite_page.status_code == 200
        assert "Invite one person" in body and 'name="email"' not in body
        assert "Schedule rollout" not in body


def test_a_member_gets_not_found_for_someone_elses_session(client, api):
    sign_in(client, "member")
    theirs = make_session(api)
    for url in (f"/dashboard/sessions/{theirs['id']}",
                f"/dashboard/sessions/{theirs['id']}/invite"):
        response = client.get(url)
        assert response.status_code == 404 and "Not found" in text(response)


# ---- settings -------------------------------------------------------------------------------

def settings_form(csrf: str, **fields) -> dict:
    """The settings form as a browser posts it: every field, then what the test changes
    (``trigger-<n>-channel`` as a list)."""
    return {"csrf": csrf, "name": "Stay interviews", "tags": "", "question_budget": "12",
            "max_pauses": "3", "pause_prompt_seconds": "2", "pause_expiry_seconds": "30",
            "anonymity_threshold": "5", "trigger-count": "1", "trigger-0-when": "",
            "trigger-0-days": "", "trigger-0-local_time": "09:00"} | fields


def test_settings_rename_tag_tune_the_interview_and_invite_on_hr_dates(client, api):
    csrf = sign_in(client)
    session = make_session(api, anonymity="aggregated")
    url = f"/dashboard/sessions/{session['id']}/settings"
    page = text(client.get(url))
    assert 'value="stay-interview test"' in page and 'name="question_budget"' in page
    assert 'id="pause_expiry_seconds" name="pause_expiry_seconds"' in page
    assert re.search(r'name="pause_expiry_seconds"[^>]*value="30"', page)  # minutes
    assert f'href="{url}" aria-current="page"' in page

    saved = client.post(url, data=settings_form(
        csrf, name="Stay interviews, Q1", tags="q1, engineering", question_budget="8",
        max_pauses="2", pause_prompt_seconds="5", pause_expiry_seconds="60",
        anonymity_threshold="6", **{"trigger-0-when": "start_date:after", "trigger-0-days": "30",
                                    "trigger-0-local_time": "10:00",
                                    "trigger-0-channel": ["web", "email"]}),
        follow_redirects=True)
    assert "Settings saved." in text(saved)
    now = api.get(f"/sessions/{session['id']}").get_json()
    assert (now["name"], now["tags"]) == ("Stay interviews, Q1", ["q1", "engineering"])
    assert {k: now["settings"][k] for k in ("question_budget", "max_pauses",
                                            "pause_prompt_seconds", "pause_expiry_seconds",
                                            "anonymity_threshold")} == {
        "question_budget": 8, "max_pauses": 2, "pause_prompt_seconds": 300,
        "pause_expiry_seconds": 3600, "anonymity_threshold": 6}
    assert now["triggers"] == [{"on": "start_date", "days_after": 30, "local_time": "10:00",
                                "channels": ["web", "email"]}]
    page = text(saved)  # the rule as saved, its channels in its order, and a row to add one
    assert '<option value="start_date:after" selected>' in page
    assert page.index('value="web" checked') < page.index('value="email" checked')
    assert "Add a rule" in page

    # a second rule, for leavers; then the first one off
    client.post(url, data=settings_form(
        csrf, name="Stay interviews, Q1", **{
            "trigger-count": "2", "trigger-0-when": "start_date:after", "trigger-0-days": "30",
            "trigger-0-local_time": "10:00", "trigger-0-channel": ["web", "email"],
            "trigger-1-when": "end_date:before", "trigger-1-days": "2",
            "trigger-1-local_time": "09:00"}))
    triggers = api.get(f"/sessions/{session['id']}").get_json()["triggers"]
    assert [(t["on"], t.get("days_after", t.get("days_before"))) for t in triggers] == [
        ("start_date", 30), ("end_date", 2)]
    assert triggers[1]["channels"] == ["email", "web"]  # none ticked: every one set up
    client.post(url, data=settings_form(
        csrf, name="Stay interviews, Q1", **{
            "trigger-count": "2", "trigger-0-when": "", "trigger-1-when": "end_date:before",
            "trigger-1-days": "2", "trigger-1-local_time": "09:00"}))
    assert [t["on"] for t in api.get(f"/sessions/{session['id']}").get_json()["triggers"]] \
        == ["end_date"]


def test_refused_settings_keep_what_was_typed(client, api):
    csrf = sign_in(client)
    session = make_session(api, anonymity="aggregated")
    url = f"/dashboard/sessions/{session['id']}/settings"
    refused = client.post(url, data=settings_form(csrf, name="Typed, not saved",
                                                  question_budget="99"))
    assert refused.status_code == 422
    page = text(refused)
    assert "question_budget" in page and 'value="Typed, not saved"' in page
    assert 'value="99"' in page
    assert api.get(f"/sessions/{session['id']}").get_json()["name"] == "stay-interview test"
    bad_days = text(client.post(url, data=settings_form(csrf, **{
        "trigger-0-when": "end_date:before", "trigger-0-days": "-3"})))
    assert "triggers" in bad_days and '<option value="end_date:before" selected>' in bad_days
    assert 'value="-3"' in bad_days
    for odd in ("inf", "1e400", "x", "²"):  # the API's reason, never a server error
        answer = client.post(url, data=settings_form(csrf, pause_expiry_seconds=odd, **{
            "trigger-0-when": "start_date:after", "trigger-0-days": odd}))
        assert answer.status_code == 422, odd
    huge = client.post(url, data=settings_form(csrf, **{"trigger-count": "999999999"}))
    assert huge.status_code == 302  # at most the rows the API can keep are read


def test_saving_settings_keeps_what_hr_did_not_change(client, api):
    """A trigger made through the API (before Start Date) and a pause prompt in seconds
    the page shows rounded to minutes come back exactly as they were after a rename; an
    empty Days takes the API's default."""
    csrf = sign_in(client)
    session = make_session(api, settings={"pause_prompt_seconds": 10})
    assert api.patch(f"/sessions/{session['id']}", {"triggers": [
        {"on": "start_date", "days_before": 5, "channels": ["email"]}]}).status_code == 200
    url = f"/dashboard/sessions/{session['id']}/settings"
    page = text(client.get(url))
    assert '<option value="start_date:before" selected>' in page
    assert re.search(r'name="pause_prompt_seconds"[^>]*value="0.17"', page)
    fields = dict(re.findall(r'name="([\w-]+)"[^>]*value="([^"]*)"', page))
    form = settings_form(csrf, name="Renamed", pause_prompt_seconds="0.17", **{
        "trigger-count": "2", "trigger-0-when": "start_date:before",
        "trigger-0-days": fields["trigger-0-days"], "trigger-0-channel": ["email"],
        "trigger-1-when": "start_date:after", "trigger-1-days": ""})
    assert client.post(url, data=form).status_code == 302
    now = api.get(f"/sessions/{session['id']}").get_json()
    assert now["name"] == "Renamed" and now["settings"]["pause_prompt_seconds"] == 10
    assert [(t["on"], t.get("days_before"), t.get("days_after")) for t in now["triggers"]] \
        == [("start_date", 5, None), ("start_date", None, 30)]


def test_a_setting_changed_by_someone_else_since_the_page_loaded_is_kept(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    url = f"/dashboard/sessions/{session['id']}/settings"
    page = text(client.get(url))
    assert re.search(r'name="shown-question_budget" value="12"', page)
    api.patch(f"/sessions/{session['id']}", {"settings": {"question_budget": 20}})
    form = settings_form(csrf, name="Renamed", **{"shown-question_budget": "12",
                                                  "shown-max_pauses": "3"})
    assert client.post(url, data=form).status_code == 302
    now = api.get(f"/sessions/{session['id']}").get_json()
    assert (now["name"], now["settings"]["question_budget"]) == ("Renamed", 20)
    # locked since the page loaded: a changed setting is refused, with the API's reason
    with db.session_scope() as s:
        s.get(Session, session["id"]).locked_at = utcnow()
    refused = client.post(url, data=settings_form(csrf, max_pauses="1",
                                                  **{"shown-max_pauses": "3"}))
    assert refused.status_code == 422 and "locked" in text(refused)
    assert api.get(f"/sessions/{session['id']}").get_json()["settings"]["max_pauses"] == 3


def test_a_refused_save_of_a_locked_session_still_shows_its_interview_settings(client, api):
    csrf = sign_in(client)
    session = locked_session(api)
    form = settings_form(csrf, name="")  # a name is required
    for key in ("question_budget", "max_pauses", "pause_prompt_seconds",
                "pause_expiry_seconds", "anonymity_threshold"):
        form.pop(key)  # a disabled field is not posted
    refused = client.post(f"/dashboard/sessions/{session['id']}/settings", data=form)
    assert refused.status_code == 422
    assert re.search(r'name="question_budget"[^>]*value="12"', text(refused))


def test_a_locked_session_keeps_its_interview_settings_but_renames_and_triggers(client, api):
    csrf = sign_in(client)
    session = locked_session(api)
    url = f"/dashboard/sessions/{session['id']}/settings"
    page = text(client.get(url))
    assert "Locked because people have answered it" in page
    assert re.search(r'<fieldset disabled aria-describedby="interview-hint">', page)
    form = settings_form(csrf, name="Renamed while locked", **{
        "trigger-0-when": "start_date:after", "trigger-0-days": "14"})
    for key in ("question_budget", "max_pauses", "pause_prompt_seconds",
                "pause_expiry_seconds", "anonymity_threshold"):
        form.pop(key)  # a disabled field is not posted
    saved = client.post(url, data=form, follow_redirects=True)
    assert "Settings saved." in text(saved)
    now = api.get(f"/sessions/{session['id']}").get_json()
    assert now["name"] == "Renamed while locked" and now["settings"]["question_budget"] == 12
    assert now["triggers"][0]["days_after"] == 14


def test_a_viewer_reads_settings_but_cannot_save_them(client, api):
    session = make_session(api)
    sign_in(client, "viewer")
    page = text(client.get(f"/dashboard/sessions/{session['id']}/settings"))
    assert "Save settings" not in page and "may read these settings" in page
    assert page.count("<fieldset disabled") == 3 and "Add a rule" not in page


def test_an_analyst_reads_settings_too(client, api):
    session = make_session(api)
    sign_in(client, "analyst")
    response = client.get(f"/dashboard/sessions/{session['id']}/settings")
    assert response.status_code == 200 and "Questions at most" in text(response)


# ---- invite and roll out --------------------------------------------------------------------

def test_one_person_is_invited_by_a_web_link(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    url = f"/dashboard/sessions/{session['id']}/invite"
    invited = client.post(f"/dashboard/sessions/{session['id']}/invites", data={
        "csrf": csrf, "name": "Ada Lovelace", "email": "ada@example.com", "channel": "web"},
        follow_redirects=True)
    body = text(invited)
    assert "Ada Lovelace is invited." in body and "Web link for Ada Lovelace" in body
    assert re.search(r'value="http://parley\.test/c/[\w-]+"', body)
    again = text(client.get(url))
    assert "Web link for" not in again  # shown once
    assert '<option value="ada@example.com">' in again  # the autofill
    refused = client.post(f"/dashboard/sessions/{session['id']}/invites", data={
        "csrf": csrf, "name": "Bob", "email": "not an email", "channel": "web"},
        follow_redirects=True)
    assert "person.email" in text(refused)


def test_a_call_in_flight_during_a_form_keeps_what_the_form_stored(app, client, api):
    """A page's scripts call the API (the live count) while HR submits a form. A call sent
    with the cookie of before the form that answers after it must not put that cookie back
    (the browser keeps one): the web link, shown once, and the form's message would be gone."""
    csrf = sign_in(client)
    session = make_session(api)
    before = client.get_cookie("parley_session").value
    client.post(f"/dashboard/sessions/{session['id']}/invites", data={
        "csrf": csrf, "name": "Ada Lovelace", "email": "ada@example.com", "channel": "web"})
    in_flight = app.test_client()
    in_flight.set_cookie("parley_session", before)
    counted = in_flight.post("/api/v1/audiences/preview", headers={"X-CSRF-Token": csrf},
                             json={"audience": {"match": "all", "conditions": []}})
    assert counted.status_code == 200 and counted.get_json()["count"] >= 0
    if "Set-Cookie" in counted.headers:  # what the browser would do with it
        client.set_cookie("parley_session", in_flight.get_cookie("parley_session").value)
    page = text(client.get(f"/dashboard/sessions/{session['id']}/invite"))
    assert "Ada Lovelace is invited." in page and "Web link for Ada Lovelace" in page


def test_a_rollout_to_an_audience_is_followed_paused_and_cancelled(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    for name, country in (("Ada", "UK"), ("Grace", "US"), ("Linus", "FI")):
        assert api.post("/people", {"name": name, "email": f"{name.lower()}@example.com",
                                    "demographics": {"Country": country}}).status_code == 201
    page = text(client.get(f"/dashboard/sessions/{session['id']}/invite"))
    assert '<option value="Country">Country (3)</option>' in page
    made = client.post(f"/dashboard/sessions/{session['id']}/rollouts", data={
        "csrf": csrf, "rule_match": "any", "rule_field": ["Country", "Country", ""],
        "rule_op": ["equals", "in", "equals"], "rule_value": ["UK", "US, DE", ""],
        "channel": ["web"], "rank-web": "1", "date": "2030-01-07", "local_time": "10:30",
        "reminders": "3, 7"})
    assert made.status_code == 302 and "/dashboard/rollouts/" in made.headers["Location"]
    rollout_id = int(made.headers["Location"].rsplit("/", 1)[1])
    rollout = api.get(f"/rollouts/{rollout_id}").get_json()
    assert rollout["audience"]["match"] == "any"
    assert rollout["audience"]["conditions"][1] == {"field": "Country", "op": "in",
                                                     "value": ["US", "DE"]}
    assert (rollout["local_time"], rollout["reminders"]) == ("10:30", {"after_days": [3, 7]})
    assert rollout["total"] == 2
    page = text(client.get(made.headers["Location"]))
    assert "Rollout scheduled." in page and "Ada" in page and "Linus" not in page
    assert 'data-confirm="Cancel this rollout?' in page and "<progress" in page
    waiting = text(client.get(f"{made.headers['Location']}?status=pending"))
    assert "People: Waiting" in waiting and "Ada" in waiting
    nobody = text(client.get(f"{made.headers['Location']}?status=responded"))
    assert "Nobody with this status." in nobody and "Grace" not in nobody
    client.post(f"/dashboard/rollouts/{rollout_id}/pause", data={"csrf": csrf})
    assert api.get(f"/rollouts/{rollout_id}").get_json()["state"] == "paused"
    page = text(client.get(made.headers["Location"]))
    assert "Resume" in page and ">Pause<" not in page
    client.post(f"/dashboard/rollouts/{rollout_id}/cancel", data={"csrf": csrf})
    assert api.get(f"/rollouts/{rollout_id}").get_json()["state"] == "cancelled"
    again = client.post(f"/dashboard/rollouts/{rollout_id}/cancel", data={"csrf": csrf},
                        follow_redirects=True)
    assert "already cancelled" in text(again)
    listed = text(client.get(f"/dashboard/sessions/{session['id']}/invite"))
    assert f"Rollout {rollout_id}" in listed


def test_a_refused_rollout_shows_why(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    refused = client.post(f"/dashboard/sessions/{session['id']}/rollouts", data={
        "csrf": csrf, "rule_match": "all", "rule_field": ["Start Date"], "rule_op": ["before"],
        "rule_value": ["next week"], "channel": ["web"]}, follow_redirects=True)
    assert "a date: YYYY-MM-DD" in text(refused)


def test_a_viewer_follows_a_rollout_but_cannot_steer_it(client, api):
    session = make_session(api)
    api.post("/people", {"name": "Ada", "email": "ada@example.com"})
    rollout = api.post(f"/sessions/{session['id']}/rollouts", {"channels": ["web"]}).get_json()
    sign_in(client, "viewer")
    page = text(client.get(f"/dashboard/rollouts/{rollout['id']}"))
    assert "Ada" in page and "Pause" not in page and "Cancel rollout" not in page


def test_the_api_names_the_channels_to_invite_on(api, make_app):
    assert api.get("/channels").get_json() == {"invite": ["email", "web"],
                                               "rollout": ["email", "web"]}
    bare = ApiClient(make_app().test_client(), ADMIN_TOKEN)  # no email: a link goes by hand
    assert bare.get("/channels").get_json() == {"invite": ["web"], "rollout": []}


def test_without_a_rollout_channel_the_form_says_why(make_app):
    client = make_app(library=True).test_client()
    sign_in(client)
    session = make_session(ApiClient(client, ADMIN_TOKEN))
    page = text(client.get(f"/dashboard/sessions/{session['id']}/invite"))
    assert "No channel can take a rollout on this server yet" in page
    assert "Schedule rollout" not in page and "Invite one person" in page


def test_a_member_gets_not_found_for_someone_elses_rollout(client, api):
    session = make_session(api)
    api.post("/people", {"name": "Ada", "email": "ada@example.com"})
    rollout = api.post(f"/sessions/{session['id']}/rollouts", {"channels": ["web"]}).get_json()
    csrf = sign_in(client, "member")
    assert client.get(f"/dashboard/rollouts/{rollout['id']}").status_code == 404
    refused = client.post(f"/dashboard/rollouts/{rollout['id']}/cancel", data={"csrf": csrf},
                          follow_redirects=True)
    assert "no rollout with id" in text(refused)
    assert api.get(f"/rollouts/{rollout['id']}").get_json()["state"] != "cancelled"


def test_the_audience_is_counted_without_javascript(client, api):
    csrf = sign_in(client)
    session = make_session(api)
    for name, country in (("Ada", "UK"), ("Grace", "US"), ("Alan", "UK")):
        api.post("/people", {"name": name, "email": f"{name.lower()}@example.com",
                             "demographics": {"Country": country}})
    url = f"/dashboard/sessions/{session['id']}/audience"
    counted = text(client.post(url, data={
        "csrf": csrf, "rule_match": "any", "rule_field": ["Country"], "rule_op": ["equals"],
        "rule_value": ["UK"], "channel": ["web"], "rank-web": "1", "reminders": "3"}))
    assert "2 people match" in counted
    assert '<option value="Country" selected>' in counted  # the form as it was
    assert '<option value="any" selected>' in counted and 'value="3"' in counted
    assert 'name="channel" value="web" checked' in counted
    assert 'name="channel" value="email" checked' not in counted
    refused = text(client.post(url, data={
        "csrf": csrf, "rule_field": ["Start Date"], "rule_op": ["before"],
        "rule_value": ["soon"]}))
    assert "Can't count yet" in refused and "a date: YYYY-MM-DD" in refused


def test_an_aggregated_sessions_invites_name_nobody(client, api):
    csrf = sign_in(client)
    session = make_session(api, anonymity="aggregated")
    client.post(f"/dashboard/sessions/{session['id']}/invites", data={
        "csrf": csrf, "name": "Ada Lovelace", "email": "ada@example.com", "channel": "web"})
    listed = api.get(f"/sessions/{session['id']}/invites").get_json()["invites"]
    assert len(listed) == 1 and "name" not in listed[0] and "email" not in listed[0]
    page = text(client.get(f"/dashboard/sessions/{session['id']}/invite"))
    assert "Not named (aggregated session)" in page
    assert "Ada Lovelace" not in page.split('id="invited"')[1]
