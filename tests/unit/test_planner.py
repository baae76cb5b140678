"""The planner spends the question budget by priority (DESIGN.md §6)."""

from core.interviewer.planner import PROBE_CAP, PlanTopic, classify, initial, next_move, record

TOPICS = [PlanTopic("a", "low"), PlanTopic("b", "high"), PlanTopic("c", "medium"),
          PlanTopic("d", "high"), PlanTopic("e", "low")]


def run(state, answers):
    """Play the interview: answer each question with the next answer; return the moves."""
    moves, answer = [], None
    for _ in range(100):
        move = next_move(state, answer)
        moves.append(move)
        if move.action == "close":
            return moves
        record(state, move, f"q{len(moves)}")
        answer = answers(move)
    raise AssertionError("interview never closed")


def test_allocation_follows_priority_and_caps():
    state = initial(TOPICS, budget=12)
    alloc = {k: v["alloc"] for k, v in state["topics"].items()}
    assert sum(alloc.values()) == 12
    # weights 1:3:2:3:1 of 12 → 1.2, 3.6, 2.4, 3.6, 1.2; the remainders go to the highs
    assert alloc == {"a": 1, "b": 4, "c": 2, "d": 4, "e": 1}


def test_allocation_never_exceeds_caps_and_gives_every_topic_an_opening():
    for budget in range(1, 30):
        alloc = initial(TOPICS, budget=budget)["topics"]
        for t in TOPICS:
            assert 1 <= alloc[t.key]["alloc"] <= 1 + PROBE_CAP[t.priority]
        assert sum(v["alloc"] for v in alloc.values()) <= max(budget, len(TOPICS))


def test_topics_open_in_hr_order_and_thin_answers_are_probed_within_caps():
    state = initial(TOPICS, budget=12)
    moves = run(state, lambda m: "ok")
    opened = [m.topic for m in moves if m.action == "ask"]
    assert opened == ["a", "b", "c", "d", "e"]
    probes = {}
    for m in moves:
        if m.action == "probe":
            probes[m.topic] = probes.get(m.topic, 0) + 1
    for t in TOPICS:
        assert probes.get(t.key, 0) <= PROBE_CAP[t.priority]
    assert state["asked"] <= 12
    assert [m.action for m in moves[-2:]] == ["wrap_up", "close"]


def test_rich_answers_earn_no_probe():
    rich = ("I really enjoy the team and the projects, although the on-call rotation has "
            "been heavy lately and I would like more predictable weeks.")
    moves = run(initial(TOPICS, budget=12), lambda m: rich)
    assert not [m for m in moves if m.action == "probe"]


def test_short_budget_drops_lowest_priority_first_and_opens_every_high():
    state = initial(TOPICS, budget=3)
    moves = run(state, lambda m: "ok")
    opened = [m.topic for m in moves if m.action == "ask"]
    assert set(opened) >= {"b", "d"}
    assert {k for k, v in state["topics"].items() if v["status"] == "dropped"} <= {"a", "c", "e"}
    assert state["asked"] <= 3


def test_skip_moves_on_without_probing():
    state = initial(TOPICS, budget=12)
    record(state, next_move(state), "q1")
    move = next_move(state, None, skip=True)
    assert move.action == "ask" and move.topic == "b"
    assert state["topics"]["a"]["status"] == "skipped"


def test_classify():
    assert classify("fine") == "thin"
    assert classify("") == "thin"
    assert classify("it is ok I guess, not sure really what else") == "thin"
    assert classify("The team is great and I learn something new every single week here.") == (
        "rich")


def test_a_strongly_emotional_answer_earns_a_probe_even_when_long():
    state = initial([PlanTopic("b", "high"), PlanTopic("c", "medium")], budget=12)
    record(state, next_move(state), "q1")
    angry = ("I am furious, this place is a disaster and my manager humiliated me in front "
             "of the whole team last week, it was awful and unfair.")
    move = next_move(state, angry, sentiment=-0.93)
    assert move.action == "probe" and "emotional" in move.why
    assert classify(angry, -0.93) == "emotional"
    assert classify(angry, None) == "rich"
