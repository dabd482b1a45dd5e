"""When to ask Dexcom Share for the next reading."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
import itertools
import math

from .share.const import MAX_COUNT, MAX_MINUTES

READING_INTERVAL = timedelta(minutes=5)
MIN_WAIT = timedelta(seconds=15)
MAX_WAIT = timedelta(minutes=5)
DEFAULT_UPLOAD_DELAY = timedelta(seconds=30)
PROBE = timedelta(seconds=5)
DEFAULT_QUANTILE = 0.75
# A poll timer may fire up to a second early; never poll before a reading is due.
TIMER_SLACK = timedelta(seconds=1)
# Two readings further apart than this have a hole between them.
GAP = READING_INTERVAL * 1.5
# When to look for a hole's readings again, counted from the poll that first saw it.
# Backlogs (a phone back online, a sensor's backfill) mostly arrive within minutes of the
# newer readings, stragglers later; a hole that never fills (a warm-up) costs ten reads.
LOOKS = tuple(timedelta(minutes=m) for m in (0, 5, 10, 20, 40, 80, 160, 320, 640, 1280))


def window_since(since: datetime, now: datetime) -> tuple[int, int]:
    """Return the minutes and count that reach back to a moment, within Share's limits."""
    # At least a minute, even when Share's clock runs ahead of ours.
    minutes = min(MAX_MINUTES, max(1, math.ceil((now - since).total_seconds() / 60) + 1))
    return minutes, min(MAX_COUNT, minutes // 5 + 2)


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


class PollScheduler:
    """Learn the upload delay and plan each poll just after a reading is due."""

    def __init__(self, quantile: float = DEFAULT_QUANTILE, samples: int = 24) -> None:
        """Start with no readings and the default upload delay."""
        self.quantile = quantile
        self._delays: deque[float] = deque(maxlen=samples)
        self._newest: datetime | None = None
        self._empty_poll: datetime | None = None
        self._failures = 0

    @property
    def upload_delay(self) -> timedelta:
        """Return the learned delay between a reading and its appearance."""
        if not self._delays:
            return DEFAULT_UPLOAD_DELAY
        ranked = sorted(self._delays)
        index = min(len(ranked) - 1, math.ceil(self.quantile * len(ranked)) - 1)
        return timedelta(seconds=ranked[max(index, 0)])

    def polled(self, now: datetime, newest: datetime | None) -> None:
        """Record a successful poll and the newest reading known after it."""
        self._failures = 0
        if newest is None:
            return
        if self._newest is None or newest <= self._newest:
            self._empty_poll = now if self._newest is not None else None
            self._newest = newest if self._newest is None else self._newest
            return
        if now - newest < READING_INTERVAL:
            self._delays.append(self._estimate_delay(now, newest))
        self._newest = newest
        self._empty_poll = None

    def _estimate_delay(self, now: datetime, newest: datetime) -> float:
        """Estimate when the new reading appeared, between the last two polls."""
        missed = self._empty_poll
        if missed is not None and missed > newest:
            seen = missed + (now - missed) / 2
        else:
            # Seen on the first poll: it may have come earlier, so probe earlier next time.
            seen = now - PROBE
        return max((seen - newest).total_seconds(), 0.0)

    def failed(self, now: datetime) -> datetime:
        """Record a failed poll and return when to try again."""
        self._failures += 1
        wait = min(MAX_WAIT, MIN_WAIT * (1 << min(self._failures - 1, 8)))
        return now + wait

    def next_poll(self, now: datetime) -> datetime:
        """Return when to poll next."""
        if self._newest is None:
            return now + MAX_WAIT
        delay = self.upload_delay
        due = self._newest + READING_INTERVAL + delay
        if now < due:
            return due
        # Overdue: retry often at first, then only once per expected reading.
        missed = math.floor((now - self._newest - delay) / READING_INTERVAL)
        next_due = self._newest + (missed + 1) * READING_INTERVAL + delay
        planned = min(now + (now - due) / 4, next_due) if missed <= 1 else next_due
        return max(planned, now + MIN_WAIT)
