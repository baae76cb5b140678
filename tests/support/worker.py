"""Drive the real RQ queue in-process: burst a SimpleWorker, and release retry-scheduled jobs."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job

from core import jobs


class Worker(SimpleWorker):
    """The real RQ worker without its pub/sub control channel (remote kill and shutdown
    commands, which a test burst never receives). Starting and joining that listener
    thread costs a test up to a second per burst, and tests burst once per message."""

    def subscribe(self) -> None:
        self.pubsub_thread = None

    def unsubscribe(self) -> None:
        pass


def release_scheduled() -> int:
    """Move jobs waiting for a retry back onto their queue now (instead of sleeping)."""
    released = 0
    for name in jobs.QUEUES:
        q = jobs.queue(name)
        registry = q.scheduled_job_registry
        ids = registry.get_job_ids()
        for job_id in ids:
            job = Job.fetch(job_id, connection=q.connection)
            registry.remove(job)
            q.enqueue_job(job)
        released += len(ids)
    return released


def run_jobs(*, retries: bool = False, rounds: int = 10) -> None:
    """Burst the worker on every queue, interactive first, as ``rq worker`` listens; with
    ``retries`` also replay jobs RQ scheduled for a retry."""
    queues = [jobs.queue(name) for name in jobs.QUEUES]
    for _ in range(rounds):
        Worker(queues, connection=queues[0].connection).work(burst=True,
                                                             logging_level="WARNING")
        if not (retries and release_scheduled()):
            return
