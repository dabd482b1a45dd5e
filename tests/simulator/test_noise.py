"""The sensor noise model the forecast benchmark adds to steady falls."""

from __future__ import annotations

import statistics

from scripts.share_simulator.noise import KNOT_MINUTES, SensorNoise


def test_same_seed_same_noise() -> None:
    """A seed gives the same noise whatever order the minutes are asked in."""
    minutes = [0.0, 5.0, 47.0, 300.0, 12.5]
    forwards = [SensorNoise(3).at(m) for m in minutes]
    noise = SensorNoise(3)
    backwards = [noise.at(m) for m in reversed(minutes)][::-1]
    assert forwards == backwards
    assert forwards != [SensorNoise(4).at(m) for m in minutes]


def test_smooth_through_the_knots() -> None:
    """The noise is continuous at each knot and moves little from one minute to the next."""
    noise = SensorNoise(1)
    for knot in range(1, 40):
        at = knot * KNOT_MINUTES
        assert abs(noise.at(at - 1e-9) - noise.at(at)) < 1e-6
    steps = [abs(noise.at(m + 1) - noise.at(m)) for m in range(600)]
    assert max(steps) < 10


def test_spread_like_a_dexcom_sensor() -> None:
    """Over many days the noise wanders by about 11 mg/dL, centred near 0."""
    values = [SensorNoise(seed).at(m) for seed in range(10) for m in range(0, 14400, 5)]
    assert 8 < statistics.pstdev(values) < 15
    assert abs(statistics.fmean(values)) < 3
