"""Business hours: open or closed at an instant, the next opening, across zones and DST."""

from __future__ import annotations

import datetime as dt

import pytest

from asthron.sites import hours

UTC = dt.UTC
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# 2026-03-02 is a Monday.
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 3, 2, 8, 59), True),  # 09:59 in Paris (UTC+1)
        (utc(2026, 3, 2, 7, 59), False),
        (utc(2026, 3, 2, 8, 0), True),  # 09:00 in Paris: opening minute
        (utc(2026, 3, 2, 15, 59), True),  # 16:59
        (utc(2026, 3, 2, 16, 0), False),  # 17:00: the end is exclusive
        (utc(2026, 3, 7, 12, 0), False),  # Saturday
    ],
)
def test_is_open_in_the_sites_time_zone(now, expected):
    assert hours.is_open(WEEKDAYS, [], "Europe/Paris", now) is expected


def test_same_instant_differs_by_time_zone():
    now = utc(2026, 3, 2, 20, 0)  # Monday 20:00 UTC
    assert hours.is_open(WEEKDAYS, [], "UTC", now) is False
    assert hours.is_open(WEEKDAYS, [], "America/Los_Angeles", now) is True  # 12:00 there
    # Tuesday 09:00 in Tokyo is Monday 00:00 UTC.
    assert hours.is_open(WEEKDAYS, [], "Asia/Tokyo", utc(2026, 3, 2, 0, 0)) is True
    assert hours.is_open(WEEKDAYS, [], "Asia/Tokyo", utc(2026, 3, 1, 23, 59)) is False


def test_no_hours_means_always_open_and_no_next_opening():
    now = utc(2026, 3, 7, 3, 0)
    assert hours.is_open({}, [], "UTC", now) is True
    assert hours.next_opening({}, [], "UTC", now) is None


def test_split_days_and_end_of_day():
    schedule = {"mon": [["09:00", "12:00"], ["13:00", "24:00"]]}
    assert hours.is_open(schedule, [], "UTC", utc(2026, 3, 2, 11, 59)) is True
    assert hours.is_open(schedule, [], "UTC", utc(2026, 3, 2, 12, 30)) is False
    assert hours.is_open(schedule, [], "UTC", utc(2026, 3, 2, 23, 59, 59)) is True
    assert hours.is_open(schedule, [], "UTC", utc(2026, 3, 3, 0, 0)) is False
    assert hours.next_opening(schedule, [], "UTC", utc(2026, 3, 2, 12, 30)) == utc(2026, 3, 2, 13)


def test_holidays_are_local_dates():
    holidays = ["2026-03-02"]
    # Monday 09:30 in Auckland (UTC+13) is Sunday 20:30 UTC: the holiday is Auckland's Monday.
    now = utc(2026, 3, 1, 20, 30)
    assert hours.is_open(WEEKDAYS, [], "Pacific/Auckland", now) is True
    assert hours.is_open(WEEKDAYS, holidays, "Pacific/Auckland", now) is False
    assert hours.next_opening(WEEKDAYS, holidays, "Pacific/Auckland", now) == utc(2026, 3, 2, 20)


def test_next_opening():
    monday_morning = utc(2026, 3, 2, 6, 0)
    assert hours.next_opening(WEEKDAYS, [], "UTC", monday_morning) == utc(2026, 3, 2, 9)
    # After closing: tomorrow; on Friday evening: Monday.
    assert hours.next_opening(WEEKDAYS, [], "UTC", utc(2026, 3, 2, 18)) == utc(2026, 3, 3, 9)
    assert hours.next_opening(WEEKDAYS, [], "UTC", utc(2026, 3, 6, 18)) == utc(2026, 3, 9, 9)
    # Open right now: the next opening is tomorrow's, not this one.
    assert hours.next_opening(WEEKDAYS, [], "UTC", utc(2026, 3, 2, 10)) == utc(2026, 3, 3, 9)
    # Holidays are skipped; the answer is in UTC.
    found = hours.next_opening(WEEKDAYS, ["2026-03-09", "2026-03-10"], "UTC", utc(2026, 3, 6, 18))
    assert found == utc(2026, 3, 11, 9)
    assert found.tzinfo == UTC


def test_no_opening_within_two_weeks_is_none():
    every_day_off = [(dt.date(2026, 3, 2) + dt.timedelta(days=n)).isoformat() for n in range(16)]
    assert hours.next_opening(WEEKDAYS, every_day_off, "UTC", utc(2026, 3, 2, 6)) is None
    assert hours.is_open(WEEKDAYS, every_day_off, "UTC", utc(2026, 3, 2, 10)) is False


def test_daylight_saving_time_moves_the_utc_opening():
    # London: GMT until 2026-03-29 01:00 UTC, then BST (UTC+1).
    before = hours.next_opening(WEEKDAYS, [], "Europe/London", utc(2026, 3, 27, 6))
    after = hours.next_opening(WEEKDAYS, [], "Europe/London", utc(2026, 3, 28, 12))
    assert before == utc(2026, 3, 27, 9)  # Friday, GMT
    assert after == utc(2026, 3, 30, 8)  # Monday, BST: 09:00 local is 08:00 UTC
    assert hours.is_open(WEEKDAYS, [], "Europe/London", utc(2026, 3, 30, 8, 0)) is True
    assert hours.is_open(WEEKDAYS, [], "Europe/London", utc(2026, 3, 27, 8, 30)) is False
    # New York falls back on 2026-11-01: 09:00 EDT (13:00 UTC) then 09:00 EST (14:00 UTC).
    assert hours.next_opening(WEEKDAYS, [], "America/New_York", utc(2026, 10, 30, 6)) == utc(
        2026, 10, 30, 13
    )
    assert hours.next_opening(WEEKDAYS, [], "America/New_York", utc(2026, 10, 31, 12)) == utc(
        2026, 11, 2, 14
    )


def test_opening_in_the_skipped_hour_of_spring_forward():
    # 2026-03-08 02:00-03:00 does not exist in New York: clocks jump from 01:59:59 EST to
    # 03:00 EDT (07:00 UTC). A 02:30 opening that Sunday is the jump itself: is_open agrees.
    schedule = {"sun": [["02:30", "06:00"]]}
    opening = hours.next_opening(schedule, [], "America/New_York", utc(2026, 3, 8, 5))
    assert opening == utc(2026, 3, 8, 7, 0)
    assert hours.is_open(schedule, [], "America/New_York", opening) is True
    assert (
        hours.is_open(schedule, [], "America/New_York", opening - dt.timedelta(seconds=1)) is False
    )
    # The ambiguous hour of fall-back: a 01:30 opening is its first occurrence (EDT).
    schedule = {"sun": [["01:30", "06:00"]]}
    opening = hours.next_opening(schedule, [], "America/New_York", utc(2026, 11, 1, 4))
    assert opening == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    "schedule",
    [
        {"fri": [["22:00", "02:00"]]},  # overnight ranges are not supported: split them
        {"mon": [["09:00", "09:00"]]},
        {"mon": [["24:00", "24:00"]]},
        {"mon": [["9:00", "17:00"]]},
        {"mon": [["09:00", "25:00"]]},
        {"mon": [["09:00"]]},
        {"mon": "09:00-17:00"},
        {"monday": [["09:00", "17:00"]]},
        {"mon": [["09:00", "10:00"]] * 7},
        [["09:00", "17:00"]],
    ],
)
def test_invalid_hours_are_refused(schedule):
    with pytest.raises(hours.HoursError):
        hours.validate_hours(schedule)


def test_valid_hours_and_holidays_are_normalised():
    schedule = {"sat": [("10:00", "14:00")], "sun": []}
    assert hours.validate_hours(schedule) == {"sat": [["10:00", "14:00"]], "sun": []}
    assert hours.validate_holidays(["2026-12-25", "2026-01-01", "2026-12-25"]) == [
        "2026-01-01",
        "2026-12-25",
    ]
    for bad in (["2026-13-01"], ["25/12/2026"], "2026-12-25", [None]):
        with pytest.raises(hours.HoursError):
            hours.validate_holidays(bad)


def test_unknown_time_zone():
    for name in ("Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/Paris\x00"):
        with pytest.raises(hours.HoursError):
            hours.zone(name)
