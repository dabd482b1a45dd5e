"""Unit tests of the poll scheduler and the fetch window; no Home Assistant involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
import math

import pytest

from custom_components.cgm_handler.scheduler import (
    DEFAULT_QUANTILE,
    DEFAULT_UPLOAD_DELAY,
    LATE_HORIZON,
    MAX_WAIT,
    MIN_WAIT,
    PROBE,
    READING_INTERVAL,
    PollScheduler,
    fetch_window,
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


def test_fetch_window_goes_back_to_a_recent_hole() -> None:
    """A missing reading in the last hours is asked for again: it may still be uploaded."""
    known = [START - n * READING_INTERVAL for n in range(1, 13) if n not in (9, 10)]
    minutes, count = fetch_window(known, START)

    assert minutes == 55 + 1  # back to the reading before the hole, 55 minutes ago
    assert count == minutes // 5 + 2


def test_fetch_window_ignores_old_holes() -> None:
    """Holes older than the late horizon are given up."""
    horizon = int(LATE_HORIZON / READING_INTERVAL)
    known = [START - n * READING_INTERVAL for n in range(1, horizon + 24) if n != horizon + 6]

    assert fetch_window(known, START) == (6, 3)


def test_fetch_window_is_capped() -> None:
    """A reading older than a day asks for a whole day, and no more."""
    assert fetch_window([START - timedelta(days=2)], START) == (MAX_MINUTES, MAX_COUNT)
    minutes, count = fetch_window([START - timedelta(hours=23)], START)
    assert minutes == 23 * 60 + 1
    assert count == math.floor(minutes / 5) + 2
