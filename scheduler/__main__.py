"""`python -m scheduler`: run exactly one of these; it only enqueues (PROTOCOLS.md, RQ)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from redis.exceptions import RedisError

from core import jobs
from core.config import get_settings

log = logging.getLogger("scheduler")
PERIODIC = {  # job path → seconds between runs
    "channels.durable.sweep": 30,
    "scheduler.jobs.tick_pauses": 15,
    "core.rollouts.dispatch_due": 15,  # due invites and reminders (rollouts.TICK_SECONDS)
    "core.rollouts.run_triggers": 3600,  # session triggers on HR dates (idempotent)
    "core.one_on_ones.remind_due": 300,  # a pair's agenda, the working day before they meet
    "core.insights.refresh_due": 600,  # re-run insights that many new interviews left behind
    "scheduler.jobs.prune_exports": 300,  # drop export files whose download link expired
    "core.retention.run": 3600,  # daily: raw text, payloads and audit details past their limits
}
# one job id per day: a daily job, retried hourly (core.retention.run answers a second call
# on the same day with that day's report)
BY_DATE = {"core.rollouts.run_triggers", "core.retention.run"}
IMAP_EVERY = 20  # seconds between looks at IMAP_URL's mailbox
TEAMS_GREET_EVERY = 60  # seconds between looks for Teams installs not yet greeted


def _enqueue(path: str, every: int) -> None:
    slot: object = int(time.time() // every)
    if path in BY_DATE:
        slot = datetime.now(UTC).date().isoformat()
    try:
        job_id = jobs.job_key("clock", path.replace(".", "_"), slot)
        jobs.enqueue_once(path, job_id=job_id, retry=None)
    except RedisError as exc:
        log.warning("queue unreachable, %s skipped this time: %s", path, exc)


def schedule(settings) -> dict[str, int]:
    """The periodic jobs these settings need, with their intervals."""
    periodic = dict(PERIODIC)
    if settings.imap_url:  # email: replies are read from a mailbox
        periodic["channels.email.poll_imap"] = IMAP_EVERY
    if settings.teams_enabled:  # Teams: greet installs that arrived while Redis was away
        periodic["channels.teams.greet_pending"] = TEAMS_GREET_EVERY
    return periodic


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(message)s")
    # APScheduler says "Running job …" and "… executed successfully" at INFO on every tick;
    # they would bury the banner `make run` prints. Its warnings (a missed run) still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    clock = BlockingScheduler(timezone="UTC")
    periodic = schedule(get_settings())
    for path, every in periodic.items():
        clock.add_job(_enqueue, "interval", seconds=every, args=(path, every),
                      id=path, coalesce=True, max_instances=1)
    log.info("scheduler started: %s", ", ".join(periodic))
    clock.start()


if __name__ == "__main__":
    main()
