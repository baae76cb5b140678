"""What the embedded default leaves on disk and in its logs: var/ and every file in it are
owner-only, and a web-chat link's token (the person's credential) is in no log line —
request logs show ``/c/<redacted>``. Real processes: ``python app.py`` (werkzeug) and
gunicorn as the Procfile runs it."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET_LOOKING = "Zm9vYmFyLXRoaXMtaXMtbm90LWEtdG9rZW4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def until(predicate, what: str):
    """Poll; the bound only stops a hung run, it asserts nothing about speed."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def clean_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ADMIN_API_TOKEN",
                        "PUBLIC_BASE_URL", "OPENAI_API_KEY")}
    return {**env, "VAR_DIR": str(tmp_path / "var"), "PORT": str(port), "PYTHONUNBUFFERED": "1"}


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


def assert_owner_only(var: Path, *names: str) -> None:
    assert stat.S_IMODE(var.stat().st_mode) == 0o700, oct(var.stat().st_mode)
    files = sorted(p.name for p in var.iterdir())
    assert set(names) <= set(files), files
    for path in var.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))


def test_make_run_keeps_var_owner_only_and_tokens_out_of_the_request_log(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=clean_env(tmp_path, port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = until(lambda: "Web-chat link" in (line := proc.stdout.readline()) and line,
                       "the start-up banner")
        link = banner.split()[-1]
        token = link.rsplit("/", 1)[-1]
        assert fetch(link) == 200
        assert fetch(f"{link}/start", b"{}") == 200
        assert fetch(f"{link}/messages?after=0") == 200
        assert fetch(f"http://127.0.0.1:{port}/c/{SECRET_LOOKING}") == 404
        assert_owner_only(tmp_path / "var", "parley.db", "parley.db-wal", "parley.db-shm",
                          "secrets.json")
    finally:
        log = stop(proc)
    assert '"GET /c/<redacted> HTTP/1.1" 200' in log
    assert '"POST /c/<redacted>/start HTTP/1.1" 200' in log
    # successful chat-page polls are not logged at all (a quiet terminal, item 18)
    assert log.count("GET /c/<redacted> HTTP/1.1") == 2  # the link, and the unknown one (404)
    assert token not in log and SECRET_LOOKING not in log  # the banner was read above
    assert_owner_only(tmp_path / "var", "parley.db", "secrets.json", "redis.db")  # saved at exit


def test_gunicorn_access_log_shows_no_token(tmp_path):
    port = free_port()
    env = clean_env(tmp_path, port)
    subprocess.run([sys.executable, "-m", "core.db", "upgrade"], cwd=ROOT, env=env, check=True)
    proc = subprocess.Popen(  # as the Procfile runs it, plus an access log
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", "-", "app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        until(lambda: fetch(f"http://127.0.0.1:{port}/c/{SECRET_LOOKING}") == 404,
              "gunicorn to answer")
    finally:
        log = stop(proc)
    assert '"GET /c/<redacted> HTTP/1.1" 404' in log, log
    assert SECRET_LOOKING not in log
