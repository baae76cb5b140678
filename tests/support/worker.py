"""Drive the real RQ queue in-process: burst a SimpleWorker, and release retry-scheduled jobs."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job

from core import jobs


class Worker(SimpleWorker):
    """SimpleWorker that stops its pubsub thread before unsubscribing at teardown.

    rq 3.0 does it the other way round, so a burst now and then waits out a 1 s thread join
    (an ``rq worker`` process never pays it: it tears down once). Tests burst a worker per
    message, so they would.
    """

    def unsubscribe(self):
        if self.pubsub_thread:
            self.pubsub_thread.stop()
        super().unsubscribe()


def release_scheduled() -> int:
    """Move jobs waiting for a retry back onto the queue now (instead of sleeping)."""
    q = jobs.queue()
    registry = q.scheduled_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        job = Job.fetch(job_id, connection=q.connection)
        registry.remove(job)
        q.enqueue_job(job)
    return len(ids)


def run_jobs(*, retries: bool = False, rounds: int = 10) -> None:
    """Burst the worker; with ``retries`` also replay jobs RQ scheduled for a retry."""
    q = jobs.queue()
    for _ in range(rounds):
        Worker([q], connection=q.connection).work(burst=True, logging_level="WARNING")
        if not (retries and release_scheduled()):
            return
