"""Glucose forecast: hand-computed cases, AR2's published constants, sparse data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.cgm_handler import forecast as module
from custom_components.cgm_handler.forecast import HORIZONS, Forecast, ar2, forecast
from custom_components.cgm_handler.share import GlucoseReading, Trend
from scripts.bench_forecast import linear, trend

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
FIVE = timedelta(minutes=5)
METHODS = (forecast, ar2, linear, trend)


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


def test_trend_by_hand() -> None:
    """The fitted trend: the newest reading plus each horizon's weights of the changes.

    Six flat readings then 90: only the newest change (-10) counts, with the newest weight
    of each horizon: 90 - 10 * 0.849 = 81.51 in 5 minutes, 90 - 10 * 2.363 = 66.37 in 30.
    One change of -10 at the oldest end: 100 - 10 * 0.023 = 99.77 in 5 minutes.
    """
    newest_change = trend(readings([100] * 6 + [90]))
    oldest_change = trend(readings([110] + [100] * 6))
    flat = trend(readings([100] * 7))
    assert newest_change is not None
    assert oldest_change is not None
    assert flat is not None
    assert newest_change.at(5) == pytest.approx(81.51)
    assert newest_change.at(30) == pytest.approx(66.37)
    assert oldest_change.at(5) == pytest.approx(99.77)
    assert all(value == 100 for _, value in flat.points)


def test_forecast_is_the_mean_of_ar2_and_the_trend() -> None:
    """With 7 dense readings, the forecast is the mean of AR2 and the fitted trend.

    Six at 100 then 90: AR2 from (100, 90) gives 83.657 in 5 minutes (see above), the trend
    81.51; the mean is 82.584. Flat at 100: (100.236 + 100) / 2 = 100.118 in 5 minutes and
    (103.176 + 100) / 2 = 101.588 in 30.
    """
    falling = forecast(readings([100] * 6 + [90]))
    flat = forecast(readings([100] * 7))
    assert falling is not None
    assert flat is not None
    assert falling.at(5) == pytest.approx(82.584, abs=0.001)
    assert flat.at(5) == pytest.approx(100.118, abs=0.001)
    assert flat.at(30) == pytest.approx(101.588, abs=0.001)


def test_forecast_is_ar2_until_seven_readings() -> None:
    """After a start or a gap, or with a LOW in the last 30 minutes, the forecast is AR2's."""
    started = readings([100, 98, 95, 91, 86, 80])
    with_low = readings([39, 100, 98, 95, 91, 86, 80])
    assert forecast(started) == ar2(started)
    assert forecast(with_low) == ar2(with_low)
    assert trend(with_low) is None
    assert forecast(readings([100, 98, 95, 91, 86, 80, 73])) != ar2(
        readings([100, 98, 95, 91, 86, 80, 73])
    )


@pytest.mark.parametrize("method", METHODS)
def test_flat_stays_near_flat(method: object) -> None:
    """Flat 100 mg/dL is forecast within 4 mg/dL of 100 and never warns of a low."""
    assert callable(method)
    result = method(readings([100] * 7))
    assert isinstance(result, Forecast)
    assert all(abs(value - 100) <= 4 for _, value in result.points)
    assert result.first_at_or_below(55, 20) is None


@pytest.mark.parametrize("steady", [0, 6], ids=["from_start", "after_steady_half_hour"])
def test_fall_warns_before_55(steady: int) -> None:
    """From 110 at -2 mg/dL/min, a warning comes while glucose is still above 55.

    Glucose reaches 55 mg/dL 27.5 minutes into the fall; readings come every 5 minutes.
    """
    history = readings([110] * steady)
    falling = at_minutes((5 * (steady + i), 110 - 10 * i) for i in range(6))
    warned = [
        reading.value
        for count, reading in enumerate(falling, start=1)
        if (result := forecast([*history, *falling[:count]])) is not None
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
    dense = [(5 * i, 100) for i in range(6)]
    at_limit = at_minutes([*dense, (32.5, 100)])
    after_gap = at_minutes([*dense, (30, 100), (38, 100)])
    repeated = at_minutes([*dense, (25, 100)])
    assert method(at_limit) is not None
    assert method(after_gap) is None
    assert method(repeated) is None


def test_old_out_of_range_reading_is_not_needed() -> None:
    """A LOW before the readings a method needs does not stop the forecast."""
    values = [39, 60, 65, 70, 75]
    assert ar2(readings(values)) is not None
    assert linear(readings(values)) is not None
    assert linear(readings(values[:4])) is None
