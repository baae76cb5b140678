"""The one-time sign-in link (``/signin/<token>``) of a new HR account or of
``parley users create`` without a password: a page with a form to set a password.

A GET only shows the form (mail scanners and link previews open links); the POST spends
the link — once, whoever clicks twice — sets the password when one is given, and signs
the browser in (the same cookie ``POST /api/v1/auth/login`` sets).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, make_response, render_template, request

from channels.web import private_headers
from core import accounts, db
from web.api.users import start_browser_session

bp = Blueprint("signin", __name__)
FORM_COOKIE = "parley_signin_form"
bp.after_request(private_headers)  # the link is the credential, as the web chat's is

UNKNOWN = ("This sign-in link doesn't work",
           "It was used already, has expired (links last 24 hours) or was copied only in "
           "part. Ask an owner of your Parley workspace for a new one.")


def _link_error():
    title, message = UNKNOWN
    return render_template("link_error.html", status=404, title=title, message=message), 404


def _usable(token: str) -> bool:
    with db.session_scope() as s:
        return accounts.link_user(s, token) is not None


def _form(token: str, error: str | None = None, status: int = 200):
    """The form, with a key that must come back both as a field and as a cookie this page
    set (SameSite=Strict): another site cannot post it, so nobody can sign a victim's
    browser into an account of theirs with their own link."""
    key = secrets.token_urlsafe(24)
    response = make_response(render_template("signin.html", token=token, error=error,
                                             form_key=key), status)
    response.set_cookie(FORM_COOKIE, key, max_age=3600, path="/signin", httponly=True,
                        samesite="Strict", secure=request.is_secure)
    return response


@bp.get("/signin/<token>")
def form(token: str):
    if len(token) > 100 or not _usable(token):
        return _link_error()
    return _form(token)


@bp.post("/signin/<token>")
def spend(token: str):
    if len(token) > 100:
        return _link_error()
    sent, kept = request.form.get("form_key", ""), request.cookies.get(FORM_COOKIE, "")
    if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        if not _usable(token):
            return _link_error()
        return _form(token, "That form had expired: press Sign in again.", 400)
    password = request.form.get("password", "")
    if password and len(password) < accounts.MIN_PASSWORD:
        if not _usable(token):
            return _link_error()
        return _form(token, f"Choose a password of at least {accounts.MIN_PASSWORD} "
                     "characters.", 422)
    with db.session_scope() as s:
        user = accounts.use_link(s, token)
        if user is None:
            return _link_error()
        if password:
            accounts.update_user(s, user, password=password)
        row, _ = accounts.issue_token(s, user, kind="login", name="sign-in link")
        start_browser_session(user, row)
        return render_template("signin_done.html", user=user, password_set=bool(password))
