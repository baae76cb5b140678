"""Whole interviews with scripted personas over the web link and the real worker, offline
and through the loopback OpenAI stub: the plan, the caps, privacy and the ending hold for
every kind of participant (DESIGN.md §6, STYLE.md 11)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient
from tests.support.openai_stub import OpenAIStub
from tests.support.personas import (
    ASK_BACK,
    HOSTILE,
    INJECTIONS,
    LONG_LENGTH,
    PAUSES_TWICE,
    PERSONAS,
    PII,
    PII_MARKERS,
    RICH,
    Message,
    Transcript,
    run,
    very_long,
)

# DESIGN.md §6, written out here rather than imported: the tests check the code against it
WEIGHT = {"high": 3, "medium": 2, "low": 1}
PROBE_CAP = {"high": 3, "medium": 2, "low": 1}
ACTIONS = {"ask", "probe", "wrap_up", "close", "repeat"}  # repeat: a question restated on resume
FAILURES = ("malformed", "slow", "refusal", "leak", "error")
LEAK_RUN = 6  # a run of this many words of hidden context in a message is a leak
RULES_RUN = 8  # ... and of the system prompt's rules
SLOW_SECONDS, SLOW_TIMEOUT = 1.0, 0.2
ONE_OF_EACH = ("what-keeps-you", "recognition", "what-to-change")  # high, medium, low
# Per persona (budget, enabled topics or None for all seven), as small as its checks allow:
# every turn costs a request and a worker burst. Budget 3 of the seven topics drops all but
# the three high ones. A probe needs more budget than there are topics, so personas whose
# checks are about probing (thin answers get them, rich ones don't) talk about three topics
# with room for two probes; the seven-topic plan with drops has its own test below.
SETUP = {"short": (5, ONE_OF_EACH), "evasive": (5, ONE_OF_EACH), "emoji": (5, ONE_OF_EACH),
         "rich": (5, ONE_OF_EACH), "injection": (5, ONE_OF_EACH),
         "asks_back": (5, None), "stops_halfway": (5, None)}
DEFAULT_SETUP = (3, None)
FAILURE_BUDGET = {"slow": 1, "error": 1}  # each model call there waits out a timeout or a retry


# ---- environment: offline, or the LLM interviewer pointed at the loopback stub ---------------

@dataclass
class Env:
    mode: str
    client: object
    api: ApiClient
    stub: OpenAIStub | None

    def run(self, persona: str, budget: int | None = None,
            enabled: tuple[str, ...] | None = None) -> Transcript:
        if budget is None:
            budget, enabled = SETUP.get(persona, DEFAULT_SETUP)
        return run(self.client, self.api, PERSONAS[persona], budget=budget, enabled=enabled)


@pytest.fixture(scope="module")
def stubs():
    """One loopback model per mode for the whole module (stopping one takes ~0.3 s)."""
    running: dict[str, OpenAIStub] = {}
    with contextlib.ExitStack() as stack:

        def get(mode: str) -> OpenAIStub:
            if mode not in running:
                stub = OpenAIStub(mode=mode, slow_seconds=SLOW_SECONDS)
                running[mode] = stack.enter_context(stub)
            running[mode].requests.clear()
            return running[mode]

        yield get


@pytest.fixture
def env(request, make_app, stubs):
    mode = getattr(request, "param", "offline")
    config, stub = {"openai_api_key": ""}, None
    if mode != "offline":
        stub = stubs(mode)
        config.update(openai_api_key="test-key", openai_base_url=stub.base_url,
                      openai_timeout=SLOW_TIMEOUT if mode == "slow" else 5.0)
    client = make_app(library=True, **config).test_client()
    return Env(mode, client, ApiClient(client, ADMIN_TOKEN), stub)


# ---- what every transcript must satisfy ------------------------------------------------------

def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _question(turn: dict) -> str:
    """The question itself: the last paragraph, after any acknowledgement."""
    return turn["text"].split("\n\n")[-1]


def check_ending(t: Transcript, expected: str) -> None:
    assert t.state == expected, t.dump()
    last = t.by_role("interviewer", "system")[-1]
    assert "thank you" in last["text"].lower(), last["text"]
    if expected == "completed":
        assert last["reasoning"]["action"] == "close"
        assert t.plan[-2][0] == "wrap_up", t.dump()  # "anything else?" before the close
    assert t.interview["ended_at"]


def check_plan_is_valid(t: Transcript) -> None:
    keys = {topic["key"] for topic in t.enabled_topics}
    for turn in t.interviewer:
        r = turn["reasoning"]
        assert r and r["action"] in ACTIONS and r["why"], turn
        if r["action"] in ("ask", "probe"):
            assert r["topic"] in keys and turn["topic"] == r["topic"], turn
        else:
            assert r["topic"] is None, turn
        if r["action"] != "close":
            assert "?" in _question(turn), turn["text"]
    asked = [topic for action, topic in t.plan if action in ("ask", "probe")]
    assert len(asked) <= t.budget, t.dump()
    opened = [topic for action, topic in t.plan if action == "ask"]
    assert len(opened) == len(set(opened)), f"a topic was opened twice\n{t.dump()}"
    order = [topic["key"] for topic in t.enabled_topics]
    assert opened == sorted(opened, key=order.index), "topics must open in HR's order"
    for i, (action, topic) in enumerate(t.plan):  # a probe follows its own topic's question
        if action == "probe":
            assert t.plan[i - 1][1] == topic, t.dump()


def check_priorities(t: Transcript) -> None:
    """Every enabled topic is opened while budget allows; only the lowest priorities drop."""
    weight = {topic["key"]: WEIGHT[topic["priority"]] for topic in t.enabled_topics}
    opened = {topic for action, topic in t.plan if action == "ask"}
    dropped = {k for k, c in t.coverage.items() if c["status"] == "dropped"}
    assert not opened & dropped
    unopened = set(weight) - opened - dropped
    for d in dropped:
        for k in set(weight) - dropped:
            assert weight[k] >= weight[d], f"{d} ({weight[d]}) dropped, {k} ({weight[k]}) kept"
    if t.state != "completed":
        return
    assert not unopened, f"never opened: {unopened}\n{t.dump()}"
    assert len(dropped) == max(0, len(weight) - t.budget), (dropped, t.budget)
    if dropped:  # dropping is only right when the budget really ran out
        assert len([a for a, _ in t.plan if a in ("ask", "probe")]) == t.budget, t.dump()
        assert max(weight[d] for d in dropped) <= min(weight[k] for k in opened)
        high = {k for k, w in weight.items() if w == WEIGHT["high"]}
        if t.budget >= len(high):
            assert high <= opened


def check_probes(t: Transcript) -> None:
    priority = {topic["key"]: topic["priority"] for topic in t.enabled_topics}
    probes: dict[str, int] = {}
    for action, topic in t.plan:
        if action == "probe":
            probes[topic] = probes.get(topic, 0) + 1
    for key, n in probes.items():
        assert n <= PROBE_CAP[priority[key]], f"{n} probes on {key}\n{t.dump()}"
    for key, c in t.coverage.items():
        assert c["probes"] == probes.get(key, 0), (key, c)


def check_no_repeats(t: Transcript) -> None:
    questions = [_question(turn) for turn in t.interviewer
                 if turn["reasoning"]["action"] in ("ask", "probe")]
    repeated = {q for q in questions if questions.count(q) > 1}
    assert not repeated, f"asked again: {repeated}\n{t.dump()}"
    messages = [turn["text"] for turn in t.interviewer]
    assert len(messages) == len(set(messages)), t.dump()


def check_nothing_hidden_leaks(t: Transcript, env: Env) -> None:
    said = [turn for turn in t.by_role("interviewer", "system")]
    for topic in t.topics:
        context = topic["context"]
        if not context:
            continue
        hidden = _runs(context, LEAK_RUN)
        for turn in said:
            assert context.strip() not in turn["text"]
            shared = hidden & _runs(turn["text"], LEAK_RUN)
            assert not shared, f"{topic['key']} context leaked: {shared} in {turn['text']!r}"
    rules: set[tuple[str, ...]] = set()
    if env.stub is not None and env.stub.calls():
        system = env.stub.calls()[0]["messages"][0]["content"]
        # the rules, without rule 7 (the anonymity note, which consent rightly repeats)
        rules = _runs(system.split("Topics, in HR's order:")[0].split("\n7. ")[0], RULES_RUN)
    for turn in said:
        assert "you are parley" not in turn["text"].lower()
        assert "hidden context" not in turn["text"].lower()
        assert not rules & _runs(turn["text"], RULES_RUN), turn["text"]


def check_strategy(t: Transcript, env: Env) -> None:
    worded = [turn["reasoning"] for turn in t.interviewer if turn["reasoning"]["action"] != "close"]
    close = [turn["reasoning"] for turn in t.interviewer if turn["reasoning"]["action"] == "close"]
    assert all(r["strategy"] == "offline" and "fallback" not in r for r in close)
    if env.mode == "offline":
        assert all(r["strategy"] == "offline" and "fallback" not in r for r in worded)
    elif env.mode == "good":
        assert worded and all(r["strategy"] == "llm" for r in worded), t.dump()
    else:
        assert worded and all(r["strategy"] == "offline" and r.get("fallback") for r in worded)
        assert env.stub.calls(), "the model was never asked"


def check_scores(t: Transcript) -> None:
    for turn in t.participant:
        if turn["sentiment"] is not None:
            assert -1 <= turn["sentiment"] <= 1
    engagement = t.interview["engagement"]
    assert engagement is not None and 0 <= engagement <= 100, engagement
    if t.typed:  # a typed answer to score (pressed buttons carry no sentiment)
        assert t.interview["sentiment"] is not None and -1 <= t.interview["sentiment"] <= 1


def check_redaction(t: Transcript) -> None:
    for turn in t.participant:
        assert turn["redacted_text"] is not None
        if not re.search(r"\d{4}|@", turn["text"]):
            assert turn["redacted_text"] == turn["text"]


def check_all(t: Transcript, env: Env) -> None:
    check_ending(t, PERSONAS[t.persona].ends)
    check_plan_is_valid(t)
    check_priorities(t)
    check_probes(t)
    check_no_repeats(t)
    check_nothing_hidden_leaks(t, env)
    check_strategy(t, env)
    check_scores(t)
    check_redaction(t)


def rich_plan(t: Transcript) -> list[tuple[str, str | None]]:
    """What a participant who answers every question fully gets: each planned topic opened
    once, in HR's order, no probes, then "anything else?" and the close."""
    planned = [topic["key"] for topic in t.enabled_topics
               if t.coverage[topic["key"]]["status"] != "dropped"]
    return [("ask", k) for k in planned] + [("wrap_up", None), ("close", None)]


# ---- every persona, offline and through a well-behaved model -------------------------------

def _persona_checks(name: str, t: Transcript, env: Env) -> None:
    """What each persona in particular must show."""
    if name in ("rich", "injection"):
        assert t.plan == rich_plan(t), t.dump()
    if name == "short" or name == "evasive" or name == "emoji":
        assert any(action == "probe" for action, _ in t.plan), "thin answers earn probes"
    if name == "hostile":
        assert [turn["text"] for turn in t.typed] == [HOSTILE[i % len(HOSTILE)]
                                                      for i in range(len(t.typed))]
        assert t.typed and all(turn["sentiment"] < 0 for turn in t.typed), t.dump()
        assert t.interview["sentiment"] < 0
        for turn in t.typed:  # no argument, no early end: the next planned move, calmly
            reply = t.reply_to(turn)
            assert reply["role"] == "interviewer", reply
            assert not set(_words(reply["text"])) & {"sorry", "rude", "language", "calm"}
    if name == "injection":
        for turn in t.typed:
            assert turn["text"] in INJECTIONS
        if env.stub is not None:
            for call in env.stub.calls():
                for message in call["messages"]:
                    if message["content"] in INJECTIONS:
                        assert message["role"] == "user", message  # the turn itself is data
                assert call["messages"][-1]["content"].startswith("PLAN ")  # we have last word
    if name == "pii":
        raw_values = [value for _, values in PII for value in values]
        assert len(t.typed) == len(t.participant) - 1  # all typed but the consent button
        for turn in t.typed:
            for value in raw_values:
                assert value not in turn["redacted_text"], turn["redacted_text"]
            for marker in PII_MARKERS:
                assert marker in turn["redacted_text"], (marker, turn["redacted_text"])
        for turn in t.by_role("interviewer", "system"):  # and nothing is read back to them
            assert not [value for value in raw_values if value in turn["text"]], turn["text"]
    if name == "asks_back":
        asked = [turn["text"] for turn in t.typed if turn["text"] in ASK_BACK]
        assert asked and t.open_questions == asked, (t.open_questions, asked)
        if env.stub is not None:
            plans = [json.loads(c["messages"][-1]["content"].removeprefix("PLAN "))
                     for c in env.stub.calls()]
            assert sum(p["participant_asked_a_question"] for p in plans) == len(asked)
        else:
            check_answered_as_automated(t)
    if name == "skips_all":
        assert {c["status"] for c in t.coverage.values()} <= {"skipped", "dropped"}
        assert "skipped" in {c["status"] for c in t.coverage.values()}
        assert not any(action == "probe" for action, _ in t.plan)
    if name == "stops_halfway":
        asked = [turn for turn in t.interviewer if turn["reasoning"]["action"] in ("ask", "probe")]
        assert t.interview["drop_off_topic"] == asked[-1]["topic"], t.dump()
        assert t.interview["end_reason"] == "stopped by participant"
        assert t.coverage[asked[-1]["topic"]]["status"] == "open"
    if name == "very_long":
        assert all(len(turn["text"]) == LONG_LENGTH for turn in t.typed)
    if name == "non_english":
        assert any(re.search(r"[\u3040-\u30ff]", turn["text"]) for turn in t.typed)
        assert all(turn["redacted_text"] == turn["text"] for turn in t.typed)


def check_answered_as_automated(t: Transcript) -> None:
    for turn in t.typed:
        if turn["text"] in ASK_BACK:
            reply = t.reply_to(turn)
            assert reply and "automated" in reply["text"], (turn["text"], reply)


def test_the_scripts_say_what_they_claim():
    """The personas themselves, before any interview: no database needed."""
    assert len(set(RICH)) == len(RICH)
    assert all(30 <= len(answer.split()) <= 60 for answer in RICH)
    longs = [very_long(turn) for turn in range(12)]
    assert {len(text) for text in longs} == {LONG_LENGTH} and len(set(longs)) == len(longs)
    for text, values in PII:
        assert all(value in text for value in values)
    question = Message("What might tempt you to leave one day?", ("pause", "skip", "stop"))
    assert PERSONAS["skips_all"](question, 0).choice == "skip"
    assert PERSONAS["skips_all"](Message("Anything else?", ("done", "stop")), 5).choice == "done"
    stops = [PERSONAS["stops_halfway"](question, turn) for turn in range(5)]
    assert [a.choice for a in stops] == [None, None, None, "stop", "stop"]


@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("env", ["offline", "good"], indirect=True)
def test_persona(env, persona):
    transcript = env.run(persona)
    check_all(transcript, env)
    _persona_checks(persona, transcript, env)


@pytest.mark.parametrize("persona", ["rich", "hostile"])
@pytest.mark.parametrize("env", FAILURES, indirect=True)
def test_a_failing_model_falls_back_and_the_interview_finishes(env, persona):
    transcript = env.run(persona, budget=FAILURE_BUDGET.get(env.mode, 2))
    check_all(transcript, env)  # strategy "offline" with the fallback reason on every turn
    _persona_checks(persona, transcript, env)
    if env.mode == "leak":  # the model really tried to leak, and none of it got through
        assert all("hidden context" in turn["reasoning"]["fallback"]
                   for turn in transcript.interviewer[:-1])


# ---- the plan under pressure ---------------------------------------------------------------

@pytest.mark.parametrize("persona", ["rich", "short"])
@pytest.mark.parametrize("env", ["offline", "good"], indirect=True)
def test_a_small_budget_drops_the_lowest_priorities_and_opens_every_high_one(env, persona):
    t = env.run(persona, budget=4)  # 7 topics: 3 high, 3 medium, 1 low
    check_all(t, env)
    status = {k: c["status"] for k, c in t.coverage.items()}
    priority = {topic["key"]: topic["priority"] for topic in t.enabled_topics}
    dropped = {k for k, s in status.items() if s == "dropped"}
    assert len(dropped) == 3, status
    assert {k for k, p in priority.items() if p == "low"} <= dropped
    opened = [topic for action, topic in t.plan if action == "ask"]
    assert {k for k, p in priority.items() if p == "high"} <= set(opened)
    assert len(opened) == 4 and not any(action == "probe" for action, _ in t.plan)
    if persona == "rich":
        assert t.plan == rich_plan(t), t.dump()


@pytest.mark.parametrize("env", ["offline", "good"], indirect=True)
def test_thin_answers_are_probed_up_to_the_cap_and_no_further(env):
    # budget for every opening and every probe the caps allow: (1+3) + (1+2) + (1+1)
    t = env.run("short", budget=9, enabled=ONE_OF_EACH)
    check_all(t, env)
    assert set(t.coverage) == set(ONE_OF_EACH)
    priority = {topic["key"]: topic["priority"] for topic in t.enabled_topics}
    for key, c in t.coverage.items():
        assert c["probes"] == PROBE_CAP[priority[key]], (key, c, t.dump())
        assert c["status"] == "done"
    assert t.interview["engagement"] < 50  # thin answers all the way: low engagement


def test_a_very_long_neutral_answer_earns_no_probe(env):
    t = env.run("very_long", budget=3, enabled=ONE_OF_EACH[:2])
    assert t.state == "completed"
    assert not any(action == "probe" for action, _ in t.plan), t.dump()


@pytest.mark.parametrize("env", ["good"], indirect=True)
def test_a_question_back_is_answered_as_automated_by_the_llm_too(env):
    t = env.run("asks_back", budget=3)
    assert t.open_questions
    check_answered_as_automated(t)


@pytest.mark.parametrize("env", ["good"], indirect=True)
def test_participant_words_never_travel_as_system_instructions(env):
    env.run("injection", budget=2)
    for call in env.stub.calls():
        for message in call["messages"]:
            if message["role"] == "system":
                for text in INJECTIONS:
                    assert text not in message["content"], message["content"][:300]


# ---- pause and resume -----------------------------------------------------------------------

def test_resuming_twice_shows_the_question_once(env):
    t = run(env.client, env.api, PAUSES_TWICE, budget=1)
    resumed = [turn["text"] for turn in t.turns if "Welcome back" in turn["text"]]
    assert len(resumed) == 2
    for text in resumed:
        assert text.count("Welcome back") == 1, text


def test_every_interviewer_turn_has_its_reasoning_even_after_a_resume(env):
    t = run(env.client, env.api, PAUSES_TWICE, budget=1)
    assert t.state == "completed"
    for turn in t.interviewer:
        assert turn["reasoning"] and turn["reasoning"].get("action") in ACTIONS, turn
