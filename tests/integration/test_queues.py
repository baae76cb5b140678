"""The worker's queues (issue 11, item 10): replies on `interactive` first, rollouts on `bulk`,
and jobs an earlier release left on the old single queue still run after a deploy."""

from rq import Queue
from rq.job import Job, JobStatus

from core import jobs
from tests.support.worker import Worker


def _worker_queues() -> list[Queue]:
    import gc

    from scheduler import worker_config

    gc.unfreeze()  # worker_config froze the heap for a worker's life; this process is no worker
    return [Queue(name, connection=jobs.connection()) for name in worker_config.QUEUES]


def test_the_worker_takes_replies_before_rollout_messages(app):
    bulk = jobs.enqueue_once("scheduler.jobs.tick_pauses", job_id="a-rollout-message",
                             queue_name=jobs.BULK)
    reply = jobs.enqueue_once("scheduler.jobs.tick_pauses", job_id="a-reply")
    queues = _worker_queues()
    assert [q.name for q in queues][:2] == [jobs.INTERACTIVE, jobs.BULK]
    Worker(queues, connection=queues[0].connection).work(burst=True, max_jobs=1)
    assert reply.get_status(refresh=True) == JobStatus.FINISHED
    assert bulk.get_status(refresh=True) == JobStatus.QUEUED


def test_a_job_left_on_the_queue_of_the_release_before_still_runs(app):
    """Its id would otherwise be taken for good: enqueue_once sees it queued and adds none."""
    legacy = Queue(jobs.LEGACY, connection=jobs.connection())
    legacy.enqueue("scheduler.jobs.tick_pauses", job_id="out-41")
    assert jobs.enqueue_once("scheduler.jobs.tick_pauses", job_id="out-41") is None
    queues = _worker_queues()
    Worker(queues, connection=queues[0].connection).work(burst=True)
    assert Job.fetch("out-41", connection=jobs.connection()).get_status() == JobStatus.FINISHED
