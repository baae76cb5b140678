"""The dashboard in a real browser: Playwright for Python driving Debian's Chromium
(``apt-get install chromium``; Playwright's own browser download cannot reach the internet
here) against the app served over real HTTP on a loopback port.

Without /usr/bin/chromium these tests skip, unless PARLEY_BROWSER_REQUIRED=1 (``.ci/run``
sets it) makes that a failure. Screenshots of each page, at 1,280 px and at a 390 px phone,
go to ``var/screenshots/<back end>/`` for people to look at.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core import accounts, db

CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / (
    "postgresql" if os.environ.get("TEST_DATABASE_URL") else "embedded")
PASSWORD = "correct horse battery staple"
WIDTHS = {"desktop": (1280, 860), "phone": (390, 844)}


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests, closed when they are done: Playwright's sync API
    keeps an asyncio loop running in this thread while it lives, and code that calls
    ``asyncio.run`` (the Teams channel) cannot run under it."""
    if not CHROMIUM.exists():
        if os.environ.get("PARLEY_BROWSER_REQUIRED") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test's app over HTTP on an ephemeral loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def make_user(app):
    """``make_user(role)`` → the email of a new HR account with PASSWORD."""

    def make(role: str = "owner", email: str | None = None) -> str:
        email = email or f"{role}@parley.test"
        with db.session_scope() as s:
            accounts.create_user(s, email=email, role=role, name=role.title(),
                                 password=PASSWORD)
        return email

    return make


@pytest.fixture
def context(browser, live_server):
    """A fresh browser profile (its own cookies) at 1,280 px, its pages on live_server."""
    ctx = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def signed_in(context, make_user):
    """``signed_in(role)`` → a page signed in through the sign-in form as a new user."""

    def sign_in(role: str = "owner"):
        email = make_user(role)
        page = context.new_page()
        page.goto("/dashboard/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/dashboard/**")
        return page

    return sign_in


@pytest.fixture
def shoot():
    """``shoot(page, name)``: screenshots of the page at 1,280 px and at 390 px, full
    length, saved as var/screenshots/<back end>/<name>-desktop.png and -phone.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        before = page.viewport_size
        for label, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(before)

    return take
