"""The issue's "done when", in one browser session: a new HR user goes from Create Session
to reading insights without the API. Sign in, create a session from a template, edit a
topic, invite someone by web link; that person answers in a second browser while HR
watches the live view; filter the conversations by channel and negative sentiment; run the
Insights tab; assign a pattern as a 1-on-1 topic; read the usage chart.

Only the directory (an org import) and other people's earlier interviews are seeded: a
session's insights need more than one conversation."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_conversations import LIVE_POLL, _answer_until_done, _consented
from tests.integration.test_dashboard_insights import org
from tests.integration.test_insights import bank
from tests.support.factories import completed_interviews


def test_from_create_session_to_insights_without_the_api(
        api, library, signed_in, browser, live_server, work, shoot):
    org(api)
    hr = signed_in("owner")

    # create a session from the Stay Interview template, named answers
    hr.get_by_role("link", name="New session").click()
    hr.get_by_role("radio", name=re.compile("Stay Interview")).check()
    hr.get_by_label("Session name").first.fill("Stay interviews — journey")
    hr.get_by_role("radio", name=re.compile("^Named")).first.check()
    hr.get_by_role("button", name="Create session").first.click()
    expect(hr.get_by_role("heading", name="Stay interviews — journey")).to_be_visible()
    session_id = int(re.search(r"/sessions/(\d+)", hr.url).group(1))

    # edit a topic
    first = hr.locator("#topic-0")
    first.get_by_label("Description").fill("What keeps them here, in their own words")
    hr.get_by_role("button", name="Save topics").first.click()
    expect(hr.get_by_role("status").filter(has_text="Topics saved.")).to_be_visible()
    expect(hr.locator("#topic-0").get_by_label("Description")).to_have_value(
        "What keeps them here, in their own words")

    # invite one person by web link
    hr.get_by_role("link", name="Invite & roll out").click()
    hr.get_by_role("combobox", name="Name", exact=True).fill("Rowan Reyes")
    hr.get_by_role("combobox", name="Email", exact=True).fill("rowan@example.com")
    hr.get_by_label("Channel", exact=True).select_option("web")
    hr.get_by_role("button", name="Invite", exact=True).click()
    link = hr.get_by_label("Web link for Rowan Reyes").input_value()

    # the live view, while Rowan answers in a browser of their own
    hr.get_by_role("link", name="Live").click()
    expect(hr.get_by_text("Nobody is in a conversation right now")).to_be_visible()
    person, chat = _consented(browser, live_server, link, work)
    row = hr.locator("#live-rows tr", has_text="Rowan Reyes")
    expect(row).to_be_visible(timeout=LIVE_POLL)
    expect(row).to_contain_text("Stay interviews — journey")
    shoot(hr, "journey-live")
    _answer_until_done(chat, work)
    expect(row).to_have_count(0, timeout=LIVE_POLL)
    person.close()

    # conversations: web link + negative sentiment finds Rowan's
    completed_interviews(session_id, bank(11)[0])  # colleagues who answered earlier
    hr.get_by_role("link", name="Conversations").first.click()
    hr.get_by_label("Channel").select_option("web")
    hr.get_by_label("Sentiment").select_option("negative")
    hr.get_by_role("button", name="Apply filters").click()
    expect(hr).to_have_url(re.compile(r"channel=web&sentiment=negative"))
    expect(hr.get_by_role("link", name="Rowan Reyes")).to_be_visible()

    # the session's Insights tab: run, read, assign a pattern as a 1-on-1 topic
    hr.goto(f"/dashboard/sessions/{session_id}")
    hr.get_by_role("link", name="Insights").click()
    hr.get_by_role("button", name="Run insights").click()
    work()
    expect(hr.get_by_role("heading", name="Executive summary")).to_be_visible(timeout=15_000)
    pattern = hr.locator("article.pattern").first
    label = pattern.get_by_role("heading").first.inner_text()
    pattern.get_by_text("Assign as a 1-on-1 topic").click()
    pattern.get_by_label("Title").fill(f"Talk about {label}")
    pattern.get_by_label("Every manager–report pair").check()
    pattern.get_by_role("button", name="Create the topic").click()
    expect(hr.get_by_role("heading", level=1)).to_contain_text(f"Talk about {label}")
    shoot(hr, "journey-topic")

    # the 1-on-1 usage report draws its trend
    hr.get_by_role("link", name="1-on-1s").click()
    hr.get_by_role("link", name="Usage report").click()
    chart = hr.get_by_role("img", name=re.compile("^Active 1-on-1 pairs per day"))
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_contain_text("Active 1-on-1 pairs per day")
