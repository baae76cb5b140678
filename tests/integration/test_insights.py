"""Insights as HR uses them: start a run, read what all the interviews say together, read an
older version, turn a pattern into an assigned topic — and the anonymity rule holding for
every word of it (no names, nothing under the threshold, quotes verbatim from their turns).

Interviews come from real web-chat conversations where the point is the whole path, and from
the seeded answer bank written straight to the database where the point is figures over
many interviews (bench/answer_bank.py: planted themes with known counts)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from bench.answer_bank import generate
from core import db, insights, privacy
from core.insights import gate
from core.insights.corpus import Corpus, Passage
from core.insights.schema import Pattern, Quote, Result, Summary
from core.insights.text import signals_in
from core.models import Insight, Turn
from tests.integration.test_anonymity import finish
from tests.support.factories import completed_interviews, make_session
from tests.support.worker import run_jobs

COLLEAGUES = [("Ximena Quarshie", "ximena.q@pulse.example"),
              ("Yusuf Okonkwo", "yusuf.o@pulse.example"),
              ("Wilhelmina Zapata", "wilhelmina.z@pulse.example")]
BURNOUT = ("Honestly I am exhausted, the on-call rotation means I work most weekends and "
           "Yusuf covers for me when it gets too much.")


def bank(n: int, seed: int = 7) -> tuple[list[dict], dict[str, int]]:
    data, truth = generate(n, seed)
    return [{"name": f"Person {i} Sample", "email": f"p{i}@bank.example",
             "demographics": {"Department": d.department}, "answers": d.answers}
            for i, d in enumerate(data)], truth


def run(api, session_id: int, **body) -> dict:
    resp = api.post(f"/sessions/{session_id}/insights", body or None)
    assert resp.status_code == 202, resp.get_json()
    started = resp.get_json()
    assert started["status"] == "queued" and resp.headers["Location"] == started["status_url"]
    run_jobs()
    done = api.get(started["status_url"].removeprefix("/api/v1")).get_json()
    assert done["status"] == "done", done
    return done


# ---- the whole path, from real conversations ------------------------------------------------

def test_an_anonymous_pulse_shows_nothing_until_the_threshold_then_no_names(api, library,
                                                                          client):
    session = make_session(api, "engagement-pulse",
                           settings={"anonymity_threshold": 3, "question_budget": 2})
    links = [api.post(f"/sessions/{session['id']}/invites",
                      {"person": {"name": n, "email": e}, "channel": "web"}).get_json()["link"]
             for n, e in COLLEAGUES]
    for link in links[:2]:
        finish(client, link, BURNOUT)
    withheld = api.get(f"/sessions/{session['id']}/insights")
    assert withheld.status_code == 200
    body = withheld.get_json()
    assert body["status"] == "withheld" and body["withheld"]["needed"] == 3
    assert body["withheld"]["completed"] == 2 and "1 more needed" in body["withheld"]["message"]
    assert "exhausted" not in withheld.get_data(as_text=True)  # no text at all
    refused = api.post(f"/sessions/{session['id']}/insights")
    assert refused.status_code == 409 and "3 interviews" in refused.get_json()["error"]["message"]

    finish(client, links[2], BURNOUT)
    done = run(api, session["id"])
    text = json.dumps(done)
    for name, email in COLLEAGUES:  # not the participants, not the colleague named
        for word in (*name.split(), email):
            assert word not in text, word
    result = done["result"]
    [burnout] = [p for p in result["patterns"] if p["id"] == "signal:burnout"]
    assert burnout["participants"] == 3 and burnout["quotes"]
    quote = burnout["quotes"][0]
    assert set(quote) == {"turn_ref", "text"}  # no interview, no person, no dating id
    listed = api.get(f"/sessions/{session['id']}/interviews").get_json()["interviews"]
    [turn] = [t for i in listed for t in i["turns"] if t.get("ref") == quote["turn_ref"]]
    assert turn["role"] == "participant"  # read in context, in the session's own list
    assert quote["text"] in turn["text"]  # the list shows it scrubbed as the quote is
    assert "Yusuf" not in json.dumps(listed)
    assert any("[name] covers for me" in q["text"] for p in result["patterns"]
               for q in p["quotes"])
    assert result["summary"]["health"].startswith("3 completed interviews")


def test_a_named_session_shows_who_said_what(api, library, client):
    session = make_session(api, "exit-interview", settings={"question_budget": 2})
    link = api.post(f"/sessions/{session['id']}/invites",
                    {"person": {"name": "Ada Lovelace", "email": "ada@example.com"},
                     "channel": "web"}).get_json()["link"]
    finish(client, link, BURNOUT)
    result = run(api, session["id"])["result"]
    quotes = [q for p in result["patterns"] for q in p["quotes"]]
    assert quotes and all(q["person"]["name"] == "Ada Lovelace" for q in quotes)
    assert "[name]" not in json.dumps(result)  # named: HR sees the words as said
    # the interview deleted: its words leave the insights too (a run changes only for this)
    assert api.delete(f"/interviews/{quotes[0]['interview_id']}").status_code == 204
    after = api.get(f"/sessions/{session['id']}/insights").get_json()["result"]
    assert "Ada Lovelace" not in json.dumps(after) and "exhausted" not in json.dumps(after)
    assert any("their interview was deleted" in w for w in after["withheld"])


# ---- figures over the answer bank -----------------------------------------------------------

@pytest.fixture
def stay(api, library):
    session = make_session(api, "stay-interview")
    interviews, truth = bank(120)
    completed_interviews(session["id"], interviews)
    return session["id"], truth


def test_planted_themes_are_found_with_their_counts(api, stay):
    session_id, truth = stay
    result = run(api, session_id)["result"]
    found = {p["id"]: p for p in result["patterns"]}
    for signal in ("burnout", "pay_recognition", "flight_risk"):
        assert found[f"signal:{signal}"]["participants"] == truth[signal], signal
    themes = {t for p in result["patterns"] if p["kind"] == "discovered" for t in p["terms"]}
    assert {"parking", "documentation"} <= themes  # in no lexicon: found in the data
    parking = next(p for p in result["patterns"] if "parking" in p["terms"])
    assert abs(parking["participants"] - truth["parking"]) <= 0.2 * truth["parking"]
    # "I am not looking for another job" is not flight risk
    flight = found["signal:flight_risk"]
    assert all("not looking" not in q["text"] for q in flight["quotes"])
    # per topic, in the session's order, with the patterns inside each
    topics = [t["topic"] for t in result["topics"]]
    assert topics[0] == "what-keeps-you" and "workload-wellbeing" in topics
    workload = next(t for t in result["topics"] if t["topic"] == "workload-wellbeing")
    assert any(s["pattern_id"] == "signal:burnout" for s in workload["sub_themes"])
    assert workload["quotes"] and workload["summary"].startswith("120 people answered")
    # missing knowledge, grouped
    questions = {q["question"]: q["participants"] for q in result["missing_knowledge"]}
    assert any("bonus scheme" in q for q in questions)
    # the summary: health, 3–5 key quotes, actions tied to patterns
    summary = result["summary"]
    assert 3 <= len(summary["key_quotes"]) <= 5
    assert all(a["pattern_id"] or a["topic"] for a in summary["actions"])
    assert sum(summary["sentiment_distribution"].values()) == 120
    # every quote is verbatim in the turn it names
    quotes = [q for p in result["patterns"] for q in p["quotes"]] + summary["key_quotes"]
    with db.session_scope() as s:
        for q in quotes:
            assert q["text"] in s.get(Turn, q["turn_id"]).redacted_text


def test_each_run_is_a_version_and_newer_interviews_are_counted(api, stay):
    session_id, _ = stay
    first = run(api, session_id)
    assert (first["version"], first["interviews"], first["newer_interviews"]) == (1, 120, 0)
    more, _ = bank(25, seed=8)
    for spec in more:
        spec["email"] = "new-" + spec["email"]
    completed_interviews(session_id, more)
    latest = api.get(f"/sessions/{session_id}/insights").get_json()
    assert latest["version"] == 1 and latest["newer_interviews"] == 25
    assert insights.refresh_due(after=20)  # the scheduler's job starts the next run
    run_jobs()
    second = api.get(f"/sessions/{session_id}/insights").get_json()
    assert (second["version"], second["interviews"]) == (2, 145)
    old = api.get(f"/sessions/{session_id}/insights?version=1").get_json()
    assert old["interviews"] == 120 and old["result"] == first["result"]  # immutable
    assert api.get(f"/sessions/{session_id}/insights?version=9").status_code == 404
    assert api.get(f"/sessions/{session_id}/insights?version=x").status_code == 400


def test_a_failed_run_is_kept_failed_and_visible(api, stay):
    session_id, _ = stay
    started = api.post(f"/sessions/{session_id}/insights").get_json()
    with db.session_scope() as s:  # an engine this version does not have
        s.execute(update(Insight).where(Insight.id == started["id"]).values(engine="gone"))
    run_jobs()
    status = api.get(started["status_url"].removeprefix("/api/v1")).get_json()
    assert status["status"] == "failed" and "gone" in status["error"]
    assert run(api, session_id)["version"] == 2  # asking again works


def test_a_pattern_becomes_an_assigned_topic_for_its_groups_managers(api, stay):
    session_id, _ = stay
    done = run(api, session_id)
    resp = api.post(f"/insights/{done['id']}/patterns/signal:burnout/assign",
                    {"title": "Workload check-in", "note": "How is on-call for you?"})
    assert resp.status_code == 201, resp.get_json()
    topic = resp.get_json()
    [condition] = topic["audience"]["conditions"]
    assert condition["field"] == "Department" and condition["op"] == "in"
    burnout = next(p for p in done["result"]["patterns"] if p["id"] == "signal:burnout")
    assert sorted(condition["value"]) == sorted(
        g["value"] for g in burnout["groups"] if g["participants"] >= 5
        and g["value"] != "Other")
    assert topic["state"] == "draft" and topic["pattern"]["id"] == "signal:burnout"
    missing = api.post(f"/insights/{done['id']}/patterns/nope/assign", {"title": "x"})
    assert missing.status_code == 404


# ---- the anonymity gate, on any engine's output ---------------------------------------------

def corpus(**extra) -> Corpus:
    passages = [Passage(turn_id=i, interview_id=i, topic="t",
                        text=f"The on-call load is heavy for team {i}.") for i in range(1, 7)]
    return Corpus(session_id=1, anonymity="aggregated", threshold=5, topics=[("t", "T")],
                  interviews=list(range(1, 7)), passages=passages, **extra)


def test_the_gate_drops_invented_quotes_small_themes_and_names(app):
    c = corpus()
    result = Result(engine="llm", interviews=6, summary=Summary(
        health="Morale is low, says Ada; Tiny matters too.", key_quotes=[
            Quote(turn_id=1, text="The on-call load is heavy"),  # verbatim: kept
            Quote(turn_id=2, text="The on-call load is unbearable"),  # invented: dropped
            Quote(turn_id=99, text="The on-call load is heavy"),  # no such turn: dropped
        ]), patterns=[
            Pattern(id="a", label="On-call, says Ada", kind="discovered", participants=6,
                    share=1.0,
                    quotes=[Quote(turn_id=3, text="heavy for team 3", interview_id=3,
                                  person={"id": 3, "name": "Ada"}),
                            Quote(turn_id=1, text="The on-call load is heavy"),
                            Quote(turn_id=2, text="The on-call load is unbearable")]),
            Pattern(id="b", label="Tiny", kind="discovered", participants=2, share=0.3),
        ])
    out = gate.apply(result, c, lambda text: text.replace("Ada", "[name]"))
    secret = app.config["SETTINGS"].secret_key
    assert [q.turn_ref for q in out.summary.key_quotes] == [privacy.turn_ref(secret, 1)]
    assert [p.id for p in out.patterns] == ["a"]
    assert out.patterns[0].quotes[0].model_dump() == {
        "turn_ref": privacy.turn_ref(secret, 3), "text": "heavy for team 3"}  # no person
    assert "Tiny" not in out.summary.health  # it named a withheld theme: written again
    assert out.summary.health.startswith("6 completed interviews")
    assert out.patterns[0].label == "On-call, says [name]"
    assert any("fewer than 5" in w for w in out.withheld)
    assert [q.text for q in out.patterns[0].quotes] == ["heavy for team 3",
                                                        "The on-call load is heavy"]
    assert any("not found verbatim" in f for f in out.fallbacks)  # the invented ones


def test_nothing_withheld_is_named_in_the_summary_or_a_topic(app):
    """One person of five speaks of a recruiter: no word of it anywhere, summary included."""
    from core.insights import offline

    said = ["I want to grow into a lead role and learn more about architecture here.",
            "Growth matters to me; the career path here is clear enough for now."]
    secret = "Honestly a recruiter has been calling me about another job offer."
    passages = [Passage(turn_id=i * 10 + k, interview_id=i, topic="t", text=text,
                        sentiment=0.3)
                for i in range(1, 6) for k, text in enumerate(said + ([secret] if i == 1
                                                                       else []))]
    c = Corpus(session_id=1, anonymity="aggregated", threshold=5, topics=[("t", "Growth")],
               interviews=list(range(1, 6)), passages=passages)
    out = gate.apply(offline.analyse(c), c, None)
    text = json.dumps(out.model_dump(mode="json"))
    assert "recruiter" not in text and "Flight risk" not in text
    assert any("fewer than 5" in w for w in out.withheld)
    assert "Growth and career path (5)" in out.summary.health


def test_group_slices_under_the_threshold_are_shown_only_together_with_the_next_smallest():
    from core.insights.schema import Group

    def shown(*counts):
        return [(g.value, g.participants) for g in gate.slices(
            [Group(value=f"g{i}", participants=c) for i, c in enumerate(counts)], 5)]

    assert shown(9, 7, 6) == [("g0", 9), ("g1", 7), ("g2", 6)]
    assert shown(9, 7, 3, 2) == [("g0", 9), ("g1", 7), ("Other", 5)]  # merged
    assert shown(9, 7, 3) == [("g0", 9), ("Other", 10)]  # one small: the next-smallest too
    assert shown(9, 2, 1) == [("Other", 12)]  # still too few: until it is enough
    assert shown(3, 1) == [("Other", 4)]  # the pattern's own total, nothing more


def test_names_are_scrubbed_however_they_are_written():
    scrub = privacy.NameScrubber(["Maria Schmidt", "Sean McDonald", "Łukasz Nowak",
                                  "Mark Brown", "Anne-Marie Roux", "Seán O'Brien"])
    cases = {
        "I told maria about it.": "I told [name] about it.",
        "MARIA is great.": "[name] is great.",
        "Sean McDonald helped.": "[name] [name] helped.",
        "Łukasz is my lead.": "[name] is my lead.",
        "Mark told me he is leaving.": "[name] told me he is leaving.",
        "My lead (Mark) is great.": "My lead ([name]) is great.",
        "ping @maria.schmidt now": "ping [name] now",
        "thanks <@U0123ABC>": "thanks [name]",
        "Anne-Marie's idea, and O'Brien's.": "[name]'s idea, and [name]'s.",
        "I will mark it as done.": "I will mark it as done.",  # words, not names
    }
    for said, shown in cases.items():
        assert scrub(said) == shown, said


def test_negated_signals_do_not_count():
    assert signals_in("I have been looking for a new job since March.") == {"flight_risk"}
    assert signals_in("I am not looking for another job right now.") == set()
    assert signals_in("I have no plans to leave the company.") == set()
    assert signals_in("I don't feel burned out, but the workload is heavy.") == {"burnout"}
    assert signals_in("I never feel exhausted.") == set()
