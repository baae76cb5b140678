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
    waits = [ratelimit.reserve(chat, tenant, max_wait=3600) for _ in range(7)]
    assert min(waits) > 0.5  # the tenant's hold delayed them
    # each message leaves at its booked time, one time for both keys (the tenant's book
    # keeps only its latest: a rate limit needs no more)
    leave = [int(t) / 1e6 for t in jobs.connection().lrange(f"parley:pace:{chat.key}", 0, -1)]
    last = [int(t) / 1e6 for t in jobs.connection().lrange(f"parley:pace:{tenant.key}", 0, -1)]
    assert len(leave) == 7 and last == leave[-1:]
    for count, seconds in TEAMS:
        assert _worst(leave, seconds) <= count


def _times(limit: Limit) -> list[float]:
    return [int(t) / 1e6 for t in jobs.connection().lrange(f"parley:pace:{limit.key}", 0, -1)]


def test_a_send_held_back_by_its_conversation_leaves_the_shared_key_to_others(app):
    """The 8th message in a Teams chat waits for the chat's 1 s window; booking the tenant
    then too would hold every other chat in the tenant behind it. Only the chat is booked
    (the sender books the tenant when the wait is nearly over) and another chat goes at
    once."""
    chat, tenant = Limit("teams:conv:f", TEAMS), Limit.rate("teams:tenant:t2", 100)
    for _ in range(7):
        ratelimit.reserve(chat, tenant)
    booked = _times(tenant)
    with pytest.raises(ratelimit.Later) as later:
        ratelimit.reserve(chat, tenant, max_wait=3600)
    assert 0.9 < later.value.seconds <= 1.0 and later.value.deferred == (1,)
    assert len(_times(chat)) == 8 and _times(tenant) == booked
    assert ratelimit.reserve(Limit("teams:conv:g", TEAMS), tenant) < 0.1  # the 8th slot of 10 ms


def test_messages_waiting_for_one_dm_keep_their_order(app):
    """Two messages for one DM wait for its one-a-second: each is booked on the DM in turn
    (1 s, then 2 s), so neither can overtake the other when their waits end."""
    workspace, dm = Limit.rate("slack:team:order", 20), Limit.every("slack:channel:DQ", 1.0)
    ratelimit.reserve(dm, workspace)
    waits = []
    for _ in range(2):
        with pytest.raises(ratelimit.Later) as later:
            ratelimit.reserve(dm, workspace, ahead=True)
        waits.append(later.value.seconds)
    assert 0.9 < waits[0] <= 1.0 and 1.9 < waits[1] <= 2.0


def test_a_clicks_update_keeps_its_place_on_the_update_budget(app):
    """A chat.update is paced by the workspace's update budget and by the workspace. The
    budget is busy, the workspace free: the click's update is booked on the budget at once
    (a rollout's update, which books only a slot that is now, comes after it), the
    workspace when its turn comes."""
    updates, workspace = Limit.rate("slack:update:T", 2), Limit.rate("slack:team:T", 20)
    ratelimit.reserve(updates, workspace)  # an update just went: the next in 0.5 s
    with pytest.raises(ratelimit.Later) as later:
        ratelimit.reserve(updates, workspace, ahead=True)
    assert later.value.deferred == (1,) and 0.45 < later.value.seconds <= 0.5
    with pytest.raises(ratelimit.TooLong):  # a rollout's update: the budget's slot is taken
        ratelimit.reserve(updates, workspace, max_wait=ratelimit.LEAD)


def test_a_reply_after_a_retry_after_waits_alone(app):
    """Slack said Retry-After for one DM: that DM's reply waits it out, and the workspace
    goes on meanwhile (it froze for everyone when the reply booked its workspace slot at
    the end of the hold)."""
    workspace = Limit.rate("slack:team:held", 20, ahead=1.0)
    held, other = Limit.every("slack:channel:DH", 1.0), Limit.every("slack:channel:DO", 1.0)
    ratelimit.hold(held.key, 0.2)
    with pytest.raises(ratelimit.Later) as later:
        ratelimit.reserve(held, workspace, ahead=True)
    assert later.value.deferred == (1,) and 0.15 < later.value.seconds <= 0.2
    assert ratelimit.reserve(other, workspace) == 0  # another DM: at once


def test_pace_sends_when_the_hold_is_over_and_books_the_workspace_then(app):
    workspace = Limit.rate("slack:team:paced", 20, ahead=1.0)
    held = Limit.every("slack:channel:DP", 1.0)
    ratelimit.hold(held.key, 0.2)
    start = time.monotonic()
    assert 0.18 < ratelimit.pace(held, workspace) < 0.3
    assert time.monotonic() - start >= 0.195  # never before the hold is over, ahead or not
    sec, micro = jobs.connection().time()
    assert abs(sec + micro / 1e6 - _times(workspace)[-1]) < 0.05  # booked then, not before
    ratelimit.hold(held.key, 5)
    with pytest.raises(ratelimit.TooLong):
        ratelimit.pace(held, workspace, max_wait=1)  # longer than it may wait: refused


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


def test_a_rollout_send_late_for_its_slot_takes_the_next_one_whole(app):
    """20/s, the last send 70 ms ago: the send goes at once, and the one after it a whole
    interval later: a rollout never makes up for a worker's lag with a burst (that burst
    is the replies', ``ahead``)."""
    workspace = Limit.rate("slack:team:late", 20, ahead=1.0)
    _booked_ago(workspace, 0.070)
    assert ratelimit.reserve(workspace) == 0
    assert ratelimit.reserve(workspace) > 0.045


def test_a_reply_goes_before_its_slot_but_the_rate_over_time_holds(app):
    """20/s, a rollout's post just went: a reply need not wait out the 50 ms interval (its
    slot is booked all the same), while the rollout's next post waits for the slot after
    it, and a burst of replies still goes at the rate."""
    workspace = Limit.rate("slack:team:ahead", 20, ahead=1.0)
    assert ratelimit.reserve(workspace) == 0  # the rollout's post
    assert ratelimit.pace(workspace) == 0  # the reply: at once, on the next slot
    wait = ratelimit.reserve(workspace, max_wait=1)  # a rollout's: the slot after the reply's
    assert 0.08 < wait <= 0.1
    replies = [ratelimit.reserve(workspace, max_wait=5, ahead=True) for _ in range(20)]
    assert all(b - a > 0.045 for a, b in zip(replies, replies[1:], strict=False))
    assert replies[-1] > 0.9  # 20 more replies: a second's worth, at 20/s


def test_a_rollout_message_never_goes_ahead(app):
    workspace = Limit.rate("slack:team:noahead", 20, ahead=1.0)
    ratelimit.reserve(workspace)
    with pytest.raises(ratelimit.TooLong):
        ratelimit.reserve(workspace, max_wait=ratelimit.LEAD)  # what pace_proactive asks


def test_going_ahead_is_refused_for_a_sliding_window_limit():
    with pytest.raises(ValueError, match="ahead"):
        Limit("teams:conv:y", TEAMS, 1, 0.5)
