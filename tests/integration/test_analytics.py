"""Analytics (issue 13, items 1 and 2): each ended interview's figures, kept when it ends and
shown in GET /interviews/<id>; a session's aggregates in GET /sessions/<id>/analytics, with
its anonymity rule (nothing below the threshold, small groups merged with the next-smallest).

Interviews run through the real engine over the web channel and the worker. Times come from
the clock of the test, never from waiting: after an interview ends, its turns are given
known timestamps and its figures computed again (as `parley analytics backfill --recompute`
does), so every duration and response time below is exact."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from core import analytics, db
from core.models import Interview, InterviewAnalytics, TopicAnalytics, Turn
from tests.support.chat import WebChat
from tests.support.factories import invite, make_session, token_of
from web import cli

RICH = ("I like the team and the work is interesting but the deadlines keep moving and "
        "nobody explains why")  # 18 words, VADER +0.3818
NEGATIVE = ("I am exhausted, the constant overtime is terrible and I hate the chaos in this "
            "team")  # VADER -0.9186
NEUTRAL = "I come in at nine, work through the list of tickets, and then I go home at five"
ASKED_BACK = "Will my manager see this?"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOPICS = ("what-keeps-you", "recognition", "what-to-change")  # high, medium, low


def ok(resp, status: int = 200) -> dict:
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


@pytest.fixture
def stay(api, library) -> dict:
    """A named Stay Interview cut to three topics with a budget of six questions."""
    session = make_session(api, settings={"question_budget": 6})
    keep = [t for t in session["topics"] if t["key"] in TOPICS]
    return ok(api.patch(f"/sessions/{session['id']}", {"topics": keep}))


def chat_for(api, client, session_id: int, email: str, **person) -> WebChat:
    link = ok(api.post(f"/sessions/{session_id}/invites", {
        "person": {"name": email.split("@")[0].title(), "email": email, **person},
        "channel": "web"}), 201)["link"]
    return WebChat(client, token_of(link)).open()


def answer_all(chat: WebChat, text: str) -> WebChat:
    chat.choose("accept")
    for _ in range(30):
        if chat.status != "in_progress":
            break
        chat.say(text)
    assert chat.status == "completed"
    return chat


def recompute(session_id: int) -> None:
    with db.session_scope() as s:
        analytics.backfill(s, session_id=session_id, recompute=True)


def retime(interview_id: int, *, at: dict[int, float] | None = None, end: float,
           paused: float = 0.0, channel: str | None = None) -> None:
    """Give an ended interview known times: turn ``seq`` at T0 + ``at[seq]`` seconds (T0
    when not listed), the end at T0 + ``end``; ``channel``: where its answers came from."""
    with db.session_scope() as s:
        interview = s.get(Interview, interview_id)
        for turn in s.scalars(select(Turn).where(Turn.interview_id == interview_id)):
            turn.created_at = T0 + timedelta(seconds=(at or {}).get(turn.seq, 0))
            if channel and turn.role == "participant":
                turn.channel = channel
        interview.ended_at = T0 + timedelta(seconds=end)
        interview.paused_seconds = paused


def interview_id_of(session_id: int, email: str) -> int:
    from core.models import Person

    with db.session_scope() as s:
        return s.scalar(select(Interview.id).join(Person, Person.id == Interview.person_id)
                        .where(Interview.session_id == session_id, Person.email == email,
                               Interview.state != "restarted"))


# ---- one interview -------------------------------------------------------------------------

def test_an_interviews_figures_from_a_script_with_known_times(api, client, stay):
    chat = chat_for(api, client, stay["id"], "ada@example.com")
    chat.choose("accept")
    chat.say(RICH)                      # what-keeps-you: rich, no probe
    chat.say("ok")                      # recognition: thin, so a probe
    chat.choose("pause")
    interview_id = chat.interview
    with db.session_scope() as s:      # the pause began five minutes ago
        interview = s.get(Interview, interview_id)
        interview.paused_at -= timedelta(seconds=300)
    chat.choose("resume")
    with db.session_scope() as s:      # the engine counted the pause when it ended
        assert s.get(Interview, interview_id).paused_seconds >= 300
    chat.say(RICH)                      # the probe's answer, after the repeat: rich
    chat.say(ASKED_BACK)                # what-to-change: a question to us
    chat.say(RICH)                      # the wrap-up
    assert chat.status == "completed"

    detail = ok(api.get(f"/interviews/{interview_id}"))
    turns = detail["turns"]
    assert [t["seq"] for t in turns] == list(range(1, 18))
    with db.session_scope() as s:      # each turn's id is the stored turn's
        ids = dict(s.execute(select(Turn.seq, Turn.id)
                             .where(Turn.interview_id == interview_id)).all())
    assert {t["seq"]: t["id"] for t in turns} == ids
    # 1 consent, 2 accept, 3 ask, 4 answer, 5 ask, 6 "ok", 7 probe, 8 Pause, 9 paused,
    # 10 Resume, 11 repeat, 12 answer, 13 ask, 14 asked back, 15 wrap-up, 16 answer, 17 close
    assert [t["role"][0] for t in turns] == list("spipipipspipipipi")
    assert detail["analytics"]["status"] == "completed"  # figured as it ended

    # Known times: question → answer 60, 30, 120, 45 and 90 s; paused from 116 s to 416 s.
    retime(interview_id, end=679, paused=300, at={
        1: 0, 2: 10, 3: 12, 4: 72, 5: 74, 6: 104, 7: 106, 8: 116, 9: 117, 10: 417, 11: 418,
        12: 538, 13: 540, 14: 585, 15: 587, 16: 677, 17: 679})
    assert cli.main(["analytics", "backfill", "--session", str(stay["id"]),
                     "--recompute"]) == 0

    figures = ok(api.get(f"/interviews/{interview_id}"))["analytics"]
    interviewer_words = sum(len(re.findall(r"\w+", t["text"])) for t in turns
                            if t["role"] == "interviewer")
    assert {k: v for k, v in figures.items() if k not in ("topics", "computed_at")} == {
        "status": "completed",
        "duration_seconds": 307.0,  # 679 − 72 (first answer) − 300 paused
        "paused_seconds": 300.0,
        "turns": 15, "answers": 5,  # typed answers; buttons (accept, pause, resume) are not
        "interviewer_words": interviewer_words,
        "participant_words": 60,  # 18 + 1 + 18 + 5 + 18
        "words_per_answer": 12.0,
        "response_seconds_median": 60.0,  # of 60, 30, 120, 45, 90
        "sentiment": detail["sentiment"], "engagement": detail["engagement"],
        "drop_off_topic": None,
        "questions_asked_back": 1,
        "probed_topics": 1, "probed_topics_rich": 1,
        "channel": "web", "channels": ["web"],
    }
    assert detail["open_questions"] == [ASKED_BACK]
    assert figures["topics"] == [
        {"topic": "what-keeps-you", "status": "done", "reached": True, "answers": 1,
         "words": 18, "sentiment": 0.3818, "probed": False, "answered_richly": False},
        {"topic": "recognition", "status": "done", "reached": True, "answers": 2,
         "words": 19, "sentiment": round((0.2960 + 0.3818) / 2, 4), "probed": True,
         "answered_richly": True},
        {"topic": "what-to-change", "status": "done", "reached": True, "answers": 1,
         "words": 5, "sentiment": 0.0, "probed": False, "answered_richly": False},
    ]


def test_an_interview_stopped_half_way_keeps_its_drop_off_topic(api, client, stay):
    chat = chat_for(api, client, stay["id"], "bo@example.com")
    chat.choose("accept").say(RICH)
    chat.choose("stop")
    assert chat.status == "abandoned"
    figures = ok(api.get(f"/interviews/{chat.interview}"))["analytics"]
    assert figures["status"] == "abandoned" and figures["drop_off_topic"] == "recognition"
    assert [(t["topic"], t["reached"], t["status"]) for t in figures["topics"]] == [
        ("what-keeps-you", True, "done"), ("recognition", True, "open"),
        ("what-to-change", False, "pending")]


def test_an_interview_still_running_has_no_figures(api, client, stay):
    chat = chat_for(api, client, stay["id"], "cy@example.com")
    chat.choose("accept").say(RICH)
    assert ok(api.get(f"/interviews/{chat.interview}"))["analytics"] is None
    listed = ok(api.get(f"/sessions/{stay['id']}/interviews"))["interviews"]
    assert listed[0]["analytics"] is None


def test_figures_missing_from_before_migration_0016_are_made_on_first_read(
        api, client, stay, capsys):
    done = answer_all(chat_for(api, client, stay["id"], "di@example.com"), RICH)
    other = answer_all(chat_for(api, client, stay["id"], "ed@example.com"), RICH)
    with db.session_scope() as s:  # as an interview that ended before the tables existed
        for table in (InterviewAnalytics, TopicAnalytics):
            s.execute(delete(table))
    figures = ok(api.get(f"/interviews/{done.interview}"))["analytics"]
    assert figures["answers"] == 4 and figures["participant_words"] == 72
    assert ok(api.get(f"/sessions/{stay['id']}/interviews"))["interviews"][0]["analytics"]
    with db.session_scope() as s:
        assert s.get(InterviewAnalytics, other.interview) is not None  # the list made it
        s.execute(delete(InterviewAnalytics).where(
            InterviewAnalytics.interview_id == other.interview))
    assert cli.main(["analytics", "backfill"]) == 0
    assert capsys.readouterr().out.strip() == "1 interview(s) figured"
    with db.session_scope() as s:
        assert s.get(InterviewAnalytics, other.interview).answers == 4


# ---- a session -----------------------------------------------------------------------------

def test_session_aggregates_on_known_figures(api, client, stay):
    sid = stay["id"]
    answer_all(chat_for(api, client, sid, "pos@example.com"), RICH)
    answer_all(chat_for(api, client, sid, "neg@example.com"), NEGATIVE)
    answer_all(chat_for(api, client, sid, "neu@example.com"), NEUTRAL)
    stopped = chat_for(api, client, sid, "stop@example.com")
    stopped.choose("accept").say(RICH)
    stopped.choose("stop")                         # left at recognition
    chat_for(api, client, sid, "no@example.com").choose("decline")
    invite(api, sid, email="never@example.com")    # invited, never opened
    durations = {"pos@example.com": 300, "neg@example.com": 600, "neu@example.com": 1200}
    for email, seconds in durations.items():
        # an answer on SMS makes "neu" an SMS interview; the rest stay on the web
        retime(interview_id_of(sid, email), end=seconds,
               channel="sms" if email.startswith("neu") else None)
    recompute(sid)

    report = ok(api.get(f"/sessions/{sid}/analytics"))
    assert report["anonymity"] == "named" and report["threshold"] is None
    overall = report["overall"]
    each = [ok(api.get(f"/interviews/{interview_id_of(sid, e)}"))["analytics"]
            for e in durations]
    assert {k: overall[k] for k in ("invited", "started", "completed", "abandoned",
                                    "declined", "completion_rate", "counted")} == {
        "invited": 6, "started": 4, "completed": 3, "abandoned": 1, "declined": 1,
        "completion_rate": 0.75, "counted": 3}
    assert overall["duration"] == {"average_seconds": 700.0, "median_seconds": 600.0}
    assert overall["sentiment"] == {
        "positive": 1, "neutral": 1, "negative": 1,
        "average": round(sum(e["sentiment"] for e in each) / 3, 4)}
    assert overall["engagement"] == round(sum(e["engagement"] for e in each) / 3, 1)
    words = sum(e["participant_words"] for e in each)
    answers = sum(e["answers"] for e in each)
    probed = sum(e["probed_topics"] for e in each)
    rich = sum(e["probed_topics_rich"] for e in each)
    assert probed > 0  # the strongly negative answers drew probes
    depth = min(words / answers / 60, 1)
    assert overall["quality"] == {
        "words_per_answer": round(words / answers, 1), "probed_topics": probed,
        "probed_topics_rich": rich, "rich_share": round(rich / probed, 3),
        "score": round(100 * (depth + rich / probed) / 2, 1)}
    assert overall["funnel"] == [
        {"topic": "what-keeps-you", "label": "What keeps you here", "reached": 4, "left": 0},
        {"topic": "recognition", "label": "Recognition", "reached": 4, "left": 1},
        {"topic": "what-to-change", "label": "What to change", "reached": 3, "left": 0}]

    channels = {c["channel"]: c for c in report["channels"]}
    assert set(channels) == {"web", "sms"} and not any(c["merged"] for c in channels.values())
    assert {k: channels["sms"][k] for k in ("invited", "started", "completed", "counted")} == {
        "invited": 1, "started": 1, "completed": 1, "counted": 1}
    assert channels["sms"]["duration"] == {"average_seconds": 1200.0, "median_seconds": 1200.0}
    assert channels["sms"]["sentiment"]["neutral"] == 1
    assert {k: channels["web"][k] for k in ("invited", "started", "completed", "abandoned")} == {
        "invited": 5, "started": 3, "completed": 2, "abandoned": 1}
    assert channels["web"]["duration"] == {"average_seconds": 450.0, "median_seconds": 450.0}
    assert [f["left"] for f in channels["web"]["funnel"]] == [0, 1, 0]
    assert "groups" not in report


def test_a_named_session_grouped_by_a_demographic_shows_every_group(api, client, stay):
    sid = stay["id"]
    for n, dept in enumerate(["Sales", "sales", "Legal"]):
        answer_all(chat_for(api, client, sid, f"p{n}@example.com",
                            demographics={"Department": dept}), RICH)
    answer_all(chat_for(api, client, sid, "nodept@example.com"), RICH)
    report = ok(api.get(f"/sessions/{sid}/analytics?group_by=department"))
    assert report["group_by"] == "department"
    assert [(g["group"], g["completed"], g["merged"]) for g in report["groups"]] == [
        ("Legal", 1, False), ("Sales", 2, False), ("Unknown", 1, False)]


@pytest.fixture
def pulse(api, library) -> dict:
    """An aggregated Engagement Pulse: threshold 3, two questions."""
    session = make_session(api, "engagement-pulse",
                           settings={"anonymity_threshold": 3, "question_budget": 2})
    assert session["anonymity"] == "aggregated"
    return session


def test_an_anonymous_session_below_its_threshold_says_how_many_are_needed(
        api, client, pulse):
    sid = pulse["id"]
    for n in range(2):
        answer_all(chat_for(api, client, sid, f"a{n}@example.com",
                            demographics={"Department": "Sales"}), RICH)
    chat_for(api, client, sid, "a2@example.com").choose("accept").say(NEGATIVE)
    for query in ("", "?group_by=Department"):
        report = ok(api.get(f"/sessions/{sid}/analytics{query}"))
        assert set(report) == {"session_id", "anonymity", "threshold", "group_by",
                               "completed", "needed", "withheld"}
        assert (report["completed"], report["needed"], report["threshold"]) == (2, 3, 3)
        assert report["withheld"]["reason"].startswith("2 of 3 needed")


def test_an_anonymous_session_merges_small_groups_with_the_next_smallest(
        api, client, pulse):
    sid = pulse["id"]
    people = [("Sales", 4), ("Engineering", 4), ("Ops", 1)]  # 9: three whole batches of 3
    n = 0
    for dept, count in people:
        for _ in range(count):
            answer_all(chat_for(api, client, sid, f"p{n}@example.com",
                                demographics={"Department": dept}), RICH)
            n += 1
    report = ok(api.get(f"/sessions/{sid}/analytics?group_by=Department"))
    assert report["overall"]["counted"] == 9 and "withheld" not in report
    # Ops (1) is under 3; alone in Other it could be had as total − the rest, so the
    # next-smallest group (Engineering, 4) is merged with it
    assert [(g["group"], g["counted"], g["merged"]) for g in report["groups"]] == [
        ("Sales", 4, False), ("Other", 5, True)]
    assert "Ops" not in str(report) and "Engineering" not in str(report)
    assert report["channels"] == [{"channel": "web", "merged": False,
                                   **report["overall"]}]
    # each released interview's figures in the list: durations, no channel nor time
    listed = ok(api.get(f"/sessions/{sid}/interviews"))["interviews"]
    assert len(listed) == 9
    for entry in listed:
        assert entry["analytics"]["answers"] >= 1
        assert entry["analytics"]["duration_seconds"] is not None
        assert not {"channel", "channels", "computed_at"} & set(entry["analytics"])
        assert "id" not in entry["turns"][0]


def test_a_completion_outside_a_whole_batch_is_not_counted_yet(api, client, pulse):
    sid = pulse["id"]
    for n in range(4):
        answer_all(chat_for(api, client, sid, f"b{n}@example.com"), RICH if n < 3 else NEGATIVE)
    report = ok(api.get(f"/sessions/{sid}/analytics"))
    overall = report["overall"]
    assert (overall["completed"], overall["counted"]) == (4, 3)
    # the fourth (the negative one, who just finished) is in no figure until 3 more finish
    assert overall["sentiment"]["negative"] == 0 and overall["sentiment"]["positive"] == 3
    assert "1 more" in report["withheld"]["reason"]


def cell(started: int, counted: int) -> analytics.Cell:
    return analytics.Cell(invited=started, started=started, completed=counted,
                          counted=counted)


@pytest.mark.parametrize("sizes, shown, other", [
    ({"a": 10, "b": 8, "c": 6}, ["a", "b", "c"], None),              # nothing small
    ({"a": 10, "b": 8, "c": 2}, ["a"], 10),                           # c + next-smallest b
    ({"a": 10, "b": 3, "c": 3}, ["a"], 6),                            # two small: enough
    ({"a": 10, "b": 1, "c": 1, "d": 6}, ["a"], 8),                    # 2 < 5: d joins too
    ({"a": 3, "b": 3}, [], 6),                                        # every group merged
])
def test_protect_hides_small_groups_and_the_next_smallest(sizes, shown, other):
    groups = {k: cell(n, n) for k, n in sizes.items()}
    out = analytics.protect(groups, 5, aggregated=True)
    assert [name for name, _, merged in out if not merged] == shown
    merged = [c.counted for name, c, m in out if m]
    assert merged == ([other] if other is not None else [])
    assert analytics.protect(groups, 5, aggregated=False) == [
        (k, groups[k], False) for k in sorted(groups)]


def test_protect_shows_a_group_nobody_has_started_in():
    groups = {"a": cell(9, 9), "b": analytics.Cell(invited=2)}
    assert [(n, m) for n, _, m in analytics.protect(groups, 5, aggregated=True)] == [
        ("a", False), ("b", False)]


def test_bad_group_by_is_422_and_an_unknown_session_404(api, stay):
    for query in ("group_by=Nonexistent", "group_by=", "group_by=%20%20", f"group_by={'x' * 101}"):
        resp = api.get(f"/sessions/{stay['id']}/analytics?{query}")
        assert resp.status_code == 422, (query, resp.get_json())
        assert "group_by" in resp.get_json()["error"]["message"]
    assert api.get("/sessions/987654/analytics").status_code == 404


def test_a_figured_interview_is_figured_once_when_it_ends(api, client, stay):
    """The closing message is counted: the figures are made as the transaction commits."""
    chat = answer_all(chat_for(api, client, stay["id"], "fi@example.com"), RICH)
    with db.session_scope() as s:
        row = s.get(InterviewAnalytics, chat.interview)
        turns = s.scalar(select(Turn.seq).where(Turn.interview_id == chat.interview)
                         .order_by(Turn.seq.desc()).limit(1))
        s.execute(update(InterviewAnalytics).values(computed_at=T0))
    assert row.turns == turns - 1  # every turn but the consent (a system turn)
    detail = ok(api.get(f"/interviews/{chat.interview}"))
    assert detail["analytics"]["computed_at"] == T0.isoformat()  # kept, not figured again
