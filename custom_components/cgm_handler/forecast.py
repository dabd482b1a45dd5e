"""Glucose forecast 5 to 30 minutes ahead from the recent readings; plain Python.

Interface:

- `HORIZONS`: the minutes ahead forecast, (5, 10, 15, 20, 25, 30).
- `forecast(readings) -> Forecast | None`: the integration's forecast from the readings,
  oldest first (as `CgmData.readings`); None when they are too sparse (below).
- `Forecast.time`: the newest reading's time, which the forecast starts from;
  `Forecast.points`: (minutes ahead, mg/dL) for each horizon; `Forecast.at(minutes)`;
  `Forecast.first_at_or_below(level, within)`: the first horizon, up to `within` minutes,
  at which the forecast is at or below `level` mg/dL, else None.
- `ar2(readings)`: Nightscout's AR2 alone, the forecast's fallback.

Method, chosen by measurement (scripts/bench_forecast): the mean of two forecasts, or
AR2 alone while fewer than 7 readings follow a gap or a sensor's start.
- Nightscout's AR2: on y = ln(glucose / 140), each 5-minute step is
  y_next = -0.723 * y_prev + 1.716 * y_now, started from the newest reading and the one
  before it (scaled to 5 minutes before, as Nightscout does). It damps the trend and
  draws glucose slowly towards 140 mg/dL.
- A fitted trend: the newest reading plus, for each horizon, a weighted sum of the last
  6 changes between readings (30 minutes). The weights were fitted by least squares on
  simulated patients that the benchmark does not evaluate (scripts/bench_forecast --fit).
  Using 6 changes instead of 1 smooths the sensor's noise; a flat trace stays flat.
Every forecast is clamped to Nightscout's 36-400 mg/dL.

Too sparse: a method needs its newest readings (AR2 and so the forecast 2, the fitted
trend 7, which span 30 minutes), each at most GAP (7.5 minutes,
1.5 reading intervals) after the one before it, and none of them LOW (39) or HIGH (401).
Otherwise there is no forecast: during a sensor's warm-up, until the second reading after
a gap, and while the newest or the one before it is LOW or HIGH. LOW and HIGH are flags,
not measurements (the true glucose may be far beyond them), so a trend through them would
be made up; the reading itself already says LOW or HIGH. How old the newest reading is,
is for the caller to judge: the forecast starts at `Forecast.time`, not at the moment it
is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
import itertools
import math
from typing import Final

from .cadence import GAP, READING_INTERVAL
from .share import GlucoseReading

HORIZONS: Final = (5, 10, 15, 20, 25, 30)
"""Minutes ahead."""
STEP_MINUTES: Final = READING_INTERVAL / timedelta(minutes=1)

# Nightscout's AR2: glucose of reference, clamp bounds (mg/dL) and coefficients.
BG_REF: Final = 140.0
BG_MIN: Final = 36.0
BG_MAX: Final = 400.0
AR2_COEFFICIENTS: Final = (-0.723, 1.716)
"""Weights of the previous and of the newest log-glucose in each 5-minute step."""

# The fitted trend: per horizon, the weights of the changes between the newest 7 readings,
# newest change first. Fitted by `scripts/bench_forecast --fit`.
TREND_READINGS: Final = 7
TREND_WEIGHTS: Final = {
    5: (0.849, -0.082, 0.069, -0.322, 0.208, 0.023),
    10: (1.504, -0.106, -0.188, -0.394, 0.469, -0.029),
    15: (2.072, -0.469, -0.204, -0.357, 0.692, -0.178),
    20: (2.224, -0.575, -0.119, -0.332, 0.776, -0.299),
    25: (2.273, -0.543, -0.074, -0.303, 0.778, -0.402),
    30: (2.363, -0.521, -0.041, -0.324, 0.737, -0.459),
}
AR2_SHARE: Final = 0.5
"""The forecast is AR2_SHARE times AR2 plus the rest times the fitted trend."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """Predicted glucose at each horizon after the newest reading."""

    time: datetime
    """The newest reading's time: the forecast starts from it."""
    points: tuple[tuple[int, float], ...]
    """(minutes ahead, predicted mg/dL) for each of HORIZONS, nearest first."""

    def at(self, minutes: int) -> float:
        """Return the predicted glucose (mg/dL) at a horizon of HORIZONS."""
        for ahead, value in self.points:
            if ahead == minutes:
                return value
        raise ValueError(f"no forecast {minutes} minutes ahead")

    def first_at_or_below(self, level: float, within: int) -> int | None:
        """Return the first horizon up to `within` minutes predicted at or below a level."""
        for ahead, value in self.points:
            if ahead > within:
                break
            if value <= level:
                return ahead
        return None


def forecast(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast from the readings (oldest first); None when they are too sparse."""
    if (recent := usable(readings, TREND_READINGS)) is None:
        return ar2(readings)
    return make_forecast(
        recent[-1].time,
        [
            AR2_SHARE * a + (1 - AR2_SHARE) * b
            for a, b in zip(ar2_values(recent), trend_values(recent), strict=True)
        ],
    )


def ar2(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast with Nightscout's AR2 from the newest two readings."""
    if (recent := usable(readings, 2)) is None:
        return None
    return make_forecast(recent[-1].time, ar2_values(recent))


def ar2_values(recent: Sequence[GlucoseReading]) -> list[float]:
    """Return AR2's unclamped forecast at each horizon from the last two usable readings."""
    before, newest = recent[-2:]
    # Nightscout scales the change to 5 minutes when the readings are not 5 minutes apart.
    elapsed = minutes_between(before, newest)
    five_before = newest.value - (newest.value - before.value) * STEP_MINUTES / elapsed
    previous = math.log(max(five_before, BG_MIN) / BG_REF)
    current = math.log(newest.value / BG_REF)
    values = []
    for _ in HORIZONS:
        previous, current = (
            current,
            (AR2_COEFFICIENTS[0] * previous + AR2_COEFFICIENTS[1] * current),
        )
        values.append(BG_REF * math.exp(current))
    return values


def trend_values(recent: Sequence[GlucoseReading]) -> list[float]:
    """Return the fitted trend's forecast at each horizon from the usable readings."""
    steps = changes(recent[-TREND_READINGS:])
    newest = recent[-1].value
    return [
        newest + math.fsum(w * c for w, c in zip(TREND_WEIGHTS[m], steps, strict=True))
        for m in HORIZONS
    ]


def changes(recent: Sequence[GlucoseReading]) -> list[float]:
    """Return the changes between consecutive readings (mg/dL), newest first."""
    values = [reading.value for reading in recent]
    return [float(values[i] - values[i - 1]) for i in range(len(values) - 1, 0, -1)]


def usable(readings: Sequence[GlucoseReading], count: int) -> Sequence[GlucoseReading] | None:
    """Return the newest readings if they are dense and in the sensor's range, else None."""
    if len(readings) < count:
        return None
    recent = readings[-count:]
    if any(reading.out_of_range for reading in recent):
        return None
    if any(
        not timedelta() < after.time - before.time <= GAP
        for before, after in itertools.pairwise(recent)
    ):
        return None
    return recent


def minutes_between(earlier: GlucoseReading, later: GlucoseReading) -> float:
    """Return the minutes from one reading to a later one."""
    return (later.time - earlier.time) / timedelta(minutes=1)


def make_forecast(time: datetime, values: Sequence[float]) -> Forecast:
    """Return a forecast of one value per horizon, clamped to Nightscout's bounds."""
    return Forecast(
        time,
        tuple(
            (minutes, min(BG_MAX, max(BG_MIN, value)))
            for minutes, value in zip(HORIZONS, values, strict=True)
        ),
    )
