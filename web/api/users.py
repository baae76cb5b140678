"""Accounts: sign in and out, who am I, HR users (owners only) and personal API tokens.

A browser signs in with a password and gets the signed session cookie (HttpOnly,
SameSite=Lax) plus a CSRF token its changes must echo in ``X-CSRF-Token``; a script gets a
bearer token from the same answer (12 hours) or makes a personal one (``POST /tokens``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from flask import jsonify, request, url_for
from flask import session as flask_session
from sqlalchemy import delete, select

from core import accounts, db
from core.models import ApiToken, Session, SessionShare, User, utcnow
from web.api import audit, body, bp, get_or_404, iso, page, principal, unprocessable
from web.api.one_on_ones import _when
from web.errors import ApiError
from web.schemas import Login, SessionShares, TokenCreate, UserCreate, UserPatch


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "role": u.role, "active": u.active,
            "has_password": u.password_hash is not None, "created_at": iso(u.created_at),
            "last_login_at": iso(u.last_login_at)}


def token_json(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at), "last_used_at": iso(t.last_used_at)}


def start_browser_session(user: User, sign_in: ApiToken) -> str:
    """Sign this browser in as ``user`` for as long as the ``sign_in`` token row lives
    (signing out revokes it); returns the CSRF token its changes must send."""
    flask_session.clear()
    flask_session.permanent = True
    flask_session.update(uid=user.id, ver=user.session_version, tok=sign_in.id,
                         csrf=secrets.token_urlsafe(24))
    return flask_session["csrf"]


@bp.post("/auth/login")
def login():
    data = body(Login)
    with db.session_scope() as s:
        try:
            user = accounts.authenticate(s, data.email, data.password,
                                         client=request.remote_addr or "")
        except accounts.TooManyAttempts:
            raise ApiError(429, "too_many_attempts", "too many failed sign-ins for this "
                           "address: try again in 15 minutes") from None
        if user is None:
            raise ApiError(401, "unauthorized", "wrong email or password")
        row, value = accounts.issue_token(s, user, kind="login", name="sign-in")
        csrf = start_browser_session(user, row)
        return jsonify(user=user_json(user), token=value, expires_at=iso(row.expires_at),
                       csrf_token=csrf)


@bp.post("/auth/logout")
def logout():
    """End this sign-in: its token row, which the cookie and the bearer token of one
    sign-in share (a personal token is revoked with DELETE /tokens/<id> instead)."""
    who = principal()
    with db.session_scope() as s:
        if who.token_id is not None:
            row = s.get(ApiToken, who.token_id)
            if row is not None and row.kind == "login":
                row.revoked_at = utcnow()
    flask_session.clear()
    return "", 204


@bp.get("/me")
def me():
    who = principal()
    with db.session_scope() as s:
        user = s.get(User, who.user_id) if who.user_id is not None else None
        return jsonify(role=who.role, user=user_json(user) if user else None,
                       bootstrap=user is None)


# ---- users (owners) ---------------------------------------------------------------------------

@bp.get("/users")
def list_users():
    with db.session_scope() as s:
        rows, next_link = page(s, select(User))
        return jsonify(users=[user_json(u) for u in rows], next=next_link)


@bp.post("/users")
def create_user():
    data = body(UserCreate)
    with db.session_scope() as s:
        try:
            user = accounts.create_user(s, email=data.email, role=data.role, name=data.name,
                                        password=data.password)
        except accounts.AccountError as exc:
            raise unprocessable(str(exc)) from None
        out = user_json(user)
        if data.password is None:  # the new user signs in once by link and sets a password
            _, value = accounts.issue_token(s, user, kind="link", name="first sign-in")
            out["signin_link"] = accounts.signin_url(value)
        audit(s, "user.create", "user", user.id, role=user.role)
        return jsonify(out), 201


@bp.patch("/users/<int:user_id>")
def patch_user(user_id: int):
    data = body(UserPatch)
    with db.session_scope() as s:
        user = get_or_404(s, User, user_id, "user")
        try:
            accounts.update_user(s, user, **data.model_dump(exclude_unset=True))
        except accounts.AccountError as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "user.update", "user", user.id,
              fields=sorted(data.model_dump(exclude_unset=True)))
        return jsonify(user_json(user))


@bp.delete("/users/<int:user_id>")
def delete_user(user_id: int):
    """Disable the account and revoke its tokens; the row stays for the audit log."""
    with db.session_scope() as s:
        user = get_or_404(s, User, user_id, "user")
        try:
            accounts.disable_user(s, user)
        except accounts.AccountError as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "user.disable", "user", user.id)
        return jsonify(user_json(user))


# ---- personal API tokens ----------------------------------------------------------------------

def _own_user(s) -> User:
    who = principal()
    user = s.get(User, who.user_id) if who.user_id is not None else None
    if user is None:
        raise unprocessable("ADMIN_API_TOKEN belongs to no account: create a user "
                            "(POST /api/v1/users) and make tokens as that user")
    return user


@bp.get("/tokens")
def list_tokens():
    with db.session_scope() as s:
        user = _own_user(s)
        rows, next_link = page(s, select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.kind == "personal",
            ApiToken.revoked_at.is_(None)))
        return jsonify(tokens=[token_json(t) for t in rows], next=next_link)


@bp.post("/tokens")
def create_token():
    data = body(TokenCreate)
    expires_at = _when(data.expires_at, "expires_at")
    if expires_at is not None and expires_at <= utcnow() + timedelta(minutes=1):
        raise unprocessable("expires_at: a time in the future")
    with db.session_scope() as s:
        user = _own_user(s)
        row, value = accounts.issue_token(s, user, kind="personal", name=data.name,
                                          expires_at=expires_at)
        audit(s, "token.create", "token", row.id, name=row.name)
        return jsonify({**token_json(row), "token": value}), 201


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int):
    with db.session_scope() as s:
        user = _own_user(s)
        row = s.get(ApiToken, token_id) if 0 < token_id <= 2**31 - 1 else None
        if row is None or row.user_id != user.id or row.kind != "personal" \
                or row.revoked_at is not None:
            raise ApiError(404, "not_found", f"no token with id {token_id}")
        row.revoked_at = utcnow()
        audit(s, "token.revoke", "token", row.id)
        return "", 204


# ---- sharing a session with members ----------------------------------------------------------

@bp.put("/sessions/<int:session_id>/shares")
def share_session(session_id: int):
    """Replace who the session is shared with. Its owner (or an owner) decides; a member it
    is shared with cannot share it on."""
    data = body(SessionShares)
    who = principal()
    with db.session_scope() as s:
        session = get_or_404(s, Session, session_id, "session")
        if who.role != "owner" and session.owner_user_id != who.user_id:
            raise ApiError(403, "forbidden", "only the session's owner shares it")
        ids = sorted(set(data.user_ids))
        found = set(s.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True),
                                                    User.role == "member")))
        if missing := [i for i in ids if i not in found]:
            raise unprocessable(f"user_ids: not active members: {missing}")
        s.execute(delete(SessionShare).where(SessionShare.session_id == session.id))
        s.add_all(SessionShare(session_id=session.id, user_id=i) for i in ids)
        audit(s, "session.share", "session", session.id, users=ids)
        return jsonify(session_id=session.id, user_ids=ids,
                       url=url_for("api.get_session", session_id=session.id))
