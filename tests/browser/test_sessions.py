"""The Sessions area in a real browser: a session from the Stay Interview template, its
topics edited and reordered, one person invited by web link, a rollout to an audience
with its live count; screenshots of each page at both widths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_TOKEN
from tests.support.factories import ApiClient


@pytest.fixture
def app(make_app, tmp_path):
    """The library loaded, and an email channel writing files (a rollout's web links go
    out by email)."""
    return make_app(library=True, mail_dir=str(tmp_path / "mail"))


@pytest.fixture
def api(app):
    return ApiClient(app.test_client(), ADMIN_TOKEN)


WIDER = """() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                  && !el.closest(".table-wrap"))
  .map((el) => el.tagName + "." + el.className + "#" + el.id)"""


def shoot_and_fit(page, shoot, name: str) -> None:
    """Screenshots at both widths, and nothing but a scrolling table wider than a phone."""
    shoot(page, name)
    before = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    wider = page.evaluate(WIDER)
    assert wider == [], f"{name}: {wider}"
    page.set_viewport_size(before)


def test_a_session_from_a_template_to_a_rollout(signed_in, shoot, api):
    for name, country in (("Ada Lovelace", "UK"), ("Grace Hopper", "US"),
                          ("Alan Turing", "UK")):
        assert api.post("/people", {"name": name, "email": f"{name.split()[0].lower()}@ex.com",
                                    "demographics": {"Country": country,
                                                     "Department": "Engineering"}}
                        ).status_code == 201
    page = signed_in("owner")
    page.goto("/dashboard/sessions")
    shoot_and_fit(page, shoot, "sessions-list-empty")
    page.get_by_role("link", name="New session").click()
    expect(page.get_by_role("heading", name="New session")).to_be_visible()
    shoot_and_fit(page, shoot, "sessions-new")
    page.get_by_role("radio", name=re.compile("Stay Interview")).check()
    page.get_by_label("Session name").first.fill("Stay interviews, Engineering")
    page.get_by_role("radio", name=re.compile("^Aggregated")).first.check()
    page.get_by_role("button", name="Create session").first.click()

    # the topics: change the second one's description and priority, move it up, save
    expect(page.get_by_role("heading", name="Stay interviews, Engineering")).to_be_visible()
    session_id = int(re.search(r"/sessions/(\d+)", page.url).group(1))
    page.wait_for_load_state()  # topics.js has run: Move up reorders in place
    before = api.get(f"/sessions/{session_id}").get_json()["topics"]
    second = page.locator("#topic-1")
    second.get_by_label("Description").fill("What would keep them here another year?")
    second.get_by_label("Priority").select_option("high")
    second.get_by_role("button", name=f"Move {before[1]['label']} up").click()
    expect(page.locator("[data-topics-status]")).to_contain_text("is now 1 of")
    expect(page.locator("#topic-0").get_by_label("Label")).to_have_value(before[1]["label"])
    expect(page.get_by_text(
        "Only the interviewer sees this — never shown to the participant").first).to_be_visible()
    shoot_and_fit(page, shoot, "session-topics")
    page.get_by_role("button", name="Save topics").first.click()
    expect(page.get_by_role("status").filter(has_text="Topics saved.")).to_be_visible()
    after = api.get(f"/sessions/{session_id}").get_json()["topics"]
    assert [t["id"] for t in after[:2]] == [before[1]["id"], before[0]["id"]]
    assert (after[0]["description"], after[0]["priority"]) == (
        "What would keep them here another year?", "high")

    # invite one person by web link
    page.get_by_role("link", name="Invite & roll out").click()
    expect(page.locator("form[data-autofill=on]")).to_have_count(1)  # invite.js is running
    page.get_by_role("combobox", name="Name", exact=True).fill("Grace Hopper")
    expect(page.get_by_role("combobox", name="Email", exact=True)).to_have_value("grace@ex.com")
    page.get_by_role("combobox", name="Name", exact=True).fill("Linus Torvalds")
    page.get_by_role("combobox", name="Email", exact=True).fill("linus@ex.com")
    page.get_by_label("Channel", exact=True).select_option("web")
    page.get_by_role("button", name="Invite", exact=True).click()
    link = page.get_by_label("Web link for Linus Torvalds")
    expect(link).to_have_value(re.compile(r"/c/[\w-]+$"))
    # an aggregated session's list of invites names nobody
    expect(page.get_by_role("cell", name="Not named (aggregated session)")).to_be_visible()

    # roll out to an audience, with the live count
    page.get_by_label("Field of condition 1").select_option("Country")
    page.get_by_label("Value of condition 1").fill("UK")
    expect(page.locator("[data-count]")).to_have_text("2 people match")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field of condition 4").select_option("Department")
    page.get_by_label("Value of condition 4").fill("Engineering")
    expect(page.locator("[data-count]")).to_have_text("2 people match")
    page.get_by_label("Remind after (days)").fill("3, 7")
    shoot_and_fit(page, shoot, "session-invite")
    page.get_by_role("button", name="Schedule rollout").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Rollout \d+"))).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Rollout scheduled.")).to_be_visible()
    expect(page.get_by_role("cell", name="Ada Lovelace")).to_be_visible()
    shoot_and_fit(page, shoot, "rollout")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel rollout").click()
    expect(page.get_by_role("status").filter(has_text="Rollout cancelled.")).to_be_visible()

    page.goto("/dashboard/sessions")
    expect(page.get_by_role("link", name="Stay interviews, Engineering")).to_be_visible()
    shoot_and_fit(page, shoot, "sessions-list")


def test_a_draft_from_a_description(signed_in, shoot, api):
    page = signed_in("member")
    page.goto("/dashboard/sessions/new")
    page.get_by_label("What do you want to learn?").fill(
        "Why do new engineers leave in their first year?")
    page.get_by_role("button", name="Draft topics").click()
    expect(page.get_by_text("Here is a draft")).to_be_visible()
    shoot_and_fit(page, shoot, "sessions-draft")
    page.get_by_label("Session name").fill("New engineers")
    page.get_by_role("button", name="Create session").click()
    expect(page.get_by_role("heading", name="New engineers")).to_be_visible()


def test_a_locked_session_for_a_viewer(signed_in, shoot, api):
    from core import db
    from core.models import Session, utcnow

    session = api.post("/sessions", {"session_type": "exit-interview",
                                     "name": "Exit interviews"}).get_json()
    with db.session_scope() as s:
        s.get(Session, session["id"]).locked_at = utcnow()
    page = signed_in("owner")
    page.goto(f"/dashboard/sessions/{session['id']}")
    expect(page.get_by_text("This session is locked because people have answered it."))\
        .to_be_visible()
    shoot_and_fit(page, shoot, "session-locked")
    page.get_by_role("button", name="Clone").click()
    expect(page.get_by_role("heading", name="Exit interviews (copy)")).to_be_visible()


def test_topics_reorder_by_keyboard_and_by_dragging(signed_in, api):
    session = api.post("/sessions", {"session_type": "stay-interview",
                                     "name": "Stay"}).get_json()
    labels = [t["label"] for t in session["topics"]]
    page = signed_in("owner")
    page.goto(f"/dashboard/sessions/{session['id']}")
    page.locator("#topic-0").get_by_label("Label").press("Alt+ArrowDown")
    expect(page.locator("#topic-1").get_by_label("Label")).to_have_value(labels[0])
    expect(page.locator("#topic-1").get_by_label("Label")).to_be_focused()
    # drag the third topic's handle onto the top half of the second
    page.locator("#topic-2 .topic__handle").hover()
    page.mouse.down()
    target = page.locator("#topic-1 legend").bounding_box()
    page.mouse.move(target["x"] + 20, target["y"] + 5, steps=5)
    page.mouse.up()
    expect(page.locator("#topic-1").get_by_label("Label")).to_have_value(labels[2])
    page.get_by_role("button", name="Save topics").first.click()
    expect(page.get_by_role("status").filter(has_text="Topics saved.")).to_be_visible()
    saved = [t["label"] for t in api.get(f"/sessions/{session['id']}").get_json()["topics"]]
    assert saved[:3] == [labels[1], labels[2], labels[0]]


def test_settings_invite_new_starters_automatically(signed_in, shoot, api):
    session = api.post("/sessions", {"session_type": "onboarding-30-day",
                                     "name": "Onboarding, 30 days"}).get_json()
    page = signed_in("owner")
    page.goto(f"/dashboard/sessions/{session['id']}")
    page.get_by_role("navigation", name="Session").get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Questions at most")).to_have_value("12")
    page.get_by_label("Tags").fill("onboarding, 2027")
    page.get_by_label("Add a rule").select_option("start_date:after")
    page.get_by_label("Days for the new rule").fill("30")
    page.get_by_label("Local time for the new rule").fill("10:00")
    page.get_by_role("group", name="Channels for the new rule").get_by_role(
        "checkbox", name="Web link").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    expect(page.get_by_label("Rule 1", exact=True)).to_have_value("start_date:after")
    expect(page.get_by_label("Days for rule 1")).to_have_value("30")
    shoot_and_fit(page, shoot, "session-settings")
    now = api.get(f"/sessions/{session['id']}").get_json()
    assert now["tags"] == ["onboarding", "2027"]
    assert now["triggers"] == [{"on": "start_date", "days_after": 30, "local_time": "10:00",
                                "channels": ["web"]}]
