"""Signing in to the dashboard, in a real browser."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD


def test_sign_in_shows_the_sessions_and_sign_out_ends_it(context, make_user, shoot):
    email = make_user("owner")
    page = context.new_page()
    page.goto("/")
    assert "/dashboard/login" in page.url
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    shoot(page, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.get_by_text(f"{email} · owner")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/dashboard/sessions")
    expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()


def test_pages_forbid_inline_script(context, make_user):
    page = context.new_page()
    response = page.goto("/dashboard/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
