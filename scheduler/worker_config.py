"""Settings module for ``rq worker -c scheduler.worker_config -w rq.worker.SimpleWorker``.

Importing the job modules here loads them once. With SimpleWorker the jobs run in this
process, so the database engine, its pool and its compiled-statement cache stay warm from
job to job (a forked work-horse starts cold every time: bench/slack.py measured ~0.6 s).
"""

import gc

from sqlalchemy.orm import configure_mappers

import bots.router  # noqa: F401  (preload: the inbound job)
import channels  # noqa: F401  (preload: the registry and every channel's SDK)
import channels.durable  # noqa: F401  (preload: the deliver and sweep jobs)
import scheduler.jobs  # noqa: F401  (preload: periodic jobs)
from core import jobs
from core.config import get_settings
from core.sentiment import warm_up

warm_up()  # the VADER lexicon, loaded once rather than in every job
configure_mappers()
# All of the above lives as long as the worker: out of the collector's sight, a full
# collection walks only what jobs made (80 ms → under 1 ms: a pause any job in progress,
# a reply's included, would sit through).
gc.collect()
gc.freeze()

REDIS_URL = get_settings().redis_url
QUEUES = [*jobs.QUEUES, jobs.LEGACY]  # interactive first: RQ takes from the first non-empty
