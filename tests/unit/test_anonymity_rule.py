"""The anonymity rule in core/privacy.py, as every read path applies it."""

from core.privacy import listing_key, shown, withheld_reason

INTERVIEW = {
    "id": 7, "session_id": 2, "invite_id": 9, "person": {"id": 4, "name": "Ada"},
    "state": "completed", "channel": "web", "end_reason": "", "restarted_from": None,
    "created_at": "2025-01-01T09:00:00", "started_at": None, "ended_at": None,
    "sentiment": 0.4, "engagement": 80.0, "coverage": {"pay": {"status": "covered"}},
    "open_questions": ["Can you mail me at ada@example.com?"], "current_topic": None,
    "drop_off_topic": None, "pauses_used": 0,
    "turns": [
        {"seq": 1, "role": "system", "text": "Hi Ada, …", "redacted_text": None,
         "topic": None, "sentiment": None, "reasoning": None, "channel": "web"},
        {"seq": 2, "role": "participant", "text": "ada@example.com here",
         "redacted_text": "[EMAIL] here", "topic": "pay", "sentiment": 0.1,
         "reasoning": None, "channel": "web"},
    ],
}


def reason(anonymity="aggregated", threshold=5, completed=5, state="completed", listed=True):
    return withheld_reason(anonymity, threshold, completed, state=state, listed=listed)


def test_a_named_session_shows_everything():
    assert reason("named", completed=0, listed=False) is None
    assert shown(INTERVIEW, anonymity="named", reason=None) == INTERVIEW


def test_an_aggregated_session_shows_completed_answers_in_its_list_from_the_threshold():
    assert reason() is None
    assert "at least 5" in reason(completed=4) and "4 so far" in reason(completed=4)
    assert "completed" in reason(state="abandoned")
    assert "together" in reason(listed=False)


def test_the_anonymous_shape_joins_to_nothing_and_redacts():
    out = shown(INTERVIEW, anonymity="aggregated", reason=None)
    assert set(out) == {"session_id", "state", "sentiment", "engagement", "coverage",
                        "open_questions", "turns", "current_topic", "drop_off_topic",
                        "pauses_used"}
    assert out["turns"] == [{"seq": 2, "role": "participant", "text": "[EMAIL] here",
                             "topic": "pay", "sentiment": 0.1}]
    assert out["open_questions"] == ["Can you mail me at [EMAIL]?"]


def test_withheld_answers_leave_the_state_and_a_reason():
    out = shown(INTERVIEW, anonymity="aggregated", reason="not yet")
    assert out == {"session_id": 2, "state": "completed", "withheld": {"reason": "not yet"}}


def test_the_list_order_is_keyed_by_a_secret():
    ids = list(range(1, 40))
    assert sorted(ids, key=lambda i: listing_key("a", i)) != sorted(
        ids, key=lambda i: listing_key("b", i))
