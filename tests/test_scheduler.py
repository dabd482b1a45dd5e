"""Unit tests of the poll scheduler and the fetch window; no Home Assistant involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
import math

import pytest

from custom_components.cgm_handler.scheduler import (
    DEFAULT_QUANTILE,
    DEFAULT_UPLOAD_DELAY,
    LOOKS,
    MAX_WAIT,
    MIN_WAIT,
    PROBE,
    READING_INTERVAL,
    Backfill,
    PollScheduler,
)
from custom_components.cgm_handler.share import MAX_COUNT, MAX_MINUTES

START = datetime(2026, 3, 10, 12, 0, 7, tzinfo=UTC)
# The newest reading when the scheduler starts; readings come every READING_INTERVAL.
FIRST = START - timedelta(minutes=2, seconds=16)


def reading(index: int) -> datetime:
    """Return the time of the index-th reading after FIRST."""
    return FIRST + index * READING_INTERVAL


def seconds(value: float) -> timedelta:
    """Return a timedelta of seconds."""
    return timedelta(seconds=value)


def started(**kwargs: float) -> PollScheduler:
    """Return a scheduler that has done its first fetch, which found FIRST."""
    scheduler = PollScheduler(**kwargs)  # type: ignore[arg-type]
    scheduler.polled(START, FIRST)
    return scheduler


def learn(scheduler: PollScheduler, delays: list[float], first: int = 1) -> datetime:
    """Let readings first..n appear `delay` seconds after their time; return the last poll.

    Each reading is missed by a poll 5 s before it appears and found 5 s after, so the
    scheduler sees it appear exactly `delay` seconds after its time.
    """
    now = START
    for index, delay in enumerate(delays, start=first):
        appeared = reading(index) + seconds(delay)
        scheduler.polled(appeared - seconds(5), reading(index - 1))
        now = appeared + seconds(5)
        scheduler.polled(now, reading(index))
    return now


def test_defaults_before_any_reading() -> None:
    """Without readings the scheduler uses the default delay and polls every 5 minutes."""
    scheduler = PollScheduler()

    assert scheduler.quantile == DEFAULT_QUANTILE
    assert scheduler.upload_delay == DEFAULT_UPLOAD_DELAY
    assert scheduler.next_poll(START) == START + MAX_WAIT

    scheduler.polled(START, None)
    assert scheduler.next_poll(START) == START + MAX_WAIT


def test_first_fetch_plans_the_next_reading() -> None:
    """After the first fetch, the next poll is when the next reading should be on Share."""
    scheduler = started()

    assert scheduler.upload_delay == DEFAULT_UPLOAD_DELAY  # the first fetch teaches nothing
    assert scheduler.next_poll(START) == reading(1) + DEFAULT_UPLOAD_DELAY


def test_delay_between_an_empty_poll_and_a_hit() -> None:
    """A reading found after an empty poll appeared halfway between the two polls."""
    scheduler = started()
    due = scheduler.next_poll(START)
    scheduler.polled(due, FIRST)  # not there yet
    found = due + seconds(20)
    scheduler.polled(found, reading(1))

    expected = due + seconds(10) - reading(1)
    assert scheduler.upload_delay == expected
    assert scheduler.next_poll(found) == reading(2) + expected


@pytest.mark.parametrize(
    ("quantile", "expected"),
    [(DEFAULT_QUANTILE, 60.0), (0.5, 40.0), (1.0, 80.0), (0.0, 20.0)],
)
def test_learned_delay_is_a_quantile(quantile: float, expected: float) -> None:
    """The delay is a quantile of the observed delays, so a few late uploads don't count."""
    scheduler = started(quantile=quantile)
    now = learn(scheduler, [80.0, 20.0, 60.0, 40.0])

    assert scheduler.upload_delay == seconds(expected)
    assert scheduler.next_poll(now) == reading(5) + seconds(expected)


def test_only_recent_delays_count() -> None:
    """Old observations drop out once the sample window is full."""
    scheduler = started(samples=3)
    learn(scheduler, [100.0, 100.0, 100.0, 12.0, 12.0, 12.0])

    assert scheduler.upload_delay == seconds(12)


def test_probes_earlier_when_the_reading_was_already_there() -> None:
    """A reading found by the first poll may have come earlier: the next poll is earlier."""
    scheduler = started()
    due = scheduler.next_poll(START)
    scheduler.polled(due, reading(1))

    assert scheduler.upload_delay == DEFAULT_UPLOAD_DELAY - PROBE
    assert scheduler.next_poll(due) == reading(2) + DEFAULT_UPLOAD_DELAY - PROBE


def test_probing_converges_to_no_delay() -> None:
    """When every reading is there at the first poll, polls move to the reading time itself."""
    scheduler = started()
    now, delays = START, []
    for index in range(1, 100):
        now = scheduler.next_poll(now)
        assert now >= reading(index)  # never before the reading exists
        scheduler.polled(now, reading(index))
        delays.append(scheduler.upload_delay)

    assert delays == sorted(delays, reverse=True)
    assert delays[-1] == timedelta(0)


def test_old_or_repeated_readings_teach_nothing() -> None:
    """Backfilled readings and polls without a newer reading leave the delay alone."""
    scheduler = started()
    # After an outage the newest reading found is more than 5 minutes old.
    scheduler.polled(reading(4), reading(2))
    assert scheduler.upload_delay == DEFAULT_UPLOAD_DELAY
    # An older reading than the newest known does not move the schedule back.
    scheduler.polled(reading(4) + seconds(20), reading(1))
    assert scheduler.upload_delay == DEFAULT_UPLOAD_DELAY
    assert scheduler.next_poll(reading(4) + seconds(20)) >= reading(4) + seconds(35)


def test_overdue_polls_are_at_least_15_seconds_apart() -> None:
    """While a reading is late the retries are spaced out, up to the next reading's slot."""
    scheduler = started()
    delay = scheduler.upload_delay
    now = scheduler.next_poll(START)
    polls = [now]
    while now < reading(2) + delay:
        scheduler.polled(now, FIRST)
        now = scheduler.next_poll(now)
        polls.append(now)

    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert all(gap >= MIN_WAIT for gap in gaps)
    assert gaps[0] == MIN_WAIT  # retrying quickly at first
    assert max(gaps) > 3 * MIN_WAIT  # then backing off while the reading stays late
    # The next reading's slot is not skipped.
    assert reading(2) + delay <= polls[-1] <= reading(2) + delay + MIN_WAIT
    assert len(polls) < READING_INTERVAL / MIN_WAIT


def test_gap_mode_polls_once_per_reading() -> None:
    """Once two readings are missing, there is one poll per expected reading."""
    scheduler = started()
    delay = scheduler.upload_delay
    now = reading(3) + seconds(50)
    polls = []
    for _ in range(12):
        scheduler.polled(now, FIRST)
        now = scheduler.next_poll(now)
        polls.append(now)

    assert polls[0] == reading(4) + delay
    assert [b - a for a, b in itertools.pairwise(polls)] == [READING_INTERVAL] * 11


def test_gap_mode_still_waits_15_seconds() -> None:
    """A slot that is due in a moment is polled no sooner than 15 seconds later."""
    scheduler = started()
    now = reading(3) + scheduler.upload_delay - seconds(3)
    scheduler.polled(now, FIRST)

    assert scheduler.next_poll(now) == now + MIN_WAIT


def test_failure_backoff_and_reset() -> None:
    """Failures back off from 15 s, doubling up to 5 minutes; a success resets it."""
    scheduler = started()
    waits = [scheduler.failed(START) - START for _ in range(9)]

    assert waits[0] == MIN_WAIT
    assert waits == [min(MAX_WAIT, MIN_WAIT * 2**n) for n in range(9)]
    assert waits[-1] == MAX_WAIT
    for _ in range(100):
        assert scheduler.failed(START) - START == MAX_WAIT

    scheduler.polled(START, FIRST)
    assert scheduler.failed(START) - START == MIN_WAIT


def fetch_window(known: list[datetime], now: datetime) -> tuple[int, int]:
    """Return the window a new Backfill asks for."""
    return Backfill().window(known, now)


def every_five_minutes(until: datetime, *, skip: range = range(0)) -> list[datetime]:
    """Return a day of reading times up to `until`, without those whose index is skipped."""
    return [until - n * READING_INTERVAL for n in range(288) if n not in skip]


def test_fetch_window_without_readings_is_a_day() -> None:
    """With nothing known the whole day is fetched."""
    assert fetch_window([], START) == (MAX_MINUTES, MAX_COUNT)


def test_fetch_window_covers_the_time_since_the_newest_reading() -> None:
    """The window starts at the newest reading, rounded up to a whole minute plus one."""
    known = [START - timedelta(minutes=7, seconds=20) - n * READING_INTERVAL for n in range(12)]
    minutes, count = fetch_window(known, START)

    assert minutes == 9
    assert (minutes - 1) * 60 >= (START - max(known)).total_seconds() > (minutes - 2) * 60
    assert count == minutes // 5 + 2


@pytest.mark.parametrize("hours", [0.5, 3.5, 8, 20])
def test_fetch_window_goes_back_to_a_hole_anywhere_in_the_day(hours: float) -> None:
    """A hole of any age in Share's window is asked for on the first poll that sees it."""
    newest = START - READING_INTERVAL
    start = int(hours * 12)
    known = every_five_minutes(newest, skip=range(start, start + 6))
    before = newest - (start + 6) * READING_INTERVAL

    minutes, count = fetch_window(known, START)

    assert (minutes - 2) * 60 < (START - before).total_seconds() <= (minutes - 1) * 60
    assert count == min(MAX_COUNT, minutes // 5 + 2)


def test_a_hole_is_looked_at_less_and_less_often() -> None:
    """A hole that never fills (a warm-up) is asked for at the planned looks, then no more."""
    backfill = Backfill()
    known = every_five_minutes(START, skip=range(100, 124))
    wide: list[timedelta] = []
    for poll in range(2 * 288):
        now = START + poll * READING_INTERVAL
        known.append(now)
        minutes, _ = backfill.window(known, now)
        backfill.fetched()
        if minutes > READING_INTERVAL / timedelta(minutes=1) + 2:
            wide.append(now - START)

    assert wide == [step + (-step % READING_INTERVAL) for step in LOOKS]
    assert backfill.holes == 1


def test_a_failed_poll_does_not_count_as_a_look() -> None:
    """The hole stays due until a poll that reaches it succeeds."""
    backfill = Backfill()
    known = every_five_minutes(START, skip=range(10, 20))
    wide = backfill.window(known, START)

    assert backfill.window(known, START + MIN_WAIT)[0] > wide[0]
    backfill.fetched()
    assert backfill.window(known, START + 2 * MIN_WAIT)[0] <= 2


def test_a_partly_filled_hole_is_looked_at_again_at_once() -> None:
    """Readings that fill part of a hole are progress: the rest is asked for on the next poll."""
    backfill = Backfill()
    known = every_five_minutes(START, skip=range(10, 40))
    backfill.window(known, START)
    backfill.fetched()
    assert backfill.window(known, START + MIN_WAIT)[0] <= 2

    known.extend(START - n * READING_INTERVAL for n in range(30, 40))
    minutes, _ = backfill.window(known, START + 2 * MIN_WAIT)

    # The hole is now readings 10 to 29; the read starts at reading 30.
    assert minutes == math.ceil((2 * MIN_WAIT + 30 * READING_INTERVAL) / timedelta(minutes=1)) + 1
    assert backfill.holes == 1


def test_fetch_window_is_capped() -> None:
    """A reading older than a day asks for a whole day, and no more."""
    assert fetch_window([START - timedelta(days=2)], START) == (MAX_MINUTES, MAX_COUNT)
    minutes, count = fetch_window([START - timedelta(hours=23)], START)
    assert minutes == 23 * 60 + 1
    assert count == math.floor(minutes / 5) + 2
