"""A loopback Twilio Messages API (STYLE.md 12) and a signer for Twilio's webhooks.

It keeps what Twilio keeps: each message with its sid, sender, body and StatusCallback, so
``GET Messages.json?To=`` can list them; numbers that opted out on the carrier's side
(error 21610); bodies over 1,600 characters (error 21617). It paces like a sender does:
with ``rate`` (segments per second per sender) a message that comes before its sender's
segments are through is answered 429 (error 20429) and recorded in ``limited``. Any send
can be told to fail next: ``fail_next(Reply(500))``, ``fail_next(error(21610))`` …
"""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from twilio.request_validator import RequestValidator

from tests.support.stub_server import Recorded, Reply, StubServer

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-twilio-auth-token"
FROM = "+15005550006"
PUBLIC_URL = "http://parley.test"


def error(code: int, status: int = 400, message: str = "refused") -> Reply:
    """A Twilio REST error, as Twilio writes it."""
    return Reply(status, {"code": code, "message": message, "status": status,
                          "more_info": f"https://www.twilio.com/docs/errors/{code}"})


def cost(body: str) -> int:
    """Segments as a carrier counts them (independently of Parley's count): GSM-7 when
    every character is in the GSM alphabet, else UCS-2."""
    gsm = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
    extended = "^{}\\[~]|€\f"
    if all(c in gsm or c in extended for c in body):
        septets = sum(2 if c in extended else 1 for c in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


@dataclass
class Sent:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str
    segments: int
    at: float  # time.monotonic() when the stub received it


class TwilioStub(StubServer):
    def __init__(self, *, rate: float | None = None, tolerance: float = 0.25,
                 account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.rate, self.tolerance = rate, tolerance
        self.tat: dict[str, float] = {}  # GCRA: each sender's theoretical arrival time
        self.sent: list[Sent] = []
        self.limited: list[Recorded] = []  # sends refused for coming too soon (rate)
        self.opted_out: set[str] = set()  # numbers the carrier knows said STOP
        self.failures: deque[Reply | None] = deque()  # None: this one goes through
        self.lose_answers = 0  # accept this many texts but answer 502 (the answer is lost)
        self.on_accept = None  # called with each accepted text before the answer goes back
        self.lock = threading.Lock()
        super().__init__(responder=self._answer)

    def fail_next(self, *replies: Reply) -> None:
        self.failures.extend(replies)

    def fail_later(self, after: int, reply: Reply) -> None:
        """Accept the next ``after`` texts, then answer ``reply`` once."""
        self.failures.extend([None] * after + [reply])

    def to(self, number: str) -> list[Sent]:
        return [m for m in self.sent if m.to == number]

    def _answer(self, request: Recorded) -> Reply:
        path, _, query = request.path.partition("?")
        if not path.startswith(f"/2010-04-01/Accounts/{self.account_sid}/Messages"):
            return error(20404, 404, "not found")
        if request.headers.get("Authorization") != self._basic():
            return error(20003, 401, "Authenticate")
        if request.method == "GET":
            return self._list(dict(urllib.parse.parse_qsl(query)))
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        return self._create(request, form)

    def _basic(self) -> str:
        import base64

        raw = f"{self.account_sid}:{self.auth_token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _create(self, request: Recorded, form: dict) -> Reply:
        sender = form.get("MessagingServiceSid") or form.get("From", "")
        body, to = form.get("Body", ""), form.get("To", "")
        with self.lock:
            now = time.monotonic()
            if self.rate is not None:
                tat = self.tat.get(sender, now)
                if tat - now > self.tolerance:
                    self.limited.append(request)
                    return error(20429, 429, "Too Many Requests")
            scripted = self.failures.popleft() if self.failures else None
            if scripted is not None:
                return scripted
            if to in self.opted_out:
                return error(21610, 400, "Attempt to send to unsubscribed recipient")
            if len(body) > 1600:
                return error(21617, 400, "The concatenated message body exceeds the 1600 "
                                         "character limit")
            segments = cost(body)
            if self.rate is not None:
                self.tat[sender] = max(self.tat.get(sender, now), now) + segments / self.rate
            sid = f"SM{len(self.sent) + 1:032x}"
            self.sent.append(Sent(sid, to, sender, body, form.get("StatusCallback", ""),
                                  segments, now))
            if self.lose_answers:
                self.lose_answers -= 1
                return error(20500, 502, "Bad Gateway")
        if self.on_accept is not None:
            self.on_accept(self.sent[-1])
        return Reply(201, self._resource(self.sent[-1]))

    def _resource(self, m: Sent) -> dict:
        return {"sid": m.sid, "account_sid": self.account_sid, "to": m.to, "from": m.sender,
                "body": m.body, "status": "queued", "num_segments": str(m.segments),
                "date_created": format_datetime(datetime.now(UTC)), "date_sent": None,
                "error_code": None, "direction": "outbound-api",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}.json"}

    def _list(self, query: dict) -> Reply:
        size = int(query.get("PageSize", 50))
        found = [self._resource(m) for m in reversed(self.sent)
                 if m.to == query.get("To", m.to)][:size]
        return Reply(200, {"messages": found, "page": 0, "page_size": size,
                           "next_page_uri": None, "previous_page_uri": None,
                           "first_page_uri": None, "uri": "/Messages.json"})


def signature(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature exactly as Twilio computes it (the SDK's own signer)."""
    return RequestValidator(token).compute_signature(url, params)


def inbound_form(sender: str, body: str, sid: str, to: str = FROM) -> dict:
    """The form Twilio posts to the messaging webhook for an incoming text."""
    return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
            "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
            "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion":
            "2010-04-01"}
