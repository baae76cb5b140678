"""When a proactive message may leave: a local time in a person's zone, quiet hours and
working days. Pure functions over ``zoneinfo`` (DST-correct), so rollouts compute one due
instant per timezone and write it set-based.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def zone(name: str | None) -> tzinfo:
    """The person's zone; UTC when it is missing or not an IANA name (never an error: one
    bad row must not stop a rollout)."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_time(text: str) -> time:
    m = HHMM.match(text or "")
    if not m:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return time(int(m[1]), int(m[2]))


def parse_days(value: str | list[str]) -> tuple[str, ...]:
    """"mon-fri", "mon,wed,fri" or ["mon", "tue"] → the days in week order."""
    parts = value if isinstance(value, list) else [p for p in re.split(r"[,\s]+", value) if p]
    days: set[str] = set()
    for part in parts:
        part = part.strip().lower()
        if "-" in part:
            first, _, last = part.partition("-")
            if first[:3] not in DAYS or last[:3] not in DAYS:
                raise ValueError(f"{part!r}: days are mon … sun")
            i, j = DAYS.index(first[:3]), DAYS.index(last[:3])
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            days.update(DAYS[k] for k in span)
        elif part[:3] in DAYS:
            days.add(part[:3])
        else:
            raise ValueError(f"{part!r}: days are mon … sun")
    if not days:
        raise ValueError("name at least one working day")
    return tuple(d for d in DAYS if d in days)


def parse_quiet(text: str) -> tuple[str, str] | None:
    """"20:00-08:00" → ("20:00", "08:00"); "" or "off" → None (no quiet hours)."""
    if not text or text.strip().lower() in ("off", "none"):
        return None
    start, sep, end = text.replace(" ", "").partition("-")
    if not sep:
        raise ValueError(f"{text!r}: write quiet hours as HH:MM-HH:MM, e.g. 20:00-08:00")
    parse_time(start), parse_time(end)
    return start, end


@dataclass(frozen=True)
class Window:
    """When a proactive message may leave in a person's zone: outside ``quiet`` (start, end
    as HH:MM, wrapping midnight when start > end) and on ``days``."""

    quiet: tuple[str, str] | None = ("20:00", "08:00")
    days: tuple[str, ...] = field(default=DAYS[:5])

    def open_spans(self) -> list[tuple[time, time | None]]:
        """The allowed spans of a working day, None meaning midnight at its end."""
        if self.quiet is None or self.quiet[0] == self.quiet[1]:
            return [(time(0), None)]
        start, end = parse_time(self.quiet[0]), parse_time(self.quiet[1])
        if start > end:  # 20:00-08:00: open from the morning to the evening
            return [(end, start)]
        return [(time(0), start), (end, None)]  # 12:00-13:00: a quiet lunch


ALWAYS = Window(quiet=None, days=DAYS)


def local_instant(day: date, at: time, tz: tzinfo) -> datetime:
    """``at`` on ``day`` in ``tz``, as UTC. A wall time skipped by a DST change (02:30 on
    the spring-forward night) is read with the offset before it, i.e. an hour later."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_open(moment: datetime, tz: tzinfo, window: Window) -> datetime:
    """The first instant at or after ``moment`` that is in ``window`` for someone in
    ``tz``: a time in their night or weekend moves to their next working morning."""
    if window == ALWAYS:
        return moment
    local = moment.astimezone(tz).replace(tzinfo=None)
    spans = window.open_spans()
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if DAYS[day.weekday()] not in window.days:
            continue
        for start, end in spans:
            begin = datetime.combine(day, start)
            stop = datetime.combine(day + timedelta(days=1), time(0)) if end is None \
                else datetime.combine(day, end)
            if local < stop:
                if local >= begin:
                    return moment
                return local_instant(day, start, tz)
    return moment  # no working day at all: cannot happen (parse_days needs one)


def due(tz: tzinfo, *, now: datetime, send_at: datetime | None, local_time: str | None,
        on: date | None = None, window: Window = ALWAYS) -> datetime:
    """When a person in ``tz`` gets a proactive message: ``local_time`` on the date (``on``,
    else ``send_at``'s, else their today), or ``send_at``, or now; at once when that has
    passed; then moved out of their quiet hours and weekend."""
    if local_time:
        day = on or (send_at.date() if send_at else now.astimezone(tz).date())
        moment = local_instant(day, parse_time(local_time), tz)
    else:
        moment = send_at or now
    return next_open(max(moment, now), tz, window)
