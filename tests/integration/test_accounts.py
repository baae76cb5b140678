"""HR accounts (issue 14, item 1): a first owner from the command line, sign-in by link and
by password, the cookie with its CSRF token, personal tokens, and accounts that stop
working the moment they are disabled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from core import db
from core.models import ApiToken, AuditLog, User
from tests.support.factories import PASSWORD, ApiClient, make_session, user_client
from web import cli

LINK = re.compile(r"https?://\S+/signin/(\S+)")


def _form_key(page) -> str:
    return re.search(rb'name="form_key" value="([^"]+)"', page.data).group(1).decode()


def _login(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_the_first_owner_signs_in_by_link_and_sets_a_password(app, client, capsys):
    assert cli.main(["users", "create", "--owner", "Hana@Northwind.example",
                     "--name", "Hana Ito"]) == 0
    out = capsys.readouterr().out
    assert "created owner hana@northwind.example" in out
    token = LINK.search(out).group(1)

    # opening the link (a mail scanner, a preview) spends nothing
    for _ in range(2):
        page = client.get(f"/signin/{token}")
        assert page.status_code == 200 and b"New password" in page.data
    # another site cannot post the form (no form cookie there): nothing is spent
    forged = app.test_client().post(f"/signin/{token}", data={"password": PASSWORD,
                                                             "form_key": "guess"})
    assert forged.status_code == 400
    short = client.post(f"/signin/{token}", data={"password": "short",
                                                  "form_key": _form_key(page)})
    assert short.status_code == 422 and b"at least 12" in short.data
    done = client.post(f"/signin/{token}", data={"password": PASSWORD,
                                                 "form_key": _form_key(short)})
    assert done.status_code == 200 and b"hana@northwind.example" in done.data
    me = client.get("/api/v1/me").get_json()  # the browser is signed in
    assert me["role"] == "owner" and me["user"]["name"] == "Hana Ito"

    # once only
    other = app.test_client()
    page = other.get(f"/signin/{token}")
    assert page.status_code == 404 and b"doesn&#39;t work" in page.data
    again = client.post(f"/signin/{token}", data={"password": PASSWORD,
                                                  "form_key": _form_key(short)})
    assert again.status_code == 404
    assert app.test_client().get("/signin/prl_forged").status_code == 404

    signed_in = _login(app.test_client(), "hana@northwind.example")
    assert signed_in.status_code == 200
    body = signed_in.get_json()
    assert body["user"]["role"] == "owner" and body["token"].startswith("prl_")
    with db.session_scope() as s:  # stored hashed: neither value is in the database
        digests = set(s.scalars(select(ApiToken.digest)))
        hashes = set(s.scalars(select(User.password_hash)))
    assert body["token"] not in digests and token not in digests
    assert all(h.startswith("$argon2id$") for h in hashes)


def test_the_cli_takes_a_password_on_stdin(app, client, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "create", "--email", "ana@hr.example", "--role", "analyst",
                     "--password-stdin"]) == 0
    assert "signin" not in capsys.readouterr().out
    assert _login(client, "ana@hr.example").status_code == 200
    assert cli.main(["users", "create", "--owner", "ana@hr.example"]) == 1  # exists
    assert cli.main(["users", "link", "ana@hr.example"]) == 0
    assert LINK.search(capsys.readouterr().out)


def test_wrong_passwords_are_refused_then_throttled(api, client):
    user_client(api, "member", "mo@hr.example")
    assert _login(client, "mo@hr.example", "not the password").status_code == 401
    assert _login(client, "nobody@hr.example").status_code == 401  # same answer
    for _ in range(9):
        _login(client, "mo@hr.example", "still wrong")
    throttled = _login(client, "mo@hr.example")  # even the right one, for a while
    assert throttled.status_code == 429
    assert _login(client, "MO@hr.example", "wrong").status_code == 429  # case does not help


def test_a_browser_change_needs_the_csrf_token(api, app, library):
    user_client(api, "member", "mia@hr.example")
    browser = app.test_client()
    csrf = _login(browser, "mia@hr.example").get_json()["csrf_token"]
    new = {"session_type": "stay-interview", "name": "From the browser"}
    refused = browser.post("/api/v1/sessions", json=new)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf"
    forged = browser.post("/api/v1/sessions", json=new, headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    made = browser.post("/api/v1/sessions", json=new, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert browser.get("/api/v1/sessions").status_code == 200  # a read needs none
    copied = browser.get_cookie("parley_session").value
    assert browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code \
        == 204
    assert browser.get("/api/v1/me").status_code == 401
    # a copy of the cookie kept from before is dead too: signing out ended the sign-in
    thief = app.test_client()
    thief.set_cookie("parley_session", copied)
    assert thief.get("/api/v1/me").status_code == 401


def test_a_browser_upload_needs_the_csrf_token_too(api, app):
    user_client(api, "owner", "ola@hr.example")
    browser = app.test_client()
    csrf = _login(browser, "ola@hr.example").get_json()["csrf_token"]
    csv = b"name,email\nZed,zed@example.com\n"
    refused = browser.post("/api/v1/directory/import", data=csv,
                           content_type="text/csv")
    assert refused.status_code == 403
    done = browser.post("/api/v1/directory/import", data=csv, content_type="text/csv",
                        headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.get_json()


def test_personal_tokens_are_shown_once_and_end_when_revoked_or_expired(api, client):
    member = user_client(api, "member", "max@hr.example")
    made = member.post("/tokens", {"name": "nightly export"})
    assert made.status_code == 201
    value, token_id = made.get_json()["token"], made.get_json()["id"]
    listed = member.get("/tokens").get_json()["tokens"]
    assert {t["name"] for t in listed} == {"tests", "nightly export"}
    assert all("token" not in t for t in listed)
    script = ApiClient(client, value)
    assert script.get("/me").get_json()["user"]["email"] == "max@hr.example"

    assert member.delete(f"/tokens/{token_id}").status_code == 204
    assert script.get("/me").status_code == 401
    assert member.delete(f"/tokens/{token_id}").status_code == 404

    later = member.post("/tokens", {"name": "short", "expires_at": (
        datetime.now(UTC) + timedelta(days=1)).isoformat()}).get_json()
    assert ApiClient(client, later["token"]).get("/me").status_code == 200
    with db.session_scope() as s:
        s.execute(update(ApiToken).where(ApiToken.id == later["id"])
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert ApiClient(client, later["token"]).get("/me").status_code == 401
    past = member.post("/tokens", {"name": "x", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    # the bootstrap token has no account to hold tokens
    assert api.post("/tokens", {"name": "x"}).status_code == 422


def test_owners_manage_accounts_and_a_disabled_one_stops_at_once(api, app):
    owner = user_client(api, "owner", "olga@hr.example")
    viewer = user_client(api, "viewer", "vic@hr.example")
    browser = app.test_client()
    _login(browser, "vic@hr.example")
    assert browser.get("/api/v1/me").status_code == 200
    invited = owner.post("/users", {"email": "new@hr.example", "role": "member"}).get_json()
    assert invited["signin_link"].startswith("http://parley.test/signin/prl_")
    assert viewer.post("/users", {"email": "x@hr.example", "role": "owner"}).status_code \
        == 403

    # an owner's password reset ends the account's sign-ins and tokens
    reset = user_client(api, "member", "rey@hr.example")
    assert owner.patch(f"/users/{reset.user['id']}", {"password": "a brand new password"}) \
        .status_code == 200
    assert reset.get("/me").status_code == 401
    assert _login(app.test_client(), "rey@hr.example", "a brand new password").status_code \
        == 200

    # a role change applies at once, to tokens and cookies alike
    promoted = owner.patch(f"/users/{viewer.user['id']}", {"role": "member"})
    assert promoted.get_json()["role"] == "member"
    assert viewer.get("/me").get_json()["role"] == "member"
    assert browser.get("/api/v1/me").status_code == 401  # signed out: sign in again

    assert owner.delete(f"/users/{viewer.user['id']}").get_json()["active"] is False
    assert viewer.get("/me").status_code == 401
    assert _login(app.test_client(), "vic@hr.example").status_code == 401

    # the last owner stays an owner (the bootstrap token is not an account)
    olga = owner.user["id"]
    refused = owner.patch(f"/users/{olga}", {"role": "viewer"})
    assert refused.status_code == 422 and "last owner" in refused.get_json()["error"]["message"]
    assert owner.delete(f"/users/{olga}").status_code == 422
    assert owner.post("/users", {"email": "OLGA@hr.example", "role": "viewer"}).status_code \
        == 422  # one account per address


def test_the_audit_log_names_who_did_it(api, library):
    member = user_client(api, "member", "meg@hr.example")
    session = make_session(member)
    with db.session_scope() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "session.create",
                                              AuditLog.target_id == session["id"]))
        assert row.actor == "meg@hr.example"
