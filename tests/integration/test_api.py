"""The HR REST API under /api/v1, route by route, as HR uses it: real database, real queue,
real interviews over the web channel. Sections follow the resources in web/api.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
from flask import Flask

from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of
from web import api as api_module

SHIPPED_SLUGS = {"stay-interview", "exit-interview", "onboarding-30-day", "engagement-pulse"}
OPEN_ENDPOINTS = {"api.healthz", "api.openapi", "api.login"}
# The fields of a topic HR may send back in PATCH /sessions/<id> (GET adds "position").
TOPIC_INPUT_FIELDS = ("id", "key", "label", "description", "probing_guidance", "priority",
                      "context", "opening_question", "probes", "enabled")
RICH_ANSWER = ("I value the people I work with and the freedom to choose how I solve problems, "
               "and my manager backs me when things get hard.")


# ---- helpers -----------------------------------------------------------------------------

def assert_error(resp, status: int, code: str, *mentions: str) -> str:
    """The response is the API's one error shape with this status and code; returns the
    message after checking it names every one of ``mentions``."""
    body = resp.get_json()
    assert resp.status_code == status, (resp.status_code, body)
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    for word in mentions:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.get_json())
    return resp.get_json()


def as_input(topic: dict, **changes) -> dict:
    """A topic from GET as PATCH accepts it, with ``changes`` applied."""
    return {**{k: topic[k] for k in TOPIC_INPUT_FIELDS}, **changes}


def patch_topics(api, session_id: int, topics: list[dict]):
    return api.patch(f"/sessions/{session_id}", {"topics": topics})


def link_path(link: str) -> str:
    return urlparse(link).path


def opened_interview(api, client, session_id: int, email: str = "ada@example.com") -> dict:
    """Invite someone, open their link and press Start (the interview starts at consent)."""
    link = invite(api, session_id, email=email)["link"]
    assert client.get(link_path(link)).status_code == 200
    assert client.post(link_path(link) + "/start").status_code == 200
    interviews = ok(api.get(f"/sessions/{session_id}/interviews"))["interviews"]
    return next(i for i in interviews if i["person"]["email"] == email)


def started_chat(api, client, session_id: int, email: str = "ada@example.com") -> WebChat:
    """An interview past consent that has had one rich answer."""
    link = invite(api, session_id, email=email)["link"]
    chat = WebChat(client, token_of(link)).open()
    chat.choose("accept").say(RICH_ANSWER)
    assert chat.status == "in_progress"
    return chat


def complete_interview(api, client, session_id: int, email: str = "done@example.com") -> None:
    link = invite(api, session_id, email=email)["link"]
    chat = WebChat(client, token_of(link)).open()
    chat.choose("accept")
    for _ in range(40):
        if chat.status == "completed":
            break
        chat.say(RICH_ANSWER)
    assert chat.status == "completed"


def interview_of(api, session_id: int) -> dict:
    interviews = ok(api.get(f"/sessions/{session_id}/interviews"))["interviews"]
    assert len(interviews) == 1, interviews
    return ok(api.get(f"/interviews/{interviews[0]['id']}"))


def _api_rules():
    """The /api/v1 rules, read from the blueprint at collection time so parametrisation
    follows the routes (``test_parametrised_routes_are_the_apps_routes`` guards the match)."""
    probe = Flask("route-listing")
    probe.register_blueprint(api_module.bp)
    return sorted((r for r in probe.url_map.iter_rules() if r.endpoint.startswith("api.")),
                  key=lambda r: r.rule)


def _operations(rules) -> set[tuple[str, str]]:
    return {(m, r.rule) for r in rules for m in r.methods - {"HEAD", "OPTIONS"}}


API_RULES = _api_rules()
API_OPERATIONS = sorted(_operations(API_RULES))
PROTECTED = sorted(_operations(r for r in API_RULES if r.endpoint not in OPEN_ENDPOINTS))


def concrete(rule: str) -> str:
    """A real URL for a rule: every path argument becomes 1."""
    return re.sub(r"<[^<>]+>", "1", rule)


# ---- authentication ----------------------------------------------------------------------

def test_parametrised_routes_are_the_apps_routes(app):
    """Every api.* route of the real app is covered by the auth tests below."""
    real = _operations(r for r in app.url_map.iter_rules() if r.endpoint.startswith("api."))
    assert real == set(API_OPERATIONS)
    assert len(PROTECTED) == len(API_OPERATIONS) - 3


@pytest.mark.parametrize("method,rule", PROTECTED, ids=[f"{m} {r}" for m, r in PROTECTED])
@pytest.mark.parametrize("authorization", ["missing", "wrong-token", "wrong-scheme"])
def test_protected_route_needs_the_admin_token(app, client, method, rule, authorization):
    """Without the right bearer token every route answers 401 before doing anything else
    (no 404 for unknown ids, no 400 for a missing body)."""
    token = app.config["SETTINGS"].admin_api_token
    headers = {
        "missing": {},
        "wrong-token": {"Authorization": "Bearer not-the-admin-token"},
        "wrong-scheme": {"Authorization": f"Basic {token}"},
    }[authorization]
    resp = client.open(concrete(rule), method=method, headers=headers)
    assert_error(resp, 401, "unauthorized", "Bearer")


def test_rejected_request_changes_nothing(client, api, library):
    resp = client.post("/api/v1/sessions", json={"session_type": "stay-interview", "name": "x"})
    assert_error(resp, 401, "unauthorized")
    assert ok(api.get("/sessions"))["sessions"] == []


@pytest.mark.parametrize("path", ["/api/v1/healthz", "/api/v1/openapi.json"])
def test_open_routes_need_no_token(client, path):
    assert client.get(path).status_code == 200


# ---- session types -----------------------------------------------------------------------

def test_session_types_lists_the_shipped_library(api, library):
    types = ok(api.get("/session-types"))["session_types"]
    assert {t["slug"] for t in types} == SHIPPED_SLUGS
    for t in types:
        assert t["builtin"] is True
        assert t["topic_count"] > 0
        assert "topics" not in t  # the list is a summary


def test_session_type_by_id_and_by_slug_is_the_same(api, library):
    types = ok(api.get("/session-types"))["session_types"]
    stay_id = next(t["id"] for t in types if t["slug"] == "stay-interview")
    by_id = ok(api.get(f"/session-types/{stay_id}"))
    by_slug = ok(api.get("/session-types/stay-interview"))
    assert by_id == by_slug
    assert by_slug["name"] == "Stay Interview"
    assert len(by_slug["topics"]) == by_slug["topic_count"]
    assert [t["position"] for t in by_slug["topics"]] == list(range(by_slug["topic_count"]))


@pytest.mark.parametrize("ident", ["no-such-type", "999999"])
def test_unknown_session_type_is_404(api, library, ident):
    assert_error(api.get(f"/session-types/{ident}"), 404, "not_found", ident)


# ---- sessions: create and list -----------------------------------------------------------

def test_create_session_gets_its_own_copy_of_the_topics(api, library):
    template = ok(api.get("/session-types/stay-interview"))
    session = ok(api.post("/sessions", {"session_type": "stay-interview", "name": "Q3 stay",
                                        "owner": "hr@example.com", "tags": ["q3"]}), 201)
    assert session["name"] == "Q3 stay"
    assert session["session_type"] == "stay-interview"
    assert (session["owner"], session["tags"]) == ("hr@example.com", ["q3"])
    assert session["locked"] is False and session["cloned_from"] is None
    copied = [{k: t[k] for k in TOPIC_INPUT_FIELDS if k != "id"} for t in session["topics"]]
    shipped = [{k: t[k] for k in TOPIC_INPUT_FIELDS if k != "id"} for t in template["topics"]]
    assert copied == shipped
    assert not {t["id"] for t in session["topics"]} & {t["id"] for t in template["topics"]}


def test_create_session_by_session_type_id(api, library):
    type_id = ok(api.get("/session-types/exit-interview"))["id"]
    session = ok(api.post("/sessions", {"session_type": type_id, "name": "Leavers"}), 201)
    assert session["session_type"] == "exit-interview"


def test_settings_override_is_kept_and_defaults_are_filled(api, library):
    session = make_session(api, settings={"question_budget": 6})
    assert session["settings"] == {"question_budget": 6, "pause_prompt_seconds": 120,
                                   "pause_expiry_seconds": 1800, "max_pauses": 3,
                                   "anonymity_threshold": 5}
    assert ok(api.get(f"/sessions/{session['id']}"))["settings"] == session["settings"]


def test_create_session_without_name_is_400(api, library):
    resp = api.post("/sessions", {"session_type": "stay-interview"})
    assert_error(resp, 400, "bad_request", "name")


@pytest.mark.parametrize("change,field", [
    ({"name": 123}, "name"),
    ({"name": ""}, "name"),
    ({"settings": {"question_budget": "x"}}, "settings.question_budget"),
    ({"settings": {"question_budget": 0}}, "settings.question_budget"),
    ({"tags": "a"}, "tags"),
    ({"colour": "blue"}, "colour"),
], ids=["name-int", "name-empty", "budget-str", "budget-zero", "tags-str", "unknown-field"])
def test_create_session_with_bad_field_is_400_naming_it(api, library, change, field):
    resp = api.post("/sessions", {"session_type": "stay-interview", "name": "x", **change})
    assert_error(resp, 400, "bad_request", field)
    assert ok(api.get("/sessions"))["sessions"] == []


@pytest.mark.parametrize("session_type", ["no-such-type", 999999])
def test_create_session_of_unknown_type_is_404(api, library, session_type):
    resp = api.post("/sessions", {"session_type": session_type, "name": "x"})
    assert_error(resp, 404, "not_found", str(session_type))


@pytest.mark.parametrize("data,content_type", [
    ("name=x", "application/x-www-form-urlencoded"),
    ("not json", "application/json"),
    ('["a", "list"]', "application/json"),
], ids=["form", "broken-json", "json-list"])
def test_create_session_needs_a_json_object(api, library, data, content_type):
    resp = api.post("/sessions", data=data, content_type=content_type)
    assert_error(resp, 400, "bad_request", "JSON object")


def test_sessions_are_listed_newest_first(api, library):
    first = make_session(api, "stay-interview")
    second = make_session(api, "exit-interview")
    listed = ok(api.get("/sessions"))["sessions"]
    assert [s["id"] for s in listed] == [second["id"], first["id"]]
    assert listed[0]["topics"] == second["topics"]


# ---- sessions: read and edit -------------------------------------------------------------

def test_get_session_returns_what_was_created(api, library):
    session = make_session(api)
    assert ok(api.get(f"/sessions/{session['id']}")) == session


def test_unknown_session_is_404(api):
    assert_error(api.get("/sessions/999999"), 404, "not_found", "999999")
    assert_error(api.patch("/sessions/999999", {"name": "x"}), 404, "not_found", "999999")


def test_rename_session_and_edit_owner_and_tags(api, library):
    session = make_session(api)
    renamed = ok(api.patch(f"/sessions/{session['id']}",
                           {"name": "Renamed", "owner": "kim@example.com", "tags": ["a", "b"]}))
    assert (renamed["name"], renamed["owner"], renamed["tags"]) == (
        "Renamed", "kim@example.com", ["a", "b"])
    assert renamed["topics"] == session["topics"]
    assert ok(api.get(f"/sessions/{session['id']}"))["name"] == "Renamed"


def test_patch_settings_merges_with_current_settings(api, library):
    session = make_session(api, settings={"question_budget": 6})
    patched = ok(api.patch(f"/sessions/{session['id']}", {"settings": {"max_pauses": 1}}))
    assert patched["settings"] == {"question_budget": 6, "pause_prompt_seconds": 120,
                                   "pause_expiry_seconds": 1800, "max_pauses": 1,
                                   "anonymity_threshold": 5}


def test_edit_topic_label_priority_and_context(api, library):
    session = make_session(api)
    topics = session["topics"]
    edited = as_input(topics[2], label="Feeling appreciated", priority="high",
                      context="Ask about the last team retro.")
    patched = ok(patch_topics(api, session["id"], [as_input(t) for t in topics[:2]]
                              + [edited] + [as_input(t) for t in topics[3:]]))
    topic = patched["topics"][2]
    assert topic["id"] == topics[2]["id"] and topic["key"] == topics[2]["key"]
    assert (topic["label"], topic["priority"], topic["context"]) == (
        "Feeling appreciated", "high", "Ask about the last team retro.")
    assert topic["description"] == topics[2]["description"]
    assert ok(api.get(f"/sessions/{session['id']}"))["topics"] == patched["topics"]


def test_editing_one_field_of_a_topic_keeps_the_others(api, library):
    """Sending only {id, label} renames the topic; its hidden context, priority, guidance
    and probes are not wiped."""
    session = make_session(api)
    topics = session["topics"]
    first = topics[0]
    patched = ok(patch_topics(api, session["id"], [{"id": first["id"], "label": "Why you stay"}]
                              + [as_input(t) for t in topics[1:]]))
    topic = patched["topics"][0]
    assert topic["label"] == "Why you stay"
    assert {k: topic[k] for k in TOPIC_INPUT_FIELDS if k != "label"} == {
        k: first[k] for k in TOPIC_INPUT_FIELDS if k != "label"}


def test_disable_a_topic(api, library):
    session = make_session(api)
    topics = session["topics"]
    patched = ok(patch_topics(api, session["id"], [as_input(topics[0], enabled=False)]
                              + [as_input(t) for t in topics[1:]]))
    assert [t["enabled"] for t in patched["topics"]] == [False] + [True] * (len(topics) - 1)
    assert [t["id"] for t in patched["topics"]] == [t["id"] for t in topics]


def test_reorder_topics_by_listing_them_in_a_new_order(api, library):
    session = make_session(api)
    reordered = list(reversed(session["topics"]))
    patched = ok(patch_topics(api, session["id"], [as_input(t) for t in reordered]))
    assert [t["id"] for t in patched["topics"]] == [t["id"] for t in reordered]
    assert [t["position"] for t in patched["topics"]] == list(range(len(reordered)))
    again = ok(api.get(f"/sessions/{session['id']}"))["topics"]
    assert [t["key"] for t in again] == [t["key"] for t in reordered]


def test_add_a_topic_without_id_derives_its_key_from_the_label(api, library):
    session = make_session(api)
    topics = session["topics"]
    new = {"label": "Remote Work & Travel!", "description": "How remote work is going.",
           "priority": "low"}
    patched = ok(patch_topics(api, session["id"], [as_input(topics[0]), new]
                              + [as_input(t) for t in topics[1:]]))
    added = patched["topics"][1]
    assert added["id"] not in {t["id"] for t in topics}
    assert added["key"] == "remote-work-travel"
    assert (added["label"], added["priority"], added["enabled"], added["position"]) == (
        "Remote Work & Travel!", "low", True, 1)
    assert [t["position"] for t in patched["topics"]] == list(range(len(topics) + 1))


def test_add_a_topic_with_an_explicit_key(api, library):
    session = make_session(api)
    new = {"key": "commute", "label": "Getting to work"}
    patched = ok(patch_topics(api, session["id"],
                              [as_input(t) for t in session["topics"]] + [new]))
    assert patched["topics"][-1]["key"] == "commute"


def test_remove_a_topic_by_leaving_it_out(api, library):
    session = make_session(api)
    topics = session["topics"]
    patched = ok(patch_topics(api, session["id"], [as_input(t) for t in topics[1:]]))
    assert [t["id"] for t in patched["topics"]] == [t["id"] for t in topics[1:]]
    assert topics[0]["key"] not in {t["key"] for t in patched["topics"]}
    assert [t["position"] for t in patched["topics"]] == list(range(len(topics) - 1))


def test_topic_edits_never_touch_the_session_type_or_sibling_sessions(api, library):
    template_before = ok(api.get("/session-types/stay-interview"))
    edited = make_session(api)
    sibling = make_session(api)
    topics = edited["topics"]
    ok(patch_topics(api, edited["id"],
                    [as_input(topics[1], label="Changed", priority="low", context="secret",
                              enabled=False)]
                    + [as_input(t) for t in topics[3:]] + [{"label": "Brand new"}]))
    assert ok(api.get("/session-types/stay-interview")) == template_before
    assert ok(api.get(f"/sessions/{sibling['id']}")) == sibling
    fresh = make_session(api)
    assert [t["label"] for t in fresh["topics"]] == [t["label"] for t in topics]


@pytest.mark.parametrize("change,field", [
    ({"name": ""}, "name"),
    ({"tags": "a"}, "tags"),
    ({"settings": {"question_budget": 0}}, "question_budget"),
    ({"settings": {"colour": "red"}}, "colour"),
    ({"colour": "blue"}, "colour"),
], ids=["name-empty", "tags-str", "budget-zero", "unknown-setting", "unknown-field"])
def test_patch_session_with_bad_field_is_400_naming_it(api, library, change, field):
    session = make_session(api)
    assert_error(api.patch(f"/sessions/{session['id']}", change), 400, "bad_request", field)
    assert ok(api.get(f"/sessions/{session['id']}")) == session


def test_patch_session_needs_a_json_object(api, library):
    session = make_session(api)
    resp = api.patch(f"/sessions/{session['id']}", data="name=x",
                     content_type="application/x-www-form-urlencoded")
    assert_error(resp, 400, "bad_request", "JSON object")


def test_bad_topic_priority_is_400(api, library):
    session = make_session(api)
    topics = [as_input(t) for t in session["topics"]]
    topics[0]["priority"] = "urgent"
    assert_error(patch_topics(api, session["id"], topics), 400, "bad_request",
                 "topics.0.priority")
    assert ok(api.get(f"/sessions/{session['id']}")) == session


@pytest.mark.parametrize("bad", ["unknown", "other-session"])
def test_topic_id_not_in_this_session_is_422(api, library, bad):
    """HR can only edit this session's topics: an id from nowhere or from another
    session (or the template) is refused."""
    session = make_session(api)
    other = make_session(api, "exit-interview")
    foreign = 999999 if bad == "unknown" else other["topics"][0]["id"]
    topics = [as_input(t) for t in session["topics"]] + [
        {"id": foreign, "label": "Stolen"}]
    assert_error(patch_topics(api, session["id"], topics), 422, "unprocessable", str(foreign))
    assert ok(api.get(f"/sessions/{session['id']}")) == session
    assert ok(api.get(f"/sessions/{other['id']}")) == other


def test_topic_listed_twice_is_422(api, library):
    session = make_session(api)
    topics = [as_input(t) for t in session["topics"]]
    assert_error(patch_topics(api, session["id"], topics + topics[:1]), 422, "unprocessable",
                 "twice")


def test_new_topic_whose_key_clashes_is_422(api, library):
    session = make_session(api)
    topics = [as_input(t) for t in session["topics"]]
    clash = {"label": "What keeps you"}  # slug "what-keeps-you", already the first topic
    assert topics[0]["key"] == "what-keeps-you"
    assert_error(patch_topics(api, session["id"], topics + [clash]), 422, "unprocessable",
                 "what-keeps-you")


def test_disabling_every_topic_is_422_and_changes_nothing(api, library):
    session = make_session(api)
    topics = [as_input(t, enabled=False) for t in session["topics"]]
    assert_error(patch_topics(api, session["id"], topics), 422, "unprocessable", "enabled")
    assert ok(api.get(f"/sessions/{session['id']}")) == session


def test_empty_topic_list_is_400(api, library):
    session = make_session(api)
    assert_error(patch_topics(api, session["id"], []), 400, "bad_request", "topics")


def test_interview_asks_only_enabled_topics_and_never_shows_their_context(
        api, client, library):
    """What HR configures is what the participant gets: disabled topics are skipped and a
    topic's context stays with the interviewer."""
    session = make_session(api)
    secret = "SECRET-CONTEXT-MARKER"
    topics = [as_input(t, context=f"{secret} {t['key']}", enabled=i < 2)
              for i, t in enumerate(session["topics"])]
    ok(patch_topics(api, session["id"], topics))
    complete_interview(api, client, session["id"])
    interview = interview_of(api, session["id"])
    asked = {t["topic"] for t in interview["turns"] if t["role"] == "interviewer"} - {None}
    assert asked == {t["key"] for t in topics[:2]}
    assert all(secret not in t["text"] for t in interview["turns"])


# ---- sessions: locking and cloning -------------------------------------------------------

@pytest.fixture
def locked_session(api, client, library) -> dict:
    """A stay-interview session whose first interview has run to completion."""
    session = make_session(api)
    complete_interview(api, client, session["id"])
    return ok(api.get(f"/sessions/{session['id']}"))


def test_completed_interview_locks_its_session(locked_session):
    assert locked_session["locked"] is True
    assert datetime.fromisoformat(locked_session["locked_at"]) <= datetime.now(UTC)


def test_locked_session_refuses_topic_edits(api, locked_session):
    topics = [as_input(t) for t in locked_session["topics"][1:]]
    message = assert_error(patch_topics(api, locked_session["id"], topics), 409,
                           "session_locked", "clone")
    assert str(locked_session["id"]) in message
    assert ok(api.get(f"/sessions/{locked_session['id']}")) == locked_session


def test_locked_session_refuses_settings_edits(api, locked_session):
    resp = api.patch(f"/sessions/{locked_session['id']}", {"settings": {"question_budget": 4}})
    assert_error(resp, 409, "session_locked", "clone")
    assert ok(api.get(f"/sessions/{locked_session['id']}")) == locked_session


def test_locked_session_can_still_be_renamed(api, locked_session):
    renamed = ok(api.patch(f"/sessions/{locked_session['id']}", {"name": "Q3 stay (final)"}))
    assert renamed["name"] == "Q3 stay (final)"
    assert renamed["locked"] is True


def test_clone_is_an_editable_copy(api, locked_session):
    clone = ok(api.post(f"/sessions/{locked_session['id']}/clone"), 201)
    assert clone["id"] != locked_session["id"]
    assert clone["locked"] is False and clone["locked_at"] is None
    assert clone["cloned_from"] == locked_session["id"]
    assert clone["name"] == f"{locked_session['name']} (copy)"
    assert clone["settings"] == locked_session["settings"]
    strip = [{k: t[k] for k in TOPIC_INPUT_FIELDS if k != "id"} for t in clone["topics"]]
    assert strip == [{k: t[k] for k in TOPIC_INPUT_FIELDS if k != "id"}
                     for t in locked_session["topics"]]
    assert not {t["id"] for t in clone["topics"]} & {t["id"] for t in locked_session["topics"]}

    patched = ok(patch_topics(api, clone["id"], [as_input(t) for t in clone["topics"][1:]]))
    assert len(patched["topics"]) == len(locked_session["topics"]) - 1
    ok(api.patch(f"/sessions/{clone['id']}", {"settings": {"question_budget": 4}}))
    assert ok(api.get(f"/sessions/{locked_session['id']}")) == locked_session


def test_clone_takes_a_name(api, library):
    session = make_session(api)
    clone = ok(api.post(f"/sessions/{session['id']}/clone", {"name": "Q4 stay"}), 201)
    assert (clone["name"], clone["cloned_from"]) == ("Q4 stay", session["id"])


def test_clone_with_bad_body_is_400(api, library):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/clone", {"name": "x", "topics": []})
    assert_error(resp, 400, "bad_request", "topics")


def test_clone_unknown_session_is_404(api):
    assert_error(api.post("/sessions/999999/clone"), 404, "not_found", "999999")


# ---- people ------------------------------------------------------------------------------

def test_upsert_person_creates_then_updates_by_email(api):
    created = ok(api.post("/people", {"name": "Grace Hopper", "email": "grace@example.com"}),
                 201)
    updated = ok(api.post("/people", {"name": "Grace B. Hopper",
                                       "email": "grace@example.com"}), 200)
    assert updated["id"] == created["id"]
    assert updated["name"] == "Grace B. Hopper"
    assert [p["id"] for p in ok(api.get("/people"))["people"]] == [created["id"]]


def test_person_email_is_case_insensitive(api):
    created = ok(api.post("/people", {"name": "Grace", "email": "Grace@Example.COM"}), 201)
    assert created["email"] == "grace@example.com"
    again = ok(api.post("/people", {"name": "Grace H", "email": "GRACE@example.com"}), 200)
    assert again["id"] == created["id"]


def test_person_fields_and_demographics_are_stored(api):
    person = ok(api.post("/people", {
        "name": "Alan Turing", "email": "alan@example.com", "phone": "+441234567890",
        "timezone": "Europe/London",
        "demographics": {"Country": "UK", "Department": "Research"},
    }), 201)
    assert (person["phone"], person["timezone"]) == ("+441234567890", "Europe/London")
    assert person["demographics"] == {"Country": "UK", "Department": "Research"}
    merged = ok(api.post("/people", {"name": "Alan Turing", "email": "alan@example.com",
                                     "demographics": {"Department": "Maths"}}))
    assert merged["demographics"] == {"Country": "UK", "Department": "Maths"}


def test_manager_email_links_the_manager(api):
    boss = ok(api.post("/people", {"name": "Boss", "email": "boss@example.com"}), 201)
    report = ok(api.post("/people", {"name": "Report", "email": "report@example.com",
                                     "manager_email": "BOSS@example.com"}), 201)
    assert report["manager_id"] == boss["id"]


def test_manager_email_of_unknown_person_is_422_and_creates_nobody(api):
    resp = api.post("/people", {"name": "Report", "email": "report@example.com",
                                "manager_email": "ghost@example.com"})
    assert_error(resp, 422, "unprocessable", "manager_email", "ghost@example.com")
    assert ok(api.get("/people"))["people"] == []


@pytest.mark.parametrize("data,field", [
    ({"name": "X", "email": "not-an-email"}, "email"),
    ({"email": "x@example.com"}, "name"),
    ({"name": "", "email": "x@example.com"}, "name"),
    ({"name": "X"}, "email"),
    ({"name": "X", "email": "x@example.com", "demographics": {"Age": 40}}, "demographics"),
    ({"name": "X", "email": "x@example.com", "salary": 1}, "salary"),
], ids=["bad-email", "no-name", "empty-name", "no-email", "non-string-demographic",
        "unknown-field"])
def test_bad_person_is_400_naming_the_field(api, data, field):
    assert_error(api.post("/people", data), 400, "bad_request", field)
    assert ok(api.get("/people"))["people"] == []


@pytest.fixture
def people(api) -> dict[str, int]:
    rows = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "ghopper@navy.example"),
            ("Alan Turing", "alan@example.com")]
    return {name: ok(api.post("/people", {"name": name, "email": email}), 201)["id"]
            for name, email in rows}


@pytest.mark.parametrize("q,expected", [
    ("lovelace", {"Ada Lovelace"}),
    ("ADA", {"Ada Lovelace"}),
    ("navy", {"Grace Hopper"}),
    ("@EXAMPLE.com", {"Ada Lovelace", "Alan Turing"}),
    ("a", {"Ada Lovelace", "Grace Hopper", "Alan Turing"}),
    ("nobody", set()),
    ("", {"Ada Lovelace", "Grace Hopper", "Alan Turing"}),
])
def test_search_people_by_name_or_email_substring(api, people, q, expected):
    found = ok(api.get("/people", query_string={"q": q}))["people"]
    assert {p["name"] for p in found} == expected
    assert all(p["id"] == people[p["name"]] for p in found)


def test_search_matches_underscore_literally(api):
    """"_" and "%" in q are plain characters, not LIKE wildcards."""
    ok(api.post("/people", {"name": "Ann Lee", "email": "ann_lee@example.com"}), 201)
    ok(api.post("/people", {"name": "Annxlee", "email": "annxlee@example.com"}), 201)
    found = ok(api.get("/people", query_string={"q": "ann_lee"}))["people"]
    assert [p["email"] for p in found] == ["ann_lee@example.com"]


def test_search_query_over_200_characters_is_400(api, people):
    assert ok(api.get("/people", query_string={"q": "a" * 200}))["people"] == []
    assert_error(api.get("/people", query_string={"q": "a" * 201}), 400, "bad_request", "q")


# ---- invites -----------------------------------------------------------------------------

def test_invite_a_new_person_returns_a_private_link(api, library):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": "Ada Lovelace", "email": "ada@example.com"}})
    created = ok(resp, 201)
    assert {"id", "link", "expires_at", "person_id"} <= set(created)
    assert created["channel"] == "web"
    assert created["link"].startswith("http://parley.test/c/")
    assert len(token_of(created["link"])) >= 20
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    person = ok(api.get("/people", query_string={"q": "ada@example.com"}))["people"]
    assert [p["id"] for p in person] == [created["person_id"]]


def test_invites_reuse_the_person_with_the_same_email(api, library):
    session = make_session(api)
    first = invite(api, session["id"], email="ada@example.com")
    second = invite(api, session["id"], email="ADA@example.com", name="Ada King")
    assert first["person_id"] == second["person_id"]
    assert first["id"] != second["id"] and first["link"] != second["link"]
    assert len(ok(api.get("/people"))["people"]) == 1


def test_invite_an_existing_person_by_id(api, library):
    session = make_session(api)
    person = ok(api.post("/people", {"name": "Alan Turing", "email": "alan@example.com"}), 201)
    created = ok(api.post(f"/sessions/{session['id']}/invites",
                          {"person_id": person["id"], "channel": "web"}), 201)
    assert created["person_id"] == person["id"]
    assert created["link"].startswith("http://parley.test/c/")


@pytest.mark.parametrize("payload", [
    {},
    {"person": {"name": "Ada", "email": "ada@example.com"}, "person_id": 1},
], ids=["neither", "both"])
def test_invite_needs_exactly_one_of_person_or_person_id(api, library, payload):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites", payload)
    assert_error(resp, 400, "bad_request", "person", "person_id")


def test_invite_with_a_bad_person_is_400(api, library):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": "Ada", "email": "nope"}})
    assert_error(resp, 400, "bad_request", "person.email")


def test_invite_with_unknown_manager_email_is_422(api, library):
    """The same rule as POST /people, and nobody is created."""
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites", {"person": {
        "name": "Ada", "email": "ada@example.com", "manager_email": "ghost@example.com"}})
    assert_error(resp, 422, "unprocessable", "manager_email")
    assert ok(api.get("/people"))["people"] == []


def test_invite_unknown_person_id_is_404(api, library):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites", {"person_id": 999999})
    assert_error(resp, 404, "not_found", "person", "999999")


def test_invite_to_unknown_session_is_404(api):
    resp = api.post("/sessions/999999/invites",
                    {"person": {"name": "Ada", "email": "ada@example.com"}})
    assert_error(resp, 404, "not_found", "session", "999999")
    assert ok(api.get("/people"))["people"] == []


def test_invite_on_unknown_channel_is_400_naming_it(api, library):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites", {
        "person": {"name": "Ada", "email": "ada@example.com"}, "channel": "carrier-pigeon"})
    assert_error(resp, 400, "bad_request", "carrier-pigeon", "web")


# ---- interviews: list and read -----------------------------------------------------------

def test_interviews_of_a_session_appear_once_a_link_is_started(api, client, library):
    session = make_session(api)
    link = invite(api, session["id"])["link"]
    assert ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"] == []
    assert client.get(link_path(link)).status_code == 200
    assert ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"] == []
    assert client.post(link_path(link) + "/start").status_code == 200
    interviews = ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"]
    assert len(interviews) == 1
    interview = interviews[0]
    assert interview["session_id"] == session["id"]
    assert interview["state"] == "consent"
    assert interview["channel"] == "web"
    assert interview["person"]["email"] == "ada@example.com"
    assert "turns" not in interview


def test_interviews_are_listed_per_session(api, client, library):
    one, two = make_session(api), make_session(api)
    opened_interview(api, client, one["id"], email="a@example.com")
    opened_interview(api, client, one["id"], email="b@example.com")
    opened_interview(api, client, two["id"], email="c@example.com")
    listed = ok(api.get(f"/sessions/{one['id']}/interviews"))["interviews"]
    assert [i["person"]["email"] for i in listed] == ["a@example.com", "b@example.com"]


def test_interviews_of_unknown_session_is_404(api):
    assert_error(api.get("/sessions/999999/interviews"), 404, "not_found", "999999")


def test_interview_shows_state_and_turns_with_reasoning(api, client, library):
    """HR can audit a conversation: every turn in order, and for each interviewer question
    the reasoning that chose it."""
    session = make_session(api)
    started_chat(api, client, session["id"])
    interview = interview_of(api, session["id"])
    assert interview["state"] == "in_progress"
    assert interview["started_at"] is not None
    turns = interview["turns"]
    assert interview["current_topic"] in interview["coverage"]
    assert [t["seq"] for t in turns] == list(range(1, len(turns) + 1))
    assert turns[0]["role"] == "system"  # consent comes first
    for turn in turns:
        assert {"seq", "role", "text", "topic", "sentiment", "created_at"} <= set(turn)
        assert turn["role"] in {"interviewer", "participant", "system"}
        assert turn["text"]
        datetime.fromisoformat(turn["created_at"])
    answer = next(t for t in turns if t["text"] == RICH_ANSWER)
    assert answer["role"] == "participant"
    assert isinstance(answer["sentiment"], float) and answer["sentiment"] > 0
    questions = [t for t in turns if t["role"] == "interviewer"]
    assert len(questions) >= 2
    topic_keys = {t["key"] for t in session["topics"]}
    for question in questions:
        assert question["topic"] in topic_keys
        reasoning = question["reasoning"]
        assert set(reasoning) >= {"strategy", "action", "topic", "why"}
        assert reasoning["topic"] == question["topic"]
        assert reasoning["strategy"] and reasoning["action"] and reasoning["why"]


def test_unknown_interview_is_404(api):
    assert_error(api.get("/interviews/999999"), 404, "not_found", "interview", "999999")


# ---- interviews: end, restart, delete ----------------------------------------------------

def test_end_interview_then_ending_again_is_409(api, client, library):
    session = make_session(api)
    chat = started_chat(api, client, session["id"])
    interview = interview_of(api, session["id"])
    ended = ok(api.post(f"/interviews/{interview['id']}/end", {"reason": "wrong person"}))
    assert ended["state"] == "admin_ended"
    assert ended["end_reason"] == "wrong person"
    assert ended["ended_at"] is not None
    assert ok(api.get(f"/interviews/{interview['id']}"))["state"] == "admin_ended"
    assert_error(api.post(f"/interviews/{interview['id']}/end"), 409, "invalid_transition")
    assert chat.open().status == "admin_ended"  # the participant sees it closed


def test_end_interview_without_body_uses_the_default_reason(api, client, library):
    session = make_session(api)
    interview = opened_interview(api, client, session["id"])
    ended = ok(api.post(f"/interviews/{interview['id']}/end"))
    assert (ended["state"], ended["end_reason"]) == ("admin_ended", "ended by HR")


def test_end_unknown_interview_is_404(api):
    assert_error(api.post("/interviews/999999/end"), 404, "not_found", "999999")


def test_restart_opens_a_fresh_interview(api, client, library):
    session = make_session(api)
    started_chat(api, client, session["id"])
    old = interview_of(api, session["id"])
    fresh = ok(api.post(f"/interviews/{old['id']}/restart"), 201)
    assert fresh["id"] != old["id"]
    assert fresh["restarted_from"] == old["id"]
    assert fresh["state"] == "consent"
    assert fresh["invite_id"] == old["invite_id"]
    assert fresh["person"] == old["person"]
    assert ok(api.get(f"/interviews/{old['id']}"))["state"] == "restarted"
    listed = ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"]
    assert [(i["id"], i["state"]) for i in listed] == [(old["id"], "restarted"),
                                                       (fresh["id"], "consent")]
    new_turns = ok(api.get(f"/interviews/{fresh['id']}"))["turns"]
    assert [t["role"] for t in new_turns] == ["system"]  # only the consent message
    assert_error(api.post(f"/interviews/{old['id']}/restart"), 409, "invalid_transition")


def test_restart_unknown_interview_is_404(api):
    assert_error(api.post("/interviews/999999/restart"), 404, "not_found", "999999")


def test_delete_interview_removes_it_and_its_turns(api, client, library):
    session = make_session(api)
    chat = started_chat(api, client, session["id"])
    interview = interview_of(api, session["id"])
    assert any(t["text"] == RICH_ANSWER for t in interview["turns"])

    resp = api.delete(f"/interviews/{interview['id']}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert_error(api.get(f"/interviews/{interview['id']}"), 404, "not_found")
    assert ok(api.get(f"/sessions/{session['id']}/interviews"))["interviews"] == []

    # The same link now starts over: none of the deleted conversation comes back.
    chat.open()
    fresh = interview_of(api, session["id"])
    assert fresh["state"] == "consent"
    assert [t["role"] for t in fresh["turns"]] == ["system"]
    assert all(t["text"] != RICH_ANSWER for t in fresh["turns"])


def test_delete_restarted_interview_keeps_its_successor(api, client, library):
    session = make_session(api)
    old = opened_interview(api, client, session["id"])
    fresh = ok(api.post(f"/interviews/{old['id']}/restart"), 201)
    assert api.delete(f"/interviews/{old['id']}").status_code == 204
    kept = ok(api.get(f"/interviews/{fresh['id']}"))
    assert (kept["state"], kept["restarted_from"]) == ("consent", None)


def test_delete_unknown_interview_is_404(api, client, library):
    assert_error(api.delete("/interviews/999999"), 404, "not_found", "999999")
    session = make_session(api)
    interview = opened_interview(api, client, session["id"])
    assert api.delete(f"/interviews/{interview['id']}").status_code == 204
    assert_error(api.delete(f"/interviews/{interview['id']}"), 404, "not_found")


# ---- errors outside the routes ----------------------------------------------------------

def test_unknown_api_path_is_404_in_the_error_shape(api):
    assert_error(api.get("/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405_in_the_error_shape(api):
    assert_error(api.delete("/sessions"), 405, "method_not_allowed")


def test_oversized_body_is_413_in_the_error_shape(api):
    resp = api.post("/people", {"name": "x" * (1024 * 1024 + 1), "email": "x@example.com"})
    assert_error(resp, 413, "request_entity_too_large")


# ---- health ------------------------------------------------------------------------------

def test_healthz_reports_database_and_redis(client):
    resp = client.get("/api/v1/healthz")
    assert ok(resp) == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


# ---- OpenAPI -----------------------------------------------------------------------------

def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule)


def test_openapi_document_is_served_without_a_token(client):
    doc = ok(client.get("/api/v1/openapi.json"))
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"]


def test_openapi_documents_exactly_the_apps_routes(app, client):
    doc = ok(client.get("/api/v1/openapi.json"))
    documented = {(path, method.upper()) for path, ops in doc["paths"].items()
                  for method in ops}
    routed = {(_openapi_path(r.rule), m) for r in app.url_map.iter_rules()
              if r.endpoint.startswith("api.") for m in r.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    assert ("/api/v1/sessions/{session_id}", "PATCH") in documented


def test_openapi_documents_401_on_every_authenticated_operation(app, client):
    doc = ok(client.get("/api/v1/openapi.json"))
    open_paths = {_openapi_path(r.rule) for r in app.url_map.iter_rules()
                  if r.endpoint in OPEN_ENDPOINTS}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in open_paths:
                assert op["security"] == [], (path, method)
                if path != "/api/v1/auth/login":  # its 401: a wrong password
                    assert "401" not in op["responses"], (path, method)
            else:
                assert "401" in op["responses"], (path, method)
                assert op["security"] == [{"bearer": []}], (path, method)


def test_openapi_request_bodies_refer_to_documented_schemas(client):
    doc = ok(client.get("/api/v1/openapi.json"))
    schemas = doc["components"]["schemas"]
    for ops in doc["paths"].values():
        for op in ops.values():
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.removeprefix("#/components/schemas/") in schemas
