"""The one-time sign-in link (``/signin/<token>``) of a new HR account or of
``parley users create`` without a password: a page with a form to set a password.

A GET only shows the form (mail scanners and link previews open links); the POST spends
the link — once, whoever clicks twice — sets the password when one is given, and signs
the browser in (the same cookie ``POST /api/v1/auth/login`` sets).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from channels.web import private_headers
from core import accounts, db
from web.api.users import start_browser_session

bp = Blueprint("signin", __name__)
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


@bp.get("/signin/<token>")
def form(token: str):
    if len(token) > 100 or not _usable(token):
        return _link_error()
    return render_template("signin.html", token=token, error=None)


@bp.post("/signin/<token>")
def spend(token: str):
    if len(token) > 100:
        return _link_error()
    password = request.form.get("password", "")
    if password and len(password) < accounts.MIN_PASSWORD:
        if not _usable(token):
            return _link_error()
        return render_template("signin.html", token=token, error=(
            f"Choose a password of at least {accounts.MIN_PASSWORD} characters.")), 422
    with db.session_scope() as s:
        user = accounts.use_link(s, token)
        if user is None:
            return _link_error()
        if password:
            accounts.update_user(s, user, password=password)
        start_browser_session(user)
        return render_template("signin_done.html", user=user, password_set=bool(password))
