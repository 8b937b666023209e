"""7. Booking availability: 60 days of slots against 1,000 busy intervals (pure Python).

The engine (asthron/bookings/availability.py) merges the busy intervals once and sweeps them
with the slot grid; the baseline is its obvious version (every candidate against every busy
interval, with datetimes), timed in the same run on the same input.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from asthron.bookings.availability import Rules, Schedule, free_slots, naive_free_slots
from bench.harness import Result, Section

NAME = "booking_slots"
TITLE = "Booking slots, 60 days × 1,000 busy"
GOAL_MS = 20
DAYS = 60
BUSY = 1000


def inputs():
    rng = random.Random(7)
    week = {
        day: [["08:00", "12:00"], ["13:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    week["sat"] = [["09:00", "14:00"]]
    # Spans the March DST change in Berlin.
    schedule = Schedule.from_config("Europe/Berlin", week, holidays=["2026-04-03", "2026-04-06"])
    rules = Rules(
        duration=dt.timedelta(minutes=30),
        interval=dt.timedelta(minutes=15),
        buffer_before=dt.timedelta(minutes=10),
        buffer_after=dt.timedelta(minutes=5),
        min_notice=dt.timedelta(hours=2),
        window=dt.timedelta(days=DAYS),
    )
    now = dt.datetime(2026, 3, 2, 7, 13, tzinfo=dt.UTC)
    busy = []
    for _ in range(BUSY):
        start = now + dt.timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        busy.append((start, start + dt.timedelta(minutes=rng.choice([15, 30, 45, 60, 90]))))
    return schedule, rules, now, busy


def run(ctx) -> Section:
    section = Section(TITLE)
    schedule, rules, now, busy = inputs()
    runs = 10 if ctx.quick else 50
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        slots = free_slots(schedule, rules, now=now, busy=busy)
        timings.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    baseline = naive_free_slots(schedule, rules, now=now, busy=busy)
    naive_ms = (time.perf_counter() - started) * 1000
    if baseline != slots:
        raise AssertionError("the engine and the naive baseline disagree")
    engine_ms = statistics.median(timings)
    section.results.append(Result(TITLE, "engine, median", engine_ms, "ms", ("<=", GOAL_MS)))
    section.results.append(Result(TITLE, "engine, max", max(timings), "ms"))
    section.results.append(Result(TITLE, "naive baseline (same run)", naive_ms, "ms"))
    section.notes.append(
        f"booking_slots: {len(slots):,} free slots over {DAYS} days, {BUSY:,} busy intervals, "
        f"15-minute grid, Europe/Berlin across a DST change; median of {runs} runs; "
        f"the naive baseline is {naive_ms / engine_ms:,.0f}× slower and gives the same slots."
    )
    return section
