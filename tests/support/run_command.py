"""`python app.py` (what `make run` runs) as a real process: started on a free port with a
var dir of its own and the environment cleared of our settings; its banner read back."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ADMIN_API_TOKEN", "PUBLIC_BASE_URL",
            "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_TIMEOUT")


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


@contextmanager
def running(tmp_path: Path, **env: str) -> Iterator[dict]:
    """Start it, wait for the banner; yields base, link, token, var dir and the process."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environ.update(VAR_DIR=str(tmp_path / "var"), PORT=str(port), PYTHONUNBUFFERED="1", **env)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=environ,
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
        owner = re.search(r"First sign-in:\s+(\S+)", "".join(lines)).group(1)
        yield {"base": f"http://127.0.0.1:{port}", "link": link, "token": token, "owner": owner,
               "var": tmp_path / "var", "proc": proc}
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
