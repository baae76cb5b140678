"""`python app.py` (what `make run` runs) from nothing: real HTTP, real worker and scheduler
processes, SQLite + embedded Redis. A person opens the printed link and finishes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RICH = ("What keeps me here is the team and the trust I get to decide how to work; "
        "I would like clearer growth paths and fewer late releases though.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, payload: dict | None = None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, json.loads(body) if "json" in ctype else body.decode()


def wait_for(predicate, what: str, limit: float = 60.0):
    """Poll until true; the bound only stops a hung run, it asserts nothing about speed."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def running(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ADMIN_API_TOKEN",
                        "PUBLIC_BASE_URL", "OPENAI_API_KEY")}
    env.update(VAR_DIR=str(tmp_path / "var"), PORT=str(port), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        def banner():
            line = proc.stdout.readline()
            lines.append(line)
            assert proc.poll() is None, "".join(lines)
            return "Web-chat link" in line and line
        link = wait_for(banner, "the start-up banner").split()[-1]
        token = re.search(r"Admin token:\s+(\S+)", "".join(lines)).group(1)
        yield {"base": f"http://127.0.0.1:{port}", "link": link, "token": token}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_make_run_serves_a_complete_stay_interview(running):
    base, link, token = running["base"], running["link"], running["token"]
    assert link.startswith(base + "/c/")
    status, health = call(f"{base}/api/v1/healthz")
    assert health == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    status, types = call(f"{base}/api/v1/session-types", token=token)
    assert {t["slug"] for t in types["session_types"]} == {
        "stay-interview", "exit-interview", "onboarding-30-day", "engagement-pulse"}
    status, people = call(f"{base}/api/v1/people?q=northwind", token=token)
    assert len(people["people"]) == 20  # the search is capped; the demo org has 30

    status, page = call(link)
    assert status == 200 and "Stay Interview" in page
    call(f"{link}/start", {})  # the page's Start button: opening the link changes nothing
    seen = 0

    def next_reply():
        nonlocal seen
        _, body = call(f"{link}/messages?after={seen}")
        replies = [m for m in body["messages"] if m["role"] != "participant"]
        if body["messages"]:
            seen = body["messages"][-1]["seq"]
        return replies and (body["status"], replies[-1])

    state, consent = wait_for(next_reply, "the consent message")
    assert state == "consent" and [c["value"] for c in consent["choices"]] == [
        "accept", "decline"]
    call(f"{link}/messages", {"choice": "accept", "client_id": "c0"})
    for n in range(1, 40):
        state, reply = wait_for(next_reply, f"reply {n}")
        if state == "completed":
            break
        call(f"{link}/messages", {"text": RICH, "client_id": f"c{n}"})
    assert state == "completed" and "Thank you" in reply["text"]
