"""Glucose forecast 5 to 30 minutes ahead, and the urgent low soon alert on it; plain Python.

Interface:

- `HORIZONS`: the minutes ahead forecast, (5, 10, 15, 20, 25, 30).
- `forecast(readings) -> Forecast | None`: the forecast from the readings, oldest first
  (as `CgmData.readings`); None when they are too sparse (below).
- `Forecast.time`: the newest reading's time, which the forecast starts from;
  `Forecast.points`: (minutes ahead, mg/dL) for each horizon; `Forecast.at(minutes)`;
  `Forecast.lowest(within)`: the lowest point up to `within` minutes ahead.
- `urgent_low_soon(readings, level, within, steady_falls=False) -> bool | None`: the
  alert; None when there is no forecast.
- `steady_fall_forecast(readings, within) -> float | None`: the straight line through the
  newest readings `within` minutes ahead, on a steady fall only.

Method, chosen by measurement (scripts/bench_forecast, docs/forecast.md):
- The forecast is Nightscout's AR2: on y = ln(glucose / 140), each 5-minute step is
  y_next = -0.723 * y_prev + 1.716 * y_now, started from the newest reading and the one
  before it (scaled to 5 minutes before, as Nightscout does). It damps the trend and
  draws glucose slowly towards 140 mg/dL. Clamped to Nightscout's 36-400 mg/dL.
- The alert turns on when the forecast is at or below the level within the horizon, and
  stays on while it is at or below the level plus ALERT_MARGIN (70 mg/dL at the default
  55): a forecast that wavers around the level gives one alert, not several. The alert
  is worked out from the newest readings alone (up to ALERT_LOOKBACK of them), not kept
  between updates, so a restart or an option change gives the same answer.
- With steady falls on (an option, off by default), the alert also counts the straight
  line (least squares) through the newest STEADY_READINGS readings while each is lower
  than the one before and the line falls faster than STEADY_SLOPE: a steady fall is then
  warned of from its second lower reading, as early as 5-minute readings allow, at the
  cost of several times the false alerts (docs/forecast.md).

Too sparse: the forecast needs the newest 2 readings, the second at most GAP (7.5
minutes, 1.5 reading intervals) after the first, and neither LOW (39) nor HIGH (401).
Otherwise there is no forecast: during a sensor's warm-up, until the second reading after
a gap, and while the newest or the one before it is LOW or HIGH. LOW and HIGH are flags,
not measurements (the true glucose may be far beyond them), so a trend through them would
be made up; the reading itself already says LOW or HIGH. How old the newest reading is,
is for the caller to judge: the forecast starts at `Forecast.time`, not at the moment it
is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
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
AR2_READINGS: Final = 2

ALERT_MARGIN: Final = 15
"""mg/dL above the level up to which the urgent low soon alert, once on, stays on."""
ALERT_LOOKBACK: Final = 24
"""Readings (2 hours) looked back over to tell whether the alert is still on."""
STEADY_READINGS: Final = 3
"""Readings (10 minutes) the steady-fall line goes through: two lower readings in a row."""
STEADY_SLOPE: Final = -0.5
"""mg/dL/min: a fall slower than this is not a steady fall."""


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

    def lowest(self, within: int) -> float:
        """Return the lowest predicted glucose up to `within` minutes ahead (5 or more)."""
        return min(value for ahead, value in self.points if ahead <= within)


def forecast(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast with Nightscout's AR2 from the newest two readings; None if too sparse."""
    if (recent := usable(readings, AR2_READINGS)) is None:
        return None
    return make_forecast(recent[-1].time, ar2_values(recent))


def urgent_low_soon(
    readings: Sequence[GlucoseReading], level: float, within: int, *, steady_falls: bool = False
) -> bool | None:
    """Return whether the urgent low soon alert is on; None when there is no forecast."""
    if forecast(readings) is None:
        return None
    return alert_holds(lowest_forecasts(readings, within, steady_falls=steady_falls), level)


def lowest_forecasts(
    readings: Sequence[GlucoseReading], within: int, *, steady_falls: bool = False
) -> Iterator[float | None]:
    """Yield the lowest forecast within the horizon at each reading, newest first.

    With steady falls, the lower of AR2's and the steady fall's line where there is one.
    """
    recent = readings[-(ALERT_LOOKBACK + STEADY_READINGS) :]
    for end in range(len(recent), 0, -1):
        window = recent[:end]
        if (result := forecast(window)) is None:
            yield None
            continue
        lowest = result.lowest(within)
        if steady_falls and (line := steady_fall_forecast(window, within)) is not None:
            lowest = min(lowest, line)
        yield lowest


def steady_fall_forecast(
    readings: Sequence[GlucoseReading],
    within: int,
    count: int = STEADY_READINGS,
    slope_below: float = STEADY_SLOPE,
) -> float | None:
    """Return the steady fall's straight line `within` minutes ahead; None if not falling so.

    Steady: the newest `count` readings dense, each lower than the one before, and their
    least-squares line falling faster than `slope_below` mg/dL/min. The benchmark varies
    `count` and `slope_below`; the integration uses the defaults.
    """
    if (recent := usable(readings, count)) is None:
        return None
    if any(later.value >= earlier.value for earlier, later in itertools.pairwise(recent)):
        return None
    now, slope, _ = fit_line(recent)
    return now + slope * within if slope < slope_below else None


def fit_line(recent: Sequence[GlucoseReading]) -> tuple[float, float, float]:
    """Return the least-squares line through readings: now, slope (mg/dL/min), RMS residual."""
    newest = recent[-1]
    ages = [-minutes_between(reading, newest) for reading in recent]
    values = [float(reading.value) for reading in recent]
    mean_age = math.fsum(ages) / len(ages)
    mean_value = math.fsum(values) / len(values)
    spread = math.fsum((age - mean_age) ** 2 for age in ages)
    slope = (
        math.fsum(
            (age - mean_age) * (value - mean_value) for age, value in zip(ages, values, strict=True)
        )
        / spread
    )
    now = mean_value - slope * mean_age
    residual = math.sqrt(
        math.fsum((v - now - slope * a) ** 2 for a, v in zip(ages, values, strict=True)) / len(ages)
    )
    return now, slope, residual


def alert_holds(lowest: Iterable[float | None], level: float, margin: float = ALERT_MARGIN) -> bool:
    """Return whether the alert is on, from the lowest forecast at each reading, newest first.

    On when the newest is at or below the level, or when every one since the newest at or
    below the level (up to ALERT_LOOKBACK readings back) stayed at or below the level plus
    the margin; a reading without a forecast ends an alert.
    """
    for value in itertools.islice(lowest, ALERT_LOOKBACK):
        if value is None or value > level + margin:
            return False
        if value <= level:
            return True
    return False


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
