"""Unit tests of the poll scheduler and the fetch window; no Home Assistant involved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import itertools
import math
import random
from typing import Any

import pytest

from custom_components.cgm_handler.cadence import READING_INTERVAL
from custom_components.cgm_handler.scheduler import (
    BIN,
    BUDGET,
    JITTER,
    LEARN_LIMIT,
    LOOKS,
    MAX_POLLS,
    MAX_WAIT,
    MIN_WAIT,
    PROBE_EVERY,
    RATE_LIMIT_CAP,
    RATE_LIMIT_WAIT,
    TAIL,
    TIMER_SLACK,
    Backfill,
    Poller,
    PollScheduler,
    UploadDelays,
    plan_offsets,
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


def started(**kwargs: Any) -> PollScheduler:
    """Return a scheduler that has done its first fetch, which found FIRST."""
    scheduler = PollScheduler(**kwargs)
    scheduler.polled(START, FIRST)
    return scheduler


def drive(delay: Callable[[int], float], readings: int) -> tuple[Poller, list[datetime]]:
    """Poll a synthetic Share, on which reading i appears delay(i) seconds after its time.

    Every poll fetches every reading that has appeared, as the real window does for the
    readings since the newest and for the holes due for a look. Return the poller and the
    poll times.
    """
    poller, known, polls = Poller(), {FIRST}, []
    now = START
    end = reading(readings)
    while now < end:
        poller.window(known, now)
        known |= {
            reading(i) for i in range(1, readings + 1) if reading(i) + seconds(delay(i)) <= now
        }
        poller.read(known, now)
        polls.append(now)
        now = poller.next_poll(now) + TIMER_SLACK
    return poller, polls


def bimodal(i: int) -> float:
    """Return the delay of a phone that dozes: 70 % of readings 20-40 s, 30 % 150-450 s."""
    draw = random.Random(i)  # noqa: S311 - reproducible, not secret
    return draw.uniform(150, 450) if draw.random() < 0.3 else draw.uniform(20, 40)


def prompt(i: int) -> float:
    """Return the delay of a phone that uploads every reading within 20-40 s."""
    return random.Random(i).uniform(20, 40)  # noqa: S311 - reproducible, not secret


def in_seconds(offsets: tuple[timedelta, ...]) -> list[float]:
    """Return offsets in seconds."""
    return [offset.total_seconds() for offset in offsets]


def test_defaults_before_any_reading() -> None:
    """Without readings the scheduler polls every 5 minutes."""
    scheduler = PollScheduler()

    assert scheduler.budget == BUDGET
    assert scheduler.next_poll(START) == START + MAX_WAIT

    scheduler.polled(START, None)
    assert scheduler.next_poll(START) == START + MAX_WAIT


def test_first_fetch_plans_the_next_reading() -> None:
    """After the first fetch the polls come within the prior's 90 s after the next reading."""
    scheduler = started()
    offsets = scheduler.offsets

    assert 1 <= len(offsets) <= MAX_POLLS
    assert all(timedelta(0) <= offset <= seconds(90) for offset in offsets)
    assert scheduler.next_poll(START) == reading(1) + offsets[0]
    assert scheduler.upload_delay == seconds(45)  # the middle of the prior


def test_a_reading_found_by_the_first_poll_only_bounds_its_delay() -> None:
    """A reading already there may have come at any moment before: no delay is made up."""
    delays = UploadDelays()
    for _ in range(40):
        delays.observe(0, 30)

    masses = delays.masses
    assert sum(masses[:6]) > 0.9  # by 30 s
    # Where before 30 s is not known, so no 5-second bin holds most of it.
    assert max(masses[:6]) < 0.5
    # A poll that misses it tells where: after 20 s, by 30 s.
    for _ in range(40):
        delays.observe(20, 30)
    assert sum(delays.masses[4:6]) > 0.9


def test_only_recent_delays_count() -> None:
    """Old observations drop out once the sample window is full."""
    delays = UploadDelays(samples=3)
    for after, by in [(100, 105), (100, 105), (100, 105), (10, 15), (10, 15), (10, 15)]:
        delays.observe(after, by)

    assert delays.median == seconds(15)


def mean_wait(masses: list[float], offsets: tuple[int, ...]) -> float:
    """Return the mean wait in seconds, each bin's readings coming at its middle.

    The same offsets every reading; a reading that misses them all is fetched by the
    next reading's polls, or the one's after.
    """
    polls = [o + slot * READING_INTERVAL / seconds(BIN) for slot in range(3) for o in offsets]
    return sum(
        mass * (min(p for p in polls if p >= b + 1) - b - 0.5) * BIN
        for b, mass in enumerate(masses[:TAIL])
        if mass
    )


def best_pair(masses: list[float]) -> float:
    """Return the least mean wait of any two polls 15 s apart within a reading interval."""
    slot = READING_INTERVAL // seconds(BIN)
    apart = MIN_WAIT // seconds(BIN)
    return min(
        mean_wait(masses, (a, b))
        for a, b in itertools.combinations(range(slot), 2)
        if apart <= b - a <= slot - apart
    )


def dozing() -> list[float]:
    """Return a dozing phone's delays: 70 % in 20-40 s, 30 % in 150-450 s."""
    masses = [0.0] * (TAIL + 1)
    for b in range(4, 8):
        masses[b] = 0.7 / 4
    for b in range(30, 90):
        masses[b] = 0.3 / 60
    return masses


def test_plans_have_the_least_mean_wait() -> None:
    """On a dozing phone the polls with the least mean wait, counting late readings' wait."""
    masses = dozing()

    two = plan_offsets(masses, 2)
    assert mean_wait(masses, two) == pytest.approx(best_pair(masses))
    # A single poll takes all the prompt uploads, at 40 s; the late ones wait for the
    # next reading's. A second poll goes among the late uploads, not among the prompt.
    assert plan_offsets(masses, 1) == (8,)
    assert two[0] == 8
    assert 30 <= two[1] < 60


def test_the_last_poll_waits_for_the_slow_uploads() -> None:
    """Uploads within 10-90 s: the last poll comes at 90 s, so none waits for the next reading."""
    masses = [0.0] * (TAIL + 1)
    for b in range(2, 18):
        masses[b] = 1 / 16

    plans = [plan_offsets(masses, polls) for polls in range(1, MAX_POLLS + 1)]
    assert all(plan[-1] == 18 for plan in plans)
    assert mean_wait(masses, plans[1]) == pytest.approx(best_pair(masses))
    waits = [mean_wait(masses, plan) for plan in plans]
    assert waits == sorted(waits, reverse=True)
    assert waits[0] > waits[-1]


def test_a_dozing_phone_is_polled_once_per_reading_at_its_prompt_uploads() -> None:
    """Late uploads are left to the next reading's poll, not retried every 15 seconds."""
    poller, polls = drive(bimodal, 144)
    scheduler = poller.scheduler

    (single,) = in_seconds(scheduler.plan(1))
    assert 35 <= single < 150  # after the prompt uploads, before the late ones
    # Within the budget and its probes: far fewer than 906 a day of the single quantile.
    assert len(polls) <= (BUDGET + 1 / PROBE_EVERY) * 144 + MAX_POLLS + 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert min(gaps) >= MIN_WAIT
    # Most readings came at their first poll, the late ones in the next reading's.
    assert scheduler.upload_delay <= seconds(45)


@pytest.mark.parametrize("delay", [prompt, bimodal])
def test_probes_find_that_the_uploads_come_sooner(delay: Callable[[int], float]) -> None:
    """Uploads that all come by 40 s: after a day the single poll is at 40 s, not later.

    A poll at 45 s (or 90 s) tells only that each reading came by then, so without probes
    the plan stays there all day; a probe 5 s before it shows the readings came sooner.
    """
    poller, _ = drive(delay, 288)
    assert in_seconds(poller.scheduler.plan(1)) == [40.0]


def test_a_probe_before_the_first_poll_of_every_sixth_reading() -> None:
    """One reading in PROBE_EVERY gets a poll 5 s before its first planned poll."""
    scheduler = started()
    probed = []
    for i in range(1, 3 * PROBE_EVERY + 1):
        scheduler.polled(reading(i) + seconds(60), reading(i))
        offsets = scheduler.offsets
        # Planned polls are at least 15 s apart: two 5 s apart are a probe and its poll.
        if offsets[1] - offsets[0] == seconds(5):
            assert offsets[1:] == scheduler.plan(len(offsets) - 1)
            probed.append(i)
        else:
            assert offsets == scheduler.plan(len(offsets))
    assert len(probed) == 3
    assert all(later - earlier == PROBE_EVERY for earlier, later in itertools.pairwise(probed))


def test_a_phone_that_changes_its_pattern_is_followed() -> None:
    """A phone that uploads within 15 s, then 60-80 s late: the polls move within hours."""
    change = 72

    def delay(i: int) -> float:
        return 10.0 + i % 5 if i < change else 60.0 + 5 * (i % 5)

    poller, polls = drive(delay, change)
    before = in_seconds(poller.scheduler.plan(1))
    poller, polls = drive(delay, 2 * change)
    after = in_seconds(poller.scheduler.plan(1))

    # After the last upload of each pattern, within what the polls could tell apart.
    assert 15 <= before[0] <= 20
    assert 80 <= after[0] <= 90
    tail = [poll for poll in polls if poll > reading(2 * change - 12)]
    assert len(tail) <= BUDGET * 12 + MAX_POLLS


def test_old_readings_teach_nothing() -> None:
    """A backlog found long after its time leaves the learned delays alone."""
    poller = Poller()
    poller.window([FIRST], START)
    poller.read([FIRST], START)
    learned = len(poller.scheduler.delays)
    backlog = [START - LEARN_LIMIT - n * READING_INTERVAL for n in range(1, 10)]
    later = START + READING_INTERVAL
    poller.window([FIRST], later)
    poller.read([FIRST, *backlog], later)

    assert len(poller.scheduler.delays) == learned


def test_a_missing_reading_is_polled_once_per_interval() -> None:
    """A missing reading is looked for with the next one's polls, then once per interval."""
    scheduler = started()
    offsets = scheduler.offsets
    (late,) = scheduler.plan(1)
    now, polls = START, []
    for _ in range(12):
        now = scheduler.next_poll(now)
        scheduler.polled(now, FIRST)
        polls.append(now)

    planned = [reading(n) + offset for n in (1, 2) for offset in offsets]
    assert polls[: len(planned)] == planned
    assert polls[len(planned) :] == [reading(n) + late for n in range(3, 15 - len(planned))]
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert all(gap >= MIN_WAIT for gap in gaps)


def test_gap_mode_still_waits_15_seconds() -> None:
    """A slot that is due in a moment is polled no sooner than 15 seconds later."""
    scheduler = started()
    (late,) = scheduler.plan(1)
    now = reading(3) + late - seconds(3)
    scheduler.polled(now, FIRST)

    assert scheduler.next_poll(now) == now + MIN_WAIT


class Midpoint(random.Random):
    """A random source whose every uniform draw is the middle of its range: no jitter."""

    def uniform(self, a: float, b: float) -> float:
        """Return the middle of the range."""
        return (a + b) / 2


def test_failure_backoff_and_reset() -> None:
    """Failures back off from 15 s, doubling up to 5 minutes; a success resets it."""
    scheduler = started(rng=Midpoint())
    waits = [scheduler.failed(START) - START for _ in range(9)]

    assert waits[0] == MIN_WAIT
    assert waits == [min(MAX_WAIT, MIN_WAIT * 2**n) for n in range(9)]
    assert waits[-1] == MAX_WAIT
    for _ in range(100):
        assert scheduler.failed(START) - START == MAX_WAIT

    scheduler.polled(START, FIRST)
    assert scheduler.failed(START) - START == MIN_WAIT


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_failure_backoff_has_jitter(seed: int) -> None:
    """Each wait is the backoff made up to 20 % longer or shorter, drawn from the source."""
    scheduler = started(rng=random.Random(seed))  # noqa: S311 - reproducible
    draws = random.Random(seed)  # noqa: S311 - the same draws
    bases = [min(MAX_WAIT, MIN_WAIT * 2**n) for n in range(40)]
    waits = [scheduler.failed(START) - START for _ in bases]

    assert waits == [base * draws.uniform(1 - JITTER, 1 + JITTER) for base in bases]
    assert all(0.8 * base <= wait <= 1.2 * base for base, wait in zip(bases, waits, strict=True))
    # The jitter spreads the waits: at 5 minutes they span most of the ±20 %.
    settled = [wait.total_seconds() for wait in waits[10:]]
    assert max(settled) - min(settled) > 0.5 * 2 * JITTER * MAX_WAIT.total_seconds()


def test_jitter_differs_between_installations() -> None:
    """Two sources give two schedules, so installations do not return in the same second."""
    first, second = started(rng=random.Random(1)), started(rng=random.Random(2))  # noqa: S311
    assert [first.failed(START) for _ in range(5)] != [second.failed(START) for _ in range(5)]


@pytest.mark.parametrize(
    ("retry_after", "least"),
    [
        (seconds(120), seconds(120)),
        (seconds(0), MIN_WAIT),
        (timedelta(minutes=59), timedelta(minutes=59)),
        (timedelta(hours=2), RATE_LIMIT_CAP),
    ],
)
def test_rate_limit_waits_what_the_server_asked(retry_after: timedelta, least: timedelta) -> None:
    """A rate limit waits at least its Retry-After, at most an hour; the jitter only adds."""
    for seed in range(20):
        scheduler = started(rng=random.Random(seed))  # noqa: S311 - reproducible
        wait = scheduler.rate_limited(START, retry_after) - START
        assert least <= wait <= min(RATE_LIMIT_CAP, least * (1 + JITTER))


def test_rate_limit_without_retry_after_backs_off_from_5_minutes() -> None:
    """Without Retry-After: 5 minutes, doubling up to an hour; a success resets it."""
    scheduler = started(rng=Midpoint())
    waits = [scheduler.rate_limited(START, None) - START for _ in range(7)]
    assert waits == [
        min(RATE_LIMIT_CAP, RATE_LIMIT_WAIT * 2**n * (1 + JITTER / 2)) for n in range(7)
    ]
    assert waits[0] > RATE_LIMIT_WAIT
    assert waits[-1] == RATE_LIMIT_CAP
    scheduler.polled(START, FIRST)
    assert scheduler.rate_limited(START, None) - START == RATE_LIMIT_WAIT * (1 + JITTER / 2)


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
