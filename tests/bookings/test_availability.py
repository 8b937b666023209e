"""The availability engine: hours − overrides − busy → slots, across zones and DST."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from asthron.bookings.availability import (
    Rules,
    Schedule,
    Slot,
    free_slots,
    naive_free_slots,
    parse_range,
)
from asthron.sites.hours import HoursError

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
EVERY_DAY = {day: [["00:00", "06:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def rules(minutes=60, interval=None, **kwargs) -> Rules:
    return Rules(
        duration=dt.timedelta(minutes=minutes),
        interval=dt.timedelta(minutes=interval or minutes),
        **kwargs,
    )


def walls(slots, zone: str) -> list[str]:
    return [s.start.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for s in slots]


def on_day(slots, zone: str, day: dt.date) -> list[Slot]:
    return [s for s in slots if s.start.astimezone(ZoneInfo(zone)).date() == day]


def test_ranges_parse_and_cross_midnight():
    assert parse_range(["09:00", "17:00"]) == (540, 1020)
    assert parse_range(["22:00", "02:00"]) == (1320, 1560)
    assert parse_range(["00:00", "24:00"]) == (0, 1440)
    for bad in (["9:00", "10:00"], ["24:00", "01:00"], ["10:00"], "10:00-11:00"):
        with pytest.raises(HoursError):
            parse_range(bad)


def test_weekday_grid_in_the_business_zone():
    schedule = Schedule.from_config("Europe/Berlin", WEEKDAYS)
    now = utc(2026, 3, 1, 12)  # Sunday
    slots = free_slots(schedule, rules(60), now=now, end=utc(2026, 3, 3))
    assert walls(slots, "Europe/Berlin")[0] == "03-02 09:00+0100"
    assert walls(slots, "Europe/Berlin")[-1] == "03-02 16:00+0100"
    assert len(slots) == 8
    assert slots[0] == Slot(utc(2026, 3, 2, 8), utc(2026, 3, 2, 9))


def test_berlin_spring_forward_skips_the_missing_hour():
    schedule = Schedule.from_config("Europe/Berlin", EVERY_DAY)
    slots = on_day(
        free_slots(schedule, rules(60), now=utc(2026, 3, 27)),
        "Europe/Berlin",
        dt.date(2026, 3, 29),
    )
    # 02:00 does not exist that night; 00:00–06:00 is five real hours.
    assert walls(slots, "Europe/Berlin") == [
        "03-29 00:00+0100",
        "03-29 01:00+0100",
        "03-29 03:00+0200",
        "03-29 04:00+0200",
        "03-29 05:00+0200",
    ]
    assert slots[1].end == slots[2].start  # 01:00 + 1 h is 03:00 CEST


def test_berlin_fall_back_offers_the_repeated_hour_twice():
    schedule = Schedule.from_config("Europe/Berlin", EVERY_DAY)
    slots = on_day(
        free_slots(schedule, rules(60), now=utc(2026, 10, 23)),
        "Europe/Berlin",
        dt.date(2026, 10, 25),
    )
    assert walls(slots, "Europe/Berlin") == [
        "10-25 00:00+0200",
        "10-25 01:00+0200",
        "10-25 02:00+0200",
        "10-25 02:00+0100",
        "10-25 03:00+0100",
        "10-25 04:00+0100",
        "10-25 05:00+0100",
    ]
    assert [s.start for s in slots] == [utc(2026, 10, 24, 22) + i * HOUR for i in range(7)]


def test_new_york_keeps_wall_clock_hours_across_the_change():
    schedule = Schedule.from_config("America/New_York", WEEKDAYS)
    slots = free_slots(schedule, rules(60), now=utc(2026, 3, 6, 0), end=utc(2026, 3, 10))
    # Friday 09:00 EST is 14:00 UTC, Monday 09:00 EDT is 13:00 UTC.
    assert slots[0].start == utc(2026, 3, 6, 14)
    monday = on_day(slots, "America/New_York", dt.date(2026, 3, 9))
    assert monday[0].start == utc(2026, 3, 9, 13)
    assert len(monday) == 8


def test_new_york_spring_forward_night_with_a_buffer():
    schedule = Schedule.from_config("America/New_York", {"sun": [["01:00", "04:00"]]})
    slots = free_slots(schedule, rules(30), now=utc(2026, 3, 7), end=utc(2026, 3, 9))
    # 02:00 and 02:30 do not exist; 01:00–04:00 is two real hours.
    assert walls(slots, "America/New_York") == [
        "03-08 01:00-0500",
        "03-08 01:30-0500",
        "03-08 03:00-0400",
        "03-08 03:30-0400",
    ]


def test_lord_howe_half_hour_shift():
    zone = "Australia/Lord_Howe"  # +10:30 in winter, +11:00 in summer, jumps by 30 min
    schedule = Schedule.from_config(zone, {"sun": [["01:00", "03:00"]]})
    spring = free_slots(schedule, rules(30), now=utc(2026, 10, 2), end=utc(2026, 10, 5))
    # 02:00 → 02:30 on 4 October 2026: 02:00 never happens.
    assert walls(spring, zone) == [
        "10-04 01:00+1030",
        "10-04 01:30+1030",
        "10-04 02:30+1100",
    ]
    assert spring[1].end == spring[2].start
    autumn = free_slots(schedule, rules(30), now=utc(2026, 4, 3), end=utc(2026, 4, 6))
    # 02:00 → 01:30 on 5 April 2026: 01:30 happens twice.
    assert walls(autumn, zone) == [
        "04-05 01:00+1100",
        "04-05 01:30+1100",
        "04-05 01:30+1030",
        "04-05 02:00+1030",
        "04-05 02:30+1030",
    ]
    assert autumn[-1].end - autumn[0].start == dt.timedelta(hours=2, minutes=30)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Kolkata", utc(2026, 3, 2, 3, 30)), ("Asia/Kathmandu", utc(2026, 3, 2, 3, 15))],
)
def test_quarter_and_half_hour_offsets(zone, expected):
    schedule = Schedule.from_config(zone, WEEKDAYS)
    slots = free_slots(schedule, rules(45, 15), now=utc(2026, 3, 1), end=utc(2026, 3, 3))
    assert slots[0].start == expected
    assert slots[0].start.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:00"
    # 09:00 … 16:15 every 15 minutes, the last one ending at 17:00.
    assert slots[-1].end.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "17:00"
    assert len(on_day(slots, zone, dt.date(2026, 3, 2))) == 30


def test_hours_past_midnight_belong_to_the_day_they_start():
    zone = "Europe/Berlin"
    schedule = Schedule.from_config(zone, {"fri": [["22:00", "02:00"]]}, holidays=["2026-03-13"])
    slots = free_slots(schedule, rules(60), now=utc(2026, 3, 5), end=utc(2026, 3, 16))
    # Friday the 6th runs into Saturday; Friday the 13th is a holiday, its night too.
    assert walls(slots, zone) == [
        "03-06 22:00+0100",
        "03-06 23:00+0100",
        "03-07 00:00+0100",
        "03-07 01:00+0100",
    ]


def test_overrides_replace_a_dates_hours():
    zone = "UTC"
    schedule = Schedule.from_config(
        zone, WEEKDAYS, overrides={"2026-03-02": [["10:00", "12:00"]], "2026-03-03": []}
    )
    slots = free_slots(schedule, rules(60), now=utc(2026, 3, 1), end=utc(2026, 3, 5))
    assert walls(slots, zone)[:3] == ["03-02 10:00+0000", "03-02 11:00+0000", "03-04 09:00+0000"]


def test_busy_intervals_are_widened_by_the_buffers():
    schedule = Schedule.from_config("UTC", WEEKDAYS)
    busy = [(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11))]
    tight = free_slots(schedule, rules(30), now=utc(2026, 3, 1), busy=busy, end=utc(2026, 3, 2, 13))
    starts = [s.start.hour * 60 + s.start.minute for s in tight]
    assert 9 * 60 + 30 in starts and 11 * 60 in starts  # touching is fine
    assert 10 * 60 not in starts and 10 * 60 + 30 not in starts
    buffered = free_slots(
        schedule,
        rules(30, buffer_before=15 * MIN, buffer_after=15 * MIN),
        now=utc(2026, 3, 1),
        busy=busy,
        end=utc(2026, 3, 2, 13),
    )
    starts = [s.start.hour * 60 + s.start.minute for s in buffered]
    assert starts == [9 * 60, 11 * 60 + 30, 12 * 60, 12 * 60 + 30]


def test_minimum_notice_starts_on_the_grid():
    schedule = Schedule.from_config("UTC", WEEKDAYS)
    slots = free_slots(
        schedule,
        rules(30, min_notice=30 * MIN),
        now=utc(2026, 3, 2, 9, 10),
        end=utc(2026, 3, 3),
    )
    assert slots[0].start == utc(2026, 3, 2, 10)


def test_booking_window_edge_is_inclusive():
    schedule = Schedule.from_config("UTC", WEEKDAYS)
    now = utc(2026, 3, 2, 8)
    slots = free_slots(schedule, rules(60, window=dt.timedelta(days=2, hours=3)), now=now)
    # now + window is Wednesday 11:00: that start is offered, 12:00 is not.
    assert slots[-1].start == utc(2026, 3, 4, 11)
    one_second_less = free_slots(
        schedule, rules(60, window=dt.timedelta(days=2, hours=3) - dt.timedelta(seconds=1)), now=now
    )
    assert one_second_less[-1].start == utc(2026, 3, 4, 10)


def test_daily_limit_closes_the_local_day():
    zone = "Pacific/Auckland"
    schedule = Schedule.from_config(zone, WEEKDAYS)
    counts = {dt.date(2026, 3, 2): 3, dt.date(2026, 3, 3): 2}
    slots = free_slots(
        schedule,
        rules(60, daily_limit=3),
        now=utc(2026, 3, 1),
        end=utc(2026, 3, 4),
        day_counts=counts,
    )
    days = {s.start.astimezone(ZoneInfo(zone)).date() for s in slots}
    assert dt.date(2026, 3, 2) not in days
    assert dt.date(2026, 3, 3) in days


def test_naive_datetimes_are_refused():
    schedule = Schedule.from_config("UTC", WEEKDAYS)
    with pytest.raises(ValueError, match="naive"):
        free_slots(schedule, rules(60), now=dt.datetime(2026, 3, 2))


@pytest.mark.parametrize(
    "zone",
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"],
)
def test_agrees_with_the_naive_version(zone):
    """Random hours, buffers and busy intervals around the DST changes: the fast engine and
    the obvious one offer the same slots."""
    rng = random.Random(zone)
    for _ in range(15):
        week = {}
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            start = rng.randrange(0, 24 * 4) * 15
            end = (start + rng.randrange(1, 14 * 4) * 15) % 1440
            week[day] = [[f"{start // 60:02}:{start % 60:02}", f"{end // 60:02}:{end % 60:02}"]]
        schedule = Schedule.from_config(zone, week)
        now = utc(2026, rng.choice([3, 4, 10, 11]), rng.randrange(1, 25), rng.randrange(24))
        busy = []
        for _ in range(rng.randrange(0, 40)):
            begin = now + dt.timedelta(minutes=rng.randrange(0, 14 * 24 * 60))
            busy.append((begin, begin + dt.timedelta(minutes=rng.randrange(5, 300))))
        duration = rng.choice([15, 30, 45, 60, 90])
        case = Rules(
            duration=duration * MIN,
            interval=rng.choice([15, 30, duration]) * MIN,
            buffer_before=rng.choice([0, 10, 15]) * MIN,
            buffer_after=rng.choice([0, 5, 30]) * MIN,
            min_notice=rng.choice([0, 60, 24 * 60]) * MIN,
            window=dt.timedelta(days=rng.randrange(1, 14), minutes=rng.randrange(1440)),
        )
        assert free_slots(schedule, case, now=now, busy=busy) == naive_free_slots(
            schedule, case, now=now, busy=busy
        )


def test_weekly_limit_closes_the_local_week_in_the_business_zone():
    """Weeks run Monday to Sunday on the business's wall clock: in Auckland (UTC+13 in March)
    Monday 00:00–06:00 is still Sunday in UTC, and it belongs to the full week."""
    zone = "Pacific/Auckland"
    schedule = Schedule.from_config(zone, EVERY_DAY)
    counts = {dt.date(2026, 3, 10): 2}  # a Tuesday: the week of Monday 9 March
    slots = free_slots(
        schedule,
        rules(60, weekly_limit=2),
        now=utc(2026, 3, 6),
        end=utc(2026, 3, 18),
        day_counts=counts,
    )
    days = sorted({s.start.astimezone(ZoneInfo(zone)).date() for s in slots})
    assert dt.date(2026, 3, 8) in days  # Sunday before: the previous week
    assert dt.date(2026, 3, 16) in days  # Monday after: the next week
    assert not [d for d in days if dt.date(2026, 3, 9) <= d <= dt.date(2026, 3, 15)]
    # Monday 9 March 00:00 in Auckland is Sunday 8 March 11:00 UTC: refused all the same.
    assert utc(2026, 3, 8, 11) not in {s.start for s in slots}
    # One booking less and the week is open again; the naive version agrees either way.
    open_week = free_slots(
        schedule,
        rules(60, weekly_limit=3),
        now=utc(2026, 3, 6),
        end=utc(2026, 3, 18),
        day_counts=counts,
    )
    assert utc(2026, 3, 8, 11) in {s.start for s in open_week}
    for limit, found in ((2, slots), (3, open_week)):
        naive = naive_free_slots(
            schedule, rules(60, weekly_limit=limit), now=utc(2026, 3, 6), day_counts=counts
        )
        assert [s for s in naive if s.start < utc(2026, 3, 18)] == found
