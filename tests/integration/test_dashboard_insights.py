"""The dashboard's Insights tab and 1-on-1 pages, through the Flask client as each HR role:
what each role sees (an analyst: aggregated sessions only, never a named person), the
anonymity rule as the pages show it, escaping, and the forms that change things. Plus the
analytics API's sentiment over time that the tab charts."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import db, metrics
from core.models import Insight, Interview, OneOnOne, PairActivity, utcnow
from tests.integration.test_dashboard import sign_in
from tests.integration.test_insights import bank, run
from tests.support.factories import completed_interviews, make_session

SCRIPT = "<script>alert('quoted')</script>"
ORG = """Employee ID,Full Name,Work Email,Time Zone,Manager,Country,Department
E1,Hannah Weber,hannah@northwind.example,Europe/Berlin,,Germany,People Team
E2,Maria Schmidt,maria@northwind.example,Europe/Berlin,,Germany,Engineering
E3,Jonas Becker,jonas@northwind.example,Europe/Berlin,E2,Germany,Engineering
E4,Lea Fischer,lea@northwind.example,Europe/Berlin,E2,Germany,Engineering
E5,Sam Carter,sam@northwind.example,America/New_York,,United States,Sales
E6,Alex Rivera,alex@northwind.example,America/New_York,E5,United States,Sales
"""


def seeded(api, slug: str, n: int, *, start: datetime | None = None, days: int = 1,
           **extra) -> int:
    """A session of ``slug`` with ``n`` completed interviews from the answer bank, ended
    over ``days`` days from ``start``, scored as the engine scores them; every third
    interview ran out of question budget before its last topic (dropped), and every fourth
    before the last two, so the funnel narrows."""
    session = make_session(api, slug, **extra)
    people, _ = bank(n)
    start = start or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ids = []
    for day in range(days):
        ids += completed_interviews(session["id"], people[day::days],
                                    start=start + timedelta(days=day))
    with db.session_scope() as s:
        for k, interview in enumerate(s.scalars(select(Interview).where(
                Interview.id.in_(ids)).order_by(Interview.id))):
            topics = list(dict.fromkeys(t.topic for t in interview.turns if t.topic))
            cut = len(topics) - (k % 3 == 2) - (k % 4 == 3)
            interview.coverage = {**(interview.coverage or {}), "order": topics, "topics": {
                key: {"status": "done", "questions": 1, "probes": 0} if i < cut else
                {"status": "dropped", "questions": 0, "probes": 0}
                for i, key in enumerate(topics)}}
            metrics.score(interview)
    return session["id"]


def org(api, *more: str) -> None:
    """The org above (three manager–report pairs), and ``more`` CSV rows."""
    data = "\n".join([ORG.rstrip("\n"), *more]).encode()
    resp = api.client.post("/api/v1/directory/import", headers=api.headers,
                           data={"file": (io.BytesIO(data), "org.csv")},
                           content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()


def activity(days: list[int]) -> None:
    """Something done in each manager–report pair's thread ``days`` ago (one per entry)."""
    with db.session_scope() as s:
        pairs = list(s.scalars(select(OneOnOne.id).where(OneOnOne.kind == "reporting")))
        for k, ago in enumerate(days):
            s.add(PairActivity(one_on_one_id=pairs[k % len(pairs)], kind="message",
                               at=utcnow() - timedelta(days=ago, hours=1)))


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def named(api, library):
    session_id = seeded(api, "stay-interview", 12)
    done = run(api, session_id)
    return session_id, done


@pytest.fixture
def anonymous(api, library):
    session_id = seeded(api, "engagement-pulse", 10)
    done = run(api, session_id)
    return session_id, done


# ---- the Insights tab -------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_a_named_sessions_quotes_open_their_turn_in_context(client, named, role):
    session_id, done = named
    sign_in(client, role)
    page = html(client.get(f"/dashboard/sessions/{session_id}/insights"))
    assert "Executive summary" in page and done["result"]["summary"]["health"] in page
    assert "Completion funnel by topic" in page and "Sentiment of completed interviews" in page
    quote = done["result"]["patterns"][0]["quotes"][0]
    assert (f'href="/dashboard/conversations/{quote["interview_id"]}#turn-'
            f'{quote["turn_id"]}"') in page
    assert quote["person"]["name"] in page
    assert "Missing knowledge" in page and "By topic" in page
    assert ("Assign as a 1-on-1 topic" in page) is (role == "owner")
    assert ("Refresh insights" in page) is (role == "owner")


def test_an_analyst_never_sees_a_named_sessions_insights(client, named):
    session_id, done = named
    sign_in(client, "analyst")
    response = client.get(f"/dashboard/sessions/{session_id}/insights")
    page = html(response)
    assert response.status_code == 200 and "for HR roles" in page
    names = {q["person"]["name"] for p in done["result"]["patterns"] for q in p["quotes"]}
    assert names and not any(name in page for name in names)
    assert "/dashboard/conversations/" not in page and "Executive summary" not in page


@pytest.mark.parametrize("role", ["owner", "analyst"])
def test_an_aggregated_sessions_quotes_carry_no_link_and_no_identity(client, anonymous,
                                                                      role):
    session_id, done = anonymous
    sign_in(client, role)
    page = html(client.get(f"/dashboard/sessions/{session_id}/insights"))
    assert "Executive summary" in page and 'class="quote"' in page
    assert "/dashboard/conversations/" not in page and "Read in context" not in page
    assert "Person " not in page  # the bank's names ("Person 3 Sample")
    assert "Sentiment of completed interviews" in page
    assert "a group of 5 interviews in the order they completed" in page


def test_an_aggregated_session_under_its_threshold_needs_more_answers(api, library,
                                                                      client):
    session_id = seeded(api, "engagement-pulse", 3)
    sign_in(client)
    page = html(client.get(f"/dashboard/sessions/{session_id}/insights"))
    assert "Needs 2 more answers" in page
    assert 'class="quote"' not in page and "Run insights" not in page
    assert "Completion funnel" not in page  # no figures either


def test_a_member_sees_only_their_own_sessions_insights(client, named):
    session_id, _ = named
    sign_in(client, "member")
    response = client.get(f"/dashboard/sessions/{session_id}/insights")
    assert response.status_code == 404


def test_a_quote_with_markup_is_text(client, named):
    session_id, done = named
    with db.session_scope() as s:
        insight = s.get(Insight, done["id"])
        result = dict(insight.result)
        pattern = dict(result["patterns"][0])
        pattern["quotes"] = [{**pattern["quotes"][0], "text": f"I said {SCRIPT} once"}]
        result["patterns"] = [pattern, *result["patterns"][1:]]
        insight.result = result
    sign_in(client)
    page = html(client.get(f"/dashboard/sessions/{session_id}/insights"))
    assert SCRIPT not in page
    assert "I said &lt;script&gt;alert(&#39;quoted&#39;)&lt;/script&gt; once" in page


def test_run_insights_shows_the_running_state_then_the_result(api, library, client, work):
    session_id = seeded(api, "stay-interview", 6)
    token = sign_in(client)
    page = html(client.get(f"/dashboard/sessions/{session_id}/insights"))
    assert "No insights yet" in page and "Run insights" in page
    response = client.post(f"/dashboard/sessions/{session_id}/insights", data={"csrf": token})
    assert response.status_code == 302 and "?run=" in response.headers["Location"]
    page = html(client.get(response.headers["Location"]))
    assert "Computing insights" in page and 'data-poll="/insights/' in page
    assert "insights-poll.js" in page
    other = seeded(api, "stay-interview", 2)  # another session's page ignores this run
    run_id = response.headers["Location"].rsplit("=", 1)[1]
    page = html(client.get(f"/dashboard/sessions/{other}/insights?run={run_id}"))
    assert "Computing insights" not in page and "Run insights" in page
    for odd in ("abc", "99999999999999999999", "-1"):
        assert client.get(f"/dashboard/sessions/{other}/insights?run={odd}").status_code == 200
    work()
    page = html(client.get(response.headers["Location"]))
    assert "Computing insights" not in page and "Executive summary" in page


def test_assign_from_a_pattern_creates_the_topic(api, client, named):
    session_id, done = named
    org(api)
    token = sign_in(client)
    pattern = done["result"]["patterns"][0]
    response = client.post(
        f"/dashboard/insights/{done['id']}/patterns/{pattern['id']}/assign",
        data={"csrf": token, "title": "Talk about workload", "note": "Ask how it goes",
              "audience": "everyone"})
    assert response.status_code == 302, html(response)
    topic_id = int(re.search(r"/one-on-ones/topics/(\d+)$", response.headers["Location"])[1])
    topic = api.get(f"/assigned-topics/{topic_id}").get_json()
    assert topic["title"] == "Talk about workload" and topic["state"] == "draft"
    page = html(client.get(response.headers["Location"]))
    assert "Talk about workload" in page and "Every manager–report pair" in page


def test_assigning_a_pattern_the_api_refuses_says_why(client, named):
    session_id, done = named
    token = sign_in(client)
    response = client.post(f"/dashboard/insights/{done['id']}/patterns/nope/assign",
                           data={"csrf": token, "title": "x"})
    assert response.status_code == 422 and "no pattern" in html(response)
    pattern = done["result"]["patterns"][0]
    refused = client.post(  # a title longer than the API takes: the form comes back as typed
        f"/dashboard/insights/{done['id']}/patterns/{pattern['id']}/assign",
        data={"csrf": token, "title": "T" * 201, "note": "Typed, then refused",
              "audience": "everyone"})
    assert refused.status_code == 422
    page = html(refused)
    assert 'role="alert"' in page and "Typed, then refused</textarea>" in page
    assert '<details class="assign" open>' in page
    assert 'value="everyone" checked' in page


# ---- assigned topics --------------------------------------------------------------------------

def test_assigned_topic_create_edit_and_withdraw_through_the_forms(api, library, client):
    org(api)
    token = sign_in(client)
    form = html(client.get("/dashboard/one-on-ones/topics/new"))
    assert 'name="rule_field"' in form and "Department" in form
    assert 'href="/dashboard/one-on-ones/topics/new"' not in form  # no button to itself
    rule = {"csrf": token, "title": "Career growth", "note": "Ask about the next step",
            "annotation": "HR asks everyone", "rule_match": "all",
            "rule_field": ["Country", ""], "rule_op": ["equals", "equals"],
            "rule_value": ["Germany", ""], "when": "draft"}
    preview = client.post("/dashboard/one-on-ones/topics/new", data={**rule,
                                                                      "intent": "preview"})
    assert preview.status_code == 200 and "Reaches 2 pairs (1 manager)" in html(preview)
    created = client.post("/dashboard/one-on-ones/topics/new", data={**rule,
                                                                     "intent": "create"})
    assert created.status_code == 302, html(created)
    topic_id = int(created.headers["Location"].rsplit("/", 1)[1])
    topic = api.get(f"/assigned-topics/{topic_id}").get_json()
    assert topic["audience"] == {"match": "all", "conditions": [
        {"field": "Country", "op": "equals", "value": "Germany"}]}
    assert topic["state"] == "draft" and topic["annotation"] == "HR asks everyone"

    sent = client.post(f"/dashboard/one-on-ones/topics/{topic_id}/send", data={"csrf": token})
    assert sent.status_code == 302
    assert api.get(f"/assigned-topics/{topic_id}").get_json()["state"] != "draft"
    edited = client.post(f"/dashboard/one-on-ones/topics/{topic_id}/edit",
                         data={"csrf": token, "title": "Career growth, again",
                               "note": "Ask about the next step", "annotation": ""})
    assert edited.status_code == 302
    assert api.get(f"/assigned-topics/{topic_id}").get_json()["title"] == \
        "Career growth, again"
    refused = client.post(f"/dashboard/one-on-ones/topics/{topic_id}/edit",
                          data={"csrf": token, "title": "T" * 201,
                                "note": "A note typed, then refused", "annotation": ""})
    assert refused.status_code == 422  # the form as typed, under the API's reason
    assert "A note typed, then refused" in html(refused) and 'role="alert"' in html(refused)
    assert api.get(f"/assigned-topics/{topic_id}").get_json()["note"] == \
        "Ask about the next step"
    page = html(client.get(f"/dashboard/one-on-ones/topics/{topic_id}"))
    assert "data-confirm=" in page and "Withdraw" in page and "Progress over 2 pairs" in page
    listing = html(client.get("/dashboard/one-on-ones"))
    assert "Career growth, again" in listing and "Country is Germany" in listing

    client.post(f"/dashboard/one-on-ones/topics/{topic_id}/withdraw", data={"csrf": token})
    assert api.get(f"/assigned-topics/{topic_id}").get_json()["state"] == "withdrawn"
    page = html(client.get(f"/dashboard/one-on-ones/topics/{topic_id}"))
    assert "Save changes" not in page


def test_a_topic_the_api_refuses_keeps_the_form_and_says_why(api, library, client):
    token = sign_in(client)
    response = client.post("/dashboard/one-on-ones/topics/new", data={
        "csrf": token, "title": "Kept", "rule_match": "all", "rule_field": ["Start Date"],
        "rule_op": ["before"], "rule_value": ["someday"], "when": "draft"})
    assert response.status_code == 422
    page = html(response)
    assert 'value="Kept"' in page and "someday" in page and 'role="alert"' in page


def test_scheduling_and_sending_now(api, library, client):
    org(api)
    token = sign_in(client)
    base = {"csrf": token, "title": "Later", "rule_match": "all", "rule_field": [""],
            "rule_op": ["equals"], "rule_value": [""], "intent": "create"}
    later = client.post("/dashboard/one-on-ones/topics/new", data={
        **base, "when": "schedule", "send_at": "2099-01-05T09:30"})
    topic = api.get(f"/assigned-topics/{later.headers['Location'].rsplit('/', 1)[1]}")
    assert topic.get_json()["send_at"].startswith("2099-01-05T09:30")
    local = client.post("/dashboard/one-on-ones/topics/new", data={
        **base, "when": "schedule", "send_at": "2099-01-06T08:15", "local": "1"})
    topic = api.get(f"/assigned-topics/{local.headers['Location'].rsplit('/', 1)[1]}")
    assert topic.get_json()["local_time"] == "08:15"
    assert topic.get_json()["send_at"].startswith("2099-01-06")
    listing = html(client.get("/dashboard/one-on-ones"))
    assert "2099-01-06, 08:15 local" in listing and "2099-01-05 09:30 UTC" in listing
    now = client.post("/dashboard/one-on-ones/topics/new", data={**base, "title": "Now",
                                                                  "when": "now"})
    topic = api.get(f"/assigned-topics/{now.headers['Location'].rsplit('/', 1)[1]}")
    assert topic.get_json()["state"] in ("scheduled", "sending", "sent")


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_readers_change_nothing(api, library, client, role):
    org(api)
    sign_in(client, role)
    response = client.get("/dashboard/one-on-ones")
    if role == "analyst":  # no assigned topics: the usage report only
        assert response.status_code == 302 and response.headers["Location"].endswith(
            "/dashboard/one-on-ones/usage")
        return
    page = html(response)
    assert response.status_code == 200 and "New assigned topic" not in page


# ---- usage ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "analyst"])
def test_usage_renders_its_chart_with_a_table_alternative(api, library, client, role):
    org(api)
    activity([0, 0, 1, 3, 20])
    sign_in(client, role)
    page = html(client.get("/dashboard/one-on-ones/usage?days=7"))
    assert '<svg class="chart chart--wide"' in page and 'role="img"' in page
    assert "Active 1-on-1 pairs per day, last 7 days" in page
    assert "Show as a table" in page and page.count("<tr>") >= 8
    assert 'aria-current="true">7 days' in page
    assert "2 / 2</span>" in page  # managers with an active 1-on-1 this week
    assert "Jonas" not in page and "Lea Fischer" not in page  # reports are never named
    assert "last 30 days" in html(client.get("/dashboard/one-on-ones/usage?days=99"))


def test_usage_by_department_and_a_department_too_small_to_show(api, library, client):
    org(api, *(f"E{n},Engineer {n},e{n}@northwind.example,Europe/Berlin,E2,Germany,"
               "Engineering" for n in (7, 8, 9)))
    activity([0, 1, 2])
    sign_in(client)
    page = html(client.get("/dashboard/one-on-ones/usage?days=7&department=Engineering"))
    assert "Engineering, last 7 days" in page and '<option value="Engineering" selected' in page
    assert 'href="/dashboard/one-on-ones/usage?days=30&amp;department=Engineering"' in page
    page = html(client.get("/dashboard/one-on-ones/usage?department=Sales"))
    assert "Everyone, last 30 days" in page and "fewer than 5 people" in page
    assert '<option value="Sales"' not in page  # only departments shown on their own


# ---- the analytics API: sentiment over time ---------------------------------------------------

def test_sentiment_over_time_by_day_in_a_named_session(api, library):
    session_id = seeded(api, "stay-interview", 60,
                        start=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # 30 min apart
    body = api.get(f"/sessions/{session_id}/analytics").get_json()
    periods = body["sentiment_over_time"]
    assert [p["from"] for p in periods] == ["2026-11-02", "2026-11-03"]
    assert all(p["from"] == p["to"] for p in periods)
    assert sum(p["interviews"] for p in periods) == 60
    assert sum(p["positive"] + p["neutral"] + p["negative"] for p in periods) == 60
    overall = body["overall"]["sentiment"]
    for kind in ("positive", "neutral", "negative"):
        assert sum(p[kind] for p in periods) == overall[kind]


def test_sentiment_over_time_in_an_aggregated_session_is_whole_release_batches(api, library):
    session_id = seeded(api, "engagement-pulse", 23,
                        settings={"anonymity_threshold": 5})
    periods = api.get(f"/sessions/{session_id}/analytics").get_json()["sentiment_over_time"]
    assert [p["interviews"] for p in periods] == [5, 5, 5, 5]  # 20 released, 3 held back
    assert periods[0]["from"] == "2026-11-02"
    assert all(p["positive"] + p["neutral"] + p["negative"] <= 5 for p in periods)
    # one more completion releases nothing: the periods do not move (no subtraction)
    late = {**bank(1, seed=9)[0][0], "name": "Late Sample", "email": "late@bank.example"}
    completed_interviews(session_id, [late], start=datetime(2026, 11, 9, 9, 0, tzinfo=UTC))
    again = api.get(f"/sessions/{session_id}/analytics").get_json()["sentiment_over_time"]
    assert again == periods


def test_sentiment_over_time_for_an_analyst_of_a_named_session_is_batches(api, library):
    from tests.support.factories import user_client

    session_id = seeded(api, "stay-interview", 7)
    analyst = user_client(api, "analyst")
    body = analyst.get(f"/sessions/{session_id}/analytics").get_json()
    assert [p["interviews"] for p in body["sentiment_over_time"]] == [5]

