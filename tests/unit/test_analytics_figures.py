"""core.analytics.figures over plain rows (no database), and the anonymity rule's part for
an interview's figures."""

from datetime import UTC, datetime, timedelta

from core.analytics import Cell, TurnRow, figures, protect
from core.privacy import shown

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def turn(seq, role, at, text="", *, topic=None, sentiment=None, channel="web", action=None):
    return TurnRow(seq, role, text, topic, sentiment, channel, T0 + timedelta(seconds=at),
                   {"action": action} if action else None)


COVERAGE = {"order": ["pay", "team"], "open_questions": [],
            "topics": {"pay": {"status": "open", "questions": 2, "probes": 1},
                       "team": {"status": "pending", "questions": 0, "probes": 0}}}
TURNS = [
    turn(1, "system", 0, "Hi"),
    turn(2, "participant", 5, "Yes, let's start"),
    turn(3, "interviewer", 6, "How is pay?", topic="pay", action="ask"),
    turn(4, "participant", 66, "Pause", topic="pay"),  # a button: no answer, no response
    turn(5, "system", 67, "Paused"),
    turn(6, "participant", 667, "Resume", topic="pay"),
    turn(7, "interviewer", 668, "Where were we: how is pay?", topic="pay", action="repeat"),
    turn(8, "participant", 698, "fine", topic="pay", sentiment=0.2, channel="sms"),
    turn(9, "interviewer", 700, "Say more?", topic="pay", action="probe"),
    turn(10, "participant", 790, "It has not kept up with the rent here for two years now",
         topic="pay", sentiment=-0.3, channel="sms"),
    turn(11, "interviewer", 792, "Thanks. And the team?", topic="team", action="ask"),
]


def test_an_interview_stopped_at_a_topic():
    found = figures(TURNS, state="abandoned", coverage=COVERAGE,
                    ended_at=T0 + timedelta(seconds=800), paused_seconds=600,
                    current_topic="pay")
    assert found.duration_seconds == 800 - 66 - 600  # from their first turn after a question
    assert (found.turns, found.answers) == (9, 2)
    assert found.participant_words == 1 + 13
    assert found.interviewer_words == 3 + 6 + 2 + 4
    assert found.response_seconds == 60.0  # 30 (after the repeat) and 90: the median
    assert found.drop_off_topic == "pay"  # the engine sets it after the state, so: current
    assert (found.channel, found.channels) == ("web", ["web", "sms"])  # web: 3 turns, sms 2
    pay, team = found.topics
    assert (pay.reached, pay.answers, pay.sentiment, pay.probed, pay.rich) == (
        True, 2, -0.05, True, True)
    assert (team.reached, team.answers, team.sentiment) == (False, 0, None)
    assert (found.probed_topics, found.probed_topics_rich) == (1, 1)


def test_an_interview_nobody_answered_has_no_duration():
    found = figures(TURNS[:3], state="admin_ended", coverage=COVERAGE,
                    ended_at=T0 + timedelta(seconds=60))
    assert found.duration_seconds is None and found.response_seconds is None
    assert found.answers == 0 and found.channel == "web"


def test_an_anonymous_interviews_figures_carry_no_channel_nor_time():
    figures_ = {"duration_seconds": 300.0, "channel": "sms", "channels": ["sms"],
                "computed_at": "2026-03-02T09:00:00+00:00", "answers": 4}
    out = shown({"state": "completed", "analytics": figures_}, anonymity="aggregated")
    assert out["analytics"] == {"duration_seconds": 300.0, "answers": 4}
    named = shown({"state": "completed", "analytics": figures_}, anonymity="named")
    assert named["analytics"] == figures_


def test_a_group_really_called_other_joins_the_merged_one():
    groups = {"Other": Cell(started=9, counted=9), "Sales": Cell(started=9, counted=9),
              "Ops": Cell(started=1, counted=1), "HR": Cell(started=2, counted=2)}
    out = protect(groups, 3, aggregated=True)
    assert [(name, cell.counted, merged) for name, cell, merged in out] == [
        ("Sales", 9, False), ("Other", 12, True)]


def test_a_group_whose_only_invitee_declined_is_not_shown_alone():
    groups = {"Sales": Cell(invited=9, started=9, counted=9),
              "Eng": Cell(invited=8, started=8, counted=8),
              "Legal": Cell(invited=1, declined=1)}
    shown = {name: cell for name, cell, _ in protect(groups, 5, aggregated=True)}
    assert "Legal" not in shown  # its one invitee's "no" would be named by its group
    assert shown["Other"].declined == 1 and "Eng" not in shown  # with the next-smallest
