"""When to ask Dexcom Share for the next reading."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
import itertools
import math
import random

from .cadence import GAP, READING_INTERVAL
from .share import MAX_COUNT, MAX_MINUTES

MIN_WAIT = timedelta(seconds=15)
MAX_WAIT = timedelta(minutes=5)
# Polls a reading on average: one for every reading, and a second for every other one
# (432 requests a day), where it shortens the wait most. At most MAX_POLLS per reading.
BUDGET = 1.5
MAX_POLLS = 3
# One reading in PROBE_EVERY also gets a probe, on top of the budget: a poll one bin before
# its first planned poll. A poll tells only that a reading came by then, so a plan polling at
# 45 s for uploads that all come by 40 s would never learn that 40 s does (docs/polling.md).
PROBE_EVERY = 6
# The learned delays: the last SAMPLES readings (5 hours), in bins of BIN seconds up to
# three reading intervals, the last bin holding every longer delay.
SAMPLES = 60
BIN = 5
SLOT_BINS = 60
SLOTS_AHEAD = 3
TAIL = SLOT_BINS * SLOTS_AHEAD
# Iterations of the estimate. At 25 (and 24, 26) a dozing phone polled only at 90 s stayed
# there all day; from 30 to 200 it did not. Past about 50 the estimate gathers on a few
# bins and the mean lag grew on other days (docs/polling.md).
ITERATIONS = 50
# Before it has learned much, a phone is taken to upload within 90 s, weighing as much as
# two readings.
PRIOR_BINS = 18
PRIOR_WEIGHT = 2.0
# A reading found later than this after its time (a phone's backlog) teaches nothing.
LEARN_LIMIT = timedelta(minutes=30)
# The recent reads kept, to tell which was the last to miss a reading.
RECENT_READS = 16
# A poll timer may fire up to a second early; never poll before a reading is due.
TIMER_SLACK = timedelta(seconds=1)
# After a failed poll, waits double from MIN_WAIT to MAX_WAIT, each made up to JITTER
# longer or shorter at random, so installations do not all return at once after an outage.
JITTER = 0.2
# A server limiting requests is left alone for its Retry-After, at most RATE_LIMIT_CAP;
# without one, for RATE_LIMIT_WAIT, doubling at each limit in a row.
RATE_LIMIT_WAIT = timedelta(minutes=5)
RATE_LIMIT_CAP = timedelta(hours=1)
# When to look for a hole's readings again, counted from the poll that first saw it.
# Backlogs (a phone back online, a sensor's backfill) mostly arrive within minutes of the
# newer readings, stragglers later; a hole that never fills (a warm-up) costs ten reads.
LOOKS = tuple(timedelta(minutes=m) for m in (0, 5, 10, 20, 40, 80, 160, 320, 640, 1280))


def window_since(since: datetime, now: datetime) -> tuple[int, int]:
    """Return the minutes and count that reach back to a moment, within Share's limits."""
    # At least a minute, even when Share's clock runs ahead of ours.
    minutes = min(MAX_MINUTES, max(1, math.ceil((now - since).total_seconds() / 60) + 1))
    return minutes, min(MAX_COUNT, timedelta(minutes=minutes) // READING_INTERVAL + 2)


@dataclass(slots=True)
class _Hole:
    """A hole between two readings: when a poll first saw it, and how often it looked."""

    seen: datetime
    looks: int = 0

    def due(self, now: datetime) -> bool:
        """Tell whether the next look is due."""
        return self.looks < len(LOOKS) and now >= self.seen + LOOKS[self.looks]


class Backfill:
    """Find the holes in the readings of Share's window and plan when to fetch them again.

    Phones and sensors upload a backlog after newer readings: a phone that was offline
    uploads all it held, a G7 sensor backfills up to 24 hours and a G6 transmitter 3.
    Every poll asks for the readings since the newest one; a poll on which a hole is due
    for a look asks from the reading before that hole instead. A hole whose bounds change
    (part of it filled) is a new hole, looked at again from the start.
    """

    def __init__(self) -> None:
        """Start with no holes."""
        self._holes: dict[tuple[datetime, datetime], _Hole] = {}
        self._looking: list[tuple[datetime, datetime]] = []

    @property
    def holes(self) -> int:
        """Return the number of holes being watched."""
        return len(self._holes)

    def window(self, known: Collection[datetime], now: datetime) -> tuple[int, int]:
        """Return the minutes and count of the next read."""
        if not known:
            return MAX_MINUTES, MAX_COUNT
        times = sorted(known)
        current = {
            (before, after): self._holes.get((before, after)) or _Hole(now)
            for before, after in itertools.pairwise(times)
            if after - before > GAP
        }
        self._holes = current
        self._looking = [bounds for bounds, hole in current.items() if hole.due(now)]
        since = min((before for before, _ in self._looking), default=times[-1])
        return window_since(since, now)

    def fetched(self) -> None:
        """Count a look for each hole the last window reached."""
        for bounds in self._looking:
            self._holes[bounds].looks += 1
        self._looking = []


class UploadDelays:
    """Learn how long readings take to reach Share, from what the polls saw.

    A poll that finds a reading tells only that it appeared after the last poll that could
    have fetched it and by this one: each observation is an interval of delays (a reading
    found on the first poll may have come at any moment before it). The distribution over
    5-second bins is the maximum-likelihood estimate for such intervals (Turnbull's
    self-consistency iteration), with a weak prior of uploads within 90 s so that no
    moment is ruled out for good.
    """

    def __init__(self, samples: int = SAMPLES) -> None:
        """Start with the prior alone."""
        self._seen: deque[tuple[int, int]] = deque(maxlen=samples)
        self._masses: list[float] | None = None

    def __len__(self) -> int:
        """Return the number of observations kept."""
        return len(self._seen)

    def observe(self, after: float, by: float) -> None:
        """Record a reading that appeared more than `after` and at most `by` seconds late."""
        # Polls come a moment after their planned offset (TIMER_SLACK): round to a bin.
        first = min(TAIL, max(0, round(after / BIN)))
        last = min(TAIL, max(first, round(by / BIN) - 1))
        self._seen.append((first, last))
        self._masses = None

    @property
    def masses(self) -> list[float]:
        """Return the probability of each 5-second bin of delay, the last one beyond."""
        if self._masses is None:
            self._masses = self._estimate()
        return self._masses

    def _estimate(self) -> list[float]:
        """Iterate the self-consistency equations from even masses.

        Within an observation's interval the data cannot tell where the reading came, so
        the iteration starts with every delay as likely as any other.
        """
        prior = [1 / PRIOR_BINS if b < PRIOR_BINS else 0.0 for b in range(TAIL + 1)]
        masses = [1 / (TAIL + 1)] * (TAIL + 1)
        total = len(self._seen) + PRIOR_WEIGHT
        intervals = Counter(self._seen)
        for _ in range(ITERATIONS):
            share = [PRIOR_WEIGHT * mass for mass in prior]
            for (first, last), times in intervals.items():
                # Never empty: every bin starts with some mass, and keeps it while some
                # observation's span holds it.
                span = masses[first : last + 1]
                inside = sum(span)
                for offset, mass in enumerate(span):
                    share[first + offset] += times * mass / inside
            masses = [value / total for value in share]
        return masses

    @property
    def median(self) -> timedelta:
        """Return the delay by which half the readings have appeared."""
        return self.quantile(0.5)

    def quantile(self, share: float) -> timedelta:
        """Return the delay by which `share` of the readings have appeared."""
        return timedelta(seconds=BIN * (_quantile_bin(self.masses, share) + 1))


def _quantile_bin(masses: list[float], share: float) -> int:
    """Return the first bin by which `share` of the mass is reached."""
    return next(
        (b for b, total in enumerate(itertools.accumulate(masses)) if total >= share),
        len(masses) - 1,
    )


class _Lags:
    """The waits from upload to poll for a delay distribution, by prefix sums."""

    def __init__(self, masses: list[float]) -> None:
        """Sum the mass, and the mass times the bin's middle, up to each bin."""
        self._mass = [0.0, *itertools.accumulate(masses[:TAIL])]
        self._moment = [
            0.0,
            *itertools.accumulate(mass * (b + 0.5) for b, mass in enumerate(masses[:TAIL])),
        ]

    def mean(self, offsets: Collection[int]) -> float:
        """Return the mean wait, in seconds, with polls at these offsets every slot.

        Offsets are in bins after a reading is due; the same offsets repeat every reading,
        and every poll fetches all that is missing, so a reading that misses the polls of
        its own slot is fetched by those of the next. Delays beyond the slots counted add
        the same wait to every plan and are left out.
        """
        lag, start = 0.0, 0
        for poll in _polls(offsets):
            mass = self._mass[poll] - self._mass[start]
            lag += poll * mass - (self._moment[poll] - self._moment[start])
            start = poll
        return lag * BIN


def _polls(offsets: Collection[int]) -> list[int]:
    """Return the polls, in bins after a reading is due, over the slots counted."""
    return sorted({o + slot * SLOT_BINS for slot in range(SLOTS_AHEAD) for o in offsets})


def plan_offsets(masses: list[float], polls: int) -> tuple[int, ...]:
    """Return the offsets, in bins after a reading is due, with the least mean wait."""
    return tuple(_plan(_Lags(masses), polls))


def _plan(lags: _Lags, polls: int) -> list[int]:
    """Place the polls: greedily, then each in turn at its best place until none moves.

    Polls stay MIN_WAIT apart, within one reading interval.
    """
    offsets: list[int] = []
    for _ in range(polls):
        offsets.append(_best_place(lags, offsets))
        for _ in range(polls):
            moved = False
            for index in range(len(offsets)):
                others = offsets[:index] + offsets[index + 1 :]
                best = _best_place(lags, others)
                if best != offsets[index]:
                    offsets[index], moved = best, True
            if not moved:
                break
    return sorted(offsets)


def _best_place(lags: _Lags, others: list[int]) -> int:
    """Return the offset that, added to the others, gives the least mean wait."""
    apart = MIN_WAIT // timedelta(seconds=BIN)
    free = [
        o
        for o in range(SLOT_BINS)
        if all(min(abs(o - x), SLOT_BINS - abs(o - x)) >= apart for x in others)
    ]
    return min(free, key=lambda o: (lags.mean([*others, o]), o))


class PollScheduler:
    """Plan the polls after each reading is due from the learned upload delays.

    Each reading gets the polls with the least mean wait (plan_offsets), as many as the
    budget allows: credit accrues at BUDGET polls per reading interval and each poll spends
    one, so a reading that came at the first poll leaves its second poll to a later one (a
    probe on every PROBE_EVERY-th reading, before its first poll, is on top of it). A
    reading that misses the polls of its slot is fetched by those of the next, as each poll
    fetches all that is missing, and the mean counts that wait; while two or more readings
    are missing, one poll per reading interval.
    """

    def __init__(
        self,
        budget: float = BUDGET,
        samples: int = SAMPLES,
        rng: random.Random | None = None,
    ) -> None:
        """Start with no readings and the prior upload delays; rng draws the jitter."""
        self.budget = budget
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.delays = UploadDelays(samples)
        self._plans: dict[int, tuple[timedelta, ...]] = {}
        self._offsets: tuple[timedelta, ...] = ()
        self._newest: datetime | None = None
        self._credit = budget
        self._last: datetime | None = None
        self._failures = 0
        self._limits = 0
        self._readings = 0

    @property
    def upload_delay(self) -> timedelta:
        """Return the learned delay by which half the readings reach Share."""
        return self.delays.median

    @property
    def offsets(self) -> tuple[timedelta, ...]:
        """Return the planned polls after the next reading is due."""
        return self._offsets

    @property
    def next_planned(self) -> datetime | None:
        """Return the first poll planned for the next reading; it moves once a reading."""
        if self._newest is None or not self._offsets:
            return None
        return self._newest + READING_INTERVAL + self._offsets[0]

    def plan(self, polls: int) -> tuple[timedelta, ...]:
        """Return the offsets after a reading is due of that many polls, worth most."""
        if polls not in self._plans:
            bins = plan_offsets(self.delays.masses, polls)
            self._plans[polls] = tuple(timedelta(seconds=BIN * b) for b in bins)
        return self._plans[polls]

    def learn(self, after: float, by: float) -> None:
        """Record a reading that reached Share more than `after`, at most `by` seconds late."""
        self.delays.observe(after, by)
        self._plans.clear()

    def polled(self, now: datetime, newest: datetime | None) -> None:
        """Record a successful poll and the newest reading known after it."""
        self._failures = self._limits = 0
        if self._last is not None:
            self._credit += self.budget * ((now - self._last) / READING_INTERVAL)
        self._credit = min(float(MAX_POLLS), self._credit) - 1
        self._last = now
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
            polls = max(1, min(MAX_POLLS, math.floor(self._credit + self.budget)))
            self._offsets = self._with_probe(self.plan(polls))

    def _with_probe(self, offsets: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        """Return the offsets with a probe before the first on every PROBE_EVERY-th reading."""
        self._readings += 1
        probe = offsets[0] - timedelta(seconds=BIN)
        if self._readings % PROBE_EVERY or probe < timedelta(0):
            return offsets
        self._credit += 1  # the probe's poll does not count against the budget
        return (probe, *offsets)

    def failed(self, now: datetime) -> datetime:
        """Record a failed poll and return when to try again, with jitter."""
        self._failures += 1
        wait = min(MAX_WAIT, MIN_WAIT * (1 << min(self._failures - 1, 8)))
        return now + wait * self.rng.uniform(1 - JITTER, 1 + JITTER)

    def rate_limited(self, now: datetime, retry_after: timedelta | None) -> datetime:
        """Record a poll the server refused as too many; return when to try again.

        Never sooner than the server asked (up to RATE_LIMIT_CAP); the jitter only adds.
        """
        self._limits += 1
        backoff = RATE_LIMIT_WAIT * (1 << min(self._limits - 1, 4))
        asked = min(RATE_LIMIT_CAP, max(MIN_WAIT, backoff if retry_after is None else retry_after))
        return now + min(RATE_LIMIT_CAP, asked * self.rng.uniform(1, 1 + JITTER))

    def next_poll(self, now: datetime) -> datetime:
        """Return when to poll next."""
        if self._newest is None:
            return now + MAX_WAIT
        due = self._newest + READING_INTERVAL
        # A reading that missed its polls comes with the next one's, planned the same.
        for slot, offset in itertools.product(range(2), self._offsets):
            if (planned := due + slot * READING_INTERVAL + offset) > now:
                return max(planned, now + MIN_WAIT)
        # Two readings missing (a sensor gap, a phone offline): one poll per interval.
        (late,) = self.plan(1)
        slots = max(2, math.floor((now - due - late) / READING_INTERVAL) + 1)
        return max(due + slots * READING_INTERVAL + late, now + MIN_WAIT)


class Poller:
    """What every poll needs: the window to read, what it teaches, and when to poll next.

    Owns the scheduler and the backfill and holds no Home Assistant state, so the
    coordinator and the benchmark drive the same object.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        """Start with no readings known; rng draws the jitter of the retries."""
        self.scheduler = PollScheduler(rng=rng)
        self.backfill = Backfill()
        self._known: set[datetime] = set()
        # The recent successful reads: when, and the oldest reading time each could return.
        self._reads: deque[tuple[datetime, datetime]] = deque(maxlen=RECENT_READS)
        self._reach: datetime | None = None

    def window(self, known: Collection[datetime], now: datetime) -> tuple[int, int]:
        """Return the minutes and count of the read to do now."""
        minutes, count = self.backfill.window(known, now)
        self._reach = now - timedelta(minutes=minutes)
        return minutes, count

    def read(self, known: Collection[datetime], now: datetime) -> None:
        """Record a successful read, given every reading time known after it."""
        self.backfill.fetched()
        for time in set(known) - self._known:
            self._learn(time, now)
        self._known = set(known)
        # A read with no window asked for is taken to have reached no missing reading.
        self._reads.append((now, self._reach or now))
        self._reach = None
        self.scheduler.polled(now, max(known, default=None))

    def _learn(self, time: datetime, now: datetime) -> None:
        """Learn the delay of a reading just found: after the last read that missed it."""
        if now - time > LEARN_LIMIT:
            return
        missed = [when - time for when, reach in self._reads if reach < time < when]
        after = max(missed, default=timedelta(0))
        self.scheduler.learn(after.total_seconds(), (now - time).total_seconds())

    def failed(self, now: datetime) -> datetime:
        """Record a failed read and return when to try again."""
        return self.scheduler.failed(now)

    def rate_limited(self, now: datetime, retry_after: timedelta | None) -> datetime:
        """Record a read refused as too many and return when to try again."""
        return self.scheduler.rate_limited(now, retry_after)

    def next_poll(self, now: datetime) -> datetime:
        """Return when to poll next."""
        return self.scheduler.next_poll(now)
