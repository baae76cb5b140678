"""GET /api/v1/interviews: one list across sessions, filters that combine, every parameter
checked, members' reach, analysts refused, and an aggregated session's interviews never a
row (nor found by searching for their person)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import db
from core.models import Interview, Person
from tests.integration.test_api import ok
from tests.integration.test_api_contract import follow
from tests.support.factories import completed_interviews, make_session, user_client

ANSWER = [("growth", "I like the work and the people here.", False)]


def _set(interview_id: int, **fields) -> None:
    with db.session_scope() as s:
        interview = s.get(Interview, interview_id)
        for name, value in fields.items():
            setattr(interview, name, value)


def _people(name: str, email: str) -> dict:
    return {"name": name, "email": email, "answers": ANSWER}


@pytest.fixture
def world(api, library):
    """Two named sessions and an aggregated one:
    stay (tag emea): Ada (web, positive, Nov 2), Bob (sms, negative, Nov 3), Cy (web,
    in progress, no answer, Nov 4); exit: Dee (sms, neutral, Nov 5);
    pulse (aggregated): Zed and Yan, completed."""
    stay = make_session(api, tags=["emea"], name="Stay EMEA")
    leave = make_session(api, "exit-interview", name="Leavers")
    pulse = make_session(api, "engagement-pulse", name="Pulse")
    ada, bob, cy = completed_interviews(stay["id"], [
        _people("Ada Lovelace", "ada@example.com"), _people("Bob Marley", "bob@example.com"),
        _people("Cy Young", "cy@example.com")])
    [dee] = completed_interviews(leave["id"], [_people("Dee Dee", "dee@example.com")])
    zed, yan = completed_interviews(pulse["id"], [_people("Zed Unique", "zed@example.com"),
                                                  _people("Yan Qi", "yan@example.com")])
    day = lambda n: datetime(2026, 11, n, 10, 0, tzinfo=UTC)  # noqa: E731
    _set(ada, channel="web", sentiment=0.6, created_at=day(2))
    _set(bob, channel="sms", sentiment=-0.4, created_at=day(3))
    _set(cy, channel="web", sentiment=None, state="in_progress", ended_at=None,
         created_at=day(4))
    _set(dee, channel="sms", sentiment=0.0, created_at=day(5))
    _set(zed, channel="sms", sentiment=-0.9)
    with db.session_scope() as s:
        s.query(Person).filter(Person.email == "bob@example.com").update(
            {"phone": "+14155550123"})
        s.query(Person).filter(Person.email == "zed@example.com").update(
            {"phone": "+14155559999"})
        cy_turns = s.get(Interview, cy)
        for turn in list(cy_turns.turns):
            if turn.role == "participant":
                s.delete(turn)
    return {"stay": stay, "leave": leave, "pulse": pulse, "ada": ada, "bob": bob, "cy": cy,
            "dee": dee, "zed": zed, "yan": yan}


def names(api, query: str = "") -> list[str]:
    body = ok(api.get(f"/interviews?{query}"))
    return [row["person"]["name"] for row in body["interviews"]]


def test_the_list_is_every_named_interview_newest_first_with_what_a_row_needs(api, world):
    body = ok(api.get("/interviews"))
    assert [r["id"] for r in body["interviews"]] == [
        world["dee"], world["cy"], world["bob"], world["ada"]]
    assert body["next"] is None
    bob = body["interviews"][2]
    assert bob["session"] == {"id": world["stay"]["id"], "name": "Stay EMEA",
                              "session_type": "stay-interview"}
    assert bob["person"]["email"] == "bob@example.com"
    assert (bob["channel"], bob["state"], bob["sentiment_label"]) == ("sms", "completed",
                                                                      "negative")
    assert bob["turns"] == 2 and bob["answers"] == 1
    assert bob["last_turn"]["role"] == "participant"
    assert bob["last_turn"]["text"] == ANSWER[0][1]
    assert body["aggregated"]["interviews"] == 2
    assert "anonymous" in body["aggregated"]["message"]


@pytest.mark.parametrize("query,expected", [
    ("channel=web", ["Cy Young", "Ada Lovelace"]),
    ("channel=sms", ["Dee Dee", "Bob Marley"]),
    ("channel=slack", []),
    ("sentiment=positive", ["Ada Lovelace"]),
    ("sentiment=negative", ["Bob Marley"]),
    ("sentiment=neutral", ["Dee Dee"]),
    ("has_responses=false", ["Cy Young"]),
    ("has_responses=true", ["Dee Dee", "Bob Marley", "Ada Lovelace"]),
    ("q=ada", ["Ada Lovelace"]),
    ("q=BOB%40EXAMPLE", ["Bob Marley"]),
    ("q=(415) 555-0123", ["Bob Marley"]),
    ("q=5550123", ["Bob Marley"]),
    ("q=%25", []),
    ("session_type=exit-interview", ["Dee Dee"]),
    ("session_type=no-such-type", []),
    ("status=in_progress", ["Cy Young"]),
    ("status=in_progress&status=completed", ["Dee Dee", "Cy Young", "Bob Marley",
                                              "Ada Lovelace"]),
    ("status=consent,in_progress,paused", ["Cy Young"]),
    ("tag=emea", ["Cy Young", "Bob Marley", "Ada Lovelace"]),
    ("tag=apac", []),
    ("from=2026-11-03", ["Dee Dee", "Cy Young", "Bob Marley"]),
    ("to=2026-11-03", ["Bob Marley", "Ada Lovelace"]),
    ("from=2026-11-03&to=2026-11-03", ["Bob Marley"]),
    # combined
    ("channel=sms&sentiment=negative", ["Bob Marley"]),
    ("channel=web&has_responses=true&tag=emea", ["Ada Lovelace"]),
    ("channel=sms&session_type=stay-interview&from=2026-11-01&to=2026-11-30", ["Bob Marley"]),
    ("q=example.com&sentiment=neutral&status=completed", ["Dee Dee"]),
])
def test_each_filter_and_their_combinations(api, world, query, expected):
    assert names(api, query) == expected


def test_the_session_filter(api, world):
    assert names(api, f"session={world['leave']['id']}") == ["Dee Dee"]
    assert names(api, "session=999999") == []


def test_pages_keep_their_filters(api, world):
    rows, pages = follow(api, "/interviews?tag=emea&limit=2", "interviews")
    assert [r["person"]["name"] for r in rows] == ["Cy Young", "Bob Marley", "Ada Lovelace"]
    assert pages == 2
    first = ok(api.get("/interviews?tag=emea&limit=2"))
    assert "tag=emea" in first["next"]


@pytest.mark.parametrize("query,field", [
    ("channel=fax", "channel"), ("channel=", "channel"), ("sentiment=happy", "sentiment"),
    ("has_responses=yes", "has_responses"), ("q=" + "x" * 201, "q"),
    ("session=0", "session"), ("session=abc", "session"), ("session=2147483648", "session"),
    ("session=-1", "session"), ("status=done", "status"), ("status=", "status"),
    ("status=completed,nope", "status"), ("tag=", "tag"), ("tag=" + "t" * 101, "tag"),
    ("session_type=", "session_type"), ("from=2026-13-01", "from"), ("from=yesterday", "from"),
    ("to=2026-11-3", "to"), ("limit=0", "limit"), ("cursor=zz", "cursor"),
])
def test_every_parameter_is_checked(api, world, query, field):
    resp = api.get(f"/interviews?{query}")
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"]["message"].startswith(field)


def test_from_after_to_is_422(api, world):
    resp = api.get("/interviews?from=2026-11-04&to=2026-11-03")
    assert resp.status_code == 422 and "from" in resp.get_json()["error"]["message"]
    assert ok(api.get("/interviews?from=0001-01-01&to=9999-12-31"))["interviews"]


def test_an_aggregated_sessions_interviews_are_never_rows_and_q_never_finds_them(api, world):
    everyone = ok(api.get("/interviews?limit=200"))
    ids = {r["id"] for r in everyone["interviews"]}
    assert not ids & {world["zed"], world["yan"]}
    assert "Zed" not in str(everyone)
    for query in ("q=zed", "q=Zed Unique", "q=zed%40example.com", "q=4155559999",
                  f"session={world['pulse']['id']}", "sentiment=negative&channel=sms&q=zed"):
        body = ok(api.get(f"/interviews?{query}"))
        assert body["interviews"] == [], query
    # the count follows session filters only: the same whoever is searched for
    for query in ("", "q=zed", "q=nobody-at-all", "sentiment=negative", "status=declined",
                  "channel=web", "from=2030-01-01", f"session={world['pulse']['id']}",
                  "session_type=engagement-pulse"):
        assert ok(api.get(f"/interviews?{query}"))["aggregated"]["interviews"] == 2, query
    for query in ("tag=emea", f"session={world['stay']['id']}", "session_type=stay-interview"):
        assert ok(api.get(f"/interviews?{query}"))["aggregated"] == {
            "interviews": 0, "message": None}, query


def test_members_see_their_own_and_shared_sessions_only(api, world, library):
    alice = user_client(api, "member", "alice@hr.example")
    bob = user_client(api, "member", "bob@hr.example")
    theirs = make_session(alice, name="Alice's")
    [mine] = completed_interviews(theirs["id"], [_people("Mo Member", "mo@example.com")])
    assert [r["id"] for r in ok(alice.get("/interviews"))["interviews"]] == [mine]
    assert ok(alice.get("/interviews"))["aggregated"]["interviews"] == 0
    assert ok(bob.get("/interviews"))["interviews"] == []
    assert ok(bob.get(f"/interviews?session={theirs['id']}"))["interviews"] == []
    assert ok(bob.get("/interviews?q=mo"))["interviews"] == []
    ok(alice.put(f"/sessions/{theirs['id']}/shares", {"user_ids": [bob.user["id"]]}))
    assert [r["id"] for r in ok(bob.get("/interviews"))["interviews"]] == [mine]
    viewer = user_client(api, "viewer")
    assert len(ok(viewer.get("/interviews"))["interviews"]) == 5


def test_an_analyst_is_refused(api, world):
    analyst = user_client(api, "analyst")
    resp = analyst.get("/interviews")
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
