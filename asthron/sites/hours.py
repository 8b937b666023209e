"""Business hours: is the business open now, and when does it next open?"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class HoursError(ValueError):
    pass


def parse_time(text: str) -> dt.time | None:
    """ "09:30" → time; "24:00" → None (end of day)."""
    if not isinstance(text, str) or not TIME_RE.match(text):
        raise HoursError(f"{text!r} is not a time like 09:30")
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def validate_hours(hours) -> dict:
    if not isinstance(hours, dict):
        raise HoursError("business hours must map days to lists of [start, end]")
    clean = {}
    for day, ranges in hours.items():
        if day not in DAYS:
            raise HoursError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        if not isinstance(ranges, list) or len(ranges) > 6:
            raise HoursError(f"{day}: give at most 6 [start, end] ranges")
        clean_ranges = []
        for pair in ranges:
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise HoursError(f"{day}: each range is [start, end]")
            start, end = parse_time(pair[0]), parse_time(pair[1])
            if start is None or (end is not None and end <= start):
                raise HoursError(f"{day}: {pair[0]}–{pair[1]} ends before it starts")
            clean_ranges.append([pair[0], pair[1]])
        clean[day] = clean_ranges
    return clean


def validate_holidays(holidays) -> list[str]:
    if not isinstance(holidays, list) or len(holidays) > 366:
        raise HoursError("holidays must be a list of dates")
    clean = []
    for day in holidays:
        try:
            clean.append(dt.date.fromisoformat(str(day)).isoformat())
        except ValueError:
            raise HoursError(f"{day!r} is not a date like 2026-12-25") from None
    return sorted(set(clean))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"unknown time zone {name!r}") from None


def _ranges_on(
    hours: dict, holidays: set[str], day: dt.date
) -> list[tuple[dt.time, dt.time | None]]:
    if day.isoformat() in holidays:
        return []
    return [(parse_time(a), parse_time(b)) for a, b in hours.get(DAYS[day.weekday()], [])]


def is_open(hours: dict, holidays: list[str], tz: str, now: dt.datetime) -> bool:
    if not hours:
        return True  # no hours configured: always open
    local = now.astimezone(zone(tz))
    for start, end in _ranges_on(hours, set(holidays), local.date()):
        if start <= local.time() and (end is None or local.time() < end):
            return True
    return False


def next_opening(hours: dict, holidays: list[str], tz: str, now: dt.datetime) -> dt.datetime | None:
    """The next moment the business opens (UTC), within two weeks; None if never."""
    if not hours:
        return None
    zone_info = zone(tz)
    local = now.astimezone(zone_info)
    holiday_set = set(holidays)
    for offset in range(15):
        day = local.date() + dt.timedelta(days=offset)
        for start, _end in sorted(_ranges_on(hours, holiday_set, day), key=lambda r: r[0]):
            opening = _first_instant_at(day, start, zone_info)
            if opening > now:
                return opening
    return None


def _first_instant_at(day: dt.date, time: dt.time, zone_info: ZoneInfo) -> dt.datetime:
    """The first instant (UTC) at which the local clock on ``day`` reads ``time`` or later:
    the wall time itself, or, for a time a DST jump skips (02:30 on a spring-forward night),
    the moment of the jump, which is when is_open() starts answering True."""
    naive = dt.datetime.combine(day, time)
    instant = naive.replace(tzinfo=zone_info).astimezone(dt.UTC)  # fold=0: first occurrence
    if instant.astimezone(zone_info).replace(tzinfo=None) == naive:
        return instant
    # Skipped: the transition lies between the two readings of the wall time.
    low = int(naive.replace(tzinfo=zone_info, fold=1).timestamp())
    high = int(instant.timestamp())
    offset_after = instant.astimezone(zone_info).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        moment = dt.datetime.fromtimestamp(middle, dt.UTC)
        if moment.astimezone(zone_info).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, dt.UTC)
