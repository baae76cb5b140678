"""Real RQ workers on threads, and a model that answers when the test says so.

``ThreadWorker`` is the real SimpleWorker (tests.support.worker.Worker) made to run off the
main thread: no signal handlers (only the main thread may set them) and RQ's timer-based
job timeout instead of SIGALRM. ``GatedOpenAI`` is the loopback OpenAI stub holding chosen
requests until ``release()``, so a test can act while a worker waits on the model.
"""

from __future__ import annotations

import contextvars
import threading
import time

from rq.timeouts import TimerDeathPenalty

from core import jobs
from tests.support.openai_stub import OpenAIStub
from tests.support.stub_server import Recorded, Reply
from tests.support.worker import Worker


class ThreadWorker(Worker):
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def start_worker() -> threading.Thread:
    """Burst a real worker over the queue on a thread of its own; join() it when done."""
    q = jobs.queue()

    def run():
        ThreadWorker([q], connection=q.connection).work(burst=True, logging_level="WARNING")

    # the thread runs with the test's bound settings (a new thread starts with no context)
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True)
    thread.start()
    return thread


class GatedOpenAI(OpenAIStub):
    """Requests whose body contains ``marker`` (any request when it is "") wait at the gate
    once it is armed; ``entered`` is set when the first one arrives. The gate opens by
    itself after ``limit`` seconds, so code that deadlocks on it fails instead of hanging."""

    def __init__(self, marker: str = "", limit: float = 15.0):
        self.marker, self.limit = marker, limit
        self.armed, self.entered, self.gate = False, threading.Event(), threading.Event()
        self.held: list[Recorded] = []
        super().__init__(mode="good")

    def arm(self) -> None:
        self.armed = True

    def release(self) -> None:
        self.gate.set()

    def _answer(self, request: Recorded) -> Reply:
        if self.armed and self.marker in request.body.decode() and not self.gate.is_set():
            self.held.append(request)
            self.entered.set()
            self.gate.wait(self.limit)
        return super()._answer(request)


def wait_until(predicate, what: str, limit: float = 30.0) -> None:
    """Wait for a condition another thread brings about (never for time itself)."""
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)
