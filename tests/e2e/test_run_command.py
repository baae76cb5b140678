"""`python app.py` (what `make run` runs) from nothing: real HTTP, real worker and scheduler
processes, SQLite + embedded Redis. A person opens the printed link and finishes."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support import run_command
from tests.support.run_command import call, wait_for

RICH = ("What keeps me here is the team and the trust I get to decide how to work; "
        "I would like clearer growth paths and fewer late releases though.")


@pytest.fixture
def running(tmp_path):
    with run_command.running(tmp_path) as app:
        yield app


def test_make_run_serves_a_complete_stay_interview(running):
    base, link, token = running["base"], running["link"], running["token"]
    assert link.startswith(base + "/c/")
    status, health = call(f"{base}/api/v1/healthz")
    assert health == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    status, types = call(f"{base}/api/v1/session-types", token=token)
    assert {t["slug"] for t in types["session_types"]} == {
        "stay-interview", "exit-interview", "onboarding-30-day", "engagement-pulse"}
    status, people = call(f"{base}/api/v1/people?q=northwind", token=token)
    assert len(people["people"]) == 30 and people["next"] is None  # a page is 50

    status, page = call(link)
    assert status == 200 and "Stay Interview" in page
    call(f"{link}/start", {})  # the page's Start button: opening the link changes nothing
    seen = 0

    def next_reply():
        nonlocal seen
        _, body = call(f"{link}/messages?after={seen}")
        replies = [m for m in body["messages"] if m["role"] != "participant"]
        if body["messages"]:
            seen = body["messages"][-1]["seq"]
        return replies and (body["status"], replies[-1])

    state, consent = wait_for(next_reply, "the consent message")
    assert state == "consent" and [c["value"] for c in consent["choices"]] == [
        "accept", "decline"]
    call(f"{link}/messages", {"choice": "accept", "client_id": "c0"})
    for n in range(1, 40):
        state, reply = wait_for(next_reply, f"reply {n}")
        if state == "completed":
            break
        call(f"{link}/messages", {"text": RICH, "client_id": f"c{n}"})
    assert state == "completed" and "Thank you" in reply["text"]


def test_make_run_prints_the_dashboard_and_a_first_owner_sign_in(running):
    """A new HR user opens the printed link, chooses a password, and is in the dashboard,
    where the demo session is listed; the link works once."""
    base, link = running["base"], running["owner"]
    assert link.startswith(base + "/signin/")
    browser = requests.Session()
    form = browser.get(link, timeout=10)
    key = re.search(r'name="form_key" value="([^"]+)"', form.text).group(1)
    done = browser.post(link, data={"form_key": key, "password": "a long new password"},
                        timeout=10)
    assert done.status_code == 200 and "Open the dashboard" in done.text
    sessions = browser.get(f"{base}/dashboard/", timeout=10)
    assert sessions.url == f"{base}/dashboard/sessions"
    assert "Stay Interview — demo" in sessions.text
    assert requests.get(link, timeout=10).status_code == 404  # spent
