"""The Ambulatory Glucose Profile: glucose percentiles by local time of day over 14 days.

Each reading falls into the 30-minute bin of its local clock time (the zone configured in
Home Assistant), so a profile spanning a change to or from daylight saving time keeps every
reading at the time of day the clock showed: the hour repeated in autumn adds readings to
its bins, and the hour skipped in spring adds none to its bins that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from .metrics import COMPLETE, wear
from .periods import FORTNIGHT
from .units import to_unit

PERIOD: Final = FORTNIGHT.length
BIN_MINUTES: Final = 30
BINS: Final = 24 * 60 // BIN_MINUTES
PERCENTILES: Final = (5, 25, 50, 75, 95)
MIN_BIN_READINGS: Final = 14
"""A bin with fewer readings (one a day; a full bin has 84) is left out: its 5th and 95th
percentiles would be little more than its extremes."""

type Percentiles = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class AgpBin:
    """The glucose percentiles (mg/dL) of one time-of-day bin."""

    minute: int
    """The local time of day the bin starts at, in minutes after midnight."""
    percentiles: Percentiles
    readings: int

    @property
    def time(self) -> str:
        """Return the start of the bin as HH:MM."""
        return f"{self.minute // 60:02d}:{self.minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Agp:
    """The profile of the period up to a moment, and its chart when there is enough data."""

    drawn: datetime
    readings: int
    bins: tuple[AgpBin, ...] = ()
    """The bins with enough readings, by time of day; none without enough wear."""
    chart: bytes | None = None

    @property
    def wear(self) -> float:
        """Return the share (%) of the period that has readings, as the metrics count it."""
        return wear(self.readings, PERIOD)

    @property
    def enough(self) -> bool:
        """Return whether the period has the consensus wear time (70 %)."""
        return self.wear >= COMPLETE


def percentile(ordered: Sequence[int], percent: int) -> float:
    """Return a percentile of sorted whole values, interpolated linearly between them.

    This is Hyndman and Fan's type 7 (numpy's default, "linear"): position
    (n - 1) * percent / 100. Integer arithmetic up to one division keeps it exact.
    """
    steps = (len(ordered) - 1) * percent
    index, rest = divmod(steps, 100)
    if rest == 0:
        return float(ordered[index])
    low, high = ordered[index], ordered[index + 1]
    return (low * 100 + (high - low) * rest) / 100


def time_of_day_bins(readings: Iterable[tuple[int, int]], zone: tzinfo) -> list[list[int]]:
    """Return the values of (epoch ms, mg/dL) readings by their local time-of-day bin."""
    bins: list[list[int]] = [[] for _ in range(BINS)]
    for ms, value in readings:
        local = datetime.fromtimestamp(ms / 1000, zone)
        bins[(local.hour * 60 + local.minute) // BIN_MINUTES].append(value)
    return bins


def profile(readings: Iterable[tuple[int, int]], zone: tzinfo) -> tuple[AgpBin, ...]:
    """Return the percentiles of each bin that has enough readings.

    Dexcom's LOW and HIGH count as the values Share reports for them, 39 and 401 mg/dL.
    """
    result = []
    for index, values in enumerate(time_of_day_bins(readings, zone)):
        if len(values) < MIN_BIN_READINGS:
            continue
        values.sort()
        p5, p25, p50, p75, p95 = (percentile(values, percent) for percent in PERCENTILES)
        result.append(AgpBin(index * BIN_MINUTES, (p5, p25, p50, p75, p95), len(values)))
    return tuple(result)


def percentile_rows(agp: Agp, unit: str) -> list[dict[str, str | float]]:
    """Return each bin's start (HH:MM, local time) and its percentiles in the unit."""
    return [
        {
            "time": agp_bin.time,
            **{
                f"p{percent}": to_unit(value, unit)
                for percent, value in zip(PERCENTILES, agp_bin.percentiles, strict=True)
            },
        }
        for agp_bin in agp.bins
    ]
