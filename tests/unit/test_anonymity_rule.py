"""The anonymity rule in core/privacy.py, as every read path applies it."""

from core.privacy import listing_key, released, shown, withheld_reason

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


def test_a_named_session_shows_everything():
    assert shown(INTERVIEW, anonymity="named") == INTERVIEW


def test_answers_are_released_in_whole_batches_of_the_threshold():
    assert [released(5, n) for n in (0, 4, 5, 6, 9, 10, 11)] == [0, 0, 5, 5, 5, 10, 10]
    assert [released(3, n) for n in (2, 3, 7)] == [0, 3, 6]
    assert "at least 5" in withheld_reason(5, 4) and "4 so far" in withheld_reason(5, 4)
    assert withheld_reason(5, 5) is None and withheld_reason(5, 10) is None
    assert "2 more" in withheld_reason(5, 7)


def test_the_anonymous_shape_joins_to_nothing_and_redacts():
    out = shown(INTERVIEW, anonymity="aggregated")
    assert set(out) == {"session_id", "state", "sentiment", "engagement", "coverage",
                        "open_questions", "turns", "current_topic", "drop_off_topic",
                        "pauses_used"}
    assert out["turns"] == [{"seq": 2, "role": "participant", "text": "[EMAIL] here",
                             "topic": "pay", "sentiment": 0.1}]
    assert out["open_questions"] == ["Can you mail me at [EMAIL]?"]


def test_the_list_order_is_keyed_by_a_secret():
    ids = list(range(1, 40))
    assert sorted(ids, key=lambda i: listing_key("a", i)) != sorted(
        ids, key=lambda i: listing_key("b", i))
