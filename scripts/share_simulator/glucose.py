"""A deterministic, physiologically plausible glucose level.

The level at any instant is computed from the seed and the instant alone:
a baseline with circadian drift and a dawn rise, smooth noise (a few slow
sine waves), meals that raise glucose by 50-120 mg/dL over about an hour and
fade over three, and an occasional low. The random choices of a day (meal
times and sizes, whether a low happens) come from hashing the seed and the
date, so any day can be computed without state. Excursions, given by the
caller, hold the level at a chosen value for a while, for example beyond the
40-400 mg/dL the sensor reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
import hashlib
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# The sensor reads 40-400 mg/dL; Share sends 39 below that (LOW) and 401 above it (HIGH).
LOW_VALUE = 39
HIGH_VALUE = 401
EXCURSION_RAMP_MS = 90 * MINUTE_MS

# Meals: usual local hour, spread in hours, smallest and largest rise (mg/dL), chance.
MEALS = (
    ("breakfast", 7.25, 0.75, 50.0, 110.0, 0.92),
    ("lunch", 12.5, 1.0, 50.0, 100.0, 0.9),
    ("snack", 15.5, 1.5, 20.0, 45.0, 0.4),
    ("dinner", 18.75, 1.0, 60.0, 120.0, 0.95),
)
# Trend arrows by rate in mg/dL/min; a bound itself gets the flatter arrow.
RISING = ((3.0, "DoubleUp"), (2.0, "SingleUp"), (1.0, "FortyFiveUp"))
FALLING = ((-3.0, "DoubleDown"), (-2.0, "SingleDown"), (-1.0, "FortyFiveDown"))
MEAL_SPAN = 10  # a meal's effect ends 10 widths after it starts
LOW_SPAN = 6  # a low's effect ends 6 widths from its centre
LOW_CHANCE = 0.4  # per day
LOW_HOURS = ((1.0, 5.0), (10.0, 12.0), (15.0, 17.5))  # when lows happen, local time
# Smooth noise: period in minutes and amplitude in mg/dL of each sine wave.
WAVES = ((35.0, 2.5), (70.0, 3.5), (130.0, 4.5), (300.0, 6.0))


def unit(*parts: object) -> float:
    """Return a number in [0, 1) fixed by the parts (a stateless random source)."""
    key = ":".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest()) / 2**64


def between(low: float, high: float, *parts: object) -> float:
    """Return a number in [low, high) fixed by the parts."""
    return low + (high - low) * unit(*parts)


def trend_for_rate(rate: float) -> str:
    """Return Dexcom's trend for a rate of change in mg/dL/min."""
    for bound, name in RISING:
        if rate > bound:
            return name
    for bound, name in FALLING:
        if rate < bound:
            return name
    return "Flat"


@dataclass(frozen=True, slots=True)
class Event:
    """A meal (a rise from `at_ms`) or a low (a dip centred on `at_ms`)."""

    at_ms: int
    size: float
    width_ms: float
    meal: bool

    def effect(self, ms: int) -> float:
        """Return the change in mg/dL this event causes at an instant."""
        x = (ms - self.at_ms) / self.width_ms
        if self.meal:
            # A gamma-shaped curve: flat start, peak `size` after `width`, long tail.
            return self.size * x * x * math.exp(2 - 2 * x) if 0 < x < MEAL_SPAN else 0.0
        return -self.size * math.exp(-0.5 * x * x) if abs(x) < LOW_SPAN else 0.0


@dataclass(frozen=True, slots=True)
class Excursion:
    """The level held at `level` mg/dL from `start_ms` to `end_ms`, reached and left smoothly."""

    start_ms: int
    end_ms: int
    level: float

    def weight(self, ms: int) -> float:
        """Return how much the excursion sets the level: 1 from start to end, 0 far from it."""
        if ms < self.start_ms:
            x = 1 - (self.start_ms - ms) / EXCURSION_RAMP_MS
        elif ms > self.end_ms:
            x = 1 - (ms - self.end_ms) / EXCURSION_RAMP_MS
        else:
            return 1.0
        return (1 - math.cos(math.pi * x)) / 2 if x > 0 else 0.0


class GlucoseModel:
    """The glucose level of one person."""

    def __init__(
        self, seed: str, time_zone: ZoneInfo, excursions: Sequence[Excursion] = ()
    ) -> None:
        """Derive the person's constants from the seed."""
        self.seed = seed
        self.time_zone = time_zone
        self.excursions = tuple(excursions)
        self.base = between(100.0, 125.0, seed, "base")
        self.waves = [
            (period * MINUTE_MS, amplitude, between(0, math.tau, seed, "wave", index))
            for index, (period, amplitude) in enumerate(WAVES)
        ]
        self._days: dict[date, tuple[Event, ...]] = {}

    def level(self, ms: int) -> float:
        """Return the unclamped level in mg/dL at epoch milliseconds."""
        local = datetime.fromtimestamp(ms / 1000, self.time_zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        level = self.base + self._drift(ms)
        level += 10 * math.sin(math.tau * (hour - 9) / 24)  # highest mid-afternoon
        level += 18 * math.exp(-0.5 * ((hour - 6.5) / 1.2) ** 2)  # dawn phenomenon
        level += self.wander(ms)
        today = local.date()
        for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
            level += sum(event.effect(ms) for event in self.events(day))
        for excursion in self.excursions:
            level += excursion.weight(ms) * (excursion.level - level)
        return level

    def wander(self, ms: int) -> float:
        """Return the smooth noise at epoch milliseconds: the sum of the person's waves."""
        return math.fsum(
            amplitude * math.sin(math.tau * ms / period + phase)
            for period, amplitude, phase in self.waves
        )

    def value(self, ms: int) -> int:
        """Return the reading Share would show: 40-400 mg/dL, else 39 (LOW) or 401 (HIGH)."""
        return round(min(HIGH_VALUE, max(LOW_VALUE, self.level(ms))))

    def events(self, day: date) -> tuple[Event, ...]:
        """Return the meals and lows of a local day."""
        if (events := self._days.get(day)) is None:
            events = self._days[day] = self._plan(day)
        return events

    def _plan(self, day: date) -> tuple[Event, ...]:
        """Choose a day's meals and lows from the seed and the date."""
        midnight = datetime.combine(day, time(), self.time_zone)
        events = []
        for name, hour, spread, low, high, chance in MEALS:
            if unit(self.seed, day, name) >= chance:
                continue
            start = hour + between(-spread, spread, self.seed, day, name, "hour")
            at = midnight + timedelta(hours=start)
            events.append(
                Event(
                    at_ms=round(at.timestamp() * 1000),
                    size=between(low, high, self.seed, day, name, "size"),
                    width_ms=between(45, 75, self.seed, day, name, "width") * MINUTE_MS,
                    meal=True,
                )
            )
        if unit(self.seed, day, "low") < LOW_CHANCE:
            first, last = LOW_HOURS[int(unit(self.seed, day, "low-when") * len(LOW_HOURS))]
            hour = between(first, last, self.seed, day, "low-hour")
            at = midnight + timedelta(hours=hour)
            events.append(
                Event(
                    at_ms=round(at.timestamp() * 1000),
                    size=between(55, 90, self.seed, day, "low-size"),
                    width_ms=between(20, 35, self.seed, day, "low-width") * MINUTE_MS,
                    meal=False,
                )
            )
        return tuple(events)

    def _drift(self, ms: int) -> float:
        """Return a slow day-to-day drift, smoothly joined at UTC midnight."""
        day, into = divmod(ms, DAY_MS)
        start = between(-15, 15, self.seed, "drift", day)
        end = between(-15, 15, self.seed, "drift", day + 1)
        return start + (end - start) * (1 - math.cos(math.pi * into / DAY_MS)) / 2
