"""A loopback Slack Web API (STYLE.md 12) and a signer for inbound requests.

It keeps what Slack keeps: users by email, one DM channel per user (and one group DM per set
of users, as ``conversations.open`` with several users returns), posted messages with their
metadata (so conversations.history can find them), updates, App Home views and modals. Any
method can be told to fail next: HTTP 429 with Retry-After, an error code, a 500, or slow.
With ``dm_rate`` it also paces like Slack: a post or update to a DM over that rate, or
before a Retry-After it announced has passed, is answered 429 and recorded in ``limited``.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field

from slack_sdk.signature import SignatureVerifier

from tests.support.stub_server import Recorded, Reply, StubServer

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list
    metadata: dict | None
    at: float  # time.monotonic() when the stub received it
    token: str = ""
    updates: list = field(default_factory=list)

    def buttons(self) -> list[str]:
        """The choices offered (each button's value is "<interview id>:<choice>")."""
        return [e["action_id"].removeprefix("choice:") for e in self.button_elements()]

    def button_elements(self) -> list[dict]:
        return [e for b in self.blocks if b["type"] == "actions" for e in b["elements"]]

    def context(self) -> str:
        return " ".join(e["text"] for b in self.blocks if b["type"] == "context"
                        for e in b["elements"])


class Gcra:
    """At most ``rate`` per second per key (GCRA: one theoretical arrival time per key);
    a request may come up to ``tolerance`` seconds before its slot."""

    def __init__(self, rate: float, tolerance: float):
        self.interval, self.tolerance = 1.0 / rate, tolerance
        self.tat: dict[str, float] = {}

    def wait(self, key: str, now: float) -> float:
        return max(0.0, self.tat.get(key, now) - self.tolerance - now)

    def book(self, key: str, now: float) -> None:
        self.tat[key] = max(self.tat.get(key, now), now) + self.interval

    def hold(self, key: str, until: float) -> None:
        """Nothing for ``key`` before ``until`` (a Retry-After was announced)."""
        self.tat[key] = max(self.tat.get(key, until), until)


class SlackStub(StubServer):
    PACED = ("chat.postMessage",)  # one message a second per channel limits posting only

    TIER3 = ("conversations.open", "users.lookupByEmail")

    def __init__(self, users: dict[str, str] | None = None, team: str = "T0001", *,
                 dm_rate: float | None = None, tolerance: float = 0.25,
                 tier3_per_minute: int | None = None):
        self.users = dict(users or {})  # email → user id
        self.team = team
        self.dm_limit = Gcra(dm_rate, tolerance) if dm_rate else None
        # Tier 3 methods: "50+ per minute, sporadic bursts welcome" — at most N in any 60 s
        self.tier3 = tier3_per_minute
        self.tier3_calls: dict[str, deque[float]] = defaultdict(deque)
        self.limited: list[Recorded] = []  # requests refused for coming too soon (dm_rate)
        self.tier3_limited: list[Recorded] = []  # Tier 3 calls refused (tier3_per_minute)
        self.messages: list[Posted] = []
        self.views: list[dict] = []
        self.modals: list[dict] = []  # views.open: {"trigger_id", "view"}
        self.failures: dict[str, deque[Reply]] = defaultdict(deque)
        self.hold_on_post = 0.0  # seconds to sit on chat.postMessage after recording it
        self.lock = threading.Lock()
        self.counter = 0
        super().__init__(responder=self._answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def fail_next(self, method: str, *replies: Reply) -> None:
        self.failures[method].extend(replies)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0] == f"/api/{method}"]

    def dm(self, user: str) -> str:
        return f"D{user}"

    def conversation(self, channel: str) -> str:
        """chat.postMessage to a user id posts in the app's DM with them."""
        return self.dm(channel) if channel.startswith(("U", "W")) else channel

    @staticmethod
    def group_dm(*users: str) -> str:
        """The group DM of these users and the bot (the same whatever their order)."""
        return "G" + "-".join(sorted(users))

    def posts_in(self, channel: str) -> list[Posted]:
        return [m for m in self.messages if m.channel == channel]

    def posts_to(self, user: str) -> list[Posted]:
        return [m for m in self.messages if m.channel == self.dm(user)]

    @staticmethod
    def args(request: Recorded) -> dict:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
        ctype = request.headers.get("Content-Type", "")
        if "json" in ctype:
            return {**query, **json.loads(request.body or b"{}")}
        return {**query, **dict(urllib.parse.parse_qsl(request.body.decode()))}

    def _answer(self, request: Recorded) -> Reply:
        method = request.path.split("?")[0].removeprefix("/api/")
        args = self.args(request)
        if self.dm_limit is not None and method in self.PACED:
            refused = self._pace(request, self.conversation(args.get("channel", "")))
            if refused is not None:
                return refused
        if self.tier3 and method in self.TIER3:
            with self.lock:
                now, calls = time.monotonic(), self.tier3_calls[method]
                while calls and calls[0] <= now - 60:
                    calls.popleft()
                if len(calls) >= self.tier3:
                    self.tier3_limited.append(request)
                    wait = calls[0] + 60 - now
                    return Reply(429, {"ok": False, "error": "ratelimited"},
                                 headers={"Retry-After": str(max(1, math.ceil(wait)))})
                calls.append(now)
        if self.failures[method]:
            return self.failures[method].popleft()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        body = handler(args, token)
        if method == "chat.postMessage" and self.hold_on_post and body.get("ok"):
            return Reply(200, body, delay=self.hold_on_post)
        return Reply(200, body)

    def _pace(self, request: Recorded, channel: str) -> Reply | None:
        """Slack's per-DM limit: a 429 for a request that comes too soon; a scripted 429's
        Retry-After holds the DM like one of ours."""
        with self.lock:
            now = time.monotonic()
            wait = self.dm_limit.wait(channel, now)
            if wait > 0:
                self.limited.append(request)
                return Reply(429, {"ok": False, "error": "ratelimited"},
                             headers={"Retry-After": str(max(1, math.ceil(wait)))})
            scripted = self.failures[request.path.split("?")[0].removeprefix("/api/")]
            retry_after = scripted[0].headers.get("Retry-After") if scripted else None
            if retry_after is not None:
                self.dm_limit.hold(channel, now + float(retry_after))
            else:
                self.dm_limit.book(channel, now)
        return None

    def _auth_test(self, args, token):
        return {"ok": True, "team_id": self.team, "user_id": "UBOT", "bot_id": "BBOT"}

    def _users_lookupByEmail(self, args, token):
        user = self.users.get(args.get("email", "").lower())
        return {"ok": True, "user": {"id": user}} if user else {"ok": False,
                                                                "error": "users_not_found"}

    def _conversations_open(self, args, token):
        users = [u for u in args["users"].split(",") if u]
        if len(users) > 1:  # a multi-person DM (mpim:write)
            return {"ok": True, "channel": {"id": self.group_dm(*users), "is_mpim": True}}
        return {"ok": True, "channel": {"id": self.dm(args["users"])}}

    def _chat_postMessage(self, args, token):
        with self.lock:
            self.counter += 1
            ts = f"1700000000.{self.counter:06d}"
            blocks = args.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            channel = self.conversation(args["channel"])
            self.messages.append(Posted(channel, ts, args.get("text", ""), blocks,
                                        args.get("metadata"), time.monotonic(), token))
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_update(self, args, token):
        for m in self.messages:
            if m.ts == args["ts"]:
                m.updates.append({"text": args.get("text"), "blocks": args.get("blocks")})
                return {"ok": True, "ts": m.ts, "channel": m.channel}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_history(self, args, token):
        found = [{"ts": m.ts, "text": m.text, "metadata": m.metadata}
                 for m in reversed(self.messages) if m.channel == args["channel"]]
        return {"ok": True, "messages": found[: int(args.get("limit", 100))]}

    def _views_publish(self, args, token):
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        self.views.append({"user_id": args["user_id"], "view": view})
        return {"ok": True, "view": {"id": "V1"}}

    def _views_open(self, args, token):
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        self.modals.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": {"id": f"VM{len(self.modals)}", "hash": "h1", **view}}

    def _oauth_v2_access(self, args, token):
        return {"ok": True, "app_id": "A1", "access_token": "xoxb-installed-token",
                "token_type": "bot", "scope": "chat:write,im:write", "bot_user_id": "UBOT2",
                "team": {"id": "T0002", "name": "Second"}, "enterprise": None,
                "authed_user": {"id": "UINSTALLER"}, "is_enterprise_install": False}


def signed(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
           content_type: str = "application/json", **extra_headers) -> dict:
    """Headers exactly as Slack signs a request: v0:{timestamp}:{raw body}, HMAC-SHA256."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": content_type, **extra_headers}


def dm_event(user: str, text: str, event_id: str, team: str = "T0001", **event_extra) -> dict:
    return {
        "type": "event_callback", "team_id": team, "api_app_id": "A1", "event_id": event_id,
        "event_time": int(time.time()),
        "event": {"type": "message", "channel": f"D{user}", "channel_type": "im",
                  "user": user, "text": text, "ts": f"{time.time():.6f}", **event_extra},
    }


def block_action(user: str, message: Posted, value: str, team: str = "T0001") -> dict:
    """A click on the button for choice ``value``, as Slack sends it."""
    button = next(e for e in message.button_elements() if e["action_id"] == f"choice:{value}")
    return {
        "type": "block_actions", "team": {"id": team}, "user": {"id": user},
        "api_app_id": "A1", "trigger_id": f"trig-{time.time()}",
        "container": {"type": "message", "message_ts": message.ts,
                      "channel_id": message.channel},
        "channel": {"id": message.channel},
        "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
        "actions": [{"action_id": button["action_id"], "value": button["value"],
                     "type": "button", "text": button["text"],
                     "action_ts": f"{time.time():.6f}"}],
    }
