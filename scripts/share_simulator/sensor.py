"""The readings of one sensor: grid, gaps, trends and upload delays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Protocol

from .glucose import DAY_MS, MINUTE_MS, GlucoseModel, between, trend_for_rate, unit
from .wire import MS, from_ms, to_ms

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SLOT_MS = 5 * MINUTE_MS
TREND_SLOTS = 3  # the trend is the rate over the last 15 minutes


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading as Share publishes it."""

    time: datetime
    """The UTC instant of the reading (Dexcom's WT)."""
    value: int
    trend: str
    """Dexcom's trend name, e.g. "Flat"."""
    published_at: datetime
    """When the reading reached Share: its time plus the upload delay."""


@dataclass(frozen=True, slots=True)
class UploadDelay:
    """How long readings take to reach Share, in seconds."""

    # Most readings reach Share 10-90 s after the sensor time (radio wake-up plus the
    # phone's upload); a few arrive 1.5-15 min late (phone asleep or offline), so some
    # readings appear after newer ones.
    usual: tuple[float, float] = (10.0, 90.0)
    late_chance: float = 0.03
    late: tuple[float, float] = (90.0, 900.0)

    def seconds(self, seed: str, slot: int, ms: int) -> float:
        """Return the upload delay of a slot's reading."""
        if unit(seed, "late", slot) < self.late_chance:
            low, high = self.late
        else:
            low, high = self.usual
        return between(low, high, seed, "delay", slot)


class DelayModel(Protocol):
    """How long each reading takes to reach Share."""

    def seconds(self, seed: str, slot: int, ms: int) -> float:
        """Return the upload delay, in seconds, of the reading of a slot at `ms`."""


@dataclass(frozen=True, slots=True)
class LogNormalDelay:
    """Heavy-tailed upload delays: half within `median` seconds, a few many minutes late."""

    median: float = 40.0
    sigma: float = 0.8
    """The spread of the delay's logarithm."""
    cap: float = 3600.0

    def seconds(self, seed: str, slot: int, ms: int) -> float:
        """Return the upload delay of a slot's reading."""
        # Keep the draw off 0 and 1, where the inverse normal is infinite.
        share = min(max(unit(seed, "delay", slot), 1e-9), 1 - 1e-9)
        return min(self.cap, self.median * math.exp(self.sigma * NormalDist().inv_cdf(share)))


@dataclass(frozen=True, slots=True)
class ChangingDelay:
    """Upload delays that follow one model until `at` and another from then on."""

    before: DelayModel
    after: DelayModel
    at: datetime

    def seconds(self, seed: str, slot: int, ms: int) -> float:
        """Return the upload delay of a slot's reading, by the model of its time."""
        model = self.before if ms < to_ms(self.at) else self.after
        return model.seconds(seed, slot, ms)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Readings from `start` to `end` that reach Share together at `upload_at`.

    A phone that was offline uploads every reading it held; set `upload_at` after `end`
    and its backlog reaches Share after newer readings. A sensor that lost the phone
    backfills only what it keeps (a G6 transmitter 3 hours, a G7 sensor 24): with `keeps`,
    the readings older than `keeps` before `end` never reach Share.
    """

    start: datetime
    end: datetime
    upload_at: datetime
    keeps: timedelta | None = None

    def holds(self, ms: int) -> bool:
        """Tell whether a reading time falls in the backlog's period."""
        return to_ms(self.start) <= ms < to_ms(self.end)

    def dropped(self, ms: int) -> bool:
        """Tell whether a reading of the period was never sent."""
        return self.keeps is not None and ms < to_ms(self.end - self.keeps)


class SensorTrace:
    """Which 5-minute slots hold a reading, and what and when each one is."""

    def __init__(
        self,
        model: GlucoseModel,
        *,
        start: datetime,
        delay: DelayModel,
        gaps: Sequence[tuple[datetime, datetime]] = (),
        sensor_start: datetime | None = None,
        sensor_days: float = 10.0,
        warmup: timedelta = timedelta(hours=2),
        signal_loss_chance: float = 0.0,
        backlogs: Sequence[Backlog] = (),
    ) -> None:
        """Set the first reading time, the delays, the gaps and the backlogs."""
        self.model = model
        self.seed = model.seed
        # Real sensors are not aligned to :00, so each has its own grid phase.
        self.phase_ms = int(unit(self.seed, "phase") * SLOT_MS)
        self.start_ms = to_ms(start)
        self.delay = delay
        self.gaps = [(to_ms(begin), to_ms(end)) for begin, end in gaps]
        self.sensor_start_ms = None if sensor_start is None else to_ms(sensor_start)
        self.sensor_ms = max(1, round(sensor_days * DAY_MS))
        self.warmup_ms = warmup // MS
        self.signal_loss_chance = signal_loss_chance
        self.backlogs = tuple(backlogs)
        self._values: dict[int, int] = {}

    def slot_ms(self, slot: int) -> int:
        """Return the epoch milliseconds of a slot."""
        return slot * SLOT_MS + self.phase_ms

    def slot_at(self, ms: int) -> int:
        """Return the last slot at or before an instant."""
        return (ms - self.phase_ms) // SLOT_MS

    def in_gap(self, slot: int) -> bool:
        """Tell whether the sensor sent nothing in a slot."""
        ms = self.slot_ms(slot)
        if any(begin <= ms < end for begin, end in self.gaps):
            return True
        if any(backlog.holds(ms) and backlog.dropped(ms) for backlog in self.backlogs):
            return True
        start = self.sensor_start_ms
        if start is not None and (ms - start) % self.sensor_ms < self.warmup_ms:
            return True
        return self._signal_lost(ms)

    def has_reading(self, slot: int) -> bool:
        """Tell whether a slot holds a reading."""
        return self.slot_ms(slot) >= self.start_ms and not self.in_gap(slot)

    def value(self, slot: int) -> int:
        """Return the glucose value of a slot."""
        if (value := self._values.get(slot)) is None:
            value = self._values[slot] = self.model.value(self.slot_ms(slot))
        return value

    def trend(self, slot: int) -> str:
        """Return the trend: the rate over 15 minutes, if those readings exist."""
        if any(self.in_gap(slot - back) for back in range(1, TREND_SLOTS + 1)):
            return "NotComputable"
        change = self.value(slot) - self.value(slot - TREND_SLOTS)
        return trend_for_rate(change / (TREND_SLOTS * SLOT_MS / MINUTE_MS))

    def published_ms(self, slot: int) -> int:
        """Return when a slot's reading reaches Share."""
        ms = self.slot_ms(slot)
        for backlog in self.backlogs:
            if backlog.holds(ms):
                return max(ms, to_ms(backlog.upload_at))
        return ms + round(self.delay.seconds(self.seed, slot, ms) * 1000)

    def reading(self, slot: int) -> Reading:
        """Return the reading of a slot."""
        return Reading(
            time=from_ms(self.slot_ms(slot)),
            value=self.value(slot),
            trend=self.trend(slot),
            published_at=from_ms(self.published_ms(slot)),
        )

    def visible(self, now: datetime, minutes: int, max_count: int) -> list[Reading]:
        """Return published readings with time in (now - minutes, now], newest first."""
        now_ms = to_ms(now)
        oldest_ms = now_ms - minutes * MINUTE_MS
        found: list[Reading] = []
        slot = self.slot_at(now_ms)
        while len(found) < max_count and self.slot_ms(slot) > oldest_ms:
            if self.has_reading(slot) and self.published_ms(slot) <= now_ms:
                found.append(self.reading(slot))
            slot -= 1
        return found

    def published(self, until: datetime) -> Iterator[Reading]:
        """Yield every reading published by `until`, oldest first."""
        until_ms = to_ms(until)
        for slot in range(self.slot_at(self.start_ms - 1) + 1, self.slot_at(until_ms) + 1):
            if self.has_reading(slot) and self.published_ms(slot) <= until_ms:
                yield self.reading(slot)

    def _signal_lost(self, ms: int) -> bool:
        """Tell whether a seeded signal loss (one a UTC day at most) hits an instant."""
        if self.signal_loss_chance <= 0:
            return False
        day = ms // DAY_MS
        for each in (day - 1, day):
            if unit(self.seed, "loss", each) >= self.signal_loss_chance:
                continue
            begin = each * DAY_MS + round(between(0, DAY_MS, self.seed, "loss-at", each))
            length = round(between(10, 60, self.seed, "loss-length", each) * MINUTE_MS)
            if begin <= ms < begin + length:
                return True
        return False
