"""Pacing shared by every worker, kept in Redis.

A ``Limit`` is one key (a Slack DM, a Teams conversation, a Twilio sender) and the windows
its provider enforces: "at most ``count`` sends in any ``seconds``", as many windows as the
provider has (Teams: 7 / 1 s, 8 / 2 s, 60 / 30 s, 1,800 / h). ``reserve`` books the
caller's slot, in order, and says how long to wait for it, so N workers sending to one
conversation still keep every window. A send may cost several units (an SMS of three
segments uses three of a "segments per second" limit). Redis's own clock is used so
workers on different machines agree.

Each key keeps the times of its last bookings (as many as its largest window counts); a
new unit goes at the earliest time no later than the last one booked, and at least
``seconds`` after the ``count``-th most recent unit, for every window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core import jobs

# KEYS[1] = list of booked unit times (µs, ascending); KEYS[2] = hold-until (µs)
# ARGV[1] = max wait (µs), ARGV[2] = ttl (s), ARGV[3] = cost, ARGV[4..] = count, period (µs)
# Returns the wait for the first unit in µs, or -wait when it is further off than max wait
# (nothing is booked then: the caller should retry later).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local start = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
local keep = 1
for w = 4, #ARGV, 2 do keep = math.max(keep, tonumber(ARGV[w])) end
local times = {}
for i, v in ipairs(redis.call('LRANGE', KEYS[1], -keep, -1)) do times[i] = tonumber(v) end
local n = #times
local first = nil
for u = 1, tonumber(ARGV[3]) do
  local at = start
  if n > 0 and times[n] > at then at = times[n] end
  for w = 4, #ARGV, 2 do
    local count = tonumber(ARGV[w])
    if n >= count then at = math.max(at, times[n - count + 1] + tonumber(ARGV[w + 1])) end
  end
  if first == nil then
    first = at
    if at - now > tonumber(ARGV[1]) then return -(at - now) end
  end
  n = n + 1
  times[n] = at
  redis.call('RPUSH', KEYS[1], string.format('%.0f', at))
end
redis.call('LTRIM', KEYS[1], -keep, -1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return first - now
"""
# No slot before now + seconds (a provider said Retry-After); ARGV[1] µs, ARGV[2] ttl (s).
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'EX', tonumber(ARGV[2]))
end
return 1
"""


@dataclass(frozen=True)
class Limit:
    """What one provider key allows: every ``(count, seconds)`` window holds; this send
    uses ``cost`` units of it (SMS segments), 1 for one message."""

    key: str
    windows: tuple[tuple[int, float], ...]
    cost: int = 1

    def __post_init__(self):
        if not self.windows or any(c < 1 or s < 0 for c, s in self.windows):
            raise ValueError(f"limit {self.key}: windows need a count ≥ 1 and seconds ≥ 0")
        if self.cost < 1:
            raise ValueError(f"limit {self.key}: cost must be ≥ 1")

    @classmethod
    def every(cls, key: str, seconds: float, *, cost: int = 1) -> Limit:
        """One send (unit) per ``seconds``."""
        return cls(key, ((1, seconds),), cost)

    @classmethod
    def rate(cls, key: str, per_second: float, *, cost: int = 1) -> Limit:
        """``per_second`` units per second, evenly spaced."""
        return cls.every(key, 1.0 / per_second, cost=cost)


class TooLong(Exception):
    """The next slot is further away than the caller is willing to wait."""

    def __init__(self, seconds: float):
        super().__init__(f"next send slot in {seconds:.1f} s")
        self.seconds = seconds


def _keys(key: str) -> tuple[str, str]:
    return f"parley:pace:{key}", f"parley:pace:{key}:hold"


def reserve(limit: Limit, max_wait: float = 30.0) -> float:
    """Book the next slot under ``limit``; the seconds to wait for it. Raises TooLong (and
    books nothing) when that is more than ``max_wait``."""
    longest = max(seconds for _count, seconds in limit.windows)
    args = [int(max_wait * 1e6), int(longest + max_wait + 60), limit.cost]
    for count, seconds in limit.windows:
        args += [count, int(seconds * 1e6)]
    waited = int(jobs.connection().eval(_RESERVE, 2, *_keys(limit.key), *args))
    if waited < 0:
        raise TooLong(-waited / 1e6)
    return waited / 1e6


def pace(*limits: Limit, max_wait: float = 30.0) -> float:
    """Wait for a slot under every limit; returns the seconds slept."""
    slept = 0.0
    for limit in limits:
        wait = reserve(limit, max_wait)
        if wait > 0:
            time.sleep(wait)
            slept += wait
    return slept


def hold(key: str, seconds: float) -> None:
    """No slot for ``key`` before ``seconds`` from now (honours a provider's Retry-After)."""
    jobs.connection().eval(_HOLD, 1, _keys(key)[1], int(seconds * 1e6), int(seconds + 120))
