"""Anonymity is enforced, not only promised: an aggregated session's API responses carry no
identity and nothing that joins an interview to an invite or a person; its interviews are
never addressed one by one; and its answers appear only in whole batches of the session's
``anonymity_threshold`` completed interviews.

Real interviews over the web channel and the real worker; every JSON response of the
session is kept and scanned."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from core import db
from core.models import Interview
from core.privacy import NOT_ADDRESSABLE
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of

PEOPLE = [("Ximena Quarshie", "ximena.q@pulse.example"),
          ("Yusuf Okonkwo", "yusuf.o@pulse.example"),
          ("Wilhelmina Zapata", "wilhelmina.z@pulse.example"),
          ("Thaddeus Vukovic", "thaddeus.v@pulse.example")]
ANSWER = ("Workload has been heavy this month but the team shares it fairly, and I like "
          "that priorities are explained before they change.")
# Keys that would join an interview back to its invite or person.
JOIN_KEYS = {"id", "invite_id", "person", "person_id", "restarted_from", "channel", "address",
             "end_reason", "created_at", "started_at", "ended_at", "email", "name"}
ANSWERS = {"turns", "sentiment", "engagement", "coverage", "open_questions"}


class Recorder:
    """The API client that keeps every JSON body it receives, for the scan."""

    def __init__(self, api):
        self.api, self.bodies = api, []

    def call(self, method: str, path: str, json_body=None, status: int = 200):
        resp = getattr(self.api, method)(path, **({"json": json_body} if json_body else {}))
        assert resp.status_code == status, (path, resp.status_code, resp.get_json())
        body = resp.get_json(silent=True)
        if body is not None:
            self.bodies.append((path, body))
        return body


def keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def finish(client, link: str, first_answer: str = ANSWER) -> WebChat:
    chat = WebChat(client, token_of(link)).open()
    chat.choose("accept")
    answer = first_answer
    while chat.status == "in_progress":
        chat.say(answer)
        answer = ANSWER
    assert chat.status == "completed"
    return chat


@pytest.fixture
def pulse(api, library):
    """An aggregated Engagement Pulse with threshold 3 and four people invited by link."""
    rec = Recorder(api)
    session = make_session(api, "engagement-pulse",
                           settings={"anonymity_threshold": 3, "question_budget": 2})
    assert session["anonymity"] == "aggregated"
    links = [rec.call("post", f"/sessions/{session['id']}/invites",
                      {"person": {"name": n, "email": e}, "channel": "web"}, 201)["link"]
             for n, e in PEOPLE]
    return rec, session["id"], links


def read_everything(rec: Recorder, session_id: int) -> dict:
    """Every read of the session: sessions, invites, its interviews (the list, and each by
    id, which an anonymous session refuses)."""
    rec.call("get", "/sessions")
    rec.call("get", f"/sessions/{session_id}")
    rec.call("get", f"/sessions/{session_id}/invites")
    listed = rec.call("get", f"/sessions/{session_id}/interviews")
    with db.session_scope() as s:
        ids = list(s.scalars(select(Interview.id).where(Interview.session_id == session_id)))
    for interview_id in ids:
        refused = rec.call("get", f"/interviews/{interview_id}", status=404)
        # the very answer an unknown id gets: an id tells nothing
        assert refused["error"]["message"] == NOT_ADDRESSABLE.format(id=interview_id)
    unknown = rec.call("get", "/interviews/987654", status=404)
    assert unknown["error"]["message"] == NOT_ADDRESSABLE.format(id=987654)
    return listed


def assert_nothing_identifies(rec: Recorder) -> None:
    for path, body in rec.bodies:
        text = json.dumps(body).lower()
        for name, email in PEOPLE:
            for word in (*name.lower().split(), email):
                assert word not in text, f"{word!r} in the response of {path}"
        if "/interviews" in path:
            assert not keys(body) & JOIN_KEYS, (path, keys(body) & JOIN_KEYS)
        if path.endswith("/invites"):  # who was invited, never which interview is whose
            assert not {"interview", "interview_id", "interviews"} & keys(body), path


def test_aggregated_session_shows_answers_only_at_threshold_and_never_identity(
        pulse, client, work):
    rec, session_id, links = pulse

    # Two of four finish (one writes her email into an answer), one is half-way, one has
    # only opened the link: below the threshold of 3.
    finish(client, links[0], first_answer=f"Write to me at {PEOPLE[0][1]}. {ANSWER}")
    finish(client, links[1])
    halfway = WebChat(client, token_of(links[2])).open()
    halfway.choose("accept")
    assert client.get(urlparse(links[3]).path).status_code == 200

    listed = read_everything(rec, session_id)
    assert listed["interviews"] == [] and listed["next"] is None
    assert listed["counts"] == {"completed": 2, "in_progress": 1}
    assert "at least 3" in listed["withheld"]["reason"]

    # The third completes: the session reaches its threshold, and three answers appear at once.
    while halfway.status == "in_progress":
        halfway.say(ANSWER)
    assert halfway.status == "completed"

    listed = read_everything(rec, session_id)
    assert len(listed["interviews"]) == 3 and "withheld" not in listed
    for entry in listed["interviews"]:
        said = [t["text"] for t in entry["turns"] if t["role"] == "participant"]
        assert ANSWER in said
        assert {t["role"] for t in entry["turns"]} <= {"interviewer", "participant"}
        assert entry["sentiment"] is not None and entry["coverage"]
    assert any("[EMAIL]" in t["text"] for e in listed["interviews"] for t in e["turns"])
    # paging does not give an interview a pseudonym before its batch is out: the same three
    paged = rec.call("get", f"/sessions/{session_id}/interviews?limit=1")
    assert paged["next"] and len(paged["interviews"]) == 1

    # The fourth finishes: not shown until a whole next batch (three more) has completed, so
    # what appears cannot be matched to the one person who just finished.
    finish(client, links[3])
    listed = read_everything(rec, session_id)
    assert len(listed["interviews"]) == 3 and "1 more" in listed["withheld"]["reason"]

    # No action by id either: ending, restarting or deleting one would tell whose it was.
    with db.session_scope() as s:
        some_id = s.scalar(select(Interview.id).where(Interview.session_id == session_id))
    for method, path in (("post", f"/interviews/{some_id}/end"),
                         ("post", f"/interviews/{some_id}/restart"),
                         ("delete", f"/interviews/{some_id}")):
        rec.call(method, path, status=404)
    rec.call("get", "/ops/failures")

    assert_nothing_identifies(rec)


def test_an_anonymous_conversation_is_read_only_in_the_browser_that_started_it(
        pulse, client, app, work):
    """HR holds every link (it sends them): opening one elsewhere shows nothing."""
    rec, session_id, links = pulse
    path = urlparse(links[0]).path
    chat = finish(client, links[0], first_answer=f"Write to me at {PEOPLE[0][1]}. {ANSWER}")
    assert chat.status == "completed"
    hr = app.test_client()  # another browser, without the participant's cookie
    for resp in (hr.get(f"{path}/messages?after=0"), hr.post(f"{path}/start"),
                 hr.post(f"{path}/messages", json={"text": "who wrote this?"})):
        assert resp.status_code == 403, resp.get_json()
        body = json.dumps(resp.get_json())
        assert ANSWER[:30] not in body and PEOPLE[0][1] not in body
    assert "browser where it was started" in hr.get(f"{path}/messages").get_json()[
        "error"]["message"]
    assert client.get(f"{path}/messages?after=0").status_code == 200  # the participant's


def test_consent_in_an_aggregated_session_greets_no_one_by_name(pulse, client):
    _, _, links = pulse
    chat = WebChat(client, token_of(links[0])).open()
    assert chat.status == "consent"
    assert "Ximena" not in chat.reply and "Hi there" in chat.reply
    assert "at least 3 people" in chat.reply
    page = client.get(urlparse(links[0]).path).get_data(as_text=True)
    assert "at least 3 people" in page


def test_named_session_still_shows_who_said_what(api, client, library):
    session = make_session(api)
    link = invite(api, session["id"], email="ximena.q@pulse.example", name="Ximena Quarshie")
    chat = finish(client, link["link"])
    assert chat.status == "completed"
    listed = api.get(f"/sessions/{session['id']}/interviews").get_json()["interviews"]
    assert listed[0]["person"]["name"] == "Ximena Quarshie"
    assert listed[0]["invite_id"] == link["id"]
    detail = api.get(f"/interviews/{listed[0]['id']}").get_json()
    assert any(t["text"] == ANSWER for t in detail["turns"])
    assert "Hi Ximena" in detail["turns"][0]["text"]


# ---- the setting ---------------------------------------------------------------------------

def test_threshold_defaults_to_five_and_allows_three_to_ten(api, library):
    assert make_session(api, "engagement-pulse")["settings"]["anonymity_threshold"] == 5
    for bad in (2, 11):
        resp = api.post("/sessions", {"session_type": "engagement-pulse", "name": "p",
                                      "settings": {"anonymity_threshold": bad}})
        assert resp.status_code == 400, resp.get_json()
        assert "anonymity_threshold" in resp.get_json()["error"]["message"]


def test_threshold_is_fixed_once_someone_has_been_told_it(api, client, library):
    """The consent quotes the threshold: once an interview has started it cannot change."""
    session = make_session(api, "engagement-pulse", settings={"question_budget": 1})
    path = f"/sessions/{session['id']}"
    assert api.patch(path, {"settings": {"anonymity_threshold": 6}}).status_code == 200
    chat = WebChat(client, token_of(invite(api, session["id"])["link"])).open()
    assert "at least 6 people" in chat.reply
    resp = api.patch(path, {"settings": {"anonymity_threshold": 3}})
    assert resp.status_code == 409
    assert api.get(path).get_json()["settings"]["anonymity_threshold"] == 6
