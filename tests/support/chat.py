"""Conversations as scripts (STYLE.md 11) over the web channel and the real worker.

    chat = WebChat(client, token)
    chat.open().assert_reply("Shall we begin?")
    chat.choose("accept").assert_reply("?")
"""

from __future__ import annotations

from tests.support.worker import run_jobs


class WebChat:
    def __init__(self, client, token: str):
        self.client, self.url, self.seq, self.counter = client, f"/c/{token}/messages", 0, 0
        self.last: list[dict] = []
        self.status = ""
        self.interview: int | None = None

    def open(self) -> WebChat:
        """Open the link and press Start (opening alone changes nothing)."""
        page = self.client.get(self.url.removesuffix("/messages"))
        assert page.status_code == 200, page.status_code
        started = self.client.post(self.url.replace("/messages", "/start"))
        assert started.status_code == 200, started.get_json()
        run_jobs()
        return self._read()

    def _read(self) -> WebChat:
        """New messages; after a restart the server sends the new interview from the start."""
        query = f"after={self.seq}" + (f"&interview={self.interview}" if self.interview else "")
        body = self.client.get(f"{self.url}?{query}").get_json()
        self.status, self.last, self.interview = body["status"], body["messages"], body["interview"]
        if self.last:
            self.seq = self.last[-1]["seq"]
        return self

    def _post(self, payload: dict) -> WebChat:
        self.counter += 1
        payload.setdefault("client_id", f"c{self.counter}")
        resp = self.client.post(self.url, json=payload)
        assert resp.status_code == 202, resp.get_json()
        run_jobs()
        return self._read()

    def say(self, text: str, **kw) -> WebChat:
        return self._post({"text": text, **kw})

    def choose(self, value: str) -> WebChat:
        return self._post({"choice": value})

    @property
    def replies(self) -> list[dict]:
        return [m for m in self.last if m["role"] != "participant"]

    @property
    def reply(self) -> str:
        assert self.replies, f"no reply; got {self.last}"
        return self.replies[-1]["text"]

    @property
    def choices(self) -> list[str]:
        return [c["value"] for c in self.replies[-1]["choices"]] if self.replies else []

    def assert_reply(self, contains: str) -> WebChat:
        assert contains in self.reply, f"{contains!r} not in {self.reply!r}"
        return self
