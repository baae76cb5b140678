"""A click belongs to the conversation it was made in: with two open interviews in one
Slack DM, each message's buttons (and App Home's Resume) act on their own interview."""

from __future__ import annotations

import json
import urllib.parse

from tests.integration.test_slack import USER, slack  # noqa: F401  (the fixture)
from tests.support.slack_stub import signed
from tests.support.worker import run_jobs


def states(world) -> list[str]:
    interviews = [world.api.get(f"/interviews/{n}").get_json() for n in (1, 2)]
    return [i["state"] for i in interviews]


def two_invites(world):
    """Two sessions invite the same person: two consent messages in one DM."""
    world.invite()
    first = world.last_with_buttons()
    world.invite()
    second = world.last_with_buttons()
    assert first.ts != second.ts and states(world) == ["consent", "consent"]
    return first, second


def test_accepting_the_older_invite_starts_that_one_not_the_newest(slack):  # noqa: F811
    first, second = two_invites(slack)
    assert first.button_elements()[0]["value"] == "1:accept"
    slack.click("accept", message=first)
    assert states(slack) == ["in_progress", "consent"]
    slack.click("decline", message=second)
    assert states(slack) == ["in_progress", "declined"]


def test_each_messages_buttons_act_on_their_own_interview(slack):  # noqa: F811
    first, second = two_invites(slack)
    slack.click("accept", message=second)
    second_question = slack.last_with_buttons()
    slack.click("accept", message=first)
    assert states(slack) == ["in_progress", "in_progress"]
    first_question = slack.last_with_buttons()
    slack.click("pause", message=first_question)
    assert states(slack) == ["paused", "in_progress"]
    slack.click("stop", message=second_question)
    assert states(slack) == ["paused", "abandoned"]
    slack.click("decline", message=second)  # a stale button changes nothing elsewhere
    assert states(slack) == ["paused", "abandoned"]


def test_app_home_resume_resumes_the_conversation_it_lists(slack):  # noqa: F811
    first, second = two_invites(slack)
    for consent in (first, second):
        slack.click("accept", message=consent)
        slack.click("pause", message=slack.last_with_buttons())
    assert states(slack) == ["paused", "paused"]
    slack.event({"type": "event_callback", "team_id": "T0001", "event_id": "EvHome2",
                 "event": {"type": "app_home_opened", "user": USER, "tab": "home"}})
    run_jobs()
    buttons = [b["accessory"] for b in slack.stub.views[-1]["view"]["blocks"]
               if b.get("accessory", {}).get("action_id") == "resume_interview"]
    assert [b["value"] for b in buttons] == ["2", "1"]  # newest first
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": USER},
               "api_app_id": "A1", "trigger_id": "trig-home",
               "container": {"type": "view", "view_id": "V1"},
               "actions": [{**buttons[1], "action_ts": "1700000001.000001"}]}
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    resp = slack.client.post("/slack/events", data=body, headers=signed(
        body, content_type="application/x-www-form-urlencoded"))
    assert resp.status_code == 200
    run_jobs()
    assert states(slack) == ["in_progress", "paused"]


def test_a_button_sent_before_buttons_named_their_conversation_still_parses():
    from channels.slack import parse_action

    body = {"user": {"id": USER}, "team": {"id": "T0001"}, "channel": {"id": "DU123"},
            "actions": [{"action_id": "choice:skip", "value": "skip", "action_ts": "1.2"}]}
    [old] = parse_action(body)
    assert (old.choice, old.interview_id) == ("skip", None)
    body["actions"][0]["value"] = "99999999999:skip"  # no such id: none named
    assert parse_action(body)[0].interview_id is None
