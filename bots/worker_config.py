"""Settings module for ``rq worker -c bots.worker_config``.

Importing the job modules here loads them once in the worker's parent process, so each
forked job starts warm instead of re-importing SQLAlchemy, Flask and the engine per job.
"""

import bots.router  # noqa: F401  (preload: the inbound job)
import channels.base  # noqa: F401  (preload: the deliver job)
import channels.web  # noqa: F401  (preload: the channel registry)
import scheduler.jobs  # noqa: F401  (preload: periodic jobs)
from core import jobs
from core.config import get_settings
from core.sentiment import warm_up

warm_up()  # the VADER lexicon, loaded once rather than in every job

REDIS_URL = get_settings().redis_url
QUEUES = [jobs.QUEUE]
