"""The availability engine: working hours − overrides − busy intervals → bookable slots.

Pure Python (zoneinfo), no database. One call answers for one staff member or resource:

    open intervals   the weekly hours in the business's time zone, a date's override instead
                     of its weekday, nothing on a holiday; a range whose end is not after its
                     start ("22:00"–"02:00") runs past midnight into the next day
    − busy           local bookings and external calendar events, each widened by the
                     service's buffers (a slot needs ``buffer_before`` free before it and
                     ``buffer_after`` after it)
    → slots          starts on a grid aligned to each range's opening *on the wall clock*
                     (09:00, 09:30, … in local time, also on a DST day), from
                     ``now + min_notice`` up to ``now + window`` (inclusive), skipping local
                     days whose bookings reached ``daily_limit`` and local weeks (Monday to
                     Sunday, by the day a booking starts on) that reached ``weekly_limit``

Wall-clock rules on DST days: a range boundary in a skipped hour is the moment of the jump; an
ambiguous boundary (a repeated hour) opens at its first occurrence and closes at its last, so a
range always covers every instant whose wall time lies in it. Grid times that do not exist are
skipped; grid times that occur twice give two slots.

Internally everything is integer seconds since the epoch, and the busy intervals are merged
once and swept with the (sorted) grid, so 60 days against 1,000 busy intervals is a few
milliseconds (bench/booking_slots.py).
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from asthron.sites.hours import DAYS, HoursError, zone

UTC = dt.UTC
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
DAY = 86400

Range = tuple[int, int]  # minutes after local midnight: start, end (end may exceed 1440)


def parse_range(pair) -> Range:
    """["09:00", "17:00"] → (540, 1020); ["22:00", "02:00"] → (1320, 1560): past midnight."""
    if not (isinstance(pair, list | tuple) and len(pair) == 2):
        raise HoursError("each range is [start, end]")
    minutes = []
    for text in pair:
        if not isinstance(text, str) or not TIME_RE.match(text):
            raise HoursError(f"{text!r} is not a time like 09:30")
        hours, mins = text.split(":")
        minutes.append(int(hours) * 60 + int(mins))
    start, end = minutes
    if start == 1440:
        raise HoursError("a range cannot start at 24:00")
    if end <= start:
        end += 1440  # runs past midnight
    return start, end


def validate_week(week) -> dict[str, list[list[str]]]:
    if not isinstance(week, dict):
        raise HoursError("working hours must map days to lists of [start, end]")
    for day, ranges in week.items():
        if day not in DAYS:
            raise HoursError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        _validate_ranges(ranges)
    return {day: [list(pair) for pair in ranges] for day, ranges in week.items()}


def validate_overrides(overrides) -> dict[str, list[list[str]]]:
    """{"2026-12-24": [["09:00", "12:00"]], "2026-12-31": []}: that date's hours instead."""
    if not isinstance(overrides, dict) or len(overrides) > 366:
        raise HoursError("overrides map dates to lists of [start, end]")
    clean = {}
    for day, ranges in overrides.items():
        try:
            key = dt.date.fromisoformat(str(day)).isoformat()
        except ValueError:
            raise HoursError(f"{day!r} is not a date like 2026-12-25") from None
        _validate_ranges(ranges)
        clean[key] = [list(pair) for pair in ranges]
    return clean


def _validate_ranges(ranges) -> list[Range]:
    if not isinstance(ranges, list) or len(ranges) > 6:
        raise HoursError("give at most 6 [start, end] ranges a day")
    return [parse_range(pair) for pair in ranges]


@dataclass(frozen=True)
class Schedule:
    """When one staff member or resource works, in the business's time zone."""

    timezone: str
    weekly: Mapping[int, tuple[Range, ...]]  # weekday (0 = Monday) → ranges
    overrides: Mapping[dt.date, tuple[Range, ...]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_config(cls, timezone: str, week: dict, overrides=None, holidays=()) -> Schedule:
        zone(timezone)  # refuses an unknown zone
        return cls(
            timezone=timezone,
            weekly={
                DAYS.index(day): tuple(sorted(_validate_ranges(ranges)))
                for day, ranges in week.items()
            },
            overrides={
                dt.date.fromisoformat(day): tuple(sorted(_validate_ranges(ranges)))
                for day, ranges in (overrides or {}).items()
            },
            holidays=frozenset(dt.date.fromisoformat(str(day)) for day in holidays),
        )

    def ranges_on(self, day: dt.date) -> tuple[Range, ...]:
        if day in self.holidays:
            return ()
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())


@dataclass(frozen=True)
class Rules:
    """A service's booking rules, as the engine needs them."""

    duration: dt.timedelta
    interval: dt.timedelta  # the grid step between slot starts
    buffer_before: dt.timedelta = dt.timedelta(0)
    buffer_after: dt.timedelta = dt.timedelta(0)
    min_notice: dt.timedelta = dt.timedelta(0)
    window: dt.timedelta = dt.timedelta(days=60)  # the latest start is now + window
    daily_limit: int | None = None  # bookings per local day for one staff member
    weekly_limit: int | None = None  # bookings per local week (Monday to Sunday)

    def __post_init__(self):
        if self.duration <= dt.timedelta(0) or self.interval <= dt.timedelta(0):
            raise ValueError("duration and interval must be positive")


@dataclass(frozen=True, order=True)
class Slot:
    start: dt.datetime  # UTC
    end: dt.datetime


def week_of(day: dt.date) -> dt.date:
    """The Monday that starts ``day``'s week (weeks run Monday to Sunday, local dates)."""
    return day - dt.timedelta(days=day.weekday())


def _week_counts(day_counts: Mapping[dt.date, int]) -> dict[dt.date, int]:
    weeks: dict[dt.date, int] = {}
    for day, count in day_counts.items():
        weeks[week_of(day)] = weeks.get(week_of(day), 0) + count
    return weeks


def _day_full(rules: Rules, day: dt.date, counts, weeks) -> bool:
    """Whether ``day`` is closed to new bookings by the daily or the weekly limit."""
    if rules.daily_limit is not None and counts.get(day, 0) >= rules.daily_limit:
        return True
    return rules.weekly_limit is not None and weeks.get(week_of(day), 0) >= rules.weekly_limit


def _ts(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; the engine works in aware instants")
    return int(moment.timestamp())


def _wall_to_instant(day: dt.date, minute: int, tz: ZoneInfo, *, closing: bool) -> int:
    """The instant a range boundary means: ``minute`` after local midnight of ``day``."""
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    first = int(naive.replace(tzinfo=tz, fold=0).timestamp())
    last = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    if first <= last:
        # Exists (once, or twice on a repeated hour): open at the first, close at the last.
        return last if closing else first
    # Skipped by a jump forward: fold=1 lies before the jump, fold=0 after it; find the jump.
    offset_after = dt.datetime.fromtimestamp(first, tz).utcoffset()
    low, high = last, first
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high


def _grid(
    day: dt.date, rng: Range, opens: int, closes: int, step: int, tz: ZoneInfo
) -> Iterable[int]:
    """Slot-start candidates of one range: its opening + k·step on the wall clock."""
    local_open = dt.datetime.fromtimestamp(opens, tz)
    offset_close = dt.datetime.fromtimestamp(closes, tz).utcoffset()
    if (
        local_open.utcoffset() == offset_close
        and closes - opens < DAY
        and local_open.hour * 60 + local_open.minute == rng[0] % 1440
    ):
        # No clock change inside the range: the wall-clock grid is an elapsed-time grid.
        return range(opens, closes, step)
    # A clock change inside: walk the wall clock, skip times that do not exist, keep both
    # occurrences of a repeated time.
    midnight = dt.datetime.combine(day, dt.time())
    found = set()
    for wall_minute in range(rng[0] * 60, rng[1] * 60, step):
        naive = midnight + dt.timedelta(seconds=wall_minute)
        for fold in (0, 1):
            aware = naive.replace(tzinfo=tz, fold=fold)
            instant = int(aware.timestamp())
            back = dt.datetime.fromtimestamp(instant, tz).replace(tzinfo=None)
            if back == naive:
                found.add(instant)
    return sorted(found)


def _merge(intervals: list[Range]) -> tuple[list[int], list[int]]:
    intervals.sort()
    starts: list[int] = []
    ends: list[int] = []
    for start, end in intervals:
        # Blocking is open on both sides, so intervals that only touch stay apart.
        if ends and start < ends[-1]:
            if end > ends[-1]:
                ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def free_slots(
    schedule: Schedule,
    rules: Rules,
    *,
    now: dt.datetime,
    busy: Iterable[tuple[dt.datetime, dt.datetime]] = (),
    day_counts: Mapping[dt.date, int] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[Slot]:
    """The free slots of one staff member or resource, in time order.

    ``busy`` are their booked or blocked intervals (UTC or any aware datetimes);
    ``day_counts`` their bookings per local date, for ``rules.daily_limit`` and
    ``rules.weekly_limit`` (give every day of the weeks concerned, not only the range asked);
    ``start``/``end`` narrow the answer (slot starts in [start, end)).
    """
    tz = zone(schedule.timezone)
    earliest = _ts(now + rules.min_notice)
    latest = _ts(now + rules.window)  # inclusive
    if start is not None:
        earliest = max(earliest, _ts(start))
    if end is not None:
        latest = min(latest, _ts(end) - 1)
    if latest < earliest:
        return []
    duration = int(rules.duration.total_seconds())
    step = int(rules.interval.total_seconds())
    before = int(rules.buffer_before.total_seconds())
    after = int(rules.buffer_after.total_seconds())
    counts = day_counts or {}
    weeks = _week_counts(counts)

    # A slot [s, s + duration) is free when [s - before, s + duration + after) meets no busy
    # interval: widen the busy intervals instead, once.
    busy_starts, busy_ends = _merge(
        [(_ts(b_start) - after - duration, _ts(b_end) + before) for b_start, b_end in busy]
    )
    # Now a start s is blocked iff busy_start < s < busy_end (open on both sides) — with
    # busy_start shifted by the duration, s + duration ≤ b_start is exactly s ≤ shifted start.

    first_day = dt.datetime.fromtimestamp(earliest, tz).date() - dt.timedelta(days=1)
    last_day = dt.datetime.fromtimestamp(latest, tz).date()
    slots: list[Slot] = []
    day = first_day
    one_day = dt.timedelta(days=1)
    while day <= last_day:
        ranges = schedule.ranges_on(day)
        if ranges and not _day_full(rules, day, counts, weeks):
            for rng in ranges:
                opens = _wall_to_instant(day, rng[0], tz, closing=False)
                closes = _wall_to_instant(day, rng[1], tz, closing=True)
                last_start = min(closes - duration, latest)
                if last_start < earliest:
                    continue
                index = bisect_left(busy_ends, opens)  # the first busy interval that may block
                for instant in _grid(day, rng, opens, closes, step, tz):
                    if instant < earliest:
                        continue
                    if instant > last_start:
                        break
                    while index < len(busy_ends) and busy_ends[index] <= instant:
                        index += 1
                    if index < len(busy_starts) and busy_starts[index] < instant:
                        continue
                    slots.append(Slot(_utc(instant), _utc(instant + duration)))
        day += one_day
    # Ranges past midnight may overlap the next day's: sort and drop repeats.
    slots.sort()
    return [slot for i, slot in enumerate(slots) if i == 0 or slot != slots[i - 1]]


def _utc(instant: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, UTC)


def naive_free_slots(
    schedule: Schedule,
    rules: Rules,
    *,
    now: dt.datetime,
    busy: Iterable[tuple[dt.datetime, dt.datetime]] = (),
    day_counts: Mapping[dt.date, int] | None = None,
) -> list[Slot]:
    """The obvious version, kept as the benchmark's baseline and the tests' oracle: every
    candidate checked against every busy interval with datetimes, walking the wall-clock
    grid (no merging, no sweep)."""
    tz = zone(schedule.timezone)
    busy = [(b_start.astimezone(UTC), b_end.astimezone(UTC)) for b_start, b_end in busy]
    earliest = now + rules.min_notice
    latest = now + rules.window
    counts = day_counts or {}
    weeks = _week_counts(counts)
    found = set()
    day = earliest.astimezone(tz).date() - dt.timedelta(days=1)
    while day <= latest.astimezone(tz).date():
        if not _day_full(rules, day, counts, weeks):
            for rng in schedule.ranges_on(day):
                opens = _utc(_wall_to_instant(day, rng[0], tz, closing=False))
                closes = _utc(_wall_to_instant(day, rng[1], tz, closing=True))
                wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=rng[0])
                wall_end = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=rng[1])
                while wall < wall_end:
                    for fold in (0, 1):
                        start = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
                        if start.astimezone(tz).replace(tzinfo=None) != wall:
                            continue
                        slot_end = start + rules.duration
                        if not (opens <= start and slot_end <= closes):
                            continue
                        if not (earliest <= start <= latest):
                            continue
                        low = start - rules.buffer_before
                        high = slot_end + rules.buffer_after
                        if any(b_start < high and low < b_end for b_start, b_end in busy):
                            continue
                        found.add(Slot(start, slot_end))
                    wall += rules.interval
        day += dt.timedelta(days=1)
    return sorted(found)
