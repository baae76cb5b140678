"""The Insights tab and the 1-on-1 pages in a real browser: run insights and watch the page
pick up the result, assign a pattern as a 1-on-1 topic, the audience rule's live count, and
the usage chart. Screenshots: insights, assigned-topic, one-on-ones, new-topic, usage."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.integration.test_dashboard_insights import activity, org, seeded


def _no_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_insights_run_then_a_pattern_becomes_a_topic(api, library, signed_in, shoot, work):
    session_id = seeded(api, "stay-interview", 15, days=3)
    org(api)
    page = signed_in("owner")
    errors = _no_errors(page)
    page.goto(f"/dashboard/sessions/{session_id}/insights")
    expect(page.get_by_text("No insights yet")).to_be_visible()
    page.get_by_role("button", name="Run insights").click()
    expect(page.get_by_role("status").filter(has_text="Computing insights")).to_be_visible()
    work()  # the worker; the page's poll notices and shows the result
    expect(page.get_by_role("heading", name="Executive summary")).to_be_visible(timeout=15_000)
    assert "run=" not in page.url
    expect(page.locator("svg[role=img]").first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Read in context")).first).to_have_attribute(
        "href", re.compile(r"^/dashboard/conversations/\d+#turn-\d+$"))
    shoot(page, "insights")

    first = page.locator("article.pattern").first
    label = first.get_by_role("heading").first.inner_text()
    first.get_by_text("Assign as a 1-on-1 topic").click()
    first.get_by_label("Title").fill(f"Talk about {label}")
    first.get_by_label("Every manager–report pair").check()
    first.get_by_role("button", name="Create the topic").click()
    expect(page).to_have_url(re.compile(r"/dashboard/one-on-ones/topics/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Talk about {label}")
    expect(page.get_by_role("status")).to_contain_text("draft")
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("figcaption")).to_have_text("Progress over 3 pairs")
    shoot(page, "assigned-topic")
    assert not errors, errors


def test_one_on_ones_new_topic_counts_its_audience_live(api, library, signed_in, shoot,
                                                       work):
    org(api)
    sent = api.post("/assigned-topics", {"title": "Workload check-in", "note": "From insights",
                                         "audience": {"match": "all", "conditions": []}})
    assert api.post(f"/assigned-topics/{sent.get_json()['id']}/send").status_code == 200
    work()
    page = signed_in("owner")
    errors = _no_errors(page)
    page.goto("/dashboard/one-on-ones")
    expect(page.get_by_role("link", name="1-on-1s")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="New assigned topic").click()
    page.get_by_label("Title").fill("Career growth")
    count = page.locator("[data-count]")
    expect(count).to_have_text("Reaches 3 pairs (2 managers)")
    page.get_by_label("Field of condition 1").select_option("Country")
    page.get_by_label("Value of condition 1").fill("Germany")
    expect(count).to_have_text("Reaches 2 pairs (1 manager)")
    expect(page.get_by_label("Field of condition 4")).to_have_count(0)
    page.get_by_role("button", name="Add condition").click()
    expect(page.get_by_label("Field of condition 4")).to_be_focused()
    shoot(page, "new-topic")
    page.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as a draft")
    page.get_by_role("link", name="Assigned topics").first.click()
    expect(page.get_by_role("cell", name="Country is Germany")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Workload check-in"))).to_contain_text("/ 3")
    shoot(page, "one-on-ones")
    assert not errors, errors


def test_the_usage_report_draws_its_trend(api, library, signed_in, shoot):
    org(api)
    activity([0, 0, 1, 2, 2, 2, 4, 5, 5, 9, 12, 12, 20, 26])
    page = signed_in("owner")
    page.goto("/dashboard/one-on-ones/usage")
    chart = page.get_by_role("img", name=re.compile("^Active 1-on-1 pairs per day"))
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text("Active 1-on-1 pairs per day, last 30 days")
    page.get_by_role("link", name="7 days").click()
    expect(chart.locator("title").first).to_have_text("Active 1-on-1 pairs per day, last 7 days")
    page.get_by_text("Show as a table").click()
    expect(page.get_by_role("cell", name="0").first).to_be_visible()
    shoot(page, "usage")
    # a phone gets the chart drawn at its width, so its text stays readable
    expect(chart).to_have_attribute("class", "chart chart--wide")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(chart).to_have_attribute("class", "chart chart--narrow")
    assert chart.locator("text").first.evaluate(
        "t => t.getBoundingClientRect().height") >= 11  # px on screen (the wide one's: 7)


def test_an_aggregated_sessions_tab_as_an_analyst(api, library, signed_in, shoot, work):
    few = seeded(api, "engagement-pulse", 3)
    many = seeded(api, "engagement-pulse", 10, days=2)
    assert api.post(f"/sessions/{many}/insights").status_code == 202
    work()
    page = signed_in("analyst")
    page.goto(f"/dashboard/sessions/{few}/insights")
    expect(page.get_by_role("heading", name="Needs 2 more answers")).to_be_visible()
    page.goto(f"/dashboard/sessions/{many}/insights")
    expect(page.get_by_role("heading", name="Executive summary")).to_be_visible()
    expect(page.locator(".quote").first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Read in context"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("insights"))).to_have_count(0)
    shoot(page, "insights-aggregated")
