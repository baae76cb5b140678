"""Pacing shared by every worker, kept in Redis.

A ``Limit`` is one key (a Slack DM, a Teams conversation, a Twilio sender) and the windows
its provider enforces: "at most ``count`` sends in any ``seconds``", as many windows as the
provider has (Teams: 7 / 1 s, 8 / 2 s, 60 / 30 s, 1,800 / h). ``reserve`` books the
caller's slot under all of a send's limits at once (its conversation's and its tenant's),
in order, and says how long to wait for it, so N workers sending to one conversation still
keep every window. A send may cost several units (an SMS of three
segments uses three of a "segments per second" limit). Redis's own clock is used so
workers on different machines agree.

Each key keeps the times of its last bookings (as many as its largest window counts); a
new unit goes at the earliest time no earlier than the last one booked, and at least
``seconds`` after the ``count``-th most recent unit, for every window.

A key many conversations share (a Slack workspace, a Teams tenant, a Twilio sender:
``shared``) is never booked further ahead than its own next slot because another of the
send's keys holds it back (a DM's one-a-second, a Retry-After on one conversation): since
no unit goes before the last one booked, that would hold up every other sender on it for
as long. The other keys are booked (so one conversation's messages keep their order), the
shared one when the wait is nearly over (``Later``); if it is busy then, the send goes
that much later than its conversation's booking, by a slot or two of the shared rate.

A rate may let a reply go ``ahead`` of its slot, by up to one interval: the short burst a
provider allows (Slack: "short bursts allowed"), spent on a person waiting for an answer
and never on a rollout, whose sends book only a slot that is (nearly) now
(``pace_proactive``). The reply is booked on its slot all the same, so the rate over time
holds, and within any window one send more than the rate may go at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core import jobs

LEAD = 0.005  # seconds: how far ahead a proactive send may book its slot (a reply arriving
# meanwhile finds the last booking in the past, not one interval ahead of it), and how
# far past a shared key's own slot any send may book it

# For each limit i: KEYS[2i-1] = list of booked unit times (µs, ascending), KEYS[2i] = its
# hold-until (µs). ARGV[1] = max wait (µs), ARGV[2] = lead (µs); then per limit: ttl (s),
# cost, ahead (µs), shared (0/1), number of windows, and count, period (µs) per window.
# All limits are booked together, at the first time every one of them allows (booking them
# one after another, sleeping between, could let a later key's wait squeeze an earlier
# key's units together). A send may go up to ``ahead`` before that slot (booked on the
# slot all the same), never before a hold ends. Returns {1, wait (µs)} when booked; {0,
# wait} when that is further off than max wait (nothing booked); {2, wait, i, …} when
# another key makes the send wait more than lead past the own next slot of the shared
# keys i, …: every other key is booked, those are not (see the module's docstring).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lead, limits, pos = tonumber(ARGV[2]), {}, 3
for i = 1, #KEYS / 2 do
  local L = {list = KEYS[2 * i - 1], ttl = tonumber(ARGV[pos]), cost = tonumber(ARGV[pos + 1]),
             ahead = tonumber(ARGV[pos + 2]), shared = tonumber(ARGV[pos + 3]), windows = {},
             keep = 1, times = {}}
  local nwin = tonumber(ARGV[pos + 4])
  pos = pos + 5
  for w = 1, nwin do
    L.windows[w] = {tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])}
    L.keep = math.max(L.keep, L.windows[w][1])
    pos = pos + 2
  end
  for j, v in ipairs(redis.call('LRANGE', L.list, -L.keep, -1)) do L.times[j] = tonumber(v) end
  L.hold = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  limits[i] = L
end
local function earliest(L, from)
  local at, n = math.max(from, L.hold), #L.times
  if n > 0 and L.times[n] > at then at = L.times[n] end
  for _, w in ipairs(L.windows) do
    if n >= w[1] then at = math.max(at, L.times[n - w[1] + 1] + w[2]) end
  end
  return at
end
local first, go = now, now
for _, L in ipairs(limits) do
  L.slot = earliest(L, now)
  first = math.max(first, L.slot)
  go = math.max(go, L.slot - L.ahead, L.hold)  -- never before a Retry-After is over
end
if go - now > tonumber(ARGV[1]) then return {0, go - now} end
local later = {}
for i, L in ipairs(limits) do
  if L.shared == 1 and first - L.slot > lead then
    L.later = true
    later[#later + 1] = i
  end
end
for _, L in ipairs(limits) do
  if not L.later then
    local at = first
    for u = 1, L.cost do
      if u > 1 then at = earliest(L, at) end
      L.times[#L.times + 1] = at
      redis.call('RPUSH', L.list, string.format('%.0f', at))
    end
    redis.call('LTRIM', L.list, -L.keep, -1)
    redis.call('EXPIRE', L.list, L.ttl)
  end
end
if #later > 0 then return {2, first - now, unpack(later)} end
return {1, go - now}
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
    # seconds a reply (``pace``, not ``pace_proactive``) may go before its booked slot: the
    # short burst a provider allows, spent on a person waiting for an answer, never on a
    # rollout (the slot is still booked, so the rate over time is unchanged)
    ahead: float = 0.0
    # a key many conversations share (a workspace's, a tenant's, a sender's): never booked
    # far past its own next slot because another key makes one send wait (see _RESERVE)
    shared: bool = False

    def __post_init__(self):
        if not self.windows or any(c < 1 or s < 0 for c, s in self.windows):
            raise ValueError(f"limit {self.key}: windows need a count ≥ 1 and seconds ≥ 0")
        if self.cost < 1:
            raise ValueError(f"limit {self.key}: cost must be ≥ 1")
        if self.ahead < 0 or (self.ahead and (len(self.windows) != 1
                                              or self.windows[0][0] != 1)):
            raise ValueError(f"limit {self.key}: ahead is for a rate (one per interval)")

    @classmethod
    def every(cls, key: str, seconds: float, *, cost: int = 1) -> Limit:
        """One send (unit) per ``seconds``."""
        return cls(key, ((1, seconds),), cost)

    @classmethod
    def rate(cls, key: str, per_second: float, *, cost: int = 1, ahead: float = 0.0) -> Limit:
        """``per_second`` units per second, evenly spaced, for a key many conversations
        share; ``ahead`` as a fraction of the interval (1.0: a reply may go up to one
        interval before its slot)."""
        interval = 1.0 / per_second
        return cls(key, ((1, interval),), cost, ahead * interval, shared=True)


class TooLong(Exception):
    """The next slot is further away than the caller is willing to wait."""

    def __init__(self, seconds: float):
        super().__init__(f"next send slot in {seconds:.1f} s")
        self.seconds = seconds


class Later(TooLong):
    """Another of the send's keys (its conversation's, or a Retry-After on it) makes it
    wait ``seconds``: that key is booked (so sends to one conversation keep their order,
    and a click's update its place), the shared ones listed in ``deferred`` (indexes into
    the limits) are not, so they stay free for everyone else meanwhile. Book those when
    the wait is nearly over, and send no earlier than its end (``pace`` does)."""

    def __init__(self, seconds: float, deferred: tuple[int, ...]):
        super().__init__(seconds)
        self.deferred = deferred


def _keys(key: str) -> tuple[str, str]:
    return f"parley:pace:{key}", f"parley:pace:{key}:hold"


def reserve(*limits: Limit, max_wait: float = 30.0, ahead: bool = False) -> float:
    """Book the next slot allowed by every limit at once; the seconds to wait for it (with
    ``ahead``, up to each limit's ``ahead`` less). Raises TooLong (and books nothing) when
    that is more than ``max_wait``, and Later when a shared key must wait to be booked."""
    if not limits:
        return 0.0
    keys, args = [], [int(max_wait * 1e6), int(LEAD * 1e6)]
    for limit in limits:
        keys += _keys(limit.key)
        longest = max(seconds for _count, seconds in limit.windows)
        args += [int(longest + max_wait + 60), limit.cost,
                 int(limit.ahead * 1e6) if ahead else 0, int(limit.shared),
                 len(limit.windows)]
        for count, seconds in limit.windows:
            args += [count, int(seconds * 1e6)]
    booked, waited, *deferred = jobs.connection().eval(_RESERVE, len(keys), *keys, *args)
    if booked == 1:
        return int(waited) / 1e6
    if booked == 0:
        raise TooLong(int(waited) / 1e6)
    raise Later(int(waited) / 1e6, tuple(int(i) - 1 for i in deferred))


def pace(*limits: Limit, max_wait: float = 30.0) -> float:
    """Wait for a slot under every limit, as a reply does (using each limit's ``ahead``,
    booking ahead on a shared key, but not while another key holds the send back: see
    ``Later``); returns the seconds waited."""
    start = time.monotonic()
    not_before, slept, pending = start, 0.0, list(limits)
    while True:
        try:
            wait = reserve(*pending, ahead=True,
                           max_wait=max(max_wait - (time.monotonic() - start), 0.0))
        except Later as exc:  # booked on its own keys; the shared ones when that comes
            not_before = max(not_before, time.monotonic() + exc.seconds)
            pending = [pending[i] for i in exc.deferred]
            pause = max(exc.seconds - LEAD, 0.0)
            time.sleep(pause)
            slept += pause
            continue
        except TooLong as exc:
            raise TooLong(time.monotonic() - start + exc.seconds) from None
        wait = max(wait, not_before - time.monotonic())
        if wait > 0:
            time.sleep(wait)
            slept += wait
        return slept


class GiveWay(Exception):
    """A proactive send stepped aside (nothing booked, nothing sent) for waiting replies."""


def pace_proactive(*limits: Limit, max_wait: float = 30.0,
                   give_way: Callable[[], bool] = lambda: False) -> float:
    """Wait for a slot the way a rollout message should: without booking ahead. A
    proactive send books only a slot that is (nearly) now, so a reply that needs the same
    key finds the next slot free instead of queueing behind booked rollout messages; and
    while it waits, it steps aside (GiveWay) when ``give_way()`` says replies are waiting
    for a worker. Raises TooLong when no slot comes within ``max_wait``."""
    start = time.monotonic()
    while True:
        try:
            wait = reserve(*limits, max_wait=LEAD)
        except TooLong as exc:
            waited = time.monotonic() - start
            if waited + exc.seconds > max_wait:
                raise TooLong(waited + exc.seconds) from None
            if give_way():
                raise GiveWay() from None
            time.sleep(max(exc.seconds - LEAD, 0.001))
            continue
        if wait > 0:
            time.sleep(wait)
        return time.monotonic() - start


def hold(key: str, seconds: float) -> None:
    """No slot for ``key`` before ``seconds`` from now (honours a provider's Retry-After)."""
    jobs.connection().eval(_HOLD, 1, _keys(key)[1], int(seconds * 1e6), int(seconds + 120))


def forget(names: Iterable[str]) -> int:
    """Drop the pacing keys that name one of ``names`` (an erased person's chat id, number
    or address: a DM's pace is keyed by its user). They hold no text, only times, but the
    key itself would still name them. Returns how many went."""
    wanted = [n for n in names if n]
    if not wanted:
        return 0
    r = jobs.connection()
    doomed = [key for key in r.scan_iter(match="parley:pace:*", count=1000)
              if any(n.encode() in key for n in wanted)]
    return r.delete(*doomed) if doomed else 0
