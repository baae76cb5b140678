"""The due-time maths of proactive sends: a local time in each person's zone (DST-correct),
at once when it has passed, out of quiet hours and weekends."""

from datetime import UTC, datetime

import pytest

from core import schedule
from core.schedule import ALWAYS, Window, due, next_open, zone

NY, BERLIN, TOKYO = zone("America/New_York"), zone("Europe/Berlin"), zone("Asia/Tokyo")
DEFAULT = Window()  # 20:00–08:00, Monday to Friday


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_nine_local_on_a_date_is_a_different_instant_in_each_zone_tokyo_first():
    day = utc(2026, 3, 10)  # a Tuesday
    now = utc(2026, 3, 9, 12)
    at = {name: due(tz, now=now, send_at=day, local_time="09:00")
          for name, tz in (("tokyo", TOKYO), ("berlin", BERLIN), ("new_york", NY))}
    assert at == {"tokyo": utc(2026, 3, 10, 0), "berlin": utc(2026, 3, 10, 8),
                  "new_york": utc(2026, 3, 10, 13)}
    assert at["tokyo"] < at["berlin"] < at["new_york"]


@pytest.mark.parametrize(("tz", "before", "change", "after"), [
    # New York springs forward on 2026-03-08: 09:00 is 14:00 UTC the day before, 13:00 on it
    (NY, utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)),
    # Berlin on 2026-03-29: 08:00 UTC the day before, 07:00 UTC on the day
    (BERLIN, utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
])
def test_local_time_follows_the_dst_change(tz, before, change, after):
    now = utc(2026, 3, 1)
    got = [due(tz, now=now, send_at=d, local_time="09:00") for d in (
        utc(2026, before.month, before.day), utc(2026, change.month, change.day),
        utc(2026, after.month, after.day))]
    assert got == [before, change, after]


def test_autumn_change_new_york_nine_is_fourteen_utc_again():
    assert due(NY, now=utc(2026, 10, 1), send_at=utc(2026, 11, 1), local_time="09:00") \
        == utc(2026, 11, 1, 14)


def test_a_wall_time_skipped_by_dst_comes_an_hour_later():
    # 02:30 does not exist in New York on 2026-03-08: read as 02:30 EST = 03:30 EDT
    assert schedule.local_instant(utc(2026, 3, 8).date(), schedule.parse_time("02:30"), NY) \
        == utc(2026, 3, 8, 7, 30)


def test_a_local_time_already_passed_goes_at_once():
    now = utc(2026, 3, 10, 15)  # 16:00 in Berlin: 09:00 has passed
    assert due(BERLIN, now=now, send_at=utc(2026, 3, 10), local_time="09:00",
               window=DEFAULT) == now


def test_passed_but_in_their_night_waits_for_their_morning():
    now = utc(2026, 3, 10, 15)  # 00:00 on Wednesday in Tokyo
    assert due(TOKYO, now=now, send_at=utc(2026, 3, 10), local_time="09:00",
               window=DEFAULT) == utc(2026, 3, 10, 23)  # 08:00 JST


def test_send_at_alone_is_that_instant_and_neither_is_now():
    now = utc(2026, 3, 10, 10)
    assert due(BERLIN, now=now, send_at=utc(2026, 3, 11, 12), local_time=None) \
        == utc(2026, 3, 11, 12)
    assert due(BERLIN, now=now, send_at=None, local_time=None) == now


@pytest.mark.parametrize(("moment", "expected"), [
    (utc(2026, 3, 10, 12), utc(2026, 3, 10, 12)),  # Tuesday 13:00 Berlin: open
    (utc(2026, 3, 10, 20), utc(2026, 3, 11, 7)),  # Tuesday 21:00 → Wednesday 08:00
    (utc(2026, 3, 11, 5), utc(2026, 3, 11, 7)),  # Wednesday 06:00 → 08:00 the same day
    (utc(2026, 3, 13, 19, 30), utc(2026, 3, 16, 7)),  # Friday 20:30 → Monday 08:00
    (utc(2026, 3, 14, 11), utc(2026, 3, 16, 7)),  # Saturday noon → Monday 08:00
    (utc(2026, 3, 27, 22), utc(2026, 3, 30, 6)),  # Friday night → Monday, now in CEST
])
def test_quiet_hours_and_weekends_move_to_the_next_working_morning(moment, expected):
    assert next_open(moment, BERLIN, DEFAULT) == expected


def test_quiet_hours_that_do_not_wrap_midnight_and_custom_days():
    lunch = Window(quiet=("12:00", "13:00"), days=("sat", "sun"))
    assert next_open(utc(2026, 3, 14, 12, 30), UTC, lunch) == utc(2026, 3, 14, 13)
    assert next_open(utc(2026, 3, 14, 23, 30), UTC, lunch) == utc(2026, 3, 14, 23, 30)
    assert next_open(utc(2026, 3, 16, 9), UTC, lunch) == utc(2026, 3, 21, 0)  # Mon → Sat


def test_without_quiet_hours_nothing_moves():
    saturday_night = utc(2026, 3, 14, 23)
    assert next_open(saturday_night, BERLIN, ALWAYS) == saturday_night


def test_settings_spellings():
    assert schedule.parse_days("mon-fri") == ("mon", "tue", "wed", "thu", "fri")
    assert schedule.parse_days("fri-mon") == ("mon", "fri", "sat", "sun")
    assert schedule.parse_days(["Sunday", "wed"]) == ("wed", "sun")
    assert schedule.parse_quiet("20:00-08:00") == ("20:00", "08:00")
    assert schedule.parse_quiet("off") is None
    for bad in ("", "someday", "mon-funday"):
        with pytest.raises(ValueError):
            schedule.parse_days(bad)
    with pytest.raises(ValueError):
        schedule.parse_quiet("8pm")
    assert zone("Not/AZone") is UTC and zone(None) is UTC
