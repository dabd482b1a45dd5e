"""Glucose forecast: hand-computed cases, AR2's published constants, sparse data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.cgm_handler import forecast as module
from custom_components.cgm_handler.forecast import (
    HORIZONS,
    Forecast,
    ar2,
    forecast,
    linear,
)
from custom_components.cgm_handler.share import GlucoseReading, Trend

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
FIVE = timedelta(minutes=5)
METHODS = (forecast, ar2, linear)


def readings(values: Iterable[int]) -> list[GlucoseReading]:
    """Return readings five minutes apart, oldest first, from START."""
    return at_minutes((5 * index, value) for index, value in enumerate(values))


def at_minutes(points: Iterable[tuple[float, int]]) -> list[GlucoseReading]:
    """Return readings at (minutes after START, mg/dL)."""
    return [
        GlucoseReading(
            value=value,
            trend=Trend.FLAT,
            time=START + timedelta(minutes=minutes),
            display_time=START,
        )
        for minutes, value in points
    ]


def test_ar2_published_constants() -> None:
    """AR2 is Nightscout's: BG_REF 140, BG_MIN 36, BG_MAX 400, AR [-0.723, 1.716]."""
    assert module.BG_REF == 140
    assert module.BG_MIN == 36
    assert module.BG_MAX == 400
    assert module.AR2_COEFFICIENTS == (-0.723, 1.716)
    assert HORIZONS == (5, 10, 15, 20, 25, 30)


def test_ar2_by_hand() -> None:
    """100 then 90 mg/dL, computed step by step on y = ln(bg / 140).

    y_prev = ln(100/140) = -0.336472, y_now = ln(90/140) = -0.441833
    y_5  = -0.723 * -0.336472 + 1.716 * -0.441833 = -0.514916 -> 140 e^y = 83.657
    y_10 = -0.723 * -0.441833 + 1.716 * -0.514916 = -0.564156 -> 79.638
    y_15 = -0.723 * -0.514916 + 1.716 * -0.564156 = -0.595836 -> 77.157
    """
    result = ar2(readings([100, 90]))
    assert result is not None
    assert result.time == START + FIVE
    assert [ahead for ahead, _ in result.points] == list(HORIZONS)
    assert result.at(5) == pytest.approx(83.657, abs=0.001)
    assert result.at(10) == pytest.approx(79.638, abs=0.001)
    assert result.at(15) == pytest.approx(77.157, abs=0.001)


def test_ar2_flat_drifts_towards_its_reference() -> None:
    """Flat at 100: each step keeps 0.993 of y, so AR2 drifts up towards 140 mg/dL.

    y = ln(100/140) = -0.336472; y_5 = (1.716 - 0.723) * y = -0.334117 -> 100.236;
    the momentum carries on: 103.18 after 30 minutes.
    """
    result = ar2(readings([100, 100]))
    assert result is not None
    assert result.at(5) == pytest.approx(100.236, abs=0.001)
    assert result.at(30) == pytest.approx(103.176, abs=0.001)
    values = [value for _, value in result.points]
    assert values == sorted(values)


def test_ar2_scales_a_longer_step_to_five_minutes() -> None:
    """100 then 90 seven minutes later: the value 5 minutes before 90 is 90 + 10 * 5/7.

    y_prev = ln(97.142857/140) = -0.365460, y_now = -0.441833
    y_5 = -0.723 * -0.365460 + 1.716 * -0.441833 = -0.493958 -> 85.429
    """
    result = ar2(at_minutes([(0, 100), (7, 90)]))
    assert result is not None
    assert result.at(5) == pytest.approx(85.429, abs=0.001)


def test_ar2_clamps_to_nightscout_bounds() -> None:
    """Points stay within 36-400 mg/dL."""
    rising = ar2(readings([300, 380]))
    falling = ar2(readings([70, 45]))
    assert rising is not None
    assert falling is not None
    assert rising.at(30) == 400
    assert falling.at(30) == 36


def test_linear_by_hand() -> None:
    """100, 100, 90, 90 five minutes apart.

    Ages -15, -10, -5, 0 (mean -7.5), values mean 95: the slope is
    (-7.5*5 - 2.5*5 + 2.5*-5 + 7.5*-5) / (56.25 + 6.25 + 6.25 + 56.25) = -100/125 = -0.8,
    the line is 95 - 0.8 * 7.5 = 89 now, 89 - 0.8 * minutes ahead.
    """
    result = linear(readings([120, 100, 100, 90, 90]))
    assert result is not None
    assert result.at(5) == pytest.approx(85)
    assert result.at(10) == pytest.approx(81)
    assert result.at(30) == pytest.approx(65)


@pytest.mark.parametrize("method", METHODS)
def test_flat_stays_near_flat(method: object) -> None:
    """Flat 100 mg/dL is forecast within 4 mg/dL of 100 and never warns of a low."""
    assert callable(method)
    result = method(readings([100] * 6))
    assert isinstance(result, Forecast)
    assert all(abs(value - 100) <= 4 for _, value in result.points)
    assert result.first_at_or_below(55, 20) is None


def fall(count: int) -> list[GlucoseReading]:
    """Return readings falling from 110 mg/dL at 2 mg/dL per minute."""
    return readings([110 - 10 * i for i in range(count)])


def test_fall_warns_before_55() -> None:
    """From 110 at -2 mg/dL/min, a warning comes while glucose is still above 55."""
    warned = [
        recent[-1].value
        for count in range(1, 7)
        if (result := forecast(recent := fall(count))) is not None
        and result.first_at_or_below(55, 20) is not None
    ]
    assert warned
    assert warned[0] > 55


def test_first_at_or_below() -> None:
    """The first horizon at or below a level, only up to `within` minutes."""
    result = Forecast(START, ((5, 80.0), (10, 70.0), (15, 60.0), (20, 55.0), (25, 50.0)))
    assert result.first_at_or_below(70, 30) == 10
    assert result.first_at_or_below(55, 20) == 20
    assert result.first_at_or_below(55, 15) is None
    assert result.first_at_or_below(40, 30) is None
    with pytest.raises(ValueError, match="no forecast 30 minutes ahead"):
        result.at(30)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "values",
    [[], [100], [100, 100, 39], [100, 100, 401]],
    ids=["none", "one", "low", "high"],
)
def test_too_few_or_out_of_range(method: object, values: list[int]) -> None:
    """No forecast without enough readings or when the newest is LOW or HIGH."""
    assert callable(method)
    assert method(readings(values)) is None


@pytest.mark.parametrize("method", METHODS)
def test_gap(method: object) -> None:
    """Readings more than 7.5 minutes apart, or not in time order, leave no forecast."""
    assert callable(method)
    at_limit = at_minutes([(0, 100), (5, 100), (10, 100), (17.5, 100)])
    after_gap = at_minutes([(0, 100), (5, 100), (10, 100), (15, 100), (23, 100)])
    repeated = at_minutes([(0, 100), (5, 100), (10, 100), (10, 100)])
    assert method(at_limit) is not None
    assert method(after_gap) is None
    assert method(repeated) is None


def test_old_out_of_range_reading_is_not_needed() -> None:
    """A LOW before the readings a method needs does not stop the forecast."""
    values = [39, 60, 65, 70, 75]
    assert ar2(readings(values)) is not None
    assert linear(readings(values)) is not None
    assert linear(readings(values[:4])) is None
