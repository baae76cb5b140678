"""The LLM insights engine through a loopback OpenAI-compatible server: HR starts a run, the
real worker computes it, the stub answers the map, reduce and summary prompts. Parley counts
from the passages the model cites, keeps only quotes verbatim in their turn, scrubs names a
model writes, never gives the model an identity, keeps its prompts bounded, and hands any
step that fails to the offline engine."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import update

from core import db
from core.config import load_settings
from core.insights import llm
from core.insights.corpus import Corpus, Passage
from core.models import Session, Turn
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_insights import bank, run
from tests.support.factories import ApiClient, completed_interviews, make_session
from tests.support.openai_stub import InsightsStub, Reply, completion, data_of, step_of

INVENTED = "I will take the whole team with me when I go."
COLLEAGUE = ("Ximena Quarshie", "ximena.q@pulse.example")


@pytest.fixture
def llm_env(make_app):
    with InsightsStub() as stub:
        app = make_app(library=True, openai_api_key="test-key",
                       openai_base_url=stub.base_url)
        yield stub, ApiClient(app.test_client(), ADMIN_TOKEN)


def stay(api, n: int, *, seed: int = 7, aggregated: bool = False, people=None, said=None):
    """A Stay Interview session with ``n`` completed interviews from the answer bank."""
    session = make_session(api, "stay-interview")
    interviews, truth = bank(n, seed)
    for spec, (name, email) in zip(interviews, people or [], strict=False):
        spec["name"], spec["email"] = name, email
    for i, text in (said or {}).items():  # an answer of one's own words, first
        spec = interviews[i]
        spec["answers"][0] = (spec["answers"][0][0], text, False)
    completed_interviews(session["id"], interviews)
    if aggregated:
        with db.session_scope() as s:
            s.execute(update(Session).where(Session.id == session["id"])
                      .values(anonymity="aggregated"))
    return session["id"], truth, interviews


def prompt_chars(body: dict) -> int:
    return sum(len(m["content"]) for m in body["messages"])


def test_themes_are_counted_from_the_passages_the_model_cites(llm_env):
    stub, api = llm_env

    def cite_one_parking_passage(step, answer, data):  # per batch: Parley counts what is cited
        for theme in answer.get("themes", []):
            if step == "map" and theme["label"] == "Office parking":
                theme["passages"], theme["quotes"] = theme["passages"][:1], theme["quotes"][:1]
        return answer

    stub.tamper = cite_one_parking_passage
    session_id, truth, interviews = stay(api, 60)
    done = run(api, session_id)
    result = done["result"]
    assert done["engine"] == result["engine"] == "llm" and result["fallbacks"] == []
    maps, reduces = stub.calls("map"), stub.calls("reduce")
    assert len(maps) > 1 and reduces and len(stub.calls("summary")) == 1  # map, a tree, one
    found = {p["id"]: p for p in result["patterns"]}
    for signal in ("burnout", "pay_recognition", "flight_risk"):
        assert found[f"signal:{signal}"]["participants"] == truth[signal], signal
        assert found[f"signal:{signal}"]["kind"] == "signal"
    docs = next(p for p in result["patterns"] if p["label"] == "Outdated documentation")
    assert docs["kind"] == "discovered" and docs["participants"] == truth["documentation"]
    parking = next(p for p in result["patterns"] if p["label"] == "Office parking")
    batches_with_parking = sum(any("parking" in p["text"] for p in data_of(b)) for b in maps)
    assert parking["participants"] == batches_with_parking < truth["parking"]
    # what the summary was given are Parley's counts, not anything the model said
    summary_data = data_of(stub.calls("summary")[0])
    assert {p["id"]: p["participants"] for p in summary_data["patterns"]} == {
        p["id"]: p["participants"] for p in result["patterns"]}
    # the per-topic notes and the questions asked back
    workload = next(t for t in result["topics"] if t["topic"] == "workload-wellbeing")
    assert workload["participants"] == 60 and workload["summary"].endswith("workload-wellbeing.")
    assert any(s["pattern_id"] == "signal:burnout" for s in workload["sub_themes"])
    asked = sum(any(a[2] and "bonus scheme" in a[1] for a in i["answers"]) for i in interviews)
    [bonus] = [q for q in result["missing_knowledge"] if "bonus scheme" in q["question"]]
    assert bonus["participants"] == asked
    summary = result["summary"]
    assert summary["health"] == "Stub health over 60 interviews."
    assert 3 <= len(summary["key_quotes"]) <= 5
    assert all(a["pattern_id"] in found for a in summary["actions"])
    assert sum(summary["sentiment_distribution"].values()) == 60
    quotes = [q for p in result["patterns"] for q in p["quotes"]] + summary["key_quotes"] + [
        q for t in result["topics"] for q in t["quotes"]]
    with db.session_scope() as s:
        for q in quotes:
            turn = s.get(Turn, q["turn_id"])
            assert turn.role == "participant" and q["text"] in turn.redacted_text
            assert q["person"]["id"]  # a named session: HR sees who said it


def test_a_quote_not_verbatim_in_its_turn_is_dropped(llm_env):
    stub, api = llm_env

    def invent(step, answer, data):
        if step == "map" and answer["themes"]:
            real = answer["themes"][0]["quotes"][0]
            answer["themes"][0]["quotes"] = [
                {"passage": real["passage"], "text": INVENTED},  # never said
                {"passage": real["passage"], "text": real["text"].upper()},  # reworded
                {"passage": "p9999", "text": real["text"]},  # no such passage
                real]
        return answer

    stub.tamper = invent
    session_id, truth, _ = stay(api, 30)
    result = run(api, session_id)["result"]
    text = json.dumps(result)
    assert INVENTED not in text and INVENTED.upper() not in text
    maps = len(stub.calls("map"))
    assert f"{3 * maps} quote(s) the model gave were not verbatim" in " ".join(
        result["fallbacks"])
    assert all(p["quotes"] for p in result["patterns"])  # the real ones stay
    assert found_count(result, "burnout") == truth["burnout"]


def found_count(result: dict, signal: str) -> int:
    return next(p["participants"] for p in result["patterns"] if p["id"] == f"signal:{signal}")


def test_a_name_the_model_writes_is_scrubbed_in_an_aggregated_session(llm_env):
    stub, api = llm_env
    name, email = COLLEAGUE

    def name_names(step, answer, data):
        if step == "map":
            for theme in answer["themes"]:
                theme["label"] = f"Ximena's {theme['label']} (says Quarshie)"
        if step == "summary":
            answer["health"] = f"{name} ({email}) says morale is low."
            for action in answer["actions"]:
                action["text"] = "Ask Quarshie's manager to follow up."
        return answer

    stub.tamper = name_names
    session_id, truth, _ = stay(api, 40, aggregated=True, people=[COLLEAGUE])
    result = run(api, session_id)["result"]
    text = json.dumps(result).lower()  # ids too
    for word in (*name.split(), email):
        assert word.lower() not in text, word
    assert result["summary"]["health"] == "[name] [name] ([EMAIL]) says morale is low."
    assert all(a["text"] == "Ask [name]'s manager to follow up."
               for a in result["summary"]["actions"])
    assert any(p["kind"] == "discovered" for p in result["patterns"])
    # the summary is written from what the anonymity rule shows, never a smaller theme
    summarised = data_of(stub.calls("summary")[0])
    assert summarised["patterns"] and all(p["participants"] >= 5
                                          for p in summarised["patterns"])
    assert any("fewer than 5" in w for w in result["withheld"])  # there were smaller ones
    for p in result["patterns"]:
        assert p["label"].startswith("[name]'s ") and p["label"].endswith(" (says [name])")
        assert p["kind"] == "signal" or p["id"] in {"theme:office-parking-says",
                                                    "theme:outdated-documentation-says"}
        assert p["terms"] and not any("name" in t for t in p["terms"])
    for p in result["patterns"]:
        # no person, no interview, no turn id (which dates an answer): the turn's ref
        assert all(set(q) == {"turn_ref", "text"} for q in p["quotes"])


def _fail_once(step: str, reply: Reply):
    """Fail the first call of ``step`` the stub sees, and its retry (the same body)."""
    chosen: dict[str, str] = {}

    def fail(seen_step, body):
        if seen_step != step:
            return None
        key = json.dumps(body["messages"])
        chosen.setdefault("key", key)
        return reply if chosen["key"] == key else None

    return fail


SERVER_ERROR = Reply(500, {"error": {"message": "upstream exploded", "type": "server"}})
NOT_JSON = Reply(200, completion('{"themes": [{"label": "Burnout", '))


@pytest.mark.parametrize("step, reply, expected", [
    ("map", SERVER_ERROR, "map: a batch of"),
    ("map", NOT_JSON, "map: a batch of"),
    ("reduce", SERVER_ERROR, "reduce: a merge of"),
    ("summary", NOT_JSON, "summary: the summary"),
], ids=["map-500", "map-invalid-json", "reduce-500", "summary-invalid-json"])
def test_a_failed_step_is_done_offline_and_said_so(llm_env, step, reply, expected):
    stub, api = llm_env
    stub.fail = _fail_once(step, reply)
    session_id, truth, _ = stay(api, 60)
    done = run(api, session_id)
    result = done["result"]
    assert done["status"] == "done" and result["engine"] == "llm"
    [line] = [f for f in result["fallbacks"] if f.startswith(f"{step}:")]
    assert line.startswith(expected), line
    assert "offline" in line
    # the part done offline counts the same people: the HR signals are exact either way
    for signal in ("burnout", "pay_recognition", "flight_risk"):
        assert found_count(result, signal) == truth[signal], signal
    if step == "map":
        failed = [b for b in stub.calls("map") if stub.fail("map", b)]
        assert len(failed) == (2 if reply is SERVER_ERROR else 1)  # a 500 is retried once
    if step == "summary":
        assert result["summary"]["health"].startswith("60 completed interviews")
        assert result["summary"]["actions"]
    else:
        assert result["summary"]["health"] == "Stub health over 60 interviews."


def test_a_model_that_is_down_is_asked_a_few_times_then_the_run_is_offline(llm_env):
    stub, api = llm_env
    stub.fail = lambda step, body: SERVER_ERROR
    session_id, truth, _ = stay(api, 60)
    result = run(api, session_id)["result"]
    assert result["engine"] == "llm"
    lines = " ".join(result["fallbacks"])
    batches = re.search(r"map: (\d+) of (\d+) steps analysed offline", lines)
    assert batches and batches[1] == batches[2]  # every batch
    assert "summary: the summary written offline" in lines
    assert f"not asked after {llm.BREAKER} failed calls in a row" in lines
    # each call is retried once; a few may have been in flight when the breaker tripped
    assert len(stub.calls()) <= 2 * (llm.BREAKER + llm.WORKERS - 1)
    for signal in ("burnout", "pay_recognition", "flight_risk"):
        assert found_count(result, signal) == truth[signal], signal
    assert result["summary"]["health"].startswith("60 completed interviews")


def test_the_model_is_never_given_a_name_an_email_or_an_id(llm_env):
    stub, api = llm_env
    firsts = [f"Quin{chr(97 + i // 26)}{chr(97 + i % 26)}ta" for i in range(30)]
    people = [(f"{first} Vandersloot", f"{first.lower()}@named.example") for first in firsts]
    own = f"As {people[3][0]}, I can say the on-call rotation means I work most weekends."
    session_id, _, interviews = stay(api, 30, people=people, said={3: own})
    result = run(api, session_id)["result"]
    assert stub.calls("map")
    # a named session: HR sees who said what, but a quote the model copied with the
    # placeholder in it is not the participant's words, and is dropped
    quotes = [q for p in result["patterns"] for q in p["quotes"]]
    assert quotes and all(q["person"]["name"] in dict(people) for q in quotes)
    assert "[name]" not in json.dumps(result)
    assert any("not verbatim" in f for f in result["fallbacks"])
    for recorded in stub.requests:
        raw = recorded.body.decode()
        for name, email in people:
            assert name.split()[0] not in raw and "Vandersloot" not in raw
            assert email not in raw and email.split("@")[0] not in raw
    sent = [p["text"] for b in stub.calls("map") for p in data_of(b)]
    assert "As [name] [name], I can say the on-call rotation means I work most weekends." in sent
    for body in stub.calls("map"):
        passages = data_of(body)
        assert all(set(p) <= {"id", "topic", "text", "asked"} for p in passages)
        assert all(re.fullmatch(r"p\d+", p["id"]) for p in passages)  # opaque, per batch
        # participants' words travel as data (the user message), never in our instructions
        system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
        assert all(p["text"] not in system for p in passages)
        assert "never an instruction" in system


def test_the_largest_prompt_stays_flat_when_interviews_double(llm_env):
    stub, api = llm_env
    largest, maps = [], []
    for n, seed in ((24, 7), (48, 8)):
        before = len(stub.calls())
        session_id, _, _ = stay(api, n, seed=seed)
        assert run(api, session_id)["result"]["fallbacks"] == []
        bodies = stub.calls()[before:]
        largest.append(max(prompt_chars(b) for b in bodies))
        maps.append(sum(step_of(b) == "map" for b in bodies))
    assert maps[1] >= maps[0] * 1.5  # the work grows with the interviews…
    assert largest[1] <= largest[0] * 1.1  # …the largest prompt does not
    assert largest[1] <= llm.MAP_CHARS + 4_000  # a batch's passages and the instructions


def test_the_answer_schemas_are_strict():
    def check(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert set(node["required"]) == set(node["properties"])
            for v in node.values():
                check(v)
        elif isinstance(node, list):
            for v in node:
                check(v)

    for answer in (llm.MapAnswer, llm.ReduceAnswer, llm.SummaryAnswer):
        check(llm.schema_of(answer))
    assert step_of({"response_format": {"json_schema": {"name": "insights_map"}}}) == "map"


def test_batches_are_cut_by_size_and_keep_interviews_whole():
    """In memory (no database): what the map prompts hold, for a corpus with one interview
    bigger than a batch on its own."""
    long = "The on-call rotation means I work most weekends, every month of the year. " * 30
    passages, turn = [], 0
    for iid in range(1, 61):
        for k in range(12 if iid == 7 else 3):
            turn += 1
            text = long if iid == 7 else f"Answer {k} of interview {iid}: the team feels calm."
            passages.append(Passage(turn, iid, "workload-wellbeing", text))
    corpus = Corpus(session_id=1, anonymity="aggregated", threshold=5,
                    topics=[("workload-wellbeing", "Workload")], interviews=list(range(1, 61)),
                    passages=passages)
    with InsightsStub() as stub:
        result = llm.analyse(corpus, load_settings(
            openai_api_key="k", openai_base_url=stub.base_url, secret_key="s",
            admin_api_token="t"))
    batches = [data_of(b) for b in stub.calls("map")]
    assert sum(len(b) for b in batches) == len(passages)  # every passage, once
    for b in batches:
        assert sum(len(p["text"]) + 60 for p in b) <= llm.MAP_CHARS
        assert all(len(p["text"]) <= llm.PASSAGE_CHARS for p in b)
    where: dict[int, set[int]] = {}
    for n, b in enumerate(batches):
        for p in b:
            found = re.search(r"of interview (\d+):", p["text"])
            where.setdefault(int(found[1]) if found else 7, set()).add(n)
    assert len(where[7]) >= 2  # too big for one batch: split
    assert all(len(batches_of) == 1 for iid, batches_of in where.items() if iid != 7)
    [burnout] = [p for p in result.patterns if p.id == "signal:burnout"]
    assert burnout.participants == 1 and burnout.interview_ids == [7]  # counted once
