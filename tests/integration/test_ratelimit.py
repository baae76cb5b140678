"""The shared limiter keeps every window a provider enforces, across workers, in Redis.

``reserve`` books future slots and returns the wait, so these tests read the schedule it
hands out instead of sleeping through it.
"""

from __future__ import annotations

import threading
import time

import pytest

from core import jobs, ratelimit
from core.ratelimit import Limit

TEAMS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


def _at(limit: Limit) -> float:
    """When the booked slot is, on this machine's clock (the one Redis reads too)."""
    return time.time() + ratelimit.reserve(limit, max_wait=3600)


def _schedule(limit: Limit, n: int) -> list[float]:
    return [_at(limit) for _ in range(n)]


def _worst(times: list[float], seconds: float) -> int:
    """The most sends inside any window of ``seconds`` (less a few ms: the slot times read
    here are taken just before Redis reads its clock)."""
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + seconds - 0.005)
               for i, t in enumerate(times))


def test_every_window_holds_for_a_teams_conversation(app):
    slots = _schedule(Limit("teams:conv:a", TEAMS), 70)
    for count, seconds in TEAMS:
        assert _worst(slots, seconds) <= count, (count, seconds)
    # bursts are used, not wasted: 7 at once, the 8th a second later, the 61st ~30 s in
    start = slots[0]
    assert max(slots[:7]) - start < 0.5
    assert 0.9 < slots[7] - start < 1.5
    assert 29 < slots[60] - start < 31


def test_workers_in_parallel_still_keep_the_windows(app):
    from core.config import get_settings, using

    settings, waits, lock = get_settings(), [], threading.Lock()

    def worker():
        with using(settings):
            for _ in range(10):
                at = _at(Limit("teams:conv:b", TEAMS))
                with lock:
                    waits.append(at)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(waits) == 40
    # the bookings themselves, in Redis's clock: the times read here after each call move
    # with thread scheduling (a busy machine), the booked slots do not
    booked = [int(t) / 1e6 for t in jobs.connection().lrange("parley:pace:teams:conv:b", 0, -1)]
    assert len(booked) == 40
    for count, seconds in TEAMS:
        assert _worst(booked, seconds) <= count


def test_a_costly_send_uses_that_many_units(app):
    # 1 segment per second: a 3-segment message pushes the next send 3 s out
    first = _at(Limit.rate("sms:+15550001", 1.0, cost=3))
    second = _at(Limit.rate("sms:+15550001", 1.0))
    assert first - time.time() < 0.5
    assert 2.9 < second - first < 3.1


def test_keys_are_independent(app):
    _schedule(Limit.every("slack:channel:D1", 1.0), 5)
    assert ratelimit.reserve(Limit.every("slack:channel:D2", 1.0)) < 0.5


def test_too_long_books_nothing(app):
    limit = Limit.every("slack:channel:D3", 10.0)
    ratelimit.reserve(limit)
    with pytest.raises(ratelimit.TooLong):
        ratelimit.reserve(limit, max_wait=1)
    assert 9 < ratelimit.reserve(limit, max_wait=60) < 11  # the refused one took no slot


def test_retry_after_holds_the_key(app):
    ratelimit.hold("teams:conv:c", 5)
    assert 4 < ratelimit.reserve(Limit("teams:conv:c", TEAMS)) < 6


@pytest.mark.parametrize("windows, cost", [((), 1), (((0, 1.0),), 1), (((1, 1.0),), 0)])
def test_a_limit_that_allows_nothing_is_refused(windows, cost):
    with pytest.raises(ValueError):
        Limit("x", windows, cost)


def test_a_send_under_two_limits_keeps_both_when_one_of_them_waits(app):
    """A chat's windows hold for the times the messages really leave, even when the
    tenant's limit delays some of them (both are booked together, at one time)."""
    chat, tenant = Limit("teams:conv:d", TEAMS), Limit.rate("teams:tenant:t1", 100)
    ratelimit.hold(tenant.key, 0.9)
    waits = [ratelimit.reserve(chat, tenant, max_wait=3600) for _ in range(14)]
    assert min(waits) > 0.5  # the tenant's hold delayed them
    # each message leaves at its booked time, one time for both keys (the tenant's book
    # keeps only its latest: a rate limit needs no more)
    leave = [int(t) / 1e6 for t in jobs.connection().lrange(f"parley:pace:{chat.key}", 0, -1)]
    last = [int(t) / 1e6 for t in jobs.connection().lrange(f"parley:pace:{tenant.key}", 0, -1)]
    assert len(leave) == 14 and last == leave[-1:]
    for count, seconds in TEAMS:
        assert _worst(leave, seconds) <= count


def _booked(key: str) -> int:
    return jobs.connection().llen(f"parley:pace:{key}")


def test_a_rollout_message_books_no_slot_ahead_so_a_reply_takes_the_next_one(app):
    """Proactive sends wait for a slot without booking it: a reply arriving meanwhile is next
    (not behind every rollout message already waiting), and a rollout message that steps
    aside for waiting replies leaves no slot behind."""
    workspace = Limit.every("slack:workspace:TB", 0.5)
    ratelimit.reserve(workspace)  # a send just went out
    with pytest.raises(ratelimit.GiveWay):
        ratelimit.pace_proactive(workspace, give_way=lambda: True)
    assert _booked("slack:workspace:TB") == 1
    assert ratelimit.reserve(workspace) < 0.6  # the reply: the very next slot


def test_a_rollout_message_takes_its_slot_when_it_comes(app):
    workspace = Limit.every("slack:workspace:TC", 0.2)
    ratelimit.reserve(workspace)

    def last_booked() -> float:
        return int(jobs.connection().lindex("parley:pace:slack:workspace:TC", -1)) / 1e6

    first = last_booked()
    waited = ratelimit.pace_proactive(workspace)
    assert last_booked() - first >= 0.2 - 1e-3  # its own slot, a full interval on
    assert waited > 0


def test_a_rollout_message_whose_slot_is_too_far_books_nothing(app):
    workspace = Limit.every("slack:workspace:TD", 10.0)
    ratelimit.reserve(workspace)
    with pytest.raises(ratelimit.TooLong):
        ratelimit.pace_proactive(workspace, max_wait=1)
    assert _booked("slack:workspace:TD") == 1


def _booked_ago(limit: Limit, seconds: float) -> None:
    """As if a send had taken this key's last slot ``seconds`` ago (Redis's clock)."""
    redis = jobs.connection()
    sec, micro = redis.time()
    redis.rpush(f"parley:pace:{limit.key}", int(sec * 1e6 + micro - seconds * 1e6))


def test_a_late_send_keeps_its_slot_so_a_rate_is_not_lost_to_workers_lag(app):
    """20/s, the last send 70 ms ago: the next slot (20 ms ago) was missed. Caught up, the
    send after it is one interval after that missed slot (30 ms from now), not 50 ms."""
    caught = Limit.rate("slack:team:caught", 20, catch_up=1.0)
    _booked_ago(caught, 0.070)
    assert ratelimit.reserve(caught) == 0  # at once: it is late already
    assert 0.015 < ratelimit.reserve(caught) < 0.045  # back on the rhythm
    strict = Limit.rate("slack:team:strict", 20)
    _booked_ago(strict, 0.070)
    assert ratelimit.reserve(strict) == 0
    assert ratelimit.reserve(strict) > 0.045  # the 20 ms were lost for good


def test_catching_up_never_sends_faster_than_the_rate(app):
    limit = Limit.rate("slack:team:steady", 20, catch_up=1.0)
    slots = _schedule(limit, 100)
    assert _worst(slots, 1.0) <= 21  # one caught-up slot at most, then exactly 20/s
    gaps = [b - a for a, b in zip(sorted(slots), sorted(slots)[1:], strict=False)]
    assert min(gaps[1:]) > 0.045


def test_catch_up_is_refused_for_a_sliding_window_limit():
    with pytest.raises(ValueError, match="catch-up"):
        Limit("teams:conv:x", TEAMS, 1, 0.5)
