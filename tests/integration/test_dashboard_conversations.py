"""The Conversations and Live pages through the Flask client: what each role sees, filters
that live in the URL, a participant's markup shown as text, the actions and exports going
through the API, and an anonymous session's interview never a page of its own."""

from __future__ import annotations

import html
import json
import re

import pytest
from markupsafe import escape

from core import db
from core.models import Turn
from tests.integration.test_dashboard import sign_in
from tests.integration.test_interviews_list import _people, _set, world  # noqa: F401
from tests.support.chat import WebChat
from tests.support.factories import completed_interviews, invite, make_session, token_of

XSS = "<script>alert('pwned')</script> & <b>bold</b>"


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code,
                                            response.get_data(as_text=True)[:2000])
    return response.get_data(as_text=True)


def started(app, api, session_id: int, email: str = "live@example.com",
            name: str = "Liv Live") -> int:
    """An interview in progress through the web link: consent given, first question asked."""
    link = invite(api, session_id, email=email, name=name)["link"]
    chat = WebChat(app.test_client(), token_of(link)).open()
    chat.choose("accept")
    assert chat.status == "in_progress"
    return chat.interview


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_each_reading_role_gets_the_pages(app, client, world, role):  # noqa: F811
    sign_in(client, role)
    listing = page(client, "/dashboard/conversations")
    live = page(client, "/dashboard/live")
    assert "Live conversations" in live and "HR sees them with their name" in live
    if role == "member":  # a member's own sessions only: none here
        assert "No conversations yet" in listing
        assert "Ada Lovelace" not in listing
    else:
        for name in ("Ada Lovelace", "Bob Marley", "Cy Young", "Dee Dee"):
            assert name in listing, name
        assert "Zed" not in listing and "Yan Qi" not in listing
        assert "2 interview(s) in anonymous sessions are not listed" in listing
        assert f"/dashboard/conversations/{world['ada']}" in listing


def test_an_analyst_is_told_why_not(app, client, world):  # noqa: F811
    sign_in(client, "analyst")
    for url in ("/dashboard/conversations", "/dashboard/live"):
        body = page(client, url, 403)
        assert "your role does not see" in body and "Ada" not in body
    assert "Ada" not in page(client, f"/dashboard/conversations/{world['ada']}", 403)


def test_filters_live_in_the_url_and_each_can_be_removed(app, client, world):  # noqa: F811
    sign_in(client)
    # the form sends its blank fields too: they are dropped, so the URL to share is short
    sent = client.get("/dashboard/conversations?q=&channel=sms&sentiment=negative&status="
                      "&session=&tag=emea&from=&to=")
    assert sent.status_code == 302
    assert sent.headers["Location"] == \
        "/dashboard/conversations?channel=sms&sentiment=negative&tag=emea"
    body = page(client, sent.headers["Location"])
    assert "Bob Marley" in body
    for name in ("Ada Lovelace", "Cy Young", "Dee Dee"):
        assert name not in body
    assert '<option value="sms" selected>' in body
    assert '<option value="negative" selected>' in body
    assert 'name="tag" value="emea"' in body
    chips = re.findall(r'class="chip__remove" href="([^"]+)"', body)
    assert [html.unescape(c) for c in chips] == [
        "/dashboard/conversations?sentiment=negative&tag=emea",
        "/dashboard/conversations?channel=sms&tag=emea",
        "/dashboard/conversations?channel=sms&sentiment=negative"]
    # a filter the API refuses: its reason above the form, nothing listed
    body = page(client, "/dashboard/conversations?from=2026-11-05&to=2026-11-01")
    assert "from must not be after to" in body and "Ada Lovelace" not in body
    empty = page(client, "/dashboard/conversations?channel=slack")
    assert "No conversations match these filters" in empty
    # the session page's tab: one session's conversations, named in the heading
    body = page(client, f"/dashboard/conversations?session={world['leave']['id']}")
    assert "in Leavers" in body and "Dee Dee" in body and "Ada Lovelace" not in body
    body = page(client, f"/dashboard/conversations?session={world['pulse']['id']}")
    assert "in Pulse" in body and "not listed" in body and "Zed" not in body


def test_pages_follow_the_apis_next_link_with_the_filters(app, client, api, library):
    session = make_session(api, tags=["many"])
    completed_interviews(session["id"], [_people(f"Person {n:02}", f"p{n}@example.com")
                                         for n in range(30)])
    sign_in(client)
    first = page(client, "/dashboard/conversations?tag=many")
    assert "Person 29" in first and "Person 04" not in first
    link = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    assert "tag=many" in link and "cursor=" in link
    second = page(client, link)
    assert "Person 04" in second and "Person 29" not in second
    assert 'rel="next"' not in second and "First page" in second


def test_a_participants_markup_is_text_everywhere(app, client, api, library):
    session = make_session(api)
    interview = started(app, api, session["id"], name="<img src=x onerror=alert(1)>")
    with db.session_scope() as s:
        s.add(Turn(interview_id=interview, seq=99, role="participant", text=XSS,
                   redacted_text=XSS, topic=None, sentiment=-0.5))
    sign_in(client)
    for url in (f"/dashboard/conversations/{interview}", "/dashboard/live",
                "/dashboard/conversations"):
        body = page(client, url)
        assert "<script>alert" not in body and "<img src=x" not in body, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in body, url
    detail = page(client, f"/dashboard/conversations/{interview}")
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" \
        in detail


def test_a_conversation_shows_turns_with_anchors_reasoning_and_analytics(
        app, client, api, library):
    session = make_session(api)
    interview = started(app, api, session["id"])
    turns = api.get(f"/interviews/{interview}").get_json()["turns"]
    sign_in(client)
    body = page(client, f"/dashboard/conversations/{interview}")
    for turn in turns:
        assert f'id="turn-{turn["id"]}"' in body
    asked = [t for t in turns if t["role"] == "interviewer"]
    assert asked and "Why the interviewer asked this" in body
    assert str(escape(asked[0]["reasoning"]["why"])) in body
    assert "Analytics" in body and "so far" in body and "Topic coverage" in body
    assert "HR sees them with their name" in body  # in progress: the monitoring notice
    for label in ("End interview", "Restart", "Delete", "Download PDF", "Download JSON"):
        assert label in body, label
    assert 'data-confirm="Delete this interview' in body


def test_actions_go_through_the_api(app, client, api, library):
    session = make_session(api)
    interview = started(app, api, session["id"])
    token = sign_in(client)
    done = client.post(f"/dashboard/conversations/{interview}/end",
                       data={"csrf": token, "reason": "test over"}, follow_redirects=True)
    assert "The interview was ended." in done.get_data(as_text=True)
    ended = api.get(f"/interviews/{interview}").get_json()
    assert ended["state"] == "admin_ended" and ended["end_reason"] == "test over"
    again = client.post(f"/dashboard/conversations/{interview}/end", data={"csrf": token},
                        follow_redirects=True)
    assert 'class="flash flash--error"' in again.get_data(as_text=True)  # the API's refusal

    restarted = client.post(f"/dashboard/conversations/{interview}/restart",
                            data={"csrf": token})
    assert restarted.status_code == 302
    fresh = int(restarted.headers["Location"].rsplit("/", 1)[-1])
    assert fresh != interview
    assert api.get(f"/interviews/{interview}").get_json()["state"] == "restarted"

    gone = client.post(f"/dashboard/conversations/{fresh}/delete", data={"csrf": token})
    assert gone.headers["Location"].endswith("/dashboard/conversations")
    assert api.get(f"/interviews/{fresh}").status_code == 404
    # no CSRF token: nothing happens
    client.post(f"/dashboard/conversations/{interview}/delete", data={})
    assert api.get(f"/interviews/{interview}").status_code == 200


def test_a_viewer_sees_no_actions_and_cannot_post_them(app, client, api, library):
    session = make_session(api)
    interview = started(app, api, session["id"])
    token = sign_in(client, "viewer")
    body = page(client, f"/dashboard/conversations/{interview}")
    assert "End interview" not in body and ">Delete<" not in body
    assert "Download PDF" in body
    refused = client.post(f"/dashboard/conversations/{interview}/delete",
                          data={"csrf": token}, follow_redirects=True)
    assert "a viewer may not do this" in refused.get_data(as_text=True)
    assert api.get(f"/interviews/{interview}").status_code == 200


def test_exports_pass_the_apis_file_through(app, client, api, library, world):  # noqa: F811
    sign_in(client)
    pdf = client.get(f"/dashboard/conversations/{world['ada']}/export.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert f'interview-{world["ada"]}.pdf' in pdf.headers["Content-Disposition"]
    doc = client.get(f"/dashboard/conversations/{world['ada']}/export.json")
    assert doc.status_code == 200 and doc.mimetype == "application/json"
    assert json.loads(doc.data)["metadata"]
    assert client.get(f"/dashboard/conversations/{world['ada']}/export.csv").status_code == 404
    refused = client.get(f"/dashboard/conversations/{world['zed']}/export.pdf")
    assert refused.status_code == 404 and b"%PDF" not in refused.data
    audit = api.get("/audit?action=export.interview").get_json()["audit"]
    assert {a["detail"]["format"] for a in audit} == {"pdf", "json"}


def test_an_anonymous_sessions_interview_is_no_page(app, client, world):  # noqa: F811
    sign_in(client)
    body = page(client, f"/dashboard/conversations/{world['zed']}", 404)
    assert "can't be shown on its own" in body
    assert "anonymous session" in body and "Zed" not in body
    assert page(client, "/dashboard/conversations/999999", 404).count("on its own") >= 1


def test_the_live_page_lists_interviews_in_progress_with_their_latest_turn(
        app, client, api, library, world):  # noqa: F811
    session = make_session(api, name="Live session")
    interview = started(app, api, session["id"])
    last = api.get(f"/interviews/{interview}").get_json()["turns"][-1]
    sign_in(client)
    body = page(client, "/dashboard/live")
    assert "Liv Live" in body and "Live session" in body
    assert "Cy Young" in body  # in progress in the world
    for name in ("Ada Lovelace", "Bob Marley", "Dee Dee", "Zed", "Yan"):
        assert name not in body, name
    assert str(escape(last["text"].split("\n")[0])) in body
    assert 'href="/dashboard/live"' in body and ">Refresh<" in body
    assert "dashboard/live.js" in body and 'type="module"' in body
    source = html.unescape(re.search(r'data-source="([^"]+)"', body).group(1))
    assert source == "/interviews?status=consent,in_progress,paused&limit=100"


def test_figures_of_an_interview_still_going_are_read_off_its_turns():
    from web.dashboard.conversations import _figures

    def turn(seq, role, text, minute, sentiment=None):
        return {"seq": seq, "role": role, "text": text, "sentiment": sentiment,
                "created_at": f"2026-11-30T10:{minute:02}:00+00:00"}

    going = {"analytics": None, "engagement": None, "turns": [
        turn(1, "system", "Shall we begin?", 0), turn(2, "participant", "accept", 1),
        turn(3, "interviewer", "What keeps you here?", 2),
        turn(4, "participant", "The people and the work", 5, 0.4),
        turn(5, "interviewer", "Tell me more about the people.", 9)]}
    figures = _figures(going)
    assert figures["so_far"] is True
    assert (figures["turns"], figures["answers"]) == (4, 1)
    assert figures["participant_words"] == 5 and figures["words_per_answer"] == 5.0
    assert figures["duration"] == 4 * 60  # first answer after a question → the last turn
