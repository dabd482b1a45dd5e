"""Noise for tests and benchmarks: simglucose's Dexcom sensor noise, and the simulator's own.

SensorNoise is the sensor noise as simglucose models a Dexcom sensor (Breton and Kovatchev, 2008).

Every 15 minutes a standard normal AR(1) value e_k = 0.7 * (e_(k-1) + n_k) is turned into
mg/dL by a Johnson SU transform, xi + lambda * sinh((e - gamma) / delta), with
simglucose's Dexcom parameters; between those knots the noise follows a smooth cubic
(Catmull-Rom; simglucose uses a cubic spline). The noise is smooth and slow: it wanders by
about 11 mg/dL (standard deviation), so over 15 minutes it can look like a real trend.
The values come from the seed alone (random.Random), so a test sees the same noise each run.
"""

from __future__ import annotations

from datetime import datetime
import math
import random
from zoneinfo import ZoneInfo

from .glucose import GlucoseModel

KNOT_MINUTES = 15.0
PACF = 0.7
# simglucose 0.2.11, params/sensor_params.csv, the Dexcom row.
XI, LAMBDA, GAMMA, DELTA = -5.47, 15.9574, -0.5444, 1.6898


class SensorNoise:
    """The noise (mg/dL) added to glucose at each minute after the start, from a seed."""

    def __init__(self, seed: int) -> None:
        """Start the noise of one sensor."""
        self._random = random.Random(seed)
        self._state = self._random.gauss()
        self._knots = [self._johnson(self._state)]

    def at(self, minutes: float) -> float:
        """Return the noise at some minutes (0 or more) after the start."""
        index, fraction = divmod(minutes / KNOT_MINUTES, 1.0)
        k = int(index)
        while len(self._knots) < k + 3:
            self._state = PACF * (self._state + self._random.gauss())
            self._knots.append(self._johnson(self._state))
        before, start, end, after = (self._knots[max(k - 1, 0)], *self._knots[k : k + 3])
        t = fraction
        return 0.5 * (
            2 * start
            + (end - before) * t
            + (2 * before - 5 * start + 4 * end - after) * t * t
            + (3 * start - before - 3 * end + after) * t**3
        )

    @staticmethod
    def _johnson(value: float) -> float:
        return XI + LAMBDA * math.sinh((value - GAMMA) / DELTA)


class SmoothNoise:
    """The Share simulator's smooth noise of one person (its waves), in mg/dL."""

    def __init__(self, person: int, start: datetime) -> None:
        """Take the waves of a simulated person, counted from a start."""
        self._model = GlucoseModel(f"person-{person}", ZoneInfo("UTC"))
        self._start_ms = start.timestamp() * 1000

    def at(self, minutes: float) -> float:
        """Return the noise at some minutes after the start."""
        return self._model.wander(round(self._start_ms + 60_000 * minutes))
