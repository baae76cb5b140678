"""The SMS channel: interviews by text message through Twilio's Messages API.

Inbound texts arrive at ``POST /twilio/sms``, signed by Twilio (X-Twilio-Signature over the
public URL and the form), are stored once by MessageSid and answered at once with empty
TwiML; the worker replies through the REST API. ``POST /twilio/status`` moves an outbox
row to delivered, undelivered or failed. The opt-out ledger is law: ``send`` refuses a
number that opted out before Twilio is called. The only module that imports twilio.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import BadPayload, Channel, Forbidden, NeedsOperator, PermanentError, RetryAfter
from channels.durable import CLAIM_TTL, accept
from core import db, engine, phones
from core.config import Settings
from core.interviewer import prompts
from core.messages import Address, Inbound, Outbound
from core.models import OutboundRecord
from core.ratelimit import Limit

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
MAX_BODY = 1600  # Twilio refuses a longer body (error 21617)
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
# Errors no retry can fix: the number cannot receive this message.
PERMANENT = {21211: "invalid To number", 21214: "To number cannot be reached",
             21408: "no permission to send to this region", 21610: "the number opted out",
             21612: "the To number cannot be reached from this sender",
             21614: "To number is not a mobile number", 21617: "body too long"}
# Errors about our own account or sender: an operator must act.
OPERATOR = {20003: "authentication failed", 20404: "account or sender not found",
            21606: "the From number cannot send SMS", 21659: "the From number is not ours",
            30002: "account suspended"}
SKEW = timedelta(seconds=5)  # how far Twilio's clock may be behind ours (find_sent)
# Delivery reports that mean the number will not take our texts: recorded as an opt-out
# the recipient unsubscribed (30004 "message blocked" is not here: a carrier's filter of
# our sender blocks everyone, and must not opt every recipient out)
BLOCKED = {str(OPTED_OUT)}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATUSES = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed"}

# ---- text that fits a phone --------------------------------------------------------------

GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQ"
        "RSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each costs two septets (escape + char)
_GSM7, _EXTENDED = frozenset(GSM7), frozenset(GSM7_EXTENDED)
# Typography that would turn a whole message into UCS-2 (half the characters per segment)
# for no gain in meaning: em dashes, curly quotes, bullets, ellipses, odd spaces.
PLAIN = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-",
                       "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                       "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2022": "-",
                       "\u00b7": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ",
                       "\u2009": " ", "\u200b": "", "\u2713": "", "\u2192": "->"})


def plain(text: str) -> str:
    """``text`` with typographic punctuation as GSM-7 has it; other characters kept."""
    return text.translate(PLAIN)


def is_gsm7(text: str) -> bool:
    return all(c in _GSM7 or c in _EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` costs: GSM-7 160 septets (153 per part when split;
    the extended characters take two and are never split), else UCS-2 70 UTF-16 units (67
    per part; a surrogate pair is never split). One emoji makes a 160-character text 3."""
    if not text:
        return 1
    if is_gsm7(text):
        units = [2 if c in _EXTENDED else 1 for c in text]
        single, part = 160, 153
    else:
        units = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, part = 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def split(text: str, limit: int = MAX_BODY) -> list[str]:
    """``text`` in bodies of at most ``limit`` characters, cut between sentences (or lines,
    or words, when one sentence is longer than that)."""
    if len(text) <= limit:
        return [text]
    pieces = re.split(r"(?<=[.!?])\s+|\n+", text)
    bodies, current = [], ""
    for piece in pieces:
        while len(piece) > limit:  # one sentence longer than a body: cut between words
            cut = piece.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            bodies, current = _flush(bodies, current), ""
            bodies.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        joined = f"{current} {piece}".strip() if current else piece
        if len(joined) <= limit:
            current = joined
        else:
            bodies, current = _flush(bodies, current), piece
    return [b for b in _flush(bodies, current) if b]


def _flush(bodies: list[str], current: str) -> list[str]:
    return [*bodies, current] if current else bodies


def render_text(message: Outbound) -> list[str]:
    """The bodies to send: GSM-7 punctuation, the choices as one numbered reply line
    ("Reply 1 to start, 2 to decline."), split above 1,600 characters. A question's
    command buttons are left out: the consent and HELP name the words for them."""
    text = plain(message.text)
    choices = list(message.choices)
    if choices and not engine.asks_for_words(choices):
        text += "\n\n" + prompts.sms_choices([(c.value, c.label) for c in choices])
    return split(text)


# ---- the channel -----------------------------------------------------------------------

class _Loopback(TwilioHttpClient):
    """Twilio's own HTTP client, sending to ``base`` instead of api.twilio.com (the test
    seam TWILIO_API_BASE_URL); no retries inside: the outbox retries, asking first."""

    def __init__(self, base: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base = base

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API):
            url = self.base + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


class SmsChannel(Channel):
    name = "sms"
    TIMEOUT = 10.0

    def __init__(self, settings: Settings):
        super().__init__(settings)
        # ref → {body: sid} of the parts of a long text that got through (this attempt, or
        # an earlier one ``find_sent`` found): a retry sends only the rest
        self._sent: dict[str, dict[str, str]] = {}

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        return settings.sms_enabled

    # ---- the edge -------------------------------------------------------------------------

    def public_url(self, req: Any) -> str:
        """The URL Twilio called, as the public sees it: PUBLIC_BASE_URL and the path (and
        query), never ``request.url``, which is the proxy's view."""
        query = req.query_string.decode()
        return (self.settings.effective_public_base_url + req.path
                + (f"?{query}" if query else ""))

    def verify(self, request: Any) -> None:
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(self.settings.twilio_auth_token)
        if not signature or not validator.validate(self.public_url(request), request.form,
                                                   signature):
            raise Forbidden("invalid Twilio signature")

    def parse(self, request: Any) -> list[Inbound]:
        return parse_form(request.form.to_dict(), self.settings.sms_default_region)

    # ---- rendering ------------------------------------------------------------------------

    def render(self, message: Outbound) -> list[str]:
        return render_text(message)

    # ---- I/O --------------------------------------------------------------------------------

    def client(self) -> Client:
        return Client(self.settings.twilio_account_sid, self.settings.twilio_auth_token,
                      http_client=_Loopback(self.settings.twilio_api_base_url, self.TIMEOUT))

    def _sender(self) -> dict[str, str]:
        sender = self.settings.twilio_from
        return {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}

    def resolve(self, address: Address) -> Address:
        """Refuse an opted-out number before it takes a slot of the sender's rate."""
        _refuse_opted_out(address)
        return address

    def pacing(self, address: Address, message: Outbound | None = None) -> list[Limit]:
        """The sender's segments per second (a long code sends 1), counted in segments."""
        cost = sum(segments(b) for b in self.render(message)) if message else 1
        return [Limit.rate(f"sms:from:{self.settings.twilio_from}", self.settings.twilio_rate,
                           cost=cost)]

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        bodies = self.render(message)
        _refuse_opted_out(address)  # again: a STOP may have come while this one waited
        with db.session_scope() as s:
            _keep_segments(s, ref, sum(segments(b) for b in bodies))
        sent = self._sent.setdefault(ref, {})  # parts through already: never sent twice
        messages = self.client().messages
        for body in bodies:
            if body in sent:
                continue
            try:
                sent[body] = messages.create(to=address.key, body=body, **self._sender(),
                                             status_callback=self._callback(ref)).sid
            except TwilioRestException as exc:
                raise self._error(exc, address) from exc
            _keep_sid(ref, sent[body])
        self._sent.pop(ref, None)
        return sent[bodies[-1]]

    def _callback(self, ref: str) -> str:
        return f"{self.settings.effective_public_base_url}/twilio/status?ref={ref}"

    def _error(self, exc: TwilioRestException, address: Address) -> Exception:
        """Twilio's refusal sorted into retry-later, permanent (21610 also records the
        opt-out) and operator; anything else is transient and retried."""
        if exc.status == 429:
            return RetryAfter(1.0)
        if exc.code == OPTED_OUT:
            with db.session_scope() as s:
                phones.opt_out(s, address.key, f"Twilio error {OPTED_OUT}")
        if exc.code in PERMANENT:
            return PermanentError(f"Twilio error {exc.code}: {PERMANENT[exc.code]}")
        if exc.code in OPERATOR or exc.status == 401:
            return NeedsOperator(f"Twilio error {exc.code}: {OPERATOR.get(exc.code, exc.msg)}"
                                 ": check TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
        return RuntimeError(f"Twilio answered {exc.status} (error {exc.code}): {exc.msg}")

    def find_sent(self, address: Address, ref: str) -> str | None:
        """Twilio keeps no reference of ours: an earlier attempt got through when a message
        to this number has one of its bodies and is one of its parts (its SID on the row), or
        was made since the row was written (less ``SKEW`` for the clocks) and is no other
        row's part (a HELP or PAUSED text sent again later is not this one). All there: its
        id; some: send only the rest."""
        with db.session_scope() as s:
            record = s.get(OutboundRecord, _record_id(ref))
            if record is None:
                return None
            bodies, own = self.render(Outbound.from_dict(record.payload)), record.provider_ids
            since = record.created_at - SKEW
            others = _others_parts(s, record.id, since)
        own = set(own or ())
        sent: dict[str, str] = {}
        for m in self.client().messages.list(to=address.key, limit=50):
            if m.body not in bodies or m.sid in others:
                continue
            created = m.date_created
            if m.sid in own or created is None or created >= since.replace(microsecond=0):
                sent.setdefault(m.body, m.sid)
        if all(b in sent for b in bodies):
            return sent[bodies[-1]]
        self._sent[ref] = sent
        return None


def _refuse_opted_out(address: Address) -> None:
    """The law, checked before Twilio is called: an opted-out number gets nothing."""
    with db.session_scope() as s:
        if phones.opted_out(s, address.key):
            raise PermanentError(f"{address.key} opted out of texts")


def _record_id(ref: str) -> int:
    return int(ref.removeprefix("out-"))


def _keep_sid(ref: str, sid: str) -> None:
    """Write down a part the moment Twilio took it (its own transaction: a later part may
    fail and roll nothing back)."""
    with db.session_scope() as s:
        record = s.get(OutboundRecord, _record_id(ref), with_for_update=True)
        if record is not None:
            record.provider_ids = [*(record.provider_ids or []), sid]


def _others_parts(s, record_id: int, since) -> set[str]:
    """The SIDs of the parts other SMS rows sent since ``since`` (a row that sent then was
    claimed at most a claim's life before)."""
    row = OutboundRecord
    found = s.scalars(select(row.provider_ids).where(
        row.channel == "sms", row.id != record_id, row.provider_ids.is_not(None),
        row.claimed_at >= since - CLAIM_TTL))
    return {sid for ids in found for sid in ids or ()}


def _keep_segments(s, ref: str, count: int) -> None:
    record = s.get(OutboundRecord, _record_id(ref))
    if record is not None:
        record.segments = count


# ---- pure converters -------------------------------------------------------------------------

def parse_form(form: dict[str, str], region: str) -> list[Inbound]:
    """An inbound SMS (Twilio's form fields) → one Inbound from the sender's E.164 number."""
    sid, sender = form.get("MessageSid") or form.get("SmsSid"), form.get("From")
    if not sid or not sender:
        raise BadPayload("an inbound SMS needs MessageSid and From")
    if len(sid) > 100:
        raise BadPayload("MessageSid is too long")
    try:
        number = phones.normalise(sender, region)
    except phones.InvalidPhone:
        raise BadPayload("From is not a phone number") from None
    return [Inbound(channel="sms", event_id=sid, sender=Address("sms", number),
                    text=form.get("Body") or "")]


def delivery(form: dict[str, str]) -> tuple[str, str] | None:
    """A status callback → (outbox status, error) for the final states; None otherwise."""
    status = STATUSES.get(form.get("MessageStatus") or form.get("SmsStatus") or "")
    if status is None:
        return None
    code = form.get("ErrorCode") or ""
    return status, f"Twilio error {code}" if code else ""


# ---- Flask wiring ----------------------------------------------------------------------------

bp = Blueprint("sms", __name__)


def _verified() -> tuple[SmsChannel | None, Any]:
    channel = SmsChannel(current_app.config["SETTINGS"])
    try:
        channel.verify(request)
    except Forbidden as exc:
        log.warning("Twilio request refused: %s", exc)
        return None, ({"error": {"code": "forbidden", "message": str(exc)}}, 403)
    return channel, None


@bp.post("/twilio/sms")
def inbound_sms():
    """Store the text once (by MessageSid) and answer at once: the reply goes out later."""
    channel, refused = _verified()
    if channel is None:
        return refused
    try:
        accept(channel.parse(request))
    except BadPayload as exc:
        return {"error": {"code": "bad_request", "message": str(exc)}}, 400
    return Response(EMPTY_TWIML, mimetype="text/xml")


@bp.post("/twilio/status")
def status_callback():
    """Twilio's StatusCallback: the outbox row becomes delivered, undelivered or failed."""
    channel, refused = _verified()
    if channel is None:
        return refused
    ref = request.args.get("ref", "")
    if not re.fullmatch(r"out-\d{1,10}", ref) or int(ref[4:]) >= 2**31:
        return {"error": {"code": "bad_request", "message": "ref: not one of our messages"}}, 400
    final = delivery(request.form.to_dict())
    if final is not None:
        blocked = request.form.get("ErrorCode", "") in BLOCKED
        _deliveries(_record_id(ref), *final, blocked=blocked)
    return Response(EMPTY_TWIML, mimetype="text/xml")


def _deliveries(record_id: int, status: str, error: str, *, blocked: bool = False) -> None:
    """A later or worse report wins: a part that failed keeps the row failed. A row still
    to be sent (pending or held: a part of a long text failed, the retry sends the rest)
    keeps its status, or the report of part 1 would end it before part 2 went out; an
    error is noted."""
    with db.session_scope() as s:
        record = s.get(OutboundRecord, record_id, with_for_update=True)
        if record is None or record.channel != "sms":
            return
        if blocked:  # the number opted out on the carrier's side: the ledger learns it
            phones.opt_out(s, record.address.get("key") or "", error)
        if record.status in ("undelivered", "failed") and status == "delivered":
            return
        if record.status not in ("pending", "held"):
            record.status = status
        if error:
            record.last_error = error


def init_app(app: Flask, settings: Settings) -> None:
    app.register_blueprint(bp)
