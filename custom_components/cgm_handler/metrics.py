"""Glycemic metrics of a set of readings; plain Python, no Home Assistant.

Definitions follow the international consensus on CGM metrics (Battelino et al.,
Diabetes Care 2019;42:1593-1603):

- mean glucose: the arithmetic mean of the readings, in mg/dL;
- GMI (glucose management indicator, %): 3.31 + 0.02392 x mean glucose in mg/dL;
- CV (coefficient of variation, %): SD / mean x 100, with the *population* SD (divisor n):
  the readings of the period are the whole population described, and it is defined for a
  single reading;
- SD: that population standard deviation, in mg/dL;
- time in range: readings in 70-180 mg/dL inclusive; below range: < 70 mg/dL (level 1 and 2
  together) and < 54 mg/dL (level 2); above range: > 180 mg/dL (level 1 and 2 together) and
  > 250 mg/dL (level 2). Each is the share of readings, in %. Time in tight range: 70-140
  mg/dL inclusive (Battelino et al., Diabetes Care 2023;46:1-14, and later reports);
- CGM wear: the share of the period the readings cover, at 5 minutes each, at most 100 %.
  The consensus asks for 70 % of 14 days before the metrics describe the period (COMPLETE);
- GRI (glycemia risk index, Klonoff et al., J Diabetes Sci Technol 2023;17:1226-1242):
  3.0 x VLow + 2.4 x Low + 1.6 x VHigh + 0.8 x High, at most 100, where VLow is the % of
  readings < 54, Low 54-69, VHigh > 250 and High 181-250 mg/dL. Its hypoglycemia component
  is VLow + 0.8 x Low and its hyperglycemia component VHigh + 0.5 x High, so that
  GRI = 3.0 x hypoglycemia component + 1.6 x hyperglycemia component.

Dexcom reports a reading every 5 minutes, so the share of readings is the share of time.
Its LOW and HIGH count as the 39 and 401 mg/dL Share reports for them: they fall below 54
and above 250 whatever the true glucose, while the mean they enter is a bound, not exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
import math

from .cadence import READING_INTERVAL
from .limits import HIGH, LOW, TIGHT_HIGH, VERY_HIGH, VERY_LOW

COMPLETE = 70.0
"""The CGM wear (%) from which metrics describe their period (consensus)."""

GMI_INTERCEPT = 3.31
GMI_SLOPE = 0.02392


@dataclass(frozen=True, slots=True)
class GlucoseRange:
    """A glucose range the consensus reports the share of readings in.

    The key names the range's statistic and, with the period, its sensors and their
    translation keys. Bounds are whole mg/dL, inclusive; None leaves a side open.
    """

    key: str
    name: str
    minimum: int | None
    maximum: int | None
    limit: int | None
    """The glucose limit named in the sensor name, if any."""

    def contains(self, value: int) -> bool:
        """Return whether a reading (mg/dL) is in the range."""
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


TIME_IN_RANGE = GlucoseRange("time_in_range", f"time in range {LOW}-{HIGH} mg/dL", LOW, HIGH, None)
TIME_IN_TIGHT_RANGE = GlucoseRange(
    "time_in_tight_range", f"time in tight range {LOW}-{TIGHT_HIGH} mg/dL", LOW, TIGHT_HIGH, None
)
TIME_BELOW_70 = GlucoseRange("time_below_70", f"time below {LOW} mg/dL", None, LOW - 1, LOW)
TIME_BELOW_54 = GlucoseRange(
    "time_below_54", f"time below {VERY_LOW} mg/dL", None, VERY_LOW - 1, VERY_LOW
)
TIME_ABOVE_180 = GlucoseRange("time_above_180", f"time above {HIGH} mg/dL", HIGH + 1, None, HIGH)
TIME_ABOVE_250 = GlucoseRange(
    "time_above_250", f"time above {VERY_HIGH} mg/dL", VERY_HIGH + 1, None, VERY_HIGH
)
RANGES: tuple[GlucoseRange, ...] = (
    TIME_IN_RANGE,
    TIME_IN_TIGHT_RANGE,
    TIME_BELOW_70,
    TIME_BELOW_54,
    TIME_ABOVE_180,
    TIME_ABOVE_250,
)


@dataclass(frozen=True, slots=True)
class GlycemicMetrics:
    """The consensus metrics of the readings of one period."""

    readings: int
    mean: float
    minimum: int
    maximum: int
    gmi: float
    cv: float
    in_ranges: Mapping[str, float]
    """The share of readings in each range, in %, by range key."""
    sd: float
    wear: float
    """The share of the period the readings cover, in %."""

    @property
    def complete(self) -> bool:
        """Return whether the readings cover enough of the period to describe it."""
        return self.wear >= COMPLETE

    @property
    def gri_hypo(self) -> float:
        """Return the hypoglycemia component of the GRI: VLow + 0.8 x Low."""
        very_low = self.in_ranges[TIME_BELOW_54.key]
        return very_low + 0.8 * (self.in_ranges[TIME_BELOW_70.key] - very_low)

    @property
    def gri_hyper(self) -> float:
        """Return the hyperglycemia component of the GRI: VHigh + 0.5 x High."""
        very_high = self.in_ranges[TIME_ABOVE_250.key]
        return very_high + 0.5 * (self.in_ranges[TIME_ABOVE_180.key] - very_high)

    @property
    def gri(self) -> float:
        """Return the glycemia risk index, 0-100."""
        return min(3.0 * self.gri_hypo + 1.6 * self.gri_hyper, 100.0)


class Totals:
    """What the metrics of a set of readings are computed from; totals add up."""

    __slots__ = ("count", "in_ranges", "maximum", "minimum", "squares", "total")

    def __init__(self) -> None:
        """Start with no readings."""
        self.count = 0
        self.total = 0
        self.squares = 0
        self.minimum: int | None = None
        self.maximum: int | None = None
        self.in_ranges = [0] * len(RANGES)

    def add_all(self, values: Iterable[int]) -> None:
        """Count readings (mg/dL)."""
        for value in values:
            self.count += 1
            self.total += value
            self.squares += value * value
            self.minimum = value if self.minimum is None else min(self.minimum, value)
            self.maximum = value if self.maximum is None else max(self.maximum, value)
            for index, band in enumerate(RANGES):
                if band.contains(value):
                    self.in_ranges[index] += 1

    def merge(self, other: Totals) -> None:
        """Count the readings of other totals too."""
        if other.minimum is None or other.maximum is None:
            return
        self.count += other.count
        self.total += other.total
        self.squares += other.squares
        if self.minimum is None or other.minimum < self.minimum:
            self.minimum = other.minimum
        if self.maximum is None or other.maximum > self.maximum:
            self.maximum = other.maximum
        in_ranges = self.in_ranges
        for index, inside in enumerate(other.in_ranges):
            in_ranges[index] += inside

    def metrics(self, period: timedelta) -> GlycemicMetrics | None:
        """Return the metrics of the readings counted over a period, or None without any."""
        count = self.count
        if self.minimum is None or self.maximum is None:
            return None
        mean = self.total / count
        # The population variance, exact in integers until the one division.
        variance = (count * self.squares - self.total * self.total) / (count * count)
        sd = math.sqrt(variance)
        return GlycemicMetrics(
            readings=count,
            mean=mean,
            minimum=self.minimum,
            maximum=self.maximum,
            gmi=gmi(mean),
            cv=100 * sd / mean if mean else 0.0,
            in_ranges={
                band.key: 100 * inside / count
                for band, inside in zip(RANGES, self.in_ranges, strict=True)
            },
            sd=sd,
            wear=wear(count, period),
        )


def wear(readings: int, period: timedelta) -> float:
    """Return the share (%) of a period that readings cover, 5 minutes each, at most 100."""
    return min(100 * readings * READING_INTERVAL / period, 100.0)


def gmi(mean_mg_dl: float) -> float:
    """Return the glucose management indicator (%) of a mean glucose in mg/dL."""
    return GMI_INTERCEPT + GMI_SLOPE * mean_mg_dl
