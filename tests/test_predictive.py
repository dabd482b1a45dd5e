"""The predicted glucose sensor and the urgent low soon, falling fast and rising fast sensors.

Accounts of the simulator follow a chosen glucose curve from the frozen start on, so the
tests know what glucose does; time then moves on reading by reading, through the polls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.const import (
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.cgm_handler.const import (
    CONF_FAST_RATE,
    CONF_STEADY_FALLS,
    CONF_URGENT_LOW_SOON_LEVEL,
    CONF_URGENT_LOW_SOON_MINUTES,
    DOMAIN,
    MGDL,
    MMOLL,
)
from scripts.share_simulator import Reading, ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import (
    FROZEN_AT,
    advance,
    assert_no_secrets,
    make_entry,
    own_view,
    published,
    secrets_of,
    setup_entry,
)

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

HORIZONS = (5, 10, 15, 20, 25, 30)

OUTLOOK = ("urgent_low_soon", "falling_fast", "rising_fast")
PREDICTED = "predicted_glucose_in_20_minutes"
# Held below or above what the sensor reads, so Share sends LOW or HIGH.
FLAG_LEVELS = {"low": 25.0, "high": 450.0}


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """Return a state that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def outlook(hass: HomeAssistant, user: str) -> dict[str, str]:
    """Return the states of the predicted glucose sensor and the three binary sensors."""
    states = {key: state_of(hass, f"binary_sensor.{user}_{key}").state for key in OUTLOOK}
    states[PREDICTED] = state_of(hass, f"sensor.{user}_{PREDICTED}").state
    return states


def shaped_account(
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    user: str,
    level: Callable[[float], float],
    **kwargs: Any,
) -> None:
    """Add an account whose glucose is level(minutes after the frozen start)."""
    account = simulator.add_account(user, f"{user}-password-1", **kwargs)
    start = dt_util.utcnow()

    def at(ms: int) -> float:
        return level((ms / 1000 - start.timestamp()) / 60)

    monkeypatch.setattr(account.trace.model, "level", at)


def upcoming(simulator: ShareSimulator, user: str, hours: float) -> list[Reading]:
    """Return the readings after now, up to some hours ahead."""
    now = dt_util.utcnow()
    return [
        reading
        for reading in simulator.published_readings(user, now + timedelta(hours=hours))
        if reading.time > now
    ]


async def reach(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, user: str, reading: Reading
) -> None:
    """Let time pass until a reading is on Share, and poll then if no planned poll did.

    These tests are about the entities, so each reading is shown before the next; when a
    planned poll finds each reading is the scheduler's business (tests/test_scheduler.py).
    """
    await advance(hass, freezer, max(reading.published_at - dt_util.utcnow(), timedelta(0)))
    if shown_time(hass, user) != reading.time.replace(microsecond=0):
        (entry,) = (e for e in hass.config_entries.async_entries(DOMAIN) if e.title == user)
        await entry.runtime_data.async_refresh()
        await hass.async_block_till_done()
    assert shown_time(hass, user) == reading.time.replace(microsecond=0)


def shown_time(hass: HomeAssistant, user: str) -> datetime | None:
    """Return the time of the reading the integration shows."""
    return dt_util.parse_datetime(state_of(hass, f"sensor.{user}_reading_time").state)


async def set_options(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> None:
    """Change options without a reload, and update the entities."""
    hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
    entry.runtime_data.async_update_listeners()
    await hass.async_block_till_done()


def falling(minutes: float, start: float = 110.0, rate: float = 2.0) -> float:
    """Flat at `start` mg/dL, then falling by `rate` mg/dL a minute."""
    return start if minutes <= 0 else start - rate * minutes


async def first_warning(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fall: tuple[float, float],
    **options: Any,
) -> tuple[Reading, datetime]:
    """Follow a steady fall (from mg/dL, by mg/dL a minute) down to 55 mg/dL.

    Return the first reading with urgent low soon on, and when the fall reaches 55; fail
    when the alert never comes on above 55 or goes off again.
    """
    start, rate = fall
    shaped_account(simulator, monkeypatch, "fall", lambda m: falling(m, start, rate))
    await setup_entry(hass, make_entry(simulator, username="fall", options=options))
    assert outlook(hass, "fall")["urgent_low_soon"] == STATE_OFF
    reaches_55 = dt_util.utcnow() + timedelta(minutes=(start - 55) / rate)

    first = None
    for reading in upcoming(simulator, "fall", 3):
        if reading.value <= 55:
            break
        await reach(hass, freezer, "fall", reading)
        on = state_of(hass, "binary_sensor.fall_urgent_low_soon").state == STATE_ON
        if on and first is None:
            first = reading
        assert on or first is None, f"urgent low soon went off at {reading.value} mg/dL"
    assert first is not None, "no warning before 55 mg/dL"
    return first, reaches_55


@pytest.mark.parametrize("fall", [(110, 1), (110, 2), (110, 3), (140, 2), (180, 3)], ids=str)
async def test_urgent_low_soon_before_a_fall_reaches_55(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fall: tuple[float, float],
) -> None:
    """By default a steady fall warns before it reaches 55, and stays on.

    Before 55, not 15 minutes before: the rule that warns that early gives too many false
    alerts to be the default (docs/forecast.md, steady falls).
    """
    first, reaches_55 = await first_warning(hass, freezer, simulator, monkeypatch, fall)
    assert first.time < reaches_55


@pytest.mark.parametrize(
    "fall", [(110, 1), (110, 2), (110, 3), (140, 2), (140, 3), (180, 1), (180, 3)], ids=str
)
async def test_steady_falls_option_warns_15_minutes_before_55(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fall: tuple[float, float],
) -> None:
    """With steady falls on, urgent low soon is on 15 minutes before 55, and stays on.

    Or from the fall's second lower reading where that is later (3 mg/dL/min from 110
    reaches 55 after 18.3 minutes): no rule on 5-minute readings can be earlier.
    """
    first, reaches_55 = await first_warning(
        hass, freezer, simulator, monkeypatch, fall, **{CONF_STEADY_FALLS: True}
    )
    start, rate = fall
    ahead = min(timedelta(minutes=15), timedelta(minutes=(start - 55) / rate - 10))
    assert reaches_55 - first.time >= ahead


async def test_urgent_low_soon_options(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A higher level warns sooner, a shorter horizon later; a low level not at all."""
    shaped_account(simulator, monkeypatch, "fall", falling)
    entry = await setup_entry(hass, make_entry(simulator, username="fall"))
    choices: dict[str, dict[str, int]] = {
        "default": {CONF_URGENT_LOW_SOON_LEVEL: 55, CONF_URGENT_LOW_SOON_MINUTES: 20},
        "higher": {CONF_URGENT_LOW_SOON_LEVEL: 70, CONF_URGENT_LOW_SOON_MINUTES: 20},
        "shorter": {CONF_URGENT_LOW_SOON_LEVEL: 55, CONF_URGENT_LOW_SOON_MINUTES: 10},
        "lowest": {CONF_URGENT_LOW_SOON_LEVEL: 40, CONF_URGENT_LOW_SOON_MINUTES: 5},
    }
    first_on: dict[str, int] = {}

    readings = [r for r in upcoming(simulator, "fall", 1) if r.value > 55]
    for index, reading in enumerate(readings):
        await reach(hass, freezer, "fall", reading)
        for name, options in choices.items():
            await set_options(hass, entry, **options)
            state = state_of(hass, "binary_sensor.fall_urgent_low_soon").state
            if state == STATE_ON:
                first_on.setdefault(name, index)

    assert set(first_on) == {"default", "higher", "shorter"}
    assert first_on["higher"] <= first_on["default"] < first_on["shorter"]


async def test_flat_100_never_warns(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Flat glucose at 100 mg/dL never warns, and is predicted near 100."""
    shaped_account(simulator, monkeypatch, "flat", lambda _: 100.0)
    await setup_entry(hass, make_entry(simulator, username="flat"))

    for reading in [published(simulator, "flat")[-1], *upcoming(simulator, "flat", 2)]:
        await reach(hass, freezer, "flat", reading)
        states = outlook(hass, "flat")
        assert {key: states[key] for key in OUTLOOK} == dict.fromkeys(OUTLOOK, STATE_OFF)
        assert 95 <= float(states[PREDICTED]) <= 105


@pytest.mark.parametrize("sign", [1, -1])
async def test_rising_and_falling_fast_at_the_rate(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    sign: int,
) -> None:
    """At exactly 2 mg/dL a minute, rising or falling fast is on; above the rate, off."""
    user = "rise" if sign > 0 else "fall"
    shaped_account(simulator, monkeypatch, user, lambda m: 110.0 + sign * 2 * max(m, 0))
    entry = await setup_entry(hass, make_entry(simulator, username=user))
    on, off = ("rising_fast", "falling_fast") if sign > 0 else ("falling_fast", "rising_fast")
    assert outlook(hass, user)[on] == STATE_OFF  # flat so far

    # The first reading of the ramp changed for less than 5 minutes; the second for 5.
    first, second = upcoming(simulator, user, 1)[:2]
    await reach(hass, freezer, user, first)
    assert 0 < sign * (first.value - 110) < 10
    await reach(hass, freezer, user, second)
    assert second.value - first.value == sign * 10
    assert float(state_of(hass, f"sensor.{user}_rate_of_change").state) == sign * 2.0

    assert outlook(hass, user)[on] == STATE_ON
    assert outlook(hass, user)[off] == STATE_OFF
    await set_options(hass, entry, **{CONF_FAST_RATE: 2.1})
    assert outlook(hass, user)[on] == STATE_OFF
    await set_options(hass, entry, **{CONF_FAST_RATE: 1.9})
    assert outlook(hass, user)[on] == STATE_ON
    assert outlook(hass, user)[off] == STATE_OFF


async def test_unavailable_when_stale_and_after_a_gap(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """Stale data, and the first reading after a gap, give no forecast and no rate."""
    now = dt_util.utcnow()
    simulator.add_account("gap", "gap-password-1", gaps=[(now, now + timedelta(minutes=30))])
    await setup_entry(hass, make_entry(simulator, username="gap"))
    assert STATE_UNAVAILABLE not in outlook(hass, "gap").values()
    latest = published(simulator, "gap")[-1]

    await advance(hass, freezer, latest.time + timedelta(minutes=15) - dt_util.utcnow())

    assert set(outlook(hass, "gap").values()) == {STATE_UNAVAILABLE}
    assert state_of(hass, "binary_sensor.gap_stale").state == STATE_ON

    after = upcoming(simulator, "gap", 1)
    await reach(hass, freezer, "gap", after[0])

    assert state_of(hass, "sensor.gap_glucose").state == str(after[0].value)
    assert set(outlook(hass, "gap").values()) == {STATE_UNAVAILABLE}

    await reach(hass, freezer, "gap", after[1])
    assert state_of(hass, "binary_sensor.gap_falling_fast").state != STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.gap_rising_fast").state != STATE_UNAVAILABLE


async def test_unavailable_during_warm_up(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """With one reading there is no forecast and no rate; they come with the next ones."""
    simulator.add_account("new", "new-password-1", history=timedelta(minutes=7))
    await setup_entry(hass, make_entry(simulator, username="new"))
    assert len(published(simulator, "new")) == 1

    assert set(outlook(hass, "new").values()) == {STATE_UNAVAILABLE}
    assert state_of(hass, "sensor.new_glucose").state != STATE_UNAVAILABLE

    # A reading may reach Share late (the simulator's late uploads), leaving a hole for a
    # while: the rate needs two readings 5 minutes apart, the forecast a few more.
    readings = upcoming(simulator, "new", 1)
    rate_at = forecast_at = None
    for index, reading in enumerate(readings):
        await reach(hass, freezer, "new", reading)
        states = outlook(hass, "new")
        if rate_at is None and states["falling_fast"] != STATE_UNAVAILABLE:
            rate_at = index
        if STATE_UNAVAILABLE not in states.values():
            forecast_at = index
            break
    assert rate_at is not None
    assert rate_at <= 2
    assert forecast_at is not None


@pytest.mark.parametrize("flag", ["low", "high"])
async def test_low_and_high_feed_nothing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    flag: str,
) -> None:
    """LOW and HIGH are no values to forecast from or to take a rate of.

    While the newest reading is LOW or HIGH, and at the first reading after it, the
    forecast and the rate are unavailable; the sensors come back with the readings after.
    """
    now = dt_util.utcnow()
    level = FLAG_LEVELS[flag]
    simulator.add_account(
        "flag", "flag-password-1", excursions=[(now - timedelta(hours=1), now, level)]
    )
    await setup_entry(hass, make_entry(simulator, username="flag"))
    assert published(simulator, "flag")[-1].value in (39, 401)
    urgent = "urgent_low" if flag == "low" else "urgent_high"
    assert state_of(hass, f"binary_sensor.flag_{urgent}").state == STATE_ON
    assert set(outlook(hass, "flag").values()) == {STATE_UNAVAILABLE}

    later = upcoming(simulator, "flag", 3)
    index = next(i for i, reading in enumerate(later) if reading.value not in (39, 401))
    await reach(hass, freezer, "flag", later[index])
    assert set(outlook(hass, "flag").values()) == {STATE_UNAVAILABLE}

    for reading in later[index + 1 :]:
        await reach(hass, freezer, "flag", reading)
        if STATE_UNAVAILABLE not in outlook(hass, "flag").values():
            break
    assert STATE_UNAVAILABLE not in outlook(hass, "flag").values()


def to_mmol(mg_dl: float) -> float:
    """Convert with Home Assistant's own converter."""
    return BloodGlucoseConcentrationConverter.convert(mg_dl, MGDL, MMOLL)


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
async def test_predicted_glucose(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    unit: str,
) -> None:
    """The prediction in 20 minutes is shown in the entry's unit, with every point."""
    entry = await setup_entry(hass, make_entry(simulator, unit=unit))
    latest = published(simulator)[-1]
    forecast = entry.runtime_data.data.forecast
    assert forecast is not None
    assert forecast.time == latest.time

    predicted = state_of(hass, f"sensor.jane_{PREDICTED}")
    assert predicted.attributes[ATTR_FRIENDLY_NAME] == f"{USERNAME} Predicted glucose in 20 minutes"
    assert predicted.attributes[ATTR_UNIT_OF_MEASUREMENT] == unit
    assert predicted.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    in_20 = round(forecast.at(20))
    shown = in_20 if unit == MGDL else to_mmol(in_20)
    assert float(predicted.state) == pytest.approx(shown)
    # Near the newest reading: the simulator's glucose moves less than 3 mg/dL a minute.
    assert abs(in_20 - latest.value) < 60

    points: list[dict[str, Any]] = predicted.attributes["forecast"]
    times: list[datetime] = [point["time"] for point in points]
    assert times == [latest.time + timedelta(minutes=m) for m in HORIZONS]
    # Each point in the entry's unit, rounded as the unit shows glucose.
    expected = [forecast.at(m) if unit == MGDL else to_mmol(forecast.at(m)) for m in HORIZONS]
    tolerance = (0.5 if unit == MGDL else 0.05) + 1e-9
    for point, value in zip(points, expected, strict=True):
        assert point["glucose"] == pytest.approx(value, abs=tolerance)

    entity_entry = entity_registry.async_get(f"sensor.jane_{PREDICTED}")
    assert entity_entry is not None
    view = own_view(entity_entry, predicted)
    # The points' values depend on the release's mmol/L factor; they are checked above.
    view["attributes"]["forecast"] = times
    assert view == snapshot
    serialised = [repr(entity_entry), repr(predicted.as_dict())]
    assert_no_secrets(secrets_of(simulator, entry), *serialised, snapshot_of=__file__)


async def test_forecast_points_are_not_recorded(
    hass: HomeAssistant, simulator: ShareSimulator
) -> None:
    """The recorder keeps the predicted value but not the points, which change every reading."""
    start = dt_util.utcnow() - timedelta(seconds=1)
    await setup_entry(hass, make_entry(simulator))
    entity_id = f"sensor.jane_{PREDICTED}"
    live = state_of(hass, entity_id)
    assert "forecast" in live.attributes
    await async_wait_recording_done(hass)

    history = await get_instance(hass).async_add_executor_job(
        get_significant_states, hass, start, None, [entity_id]
    )

    [recorded] = history[entity_id]
    assert isinstance(recorded, State)
    assert recorded.state == live.state
    assert "forecast" not in recorded.attributes
    assert recorded.attributes[ATTR_UNIT_OF_MEASUREMENT] == MGDL
