"""The dashboard's frame: sign-in, CSRF on every form, headers, and that each page goes
through the API as the signed-in user (tests/browser drives the pages themselves)."""

from __future__ import annotations

import re

import pytest

from core import accounts, db

PASSWORD = "correct horse battery staple"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, role: str = "owner", email: str | None = None) -> str:
    """Sign ``client`` in through the form as a new ``role``; returns the CSRF token."""
    email = email or f"{role}@parley.test"
    with db.session_scope() as s:
        accounts.create_user(s, email=email, role=role, password=PASSWORD)
    token = _csrf(client.get("/dashboard/login").get_data(as_text=True))
    response = client.post("/dashboard/login", data={"csrf": token, "email": email,
                                                      "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return _csrf(client.get("/dashboard/sessions").get_data(as_text=True))


def _pages(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") and "GET" in rule.methods \
                and rule.endpoint != "dashboard.login":
            yield rule.endpoint, re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)


def test_every_page_asks_a_stranger_to_sign_in(app, client):
    pages = list(_pages(app))
    assert pages
    for endpoint, url in pages:
        response = client.get(url)
        assert response.status_code == 302, endpoint
        assert "/dashboard/login?next=" in response.headers["Location"], endpoint
    assert client.get("/").headers["Location"].endswith("/dashboard/")


def test_sign_in_with_a_wrong_password_is_refused(app, client):
    with db.session_scope() as s:
        accounts.create_user(s, email="hr@parley.test", role="owner", password=PASSWORD)
    token = _csrf(client.get("/dashboard/login").get_data(as_text=True))
    response = client.post("/dashboard/login", data={"csrf": token, "email": "hr@parley.test",
                                                      "password": "wrong password!!"})
    assert response.status_code == 401
    assert "don&#39;t match" in response.get_data(as_text=True)


def test_a_form_without_the_csrf_token_changes_nothing(app, client):
    sign_in(client)
    response = client.post("/dashboard/logout", data={})
    assert response.status_code == 302
    assert client.get("/dashboard/sessions").status_code == 200  # still signed in
    response = client.post("/dashboard/logout", data={"csrf": "forged"})
    assert client.get("/dashboard/sessions").status_code == 200


def test_an_expired_form_returns_to_its_page_with_a_message(app, client):
    """The form's own URL may answer only POST: the browser goes back to the page it was
    on (on this site), never to a 405."""
    sign_in(client)
    here = "http://localhost/dashboard/sessions?cursor=ff"
    response = client.post("/dashboard/logout", data={"csrf": "stale"},
                           headers={"Referer": here})
    assert response.headers["Location"] == "/dashboard/sessions?cursor=ff"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "That form had expired" in page
    response = client.post("/dashboard/logout", data={"csrf": "stale"},
                           headers={"Referer": "https://evil.example/dashboard/sessions"})
    assert response.headers["Location"] == "/dashboard/"
    # a form shown at a URL that answers only POST (a refused form, as typed): not there
    response = client.post("/dashboard/logout", data={"csrf": "stale"},
                           headers={"Referer": "http://localhost/dashboard/sessions/1/invites"})
    assert response.headers["Location"] == "/dashboard/"


def test_sign_in_from_another_site_is_refused(app, client):
    """A cross-site form post carries no session cookie (SameSite=Lax), so no key."""
    with db.session_scope() as s:
        accounts.create_user(s, email="hr@parley.test", role="owner", password=PASSWORD)
    response = client.post("/dashboard/login", data={"email": "hr@parley.test",
                                                      "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    assert client.get("/dashboard/sessions").status_code == 302  # not signed in


def test_signing_out_ends_the_sign_in_everywhere(app, client):
    token = sign_in(client)
    cookie = client.get_cookie("parley_session").value
    client.post("/dashboard/logout", data={"csrf": token})
    other = app.test_client()
    other.set_cookie("parley_session", cookie)
    assert other.get("/dashboard/sessions").status_code == 302


@pytest.mark.parametrize("role", ["owner", "member", "viewer", "analyst"])
def test_pages_carry_a_strict_policy(app, client, role):
    sign_in(client, role)
    response = client.get("/dashboard/sessions")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)


def test_a_page_shows_what_the_api_lets_the_role_see(app, client, api, library):
    """A member sees their own sessions only, as GET /api/v1/sessions answers them."""
    assert api.post("/sessions", {"session_type": "stay-interview",
                                  "name": "Owners only"}).status_code == 201
    sign_in(client, "member")
    html = client.get("/dashboard/sessions").get_data(as_text=True)
    assert "Owners only" not in html


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/",
                                    "/\\evil.example/", "/\\\\evil.example",
                                    "/\t/evil.example/", "/\n/evil.example"])
def test_sign_in_never_sends_the_browser_to_another_site(app, client, target):
    with db.session_scope() as s:
        accounts.create_user(s, email="hr@parley.test", role="owner", password=PASSWORD)
    token = _csrf(client.get("/dashboard/login").get_data(as_text=True))
    response = client.post("/dashboard/login", data={
        "csrf": token, "email": "hr@parley.test", "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/dashboard/"


def test_sign_in_returns_to_the_page_asked_for(app, client):
    with db.session_scope() as s:
        accounts.create_user(s, email="hr@parley.test", role="owner", password=PASSWORD)
    asked = client.get("/dashboard/sessions?cursor=ff").headers["Location"]
    token = _csrf(client.get(asked).get_data(as_text=True))
    assert 'name="next" value="/dashboard/sessions?cursor=ff"' in client.get(asked).get_data(
        as_text=True)
    response = client.post("/dashboard/login", data={
        "csrf": token, "email": "hr@parley.test", "password": PASSWORD,
        "next": "/dashboard/sessions?cursor=ff"})
    assert response.headers["Location"] == "/dashboard/sessions?cursor=ff"


def test_make_run_prints_one_live_link_and_only_for_its_own_account(app):
    """Each start ends the link the start before printed; an owner someone else made is
    never given a link by ``make run``."""
    from web.devserver import FIRST_OWNER, first_sign_in

    def token(line: str) -> str:
        return line.split()[0].rsplit("/", 1)[1]

    with db.session_scope() as s:
        first = token(first_sign_in(s))
    with db.session_scope() as s:
        second = token(first_sign_in(s))
    with db.session_scope() as s:
        assert accounts.link_user(s, first) is None
        assert accounts.link_user(s, second).email == FIRST_OWNER


def test_make_run_leaves_a_real_owner_alone(app):
    from web.devserver import first_sign_in

    with db.session_scope() as s:
        accounts.create_user(s, email="boss@company.example", role="owner")
    with db.session_scope() as s:
        said = first_sign_in(s)
    assert "/signin/" not in said
