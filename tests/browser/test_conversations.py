"""Conversations in a real browser: a person answers through their web link in a second
page while HR watches the live view, then HR filters the list by channel and sentiment,
opens the conversation and reads why the interviewer asked a question."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.integration.test_interviews_list import _people, _set
from tests.support.factories import completed_interviews, invite, make_session, token_of

UNHAPPY = ("Honestly the workload is terrible and I feel exhausted, ignored and unhappy. My "
           "manager never listens, meetings are chaotic and I am frustrated and stressed.")
LIVE_POLL = 35_000  # ms: the live view polls every 3 s, slowing to 30 s while nothing changes


def _posted(chat, act, work) -> None:
    """Do ``act`` on the chat page, wait for the message to reach the server, then run the
    worker that answers it."""
    with chat.expect_response(lambda r: r.request.method == "POST" and "/c/" in r.url):
        act()
    work()


def _say(chat, text: str, work) -> None:
    box = chat.get_by_label("Your answer")
    box.fill(text)
    _posted(chat, lambda: box.press("Enter"), work)


def _consented(browser, live_server, link: str, work):
    """A person's own browser on their web link, through Start and the consent: (its
    context, the chat page), the interviewer's first question shown."""
    person = browser.new_context(base_url=live_server)
    person.set_default_timeout(10_000)
    chat = person.new_page()
    chat.goto("/c/" + token_of(link))
    _posted(chat, chat.get_by_role("button", name="Start").click, work)
    _posted(chat, chat.get_by_role("button", name="Yes, let's start").click, work)
    expect(chat.locator(".msg--interviewer")).not_to_have_count(0)
    return person, chat


def _answer_until_done(chat, work) -> None:
    """Answer every question through the page (the worker runs between turns) until the
    interview says it has ended."""
    replies = chat.locator(".msg--interviewer, .msg--system")
    for _ in range(40):
        if chat.locator("#parley-chat.is-ended").count():
            return
        seen = replies.count()
        done = chat.get_by_role("button", name="Nothing else")
        if done.count() and done.last.is_enabled():
            _posted(chat, done.last.click, work)
        else:
            _say(chat, UNHAPPY, work)
        chat.wait_for_function(
            "([n]) => document.querySelectorAll('.msg--interviewer, .msg--system').length > n"
            " || document.getElementById('parley-chat').classList.contains('is-ended')",
            arg=[seen])
    raise AssertionError("the interview did not end")


def test_watch_a_conversation_live_then_filter_and_read_it(
        signed_in, browser, live_server, api, library, work, shoot):
    session = make_session(api, name="Stay interviews — Q4")
    happy, loud = completed_interviews(session["id"], [
        _people("Pat Positive", "pat@example.com"), _people("Sam Texter", "sam@example.com")])
    _set(happy, channel="web", sentiment=0.7)
    _set(loud, channel="sms", sentiment=-0.6)
    link = invite(api, session["id"], email="rowan@example.com", name="Rowan Reyes")["link"]

    hr = signed_in("owner")
    hr.goto("/dashboard/live")
    expect(hr.get_by_role("heading", name="Live conversations")).to_be_visible()
    expect(hr.get_by_text("HR sees them with their name")).to_be_visible()
    expect(hr.get_by_text("Nobody is in a conversation right now")).to_be_visible()

    person, chat = _consented(browser, live_server, link, work)

    row = hr.locator("#live-rows tr", has_text="Rowan Reyes")
    expect(row).to_be_visible(timeout=LIVE_POLL)
    expect(row).to_contain_text("in progress")
    expect(row).to_contain_text("Interviewer:")
    asked = row.locator(".live-latest").inner_text().split(":", 1)[1].strip()[:40]
    _say(chat, UNHAPPY, work)
    expect(row.locator(".live-latest")).not_to_contain_text(asked, timeout=LIVE_POLL)
    expect(row.locator(".live-latest")).to_contain_text("Interviewer:")
    expect(row.locator("td").nth(3)).to_have_text("4")
    shoot(hr, "live")

    _answer_until_done(chat, work)
    expect(hr.locator("#live-rows tr", has_text="Rowan Reyes")).to_have_count(
        0, timeout=LIVE_POLL)
    person.close()

    hr.get_by_role("link", name="Conversations").first.click()
    expect(hr.get_by_role("heading", name="Conversations")).to_be_visible()
    for name in ("Rowan Reyes", "Pat Positive", "Sam Texter"):
        expect(hr.get_by_role("link", name=name)).to_be_visible()
    hr.get_by_label("Channel").select_option("web")
    hr.get_by_label("Sentiment").select_option("negative")
    hr.get_by_role("button", name="Apply filters").click()
    expect(hr).to_have_url(re.compile(r"conversations\?channel=web&sentiment=negative$"))
    expect(hr.get_by_role("link", name="Rowan Reyes")).to_be_visible()
    expect(hr.get_by_role("link", name="Pat Positive")).to_have_count(0)
    expect(hr.get_by_role("link", name="Sam Texter")).to_have_count(0)
    expect(hr.get_by_role("link", name="Remove filter Channel: Web link")).to_be_visible()
    shoot(hr, "conversations")

    hr.get_by_role("link", name="Remove filter Channel: Web link").click()
    expect(hr.get_by_role("link", name="Sam Texter")).to_be_visible()
    expect(hr.get_by_role("link", name="Pat Positive")).to_have_count(0)
    hr.get_by_role("link", name="Rowan Reyes").click()

    expect(hr.get_by_role("heading", name="Rowan Reyes")).to_be_visible()
    answers = hr.locator(".turn--participant", has_text="workload is terrible")
    expect(answers.first).to_be_visible()
    why = hr.locator(".turn--interviewer details").first
    reason = why.locator("dd").first
    expect(reason).to_be_hidden()
    why.get_by_text("Why the interviewer asked this").click()
    expect(reason).to_be_visible()
    expect(why.locator("dt").first).to_have_text("Reason")
    expect(hr.get_by_role("button", name="Restart")).to_be_visible()
    expect(hr.get_by_role("link", name="Download PDF")).to_be_visible()
    answer_id = answers.nth(1).get_attribute("id")
    hr.goto(hr.url + "#" + answer_id)
    expect(hr.locator(f"#{answer_id}")).to_have_css("outline-style", "solid")
    shoot(hr, "conversation")


def test_a_signed_in_viewer_sees_no_admin_actions(signed_in, api, library):
    session = make_session(api)
    [done] = completed_interviews(session["id"], [_people("Vi Ewed", "vi@example.com")])
    page = signed_in("viewer")
    page.goto(f"/dashboard/conversations/{done}")
    expect(page.get_by_role("heading", name="Vi Ewed")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.get_by_role("link", name="Download JSON")).to_be_visible()


def test_the_live_view_slows_down_while_idle_backs_off_on_errors_and_stops_while_hidden(
        signed_in):
    """The page's clock is Playwright's, so the polls are counted, not waited for."""
    page = signed_in("owner")
    page.clock.install()
    page.goto("/dashboard/live")
    live = page.locator("#live")
    expect(live).to_have_attribute("data-live", "on")

    def tick(ms: int, polls: int, delay: int) -> None:
        page.clock.run_for(ms)
        expect(live).to_have_attribute("data-polls", str(polls))
        expect(live).to_have_attribute("data-delay", str(delay))

    tick(3000, 1, 3000)  # the first answer differs from nothing: still fast
    tick(3000, 2, 4500)  # unchanged: slower each time
    tick(4500, 3, 6750)
    page.route("**/api/v1/interviews*", lambda route: route.fulfill(
        status=503, json={"error": {"code": "unavailable", "message": "down for a moment"}}))
    tick(6750, 4, 13500)  # an error: twice as long
    expect(page.get_by_role("status")).to_contain_text("down for a moment")
    page.unroute("**/api/v1/interviews*")

    def visibility(hidden: bool) -> None:
        page.evaluate("""(hidden) => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""", hidden)

    visibility(True)
    page.clock.run_for(600_000)  # ten minutes in a background tab: not one request
    expect(live).to_have_attribute("data-polls", "4")
    visibility(False)  # back: at once, and fast again
    expect(live).to_have_attribute("data-polls", "5")
    expect(live).to_have_attribute("data-delay", "4500")  # unchanged since: slowing again


def test_the_filters_work_from_the_keyboard(signed_in, api, library):
    session = make_session(api)
    completed_interviews(session["id"], [_people("Kay Board", "kay@example.com"),
                                         _people("Other Person", "other@example.com")])
    page = signed_in("viewer")
    page.goto("/dashboard/conversations")
    page.get_by_label("Person").fill("board")
    page.get_by_label("Person").press("Enter")  # a plain GET form: Enter applies it
    expect(page).to_have_url(re.compile(r"/dashboard/conversations\?q=board$"))
    expect(page.get_by_role("link", name="Kay Board")).to_be_visible()
    expect(page.get_by_role("link", name="Other Person")).to_have_count(0)
    page.get_by_text("More filters").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Session tag")).to_be_visible()
    remove = page.get_by_role("link", name="Remove filter Search: board")
    remove.focus()
    expect(remove).to_be_focused()
    expect(remove).to_have_css("outline-style", "solid")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard/conversations$"))
    expect(page.get_by_role("link", name="Other Person")).to_be_visible()


def test_a_conversation_page_says_when_the_conversation_moves_on(
        signed_in, browser, live_server, api, library, work):
    session = make_session(api)
    link = invite(api, session["id"], email="rowan@example.com", name="Rowan Reyes")["link"]
    person, chat = _consented(browser, live_server, link, work)
    listed = api.get("/interviews", query_string={"status": "in_progress"}).get_json()
    [interview] = listed["interviews"]

    hr = signed_in("owner")
    hr.goto(f"/dashboard/conversations/{interview['id']}")
    news = hr.get_by_role("status").filter(has_text="Since this page loaded")
    expect(news).to_be_hidden()
    _say(chat, "I would stay for a clearer path to senior engineer.", work)
    # the answer and the next question, told without redrawing what HR is reading
    expect(news).to_contain_text("2 new messages", timeout=LIVE_POLL)
    expect(hr.locator(".turn--participant", has_text="clearer path")).to_have_count(0)
    news.get_by_role("link", name="Show them").click()
    expect(hr.locator(".turn--participant", has_text="clearer path")).to_be_visible()
    person.close()
