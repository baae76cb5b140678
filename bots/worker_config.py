"""Settings module for ``rq worker -c bots.worker_config -w rq.worker.SimpleWorker``.

Importing the job modules here loads them once. With SimpleWorker the jobs run in this
process, so the database engine, its pool and its compiled-statement cache stay warm from
job to job (a forked work-horse starts cold every time: bench/slack.py measured ~0.6 s).
"""

from sqlalchemy.orm import configure_mappers

import bots.router  # noqa: F401  (preload: the inbound job)
import channels.base  # noqa: F401  (preload: the deliver job)
import channels.slack  # noqa: F401  (preload: the Slack SDK)
import channels.web  # noqa: F401  (preload: the channel registry)
import scheduler.jobs  # noqa: F401  (preload: periodic jobs)
from core import jobs
from core.config import get_settings
from core.sentiment import warm_up

warm_up()  # the VADER lexicon, loaded once rather than in every job
configure_mappers()

REDIS_URL = get_settings().redis_url
QUEUES = [jobs.QUEUE]
