"""The 1-on-1 page of one person (``/o/<token>``): their pairs, each meeting's agenda, their
own private notes, and forms to add a talking point, mark one, close a meeting, keep a note
and choose the cadence. It is the thread of every pair no chat tool reaches (core/one_on_ones),
and a view of all of them for anyone.

The link is the credential: an itsdangerous token signed with SECRET_KEY (salt
``one-on-ones``) carrying the person's id, good for ``LINK_DAYS``. HR gets it from
``GET /api/v1/people/<id>/one-on-ones-link`` (web/api/one_on_one_links.py). Rotating
SECRET_KEY ends every link at once; there is no way to end one link alone.

A GET never changes anything (link previews and mail scanners open links): even the
current meeting is only read here, and opened by the first POST that needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session as DB
from werkzeug.exceptions import HTTPException

from channels.web import private_headers
from core import db, jobs
from core import one_on_ones as pairs_core
from core.models import AgendaItem, OneOnOne, OutboundRecord, Person
from web.schemas import MAX_ID

log = logging.getLogger(__name__)

SALT = "one-on-ones"
LINK_DAYS = 90
FORM_FIELD = "form_key"

bp = Blueprint("one_on_one_pages", __name__)


# ---- words ----------------------------------------------------------------------------------

class PageError(Exception):
    """A page that cannot be shown as asked: an unknown (404), expired (410) or forbidden
    (403) request, rendered as link_error.html."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def unknown_link() -> PageError:
    return PageError(404, "We couldn't find this link",
                     "Check that you copied the whole link, or ask HR to send you a new one.")


def expired_link() -> PageError:
    return PageError(410, "This link has expired",
                     f"Links to your 1-on-1s are valid for {LINK_DAYS} days. Please ask HR "
                     "for a new one.")


def not_yours() -> PageError:
    return PageError(404, "We couldn't find this 1-on-1",
                     "It is not one of the 1-on-1s on your page. Go back to your page and "
                     "try again.")


def stale_form() -> PageError:
    return PageError(403, "Please reload your page",
                     "This form did not come from your 1-on-1 page. Open your link again "
                     "and repeat what you did.")


KINDS = {"manager": "with your manager", "report": "with your report",
         "anyone": "Meet with Anyone"}
STATES = {"open": "Open", "carried": "Kept for next time", "discussed": "Discussed"}
RETIRED = "Ended — the reporting line changed. Its history stays here, read-only."


# ---- the link -------------------------------------------------------------------------------

def _serializer(secret: str, issued_at: datetime | None = None) -> URLSafeTimedSerializer:
    if issued_at is None:
        return URLSafeTimedSerializer(secret, salt=SALT)
    stamp = int(issued_at.timestamp())

    class IssuedAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(secret, salt=SALT, signer=IssuedAt)


SHARED = "shared"  # a link HR asked for: the agenda, never the person's private notes


def make_token(secret: str, person_id: int, *, issued_at: datetime | None = None,
               own: bool = True) -> str:
    """The token of a person's page; ``issued_at`` signs with another time (tests, and a
    link issued now expires ``LINK_DAYS`` from now). ``own``: a link the person got
    themselves (Slack's ``/parley page``, answered to them alone), which shows their private
    notes; a link HR asked for (the API) carries ``SHARED`` and never does — HR holds it."""
    return _serializer(secret, issued_at).dumps(person_id if own else [person_id, SHARED])


def read_token(secret: str, token: str) -> tuple[int, datetime, bool]:
    """(person id, expiry, own) of a token; PageError for a tampered, unknown or expired
    one."""
    try:
        value, issued = _serializer(secret).loads(
            token, max_age=LINK_DAYS * 86400, return_timestamp=True)
    except SignatureExpired:
        raise expired_link() from None
    except BadData:
        raise unknown_link() from None
    own = not isinstance(value, list)
    person_id = value if own else (value[0] if len(value) == 2 and value[1] == SHARED
                                   else None)
    if not isinstance(person_id, int) or isinstance(person_id, bool) \
            or not 0 < person_id <= MAX_ID:
        raise unknown_link()
    return person_id, issued.astimezone(UTC) + timedelta(days=LINK_DAYS), own


def link(person_id: int, *, now: datetime | None = None, own: bool = False,
         ) -> tuple[str, datetime]:
    """The page's full URL and when it stops working: for HR to share (``own`` False: no
    private notes on it), or for the person alone."""
    settings = current_app.config["SETTINGS"]
    now = now or datetime.now(UTC)
    token = make_token(settings.secret_key, person_id, issued_at=now, own=own)
    base = settings.effective_public_base_url.rstrip("/")
    return f"{base}/o/{token}", now.replace(microsecond=0) + timedelta(days=LINK_DAYS)


def form_key(token: str) -> str:
    """The hidden field every form of the page carries, checked on each POST.

    The token in the URL is the credential, and it is also what defeats cross-site request
    forgery: a forged form on another site has to name the URL, which it cannot know. The
    field adds a second proof that costs no cookie and no server state: an HMAC of the token
    under SECRET_KEY (with its own purpose, so it is never a token itself), which only a page
    this server rendered carries. A POST built from the URL alone (a link copied into a
    tool, a scanner following it, a stale bookmark of a form URL) is refused. A SameSite
    cookie would do the same but needs a session the page otherwise has no use for."""
    secret = current_app.config["SETTINGS"].secret_key
    return hmac.new(secret.encode(), f"one-on-one-form:{token}".encode(),
                    hashlib.sha256).hexdigest()


def _person_id(token: str) -> tuple[int, datetime]:
    person_id, expires_at, _ = read_token(current_app.config["SETTINGS"].secret_key, token)
    return person_id, expires_at


def _own(token: str) -> bool:
    return read_token(current_app.config["SETTINGS"].secret_key, token)[2]


def _person(s: DB, person_id: int) -> Person:
    person = s.get(Person, person_id)
    if person is None or not person.active:
        raise unknown_link()
    return person


# ---- the page -------------------------------------------------------------------------------

def _kind(pair: dict[str, Any], me: int) -> str:
    if pair["kind"] != pairs_core.REPORTING:
        return KINDS["anyone"]
    return KINDS["report"] if pair["manager"]["id"] == me else KINDS["manager"]


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    topic = item["assigned_topic"]
    if topic is not None:
        by = f"Assigned by {topic['assigned_by']}"
    elif item["added_by"] is not None:
        by = f"Added by {item['added_by']['name']}"
    else:
        by = "Added by someone who has left"
    state = STATES.get(item["state"], item["state"])
    return {**item, "by": by, "state_label": state,
            "carried_label": f"carried over {item['carried']}×" if item["carried"] else ""}


def page_data(s: DB, person: Person, *, own: bool = True) -> list[dict[str, Any]]:
    """Every pair of ``person`` (active first) as the page shows it; notes are their own,
    and only on a link they got themselves (``own``)."""
    out = []
    for pair in pairs_core.pairs_of(s, person.id):
        data = pairs_core.describe(s, pair, meetings=True)
        meetings = [{**m, "agenda": [_item_view(i) for i in m["agenda"]
                                     if i["state"] != "withdrawn"]}
                    for m in data["meetings"]]
        current = next((m for m in reversed(meetings) if m["closed_at"] is None), None)
        past = [m for m in reversed(meetings) if m["closed_at"] is not None]
        other = pairs_core.other(pair, person.id)
        out.append({
            **data, "other": other.name, "kind_label": _kind(data, person.id),
            "current": current, "past": past,
            "notes": [{"text": n.text, "created_at": n.created_at}
                      for n in pairs_core.notes_of(s, pair, person.id)] if own else [],
        })
    return out


def _render(token: str, *, error: str | None = None, status: int = 200):
    person_id, expires_at = _person_id(token)
    own = _own(token)
    with db.session_scope() as s:
        person = _person(s, person_id)
        pairs = page_data(s, person, own=own)
        name = person.name
    return render_template(
        "one_on_ones.html", token=token, name=name, pairs=pairs, error=error, own=own,
        form_key=form_key(token), expires_at=expires_at, cadences=pairs_core.CADENCES,
        retired_text=RETIRED, day=_day,
    ), status


def _day(value: str | datetime | None) -> str:
    """"29 Nov 2026" from a datetime or an ISO string (the page shows days, in UTC)."""
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{when.day} {when:%b %Y}"


def _error_page(exc: PageError) -> tuple[str, int]:
    return render_template("link_error.html", title=exc.title, message=exc.message,
                           status=exc.status), exc.status


def http_error_page(exc: HTTPException) -> tuple[str, int]:
    """A wrong address under /o/ (a form's URL opened directly, a body too large) in the
    page's own style rather than the framework's."""
    status = exc.code or 500
    if status == 405:  # a form's address opened as a link
        return _error_page(PageError(405, "Open your page from its link",
                                     "This address only takes the page's forms. Open the "
                                     "link HR gave you to see your 1-on-1s."))
    if status == 413:
        return _error_page(PageError(413, "That was too long",
                                     "Please shorten what you wrote and try again."))
    if status >= 500:
        return _error_page(PageError(status, "Something went wrong on our side",
                                     "Nothing you did caused this. Please try again in a "
                                     "moment."))
    return _error_page(PageError(status, "We couldn't find this page",
                                 "Open the link HR gave you to see your 1-on-1s."))


@bp.errorhandler(PageError)
def _page_error(exc: PageError):
    return _error_page(exc)


bp.after_request(private_headers)  # the token is in the URL, as the web chat's


@bp.get("/o/<token>")
def page(token: str):
    return _render(token)


# ---- the forms ------------------------------------------------------------------------------

FIELD_ERROR = re.compile(r"^\w+: ")  # "text: …", a fault in what was typed (else a state)


def _act(token: str, action: Callable[[DB, Person], list[OutboundRecord]]):
    """One form: check the link and the form field, run ``action`` as the link's person in
    one transaction, deliver what it wrote to the thread, and go back to the page (303).
    A PairError shows the page again with its message (400 for a field, 409 for a state)."""
    person_id, _ = _person_id(token)
    sent = request.form.get(FORM_FIELD, "")
    if not hmac.compare_digest(sent.encode(), form_key(token).encode()):
        log.warning("1-on-1 page form without its key (person %s)", person_id)
        raise stale_form()
    try:
        with db.session_scope() as s:
            records = action(s, _person(s, person_id))
            ids = [r.id for r in records if r is not None]
    except pairs_core.NotInPair:
        raise not_yours() from None
    except pairs_core.PairError as exc:
        message = str(exc)
        return _render(token, error=message,
                       status=400 if FIELD_ERROR.match(message) else 409)
    jobs.enqueue_deliveries(ids)
    return redirect(url_for("one_on_one_pages.page", token=token), code=303)


def _pair(s: DB, pair_id: int, person: Person) -> OneOnOne:
    """The person's pair, or 404 whether it does not exist or is someone else's."""
    pair = s.get(OneOnOne, pair_id) if 0 < pair_id <= MAX_ID else None
    if pair is None or person.id not in (pair.first_id, pair.second_id):
        raise not_yours()
    return pair


def _item(s: DB, item_id: int, person: Person) -> tuple[AgendaItem, OneOnOne]:
    item = s.get(AgendaItem, item_id) if 0 < item_id <= MAX_ID else None
    if item is None or item.state == "withdrawn":
        raise not_yours()
    pair = _pair(s, item.one_on_one_id, person)
    if pair.active and item.meeting_id != pairs_core.current_meeting(s, pair).id:
        raise pairs_core.PairError("this talking point belongs to a meeting that is over")
    return item, pair


def _text() -> str:
    return request.form.get("text", "")


@bp.post("/o/<token>/pairs/<int:pair_id>/agenda")
def add_item(token: str, pair_id: int):
    def action(s: DB, person: Person):
        return pairs_core.add_item(s, _pair(s, pair_id, person), _text(), person)[1]
    return _act(token, action)


def _mark(token: str, item_id: int, state: str):
    def action(s: DB, person: Person):
        item, _pair_of_item = _item(s, item_id, person)
        return pairs_core.mark(s, item, state, person)
    return _act(token, action)


@bp.post("/o/<token>/items/<int:item_id>/discussed")
def discussed(token: str, item_id: int):
    return _mark(token, item_id, "discussed")


@bp.post("/o/<token>/items/<int:item_id>/carry")
def carry(token: str, item_id: int):
    return _mark(token, item_id, "carried")


@bp.post("/o/<token>/items/<int:item_id>/reopen")
def reopen(token: str, item_id: int):
    return _mark(token, item_id, "open")


@bp.post("/o/<token>/pairs/<int:pair_id>/close")
def close(token: str, pair_id: int):
    def action(s: DB, person: Person):
        return pairs_core.close_meeting(s, _pair(s, pair_id, person), person)
    return _act(token, action)


@bp.post("/o/<token>/pairs/<int:pair_id>/notes")
def add_note(token: str, pair_id: int):
    def action(s: DB, person: Person):
        if not _own(token):  # HR's link: notes are kept only through the person's own
            raise not_yours()
        pairs_core.add_note(s, _pair(s, pair_id, person), person, _text())
        return []
    return _act(token, action)


@bp.post("/o/<token>/pairs/<int:pair_id>/cadence")
def cadence(token: str, pair_id: int):
    def action(s: DB, person: Person):
        days = request.form.get("cadence_days", "")
        if not days.isascii() or not days.isdigit() or len(days) > 3:
            raise pairs_core.PairError("cadence_days: choose how often you meet")
        pairs_core.set_cadence(s, _pair(s, pair_id, person), int(days), person)
        return []
    return _act(token, action)
