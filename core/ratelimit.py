"""Pacing shared by every worker, kept in Redis (GCRA: one "next free slot" time per key).

``reserve`` books the caller's slot and says how long to wait for it; slots are handed out
in order, so N workers sending to one Slack channel still send one message per interval.
Redis's own clock is used so workers on different machines agree.
"""

from __future__ import annotations

import time

from core import jobs

# KEYS[1] = slot key; ARGV[1] = interval (s), ARGV[2] = max wait (s), ARGV[3] = ttl (s)
# Returns the wait in microseconds, or -wait when the slot is further off than max wait
# (nothing is booked then: the caller should retry later).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1]) * 1000000
local max_wait = tonumber(ARGV[2]) * 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return -wait end
redis.call('SET', KEYS[1], tostring(tat + interval), 'EX', tonumber(ARGV[3]))
return wait
"""
# Push the next free slot to at least now + seconds (a provider said Retry-After).
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1]) * 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > tat then redis.call('SET', KEYS[1], tostring(until_), 'EX', tonumber(ARGV[2])) end
return 1
"""


class TooLong(Exception):
    """The next slot is further away than the caller is willing to wait."""

    def __init__(self, seconds: float):
        super().__init__(f"next send slot in {seconds:.1f} s")
        self.seconds = seconds


def reserve(key: str, interval: float, max_wait: float = 30.0) -> float:
    """Book the next slot for ``key`` (at most one per ``interval`` seconds); seconds to wait."""
    waited = int(jobs.connection().eval(
        _RESERVE, 1, f"parley:rate:{key}", interval, max_wait, int(max_wait + interval + 60)))
    if waited < 0:
        raise TooLong(-waited / 1e6)
    return waited / 1e6


def pace(*limits: tuple[str, float], max_wait: float = 30.0) -> float:
    """Wait for a slot under every (key, interval) limit; returns the seconds slept."""
    slept = 0.0
    for key, interval in limits:
        wait = reserve(key, interval, max_wait)
        if wait > 0:
            time.sleep(wait)
            slept += wait
    return slept


def hold(key: str, seconds: float) -> None:
    """No slot for ``key`` before ``seconds`` from now (honours a provider's Retry-After)."""
    jobs.connection().eval(_HOLD, 1, f"parley:rate:{key}", seconds, int(seconds + 120))
