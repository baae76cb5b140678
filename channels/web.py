"""The web channel: a private link (``/c/<token>``) with a chat page and a small JSON API.

The link token is the credential. Messages are read back from the interview's turns, so
``send`` has nothing to transmit: the page polls ``GET /c/<token>/messages?after=<seq>``.
A GET never changes anything (mail scanners and link previews open links): the interview
starts, with its consent message, on the first POST (the page's Start button).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import select

from bots import interview as interview_bot
from channels.base import BadPayload, Channel, Forbidden
from channels.durable import accept
from core import db, invites, jobs, lifecycle, sessions
from core.interviewer.prompts import OTHER_BROWSER, anonymity_note
from core.messages import MAX_TEXT, Address, Inbound, Outbound, storable
from core.models import Interview, Invite, Turn

log = logging.getLogger(__name__)

SEQ = re.compile(r"[0-9]{1,10}")  # ASCII digits that fit a database integer
NOT_STARTED = "not_started"  # the page's status before the first POST opens an interview


class WebChannel(Channel):
    name = "web"

    def verify(self, request: Any) -> Invite:
        token = (request.view_args or {}).get("token", "")
        with db.session_scope() as s:
            try:
                return invites.by_token(s, token, ttl_days=self.settings.invite_ttl_days)
            except invites.LinkError as exc:
                raise Forbidden(exc.message) from exc

    def parse(self, request: Any, invite: Invite | None = None) -> list[Inbound]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadPayload('the body must be a JSON object: {"text": …} or {"choice": …}')
        text, choice, client_id = body.get("text"), body.get("choice"), body.get("client_id")
        if (text is None) == (choice is None):
            raise BadPayload('send exactly one of "text" or "choice"')
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise BadPayload('"text" must be a non-empty string')
        if text is not None and len(text) > MAX_TEXT:
            raise BadPayload(f'"text" is longer than {MAX_TEXT} characters')
        if choice is not None and (not isinstance(choice, str) or not choice or len(choice) > 50):
            raise BadPayload('"choice" must be one of the offered values, as a string')
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 100):
            raise BadPayload('"client_id" must be a string of at most 100 characters')
        for name, value in (("text", text), ("choice", choice), ("client_id", client_id)):
            if value is not None and storable(value) != value:
                raise BadPayload(f'"{name}" contains a character that cannot be stored '
                                 "(a NUL, or half of a UTF-16 surrogate pair)")
        assert invite is not None
        address = invites.web_address(invite)
        return [Inbound(
            channel=self.name, event_id=f"{invite.id}:{client_id or uuid.uuid4()}",
            sender=address, text=text or "", choice=choice,
        )]

    def render(self, message: Outbound) -> dict[str, Any]:
        return message.to_dict()

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        return None  # the turn is already stored; the page reads it


bp = Blueprint("web_channel", __name__)


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def _link_page(exc: invites.LinkError) -> tuple[str, int]:
    return render_template(
        "link_error.html", title=exc.title, message=exc.message, status=exc.status
    ), exc.status


def _open(token: str, *, start: bool = False) -> dict[str, Any]:
    """The invite and its current interview; with ``start`` (a POST) the interview is
    opened on first contact and its consent message queued."""
    settings = current_app.config["SETTINGS"]
    if not start:
        return _snapshot(token, settings, start=False)
    with db.session_scope() as s:
        invite_id = invites.by_token(s, token, ttl_days=settings.invite_ttl_days).id
    with contextlib.ExitStack() as held:
        try:  # two Start presses at once must open one interview, not two
            held.enter_context(jobs.lock(f"invite:{invite_id}", wait=10))
        except RedisError as exc:  # a message is still accepted while Redis is away
            log.warning("queue unreachable, invite %s opened without its lock: %s",
                        invite_id, exc)
        return _snapshot(token, settings, start=True)


def _snapshot(token: str, settings, *, start: bool) -> dict[str, Any]:
    with db.session_scope() as s:
        invite = invites.by_token(s, token, ttl_days=settings.invite_ttl_days)
        created = False
        if start:
            interview, created = invites.open_interview(s, invite)
            ids = [r.id for r in interview_bot.start(s, interview)] if created else []
        else:
            interview, ids = invites.current_interview(s, invite), []
        snapshot = {
            "invite_id": invite.id, "interview_id": interview.id if interview else None,
            "created": created, "anonymous": invite.session.anonymity == "aggregated",
            "state": interview.state if interview else NOT_STARTED,
            "session_name": invite.session.name,
            "note": anonymity_note(invite.session.anonymity,
                                   sessions.settings_of(invite.session).anonymity_threshold),
        }
    jobs.enqueue_deliveries(ids)
    return snapshot


# An anonymous conversation belongs to the browser that started it. HR holds every link
# (it sends them), so without this HR could read anyone's answers by opening their link.
BROWSER_COOKIE = "parley_browser"


def _browser_key(interview_id: int) -> str:
    secret = current_app.config["SETTINGS"].secret_key
    return hmac.new(secret.encode(), f"web-browser:{interview_id}".encode(),
                    hashlib.sha256).hexdigest()


def _someone_else(info: dict[str, Any]) -> bool:
    """True when an anonymous session's conversation is asked for by another browser."""
    if not info["anonymous"] or info["interview_id"] is None or info["created"]:
        return False
    held = request.cookies.get(BROWSER_COOKIE, "")
    return not hmac.compare_digest(held.encode(), _browser_key(info["interview_id"]).encode())


def _other_browser() -> tuple[Response, int]:
    return _error(403, "other_browser", OTHER_BROWSER)


def _bind(response: Response, token: str, info: dict[str, Any]) -> Response:
    """Give the browser that has just started an anonymous conversation its key."""
    if info["anonymous"] and info["created"]:
        settings = current_app.config["SETTINGS"]
        response.set_cookie(
            BROWSER_COOKIE, _browser_key(info["interview_id"]), path=f"/c/{token}",
            max_age=90 * 24 * 3600, httponly=True, samesite="Strict",
            secure=settings.effective_public_base_url.startswith("https://"))
    return response


def _link_error(exc: invites.LinkError) -> tuple[Response, int]:
    return _error(exc.status, "link_" + ("expired" if exc.status == 410 else "unknown"),
                  exc.message)


@bp.after_request
def private_headers(response: Response) -> Response:
    """A page whose link is its credential: never cached, never sent on as a referrer,
    never indexed or framed (the web chat here, the 1-on-1 pages in web/one_on_ones.py)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    return response


@bp.get("/c/<token>")
def chat_page(token: str):
    try:
        info = _open(token)
    except invites.LinkError as exc:
        return _link_page(exc)
    return render_template(
        "chat.html", token=token, session_name=info["session_name"],
        anonymity_note=info["note"], started=info["state"] != NOT_STARTED,
        messages_url=url_for("web_channel.messages", token=token),
        start_url=url_for("web_channel.start", token=token),
    )


@bp.post("/c/<token>/start")
def start(token: str):
    """Open the interview (idempotent): the consent message follows on the messages feed."""
    try:
        info = _open(token, start=True)
    except invites.LinkError as exc:
        return _link_error(exc)
    if _someone_else(info):
        return _other_browser()
    return _bind(jsonify(status=info["state"], interview=info["interview_id"]), token, info)


@bp.get("/c/<token>/messages")
def messages(token: str):
    """Turns after ``after`` of the current interview. A page that names an older
    interview (``interview``: HR restarted it) gets the current one from the start."""
    after, seen = request.args.get("after", "0"), request.args.get("interview", "")
    if not SEQ.fullmatch(after) or not (seen == "" or SEQ.fullmatch(seen)):
        return _error(400, "bad_request",
                      '"after" and "interview" must be non-negative integers')
    try:
        info = _open(token)
    except invites.LinkError as exc:
        return _link_error(exc)
    current = info["interview_id"]
    if current is None:
        return jsonify(status=NOT_STARTED, interview=None, messages=[])
    if _someone_else(info):
        return _other_browser()
    after = int(after) if seen in ("", str(current)) else 0
    # Turns first, then the state: a state read after the turns is never older than them,
    # and when it is final we read the turns again so the closing message is included.
    out = _turns_after(current, after)
    with db.session_scope() as s:
        state = s.get(Interview, current).state
    if state in lifecycle.TERMINAL:
        out = _turns_after(current, after)
    return jsonify(status=state, interview=current, messages=out)


def _turns_after(interview_id: int, after: int) -> list[dict[str, Any]]:
    with db.session_scope() as s:
        turns = s.scalars(select(Turn).where(
            Turn.interview_id == interview_id, Turn.seq > after).order_by(Turn.seq))
        return [{"seq": t.seq, "role": t.role, "text": t.text, "choices": t.choices}
                for t in turns]


@bp.post("/c/<token>/messages")
def post_message(token: str):
    """A message: the first POST also starts the interview, so the text meets the consent."""
    channel = WebChannel(current_app.config["SETTINGS"])
    try:
        info = _open(token)
    except invites.LinkError as exc:
        return _link_error(exc)
    if _someone_else(info):
        return _other_browser()
    if info["state"] in lifecycle.TERMINAL:
        return _error(410, "interview_ended", "This conversation has ended.")
    with db.session_scope() as s:
        invite = s.get(Invite, info["invite_id"])
        try:
            inbounds = channel.parse(request, invite)
        except BadPayload as exc:
            return _error(400, "bad_request", str(exc))
    if info["state"] == NOT_STARTED:
        try:
            info = _open(token, start=True)
        except invites.LinkError as exc:  # expired a moment ago
            return _link_error(exc)
        if _someone_else(info):  # another browser started it a moment ago
            return _other_browser()
    accept(inbounds)
    return _bind(jsonify(accepted=True), token, info), 202
