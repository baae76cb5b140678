"""Microsoft's side of a Teams bot, on loopback (STYLE.md 12):

- ``BotConnector``: the Bot Connector at the activities' ``serviceUrl`` (send, update,
  member lookup, activity members), recording every call. Like Teams it assigns every
  message its own id, unique only within its conversation (a bot-supplied ``id`` is
  ignored), and ``GET …/activities/{id}/members`` answers with the conversation's roster
  whatever the id (so it cannot tell whether a message was sent); any operation can be told to fail
  next (429 + Retry-After, 412, 502, 504, 403 …), and it paces like Teams: a send over any
  per-conversation window is answered 429 and recorded in ``limited``. It also serves the
  OpenID metadata and JWKS that inbound tokens are checked against.
- ``Authority``: an https login authority (its own certificate, trusted through
  REQUESTS_CA_BUNDLE) that issues the bot's client-credentials token.
- ``sign``: a Bot Connector token, signed with the test key exactly as the connector
  signs (RS256, issuer https://api.botframework.com, aud = app id, serviceurl claim).
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import ssl
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from tests.support.stub_server import Recorded, Reply, StubServer

APP_ID = "00000000-aaaa-bbbb-cccc-000000000001"
APP_PASSWORD = "test-bot-secret"
TENANT = "11111111-2222-3333-4444-555555555555"
BOT_ID = f"28:{APP_ID}"
BOT_TOKEN = "bot-token-from-the-authority"
KID = "test-key-1"
ISSUER = "https://api.botframework.com"
WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
TOLERANCE = 0.25  # seconds of loopback jitter between our clock and the stub's

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(service_url: str, *, app_id: str = APP_ID, key=KEY, issuer: str = ISSUER,
         expires_in: int = 3600, kid: str = KID, **claims) -> str:
    """A Bot Connector token for a request to the bot, as the connector signs it."""
    now = int(time.time())
    payload = {"iss": issuer, "aud": app_id, "serviceurl": service_url, "nbf": now - 10,
               "iat": now - 10, "exp": now + expires_in, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


@dataclass
class Sent:
    conversation: str
    id: str
    activity: dict
    at: float
    token: str
    updates: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.activity.get("text") or ""

    @property
    def card(self) -> dict:
        attachments = self.activity.get("attachments") or [{}]
        return attachments[0].get("content") or {}

    def current_card(self) -> dict:
        return (self.updates[-1].get("attachments") or [{}])[0].get("content") if \
            self.updates else self.card

    def buttons(self) -> list[str]:
        return [a["data"]["choice"] for a in self.current_card().get("actions") or []]

    def card_text(self) -> str:
        return " ".join(b.get("text", "") for b in self.current_card().get("body") or [])


class BotConnector(StubServer):
    def __init__(self, roster: dict[str, dict] | None = None, *, pace: bool = True):
        self.roster = dict(roster or {})  # Teams user id → member (aadObjectId, email, upn)
        self.sent: list[Sent] = []
        self.by_conversation: dict[str, list[Sent]] = defaultdict(list)
        self.arrived = threading.Condition()
        self.limited: list[Recorded] = []
        self.failures: dict[str, deque[Reply]] = defaultdict(deque)
        self.pace = pace
        self.hold_on_send = 0.0  # seconds to sit on a send after keeping it
        self.lock = threading.Lock()
        self.ids: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))
        super().__init__(responder=self._answer)

    @property
    def service_url(self) -> str:
        return f"{self.url}/teams/"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/openid"

    def fail_next(self, operation: str, *replies: Reply) -> None:
        """``operation``: send, update, member or lookup."""
        self.failures[operation].extend(replies)

    def to(self, conversation: str) -> list[Sent]:
        with self.arrived:
            return list(self.by_conversation.get(conversation, ()))

    def wait(self, conversation: str, index: int, timeout: float) -> Sent | None:
        """The ``index``-th message kept for ``conversation`` (0-based), waiting for it."""
        with self.arrived:
            if self.arrived.wait_for(
                    lambda: len(self.by_conversation[conversation]) > index, timeout):
                return self.by_conversation[conversation][index]
        return None

    def calls(self, operation: str) -> list[Recorded]:
        return [r for r in self.requests if _operation(r) == operation]

    def _answer(self, request: Recorded) -> Reply:
        path = request.path.split("?")[0]
        if path == "/openid":
            return Reply(200, {"issuer": ISSUER, "jwks_uri": f"{self.url}/keys",
                               "id_token_signing_alg_values_supported": ["RS256"]})
        if path == "/keys":
            jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
            return Reply(200, {"keys": [{**jwk, "kid": KID, "use": "sig",
                                         "endorsements": ["msteams", "directline", "webchat"]}]})
        operation = _operation(request)
        if operation is None:
            return Reply(404, {"error": {"code": "NotFound", "message": path}})
        parts = [urllib.parse.unquote(p) for p in
                 path.removeprefix("/teams/v3/conversations/").split("/")]
        conversation = parts[0]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if operation == "send" and self.pace:
            refused = self._pace(request, conversation)
            if refused is not None:
                return refused
        if self.failures[operation]:
            return self.failures[operation].popleft()
        if operation == "send":
            body = request.json()
            with self.lock, self.arrived:
                sent_id = f"1:{next(self.ids[conversation])}"  # Teams' own, per chat
                sent = Sent(conversation, sent_id, body, request.at, token)
                self.sent.append(sent)
                self.by_conversation[conversation].append(sent)
                self.arrived.notify_all()
            return Reply(201, {"id": sent_id}, delay=self.hold_on_send)
        if operation == "update":
            for m in self.sent:
                if m.id == parts[2] and m.conversation == conversation:
                    m.updates.append(request.json())
                    return Reply(200, {"id": m.id})
            return Reply(404, {"error": {"code": "ActivityNotFound", "message": parts[2]}})
        if operation == "lookup":  # Teams: the conversation's members, for any id
            return Reply(200, [{"id": uid, **m} for uid, m in self.roster.items()])
        member = self.roster.get(parts[2])
        if member is None:
            return Reply(404, {"error": {"code": "MemberNotFound", "message": parts[2]}})
        return Reply(200, {"id": parts[2], **member})

    def _pace(self, request: Recorded, conversation: str) -> Reply | None:
        """Teams' per-conversation windows: a send that would break one is refused."""
        with self.lock:
            kept = [m.at for m in self.by_conversation.get(conversation, ())]
            for count, seconds in WINDOWS:
                recent = [t for t in kept if t > request.at - seconds + TOLERANCE]
                if len(recent) >= count:
                    self.limited.append(request)
                    wait = max(1, int(recent[-count] + seconds - request.at) + 1)
                    return Reply(429, {"error": {"code": "TooManyRequests",
                                                 "message": "slow down"}},
                                 headers={"Retry-After": str(wait)})
        return None


def _operation(request: Recorded) -> str | None:
    path = request.path.split("?")[0]
    if not path.startswith("/teams/v3/conversations/"):
        return None
    parts = path.removeprefix("/teams/v3/conversations/").split("/")
    if len(parts) == 2 and parts[1] == "activities" and request.method == "POST":
        return "send"
    if len(parts) == 3 and parts[1] == "activities" and request.method == "PUT":
        return "update"
    if len(parts) == 4 and parts[3] == "members":
        return "lookup"
    if len(parts) == 3 and parts[1] == "members":
        return "member"
    return None


def windows_kept(sent: list[Sent]) -> bool:
    """Did every conversation's sends keep every Teams window (within TOLERANCE)?"""
    by_conversation = defaultdict(list)
    for m in sent:
        by_conversation[m.conversation].append(m.at)
    for times in by_conversation.values():
        times.sort()
        for count, seconds in WINDOWS:
            for i in range(count, len(times)):
                if times[i] - times[i - count] < seconds - TOLERANCE:
                    return False
    return True


class Authority(StubServer):
    """An https login authority: tenant discovery and the client-credentials token."""

    def __init__(self, directory: Path):
        self.cert_file = directory / "authority.pem"
        key_file = directory / "authority.key"
        _certificate(self.cert_file, key_file)
        super().__init__(responder=self._answer)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = self.url.replace("http://", "https://")

    def tokens(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/token")]

    def _answer(self, request: Recorded) -> Reply:
        path = request.path.split("?")[0]
        tenant = path.strip("/").split("/")[0]
        base = f"{self.url}/{tenant}"
        if path.endswith("openid-configuration"):
            return Reply(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                               "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                               "issuer": f"{base}/v2.0"})
        if path.endswith("/token"):
            form = dict(p.split("=", 1) for p in request.body.decode().split("&") if "=" in p)
            if form.get("client_secret") != APP_PASSWORD:
                return Reply(401, {"error": "invalid_client",
                                   "error_description": "bad secret"})
            return Reply(200, {"access_token": BOT_TOKEN, "token_type": "Bearer",
                               "expires_in": 3600})
        return Reply(404, {"error": "not_found"})


def _certificate(cert_file: Path, key_file: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


class Person:
    """A Teams user and their personal chat with the bot."""

    def __init__(self, n: int = 1, *, aad: str | None = None, name: str = "Ada"):
        self.user_id = f"29:user-{n}"
        self.aad = aad or str(uuid.UUID(int=n))
        self.conversation = f"a:personal-{n}"
        self.name = name

    def base(self, connector: BotConnector, kind: str, activity_id: str | None = None) -> dict:
        return {
            "type": kind, "id": activity_id or f"act-{uuid.uuid4().hex[:12]}",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "serviceUrl": connector.service_url, "channelId": "msteams",
            "from": {"id": self.user_id, "name": self.name, "aadObjectId": self.aad},
            "conversation": {"id": self.conversation, "conversationType": "personal",
                             "tenantId": TENANT},
            "recipient": {"id": BOT_ID, "name": "Parley"},
            "channelData": {"tenant": {"id": TENANT}},
        }

    def message(self, connector, text: str, activity_id: str | None = None, **extra) -> dict:
        return {**self.base(connector, "message", activity_id), "text": text, **extra}

    def click(self, connector, card: Sent, choice: str, activity_id: str | None = None) -> dict:
        action = next(a for a in card.card["actions"] if a["data"]["choice"] == choice)
        return {**self.base(connector, "message", activity_id), "replyToId": card.id,
                "value": dict(action["data"])}

    def install(self, connector, activity_id: str | None = None) -> dict:
        return {**self.base(connector, "installationUpdate", activity_id), "action": "add"}
