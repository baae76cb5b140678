"""A loopback HTTP server on an ephemeral port that records requests and answers from a
script (STYLE.md 12). Provider stubs build on it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when the stub received it

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: dict | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow provider; cut short on exit)


class StubServer:
    """``with StubServer() as stub: stub.queue(Reply(500)); ... stub.requests``"""

    def __init__(self, default: Reply | None = None, responder=None):
        """``responder(recorded) -> Reply`` answers when no scripted reply is queued."""
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = default or Reply(200, {"ok": True})
        self.responder = responder
        self.closing = threading.Event()  # ends every delay: a hung answer never holds up exit
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, dict(self.headers),
                                    self.rfile.read(length))
                stub.requests.append(recorded)
                if stub.replies:
                    reply = stub.replies.popleft()
                elif stub.responder is not None:
                    reply = stub.responder(recorded)
                else:
                    reply = stub.default
                if reply.delay:
                    stub.closing.wait(reply.delay)
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(reply.status)  # the client may have given up
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> StubServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
