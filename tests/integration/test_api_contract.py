"""The HR API as a client library uses it: what GET gives can be PATCHed back, lists come in
pages with a next link, and no id or text a client can send gives a server error."""

from __future__ import annotations

import pytest

from tests.integration.test_api import complete_interview, ok
from tests.support.factories import invite, make_session

HUGE = "24735106299307986944"


# ---- GET → edit → PATCH --------------------------------------------------------------------

def test_a_session_from_get_patched_back_with_one_topic_changed_is_200(api, library):
    session = make_session(api)
    sent = ok(api.get(f"/sessions/{session['id']}"))
    sent["topics"][1]["context"] = "Ask about the reorg."
    patched = ok(api.patch(f"/sessions/{session['id']}", sent))
    assert patched["topics"][1]["context"] == "Ask about the reorg."
    unchanged = {**patched, "topics": [t for i, t in enumerate(patched["topics"]) if i != 1]}
    assert unchanged == {**session, "topics": [t for i, t in enumerate(session["topics"])
                                               if i != 1]}


def test_topics_from_get_with_their_positions_are_accepted(api, library):
    session = make_session(api)
    topics = list(reversed(session["topics"]))  # positions as GET gave them, now stale
    patched = ok(api.patch(f"/sessions/{session['id']}", {"topics": topics}))
    assert [t["id"] for t in patched["topics"]] == [t["id"] for t in topics]
    assert [t["position"] for t in patched["topics"]] == list(range(len(topics)))


def test_read_only_fields_are_ignored(api, library):
    session = make_session(api)
    patched = ok(api.patch(f"/sessions/{session['id']}", {
        "locked": True, "created_at": "2000-01-01T00:00:00+00:00", "session_type": "other",
        "anonymity": "aggregated", "cloned_from": 7, "name": "Renamed"}))
    assert patched == {**session, "name": "Renamed"}


def test_a_body_naming_another_session_is_422(api, library):
    session = make_session(api)
    other = make_session(api)
    resp = api.patch(f"/sessions/{session['id']}", {**other, "name": "x"})
    assert resp.status_code == 422 and "id" in resp.get_json()["error"]["message"]
    assert ok(api.get(f"/sessions/{session['id']}")) == session


def test_a_locked_session_takes_itself_back_with_a_new_name_but_not_new_topics(
        api, client, library):
    session = make_session(api)
    complete_interview(api, client, session["id"])
    locked = ok(api.get(f"/sessions/{session['id']}"))
    assert locked["locked"] is True
    renamed = ok(api.patch(f"/sessions/{session['id']}", {**locked, "name": "Final"}))
    assert renamed == {**locked, "name": "Final"}
    renamed["topics"][0]["context"] = "changed"
    resp = api.patch(f"/sessions/{session['id']}", renamed)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "session_locked"


def test_a_session_type_from_get_patched_back_with_one_topic_changed_is_200(api, library):
    draft = ok(api.post("/session-types/generate",
                        {"description": "why engineers leave after a year"}), 201)
    sent = ok(api.get(f"/session-types/{draft['id']}"))
    sent["topics"][0]["context"] = "Hidden note."
    sent["status"] = "published"
    patched = ok(api.patch(f"/session-types/{draft['slug']}", sent))
    assert patched["topics"][0]["context"] == "Hidden note."
    assert patched["status"] == "published"
    assert [t["id"] for t in patched["topics"]] == [t["id"] for t in draft["topics"]]


# ---- no server error on any id or text ---------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("POST", f"/interviews/{HUGE}/end"), ("POST", f"/interviews/{HUGE}/restart"),
    ("GET", f"/interviews/{HUGE}"), ("DELETE", f"/interviews/{HUGE}"),
    ("GET", f"/sessions/{HUGE}"), ("PATCH", f"/sessions/{HUGE}"),
    ("POST", f"/sessions/{HUGE}/clone"), ("GET", f"/sessions/{HUGE}/invites"),
    ("GET", f"/sessions/{HUGE}/interviews"), ("GET", f"/people/{HUGE}"),
    ("GET", f"/session-types/{HUGE}"), ("GET", "/sessions/2147483648"),
    ("GET", "/session-types/²"),
])
def test_an_id_out_of_range_is_404(api, library, method, path):
    resp = api._call(method, path, {"name": "x"} if method == "PATCH" else None)
    assert resp.status_code == 404, resp.get_json()
    assert resp.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("payload,field", [
    ({"person_id": int(HUGE)}, "person_id"),
    ({"person_id": 0}, "person_id"),
    ({"person": {"name": "A\x00", "email": "a@example.com"}}, "NUL"),
    ({"person": {"name": "\ud800", "email": "a@example.com"}}, "surrogate"),
])
def test_an_unusable_invite_body_is_400(api, library, payload, field):
    session = make_session(api)
    resp = api.post(f"/sessions/{session['id']}/invites", payload)
    assert resp.status_code == 400 and field in resp.get_json()["error"]["message"]


def test_text_no_database_can_store_is_400_in_a_query_too(api):
    resp = api.get("/people", query_string={"q": "a\x00b"})
    assert resp.status_code == 400 and "NUL" in resp.get_json()["error"]["message"]


def test_a_wrong_method_says_which_are_allowed(api):
    resp = api._call("TRACE", "/sessions")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}
    resp = api._call("GET", "/session-types/generate")
    assert resp.status_code == 405 and "GET" not in resp.headers["Allow"]


# ---- pages ---------------------------------------------------------------------------------

def follow(api, path: str, key: str) -> tuple[list[dict], int]:
    """Every item of a list by following its next links; returns them and the page count."""
    items, pages, link = [], 0, f"/api/v1{path}"
    while link:
        body = ok(api.client.get(link, headers=api.headers))
        items += body[key]
        link, pages = body["next"], pages + 1
    return items, pages


def test_people_search_pages_past_twenty(api):
    for n in range(25):
        ok(api.post("/people", {"name": f"Person {n:02}", "email": f"p{n}@example.com"}), 201)
    first = ok(api.get("/people"))
    assert len(first["people"]) == 25 and first["next"] is None
    people, pages = follow(api, "/people?q=person&limit=10", "people")
    assert pages == 3
    assert [p["email"] for p in people] == [f"p{n}@example.com" for n in range(25)]


def test_sessions_page_newest_first(api, library):
    made = [make_session(api)["id"] for _ in range(5)]
    sessions, pages = follow(api, "/sessions?limit=2", "sessions")
    assert [s["id"] for s in sessions] == list(reversed(made)) and pages == 3


def test_invites_and_interviews_page_in_order(api, client, library):
    session = make_session(api)
    links = [invite(api, session["id"], email=f"i{n}@example.com")["link"] for n in range(3)]
    for link in links:  # Start opens each interview
        assert client.post(link.removeprefix("http://parley.test") + "/start").status_code < 300
    invites, pages = follow(api, f"/sessions/{session['id']}/invites?limit=2", "invites")
    assert len(invites) == 3 and pages == 2
    assert [i["id"] for i in invites] == sorted(i["id"] for i in invites)
    interviews, pages = follow(api, f"/sessions/{session['id']}/interviews?limit=2",
                               "interviews")
    assert len(interviews) == 3 and pages == 2


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=xyz",
                                   "cursor=-1"])
def test_a_bad_limit_or_cursor_is_400(api, query):
    resp = api.get(f"/people?{query}")
    assert resp.status_code == 400
    assert query.split("=")[0] in resp.get_json()["error"]["message"]


def test_a_limit_of_200_is_allowed(api):
    assert ok(api.get("/people?limit=200")) == {"people": [], "next": None}


def test_one_person_by_id(api):
    created = ok(api.post("/people", {"name": "Grace", "email": "grace@example.com"}), 201)
    assert ok(api.get(f"/people/{created['id']}")) == created
    resp = api.get(f"/people/{created['id'] + 1}")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
