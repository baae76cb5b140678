"""A minimal HTTP channel for exercising the shared outbox against a loopback provider.

It implements the real Channel contract; its provider is a StubServer, so failures are
real HTTP failures at the network edge.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from channels.base import Channel, PermanentError, RetryAfter
from core.messages import Address, Outbound


class HookChannel(Channel):
    name = "hook"

    def verify(self, request):
        return None

    def parse(self, request):
        return []

    def send(self, address: Address, message: Outbound, *, ref: str) -> str | None:
        body = json.dumps({"to": address.key, "text": self.render(message)}).encode()
        req = urllib.request.Request(address.data["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                provider_id = json.loads(resp.read())["id"]
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise RetryAfter(float(exc.headers.get("Retry-After", 1))) from exc
            raise
        if provider_id is None:
            raise PermanentError("the hook refused this recipient")
        return provider_id
