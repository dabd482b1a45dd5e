"""The glucose, trend, change, rate and reading time sensors."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import (
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.cgm_handler.cadence import READING_INTERVAL
from custom_components.cgm_handler.const import (
    ATTR_OUT_OF_RANGE,
    CONF_STALE_MINUTES,
    DOMAIN,
    MGDL,
    MMOLL,
)
from custom_components.cgm_handler.sensor import METRIC_SENSORS, METRICS
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW, Trend
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
    spy_polls,
    trend_state,
)

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

SENSORS = ("glucose", "sensor_range", "trend", "glucose_change", "rate_of_change", "reading_time")
NAMES = {
    "glucose": "Glucose",
    "sensor_range": "Sensor range",
    "trend": "Trend",
    "glucose_change": "Glucose change",
    "rate_of_change": "Rate of change",
    "reading_time": "Reading time",
}
GAP_USER = "gap"
FLAG_USER = "flag"
FLAG_PASSWORD = "flag-password-1"
# Held below or above what the sensor reads, so Share sends LOW or HIGH.
FLAGS = {"low": (25.0, OUT_OF_RANGE_LOW), "high": (450.0, OUT_OF_RANGE_HIGH)}


def to_mmol(mg_dl: float) -> float:
    """Convert with Home Assistant's own converter."""
    return BloodGlucoseConcentrationConverter.convert(mg_dl, MGDL, MMOLL)


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """Return a state that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def snapshot_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    entry: MockConfigEntry,
) -> list[str]:
    """Snapshot the registry entry and the state of each reading sensor; return them."""
    serialised = []
    for key in SENSORS:
        entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_{key}")
        assert entity_id is not None, key
        entity_entry = entity_registry.async_get(entity_id)
        assert entity_entry is not None
        assert entity_entry.config_entry_id == entry.entry_id
        state = state_of(hass, entity_id)
        assert own_view(entity_entry, state) == snapshot(name=entity_id)
        serialised += [repr(entity_entry), repr(state.as_dict())]
    return serialised


async def test_sensors_in_mgdl(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The sensors show the newest reading and its change, in mg/dL."""
    entry = await setup_entry(hass, make_entry(simulator))
    previous, latest = published(simulator)[-2:]
    assert latest.time - previous.time == READING_INTERVAL

    glucose = state_of(hass, "sensor.jane_glucose")
    assert glucose.state == str(latest.value)
    assert glucose.attributes[ATTR_UNIT_OF_MEASUREMENT] == MGDL
    assert glucose.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION
    assert glucose.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    assert glucose.attributes[ATTR_FRIENDLY_NAME] == f"{USERNAME} Glucose"
    assert OUT_OF_RANGE_LOW < latest.value < OUT_OF_RANGE_HIGH
    assert glucose.attributes[ATTR_OUT_OF_RANGE] is None

    sensor_range = state_of(hass, "sensor.jane_sensor_range")
    assert sensor_range.state == "in_range"
    assert sensor_range.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENUM
    assert sensor_range.attributes[ATTR_OPTIONS] == ["low", "in_range", "high"]

    trend = state_of(hass, "sensor.jane_trend")
    assert trend.state == trend_state(latest.trend)
    assert trend.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENUM
    assert trend.attributes[ATTR_OPTIONS] == [member.value for member in Trend]

    change = state_of(hass, "sensor.jane_glucose_change")
    assert int(change.state) == latest.value - previous.value
    assert change.attributes[ATTR_UNIT_OF_MEASUREMENT] == MGDL

    rate = state_of(hass, "sensor.jane_rate_of_change")
    minutes = (latest.time - previous.time).total_seconds() / 60
    assert float(rate.state) == round((latest.value - previous.value) / minutes, 1)
    assert rate.attributes[ATTR_UNIT_OF_MEASUREMENT] == "mg/dL/min"
    assert rate.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    assert ATTR_DEVICE_CLASS not in rate.attributes

    reading_time = state_of(hass, "sensor.jane_reading_time")
    assert dt_util.parse_datetime(reading_time.state) == latest.time.replace(microsecond=0)
    assert reading_time.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.TIMESTAMP

    for key, name in NAMES.items():
        assert state_of(hass, f"sensor.jane_{key}").attributes[ATTR_FRIENDLY_NAME] == (
            f"{USERNAME} {name}"
        )
    glucose_entry = entity_registry.async_get("sensor.jane_glucose")
    assert glucose_entry is not None
    assert glucose_entry.options["sensor"]["suggested_display_precision"] == 0

    serialised = await snapshot_sensors(hass, entity_registry, snapshot, entry)
    assert_no_secrets(secrets_of(simulator, entry), *serialised, snapshot_of=__file__)


async def test_metric_sensors_of_a_new_entry(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Names, units and defaults of the metric sensors; a day of readings fills 24 h only."""
    entry = await setup_entry(hass, make_entry(simulator))
    for description in METRIC_SENSORS:
        unique_id = f"{entry.entry_id}_{description.key}"
        entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id)
        assert entity_id is not None, description.key
        entity_entry = entity_registry.async_get(entity_id)
        assert entity_entry is not None
        view = own_view(entity_entry, hass.states.get(entity_id))
        assert view == snapshot(name=entity_id)


async def test_sensors_in_mmol(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """An mmol/L entry shows glucose in mmol/L with one decimal, the rate per minute."""
    entry = await setup_entry(hass, make_entry(simulator, unit=MMOLL))
    previous, latest = published(simulator)[-2:]

    glucose = state_of(hass, "sensor.jane_glucose")
    assert glucose.attributes[ATTR_UNIT_OF_MEASUREMENT] == MMOLL
    assert float(glucose.state) == pytest.approx(to_mmol(latest.value))
    glucose_entry = entity_registry.async_get("sensor.jane_glucose")
    assert glucose_entry is not None
    assert glucose_entry.options["sensor"]["suggested_display_precision"] == 1

    change = state_of(hass, "sensor.jane_glucose_change")
    assert change.attributes[ATTR_UNIT_OF_MEASUREMENT] == MMOLL
    assert float(change.state) == pytest.approx(to_mmol(latest.value - previous.value))

    rate = state_of(hass, "sensor.jane_rate_of_change")
    assert rate.attributes[ATTR_UNIT_OF_MEASUREMENT] == "mmol/L/min"
    per_minute = (latest.value - previous.value) / ((latest.time - previous.time).seconds / 60)
    assert float(rate.state) == pytest.approx(round(to_mmol(per_minute), 2), abs=0.011)
    rate_entry = entity_registry.async_get("sensor.jane_rate_of_change")
    assert rate_entry is not None
    assert rate_entry.options["sensor"]["suggested_display_precision"] == 2

    serialised = await snapshot_sensors(hass, entity_registry, snapshot, entry)
    assert_no_secrets(secrets_of(simulator, entry), *serialised, snapshot_of=__file__)


@pytest.mark.parametrize("stale_minutes", [None, 10])
async def test_readings_go_stale_exactly_at_the_limit(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    stale_minutes: int | None,
) -> None:
    """When the sensor stops sending, values go unavailable at the stale limit, poll or not."""
    now = dt_util.utcnow()
    simulator.add_account(GAP_USER, "gap-password-1", gaps=[(now, now + timedelta(hours=1))])
    options = {} if stale_minutes is None else {CONF_STALE_MINUTES: stale_minutes}
    polls = spy_polls(monkeypatch)
    await setup_entry(hass, make_entry(simulator, username=GAP_USER, options=options))
    latest = published(simulator, GAP_USER)[-1]
    limit = latest.time + timedelta(minutes=stale_minutes or 15)
    values = ("glucose", "trend", "glucose_change", "rate_of_change")

    await advance(hass, freezer, limit - dt_util.utcnow() - timedelta(milliseconds=1))

    for key in values:
        assert state_of(hass, f"sensor.gap_{key}").state != STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.gap_stale").state == STATE_OFF
    polled = len(polls)

    await advance(hass, freezer, timedelta(milliseconds=1))

    assert len(polls) == polled  # the stale timer did it, not a poll
    for key in values:
        assert state_of(hass, f"sensor.gap_{key}").state == STATE_UNAVAILABLE
    for key in ("urgent_low", "low", "high", "urgent_high"):
        assert state_of(hass, f"binary_sensor.gap_{key}").state == STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.gap_stale").state == STATE_ON
    reading_time = state_of(hass, "sensor.gap_reading_time")
    assert dt_util.parse_datetime(reading_time.state) == latest.time.replace(microsecond=0)


async def test_sensor_back_after_a_gap(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """The first reading after a gap is shown, but there is no change to compare it with."""
    now = dt_util.utcnow()
    simulator.add_account(GAP_USER, "gap-password-1", gaps=[(now, now + timedelta(minutes=30))])
    await setup_entry(hass, make_entry(simulator, username=GAP_USER))
    after: Reading = next(
        r for r in simulator.published_readings(GAP_USER, now + timedelta(hours=1)) if r.time > now
    )

    await advance(hass, freezer, after.published_at + READING_INTERVAL - dt_util.utcnow())

    assert published(simulator, GAP_USER)[-1] == after
    assert state_of(hass, "sensor.gap_glucose").state == str(after.value)
    assert state_of(hass, "sensor.gap_glucose_change").state == STATE_UNKNOWN
    assert state_of(hass, "sensor.gap_rate_of_change").state == STATE_UNKNOWN
    assert state_of(hass, "binary_sensor.gap_stale").state == STATE_OFF


async def test_sensors_without_readings(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """An account without readings in the last day has nothing to show, and is stale."""
    simulator.add_account("new", "new-password-1", history=timedelta(0))
    await setup_entry(hass, make_entry(simulator, username="new"))

    for key in SENSORS:
        assert state_of(hass, f"sensor.new_{key}").state == STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.new_stale").state == STATE_ON
    assert state_of(hass, "binary_sensor.new_low").state == STATE_UNAVAILABLE


async def test_sensors_with_one_reading(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """A single reading has a value and a trend, but no change yet."""
    simulator.add_account("new", "new-password-1", history=timedelta(minutes=7))
    await setup_entry(hass, make_entry(simulator, username="new"))
    [reading] = published(simulator, "new")

    assert state_of(hass, "sensor.new_glucose").state == str(reading.value)
    assert state_of(hass, "sensor.new_trend").state == trend_state(reading.trend)
    assert state_of(hass, "sensor.new_glucose_change").state == STATE_UNKNOWN
    assert state_of(hass, "sensor.new_rate_of_change").state == STATE_UNKNOWN
    assert state_of(hass, "binary_sensor.new_stale").state == STATE_OFF


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
@pytest.mark.parametrize("flag", ["low", "high"])
async def test_low_and_high(
    hass: HomeAssistant, simulator: ShareSimulator, unit: str, flag: str
) -> None:
    """LOW and HIGH stay Dexcom's numbers, flagged by the attribute and the range sensor."""
    now = dt_util.utcnow()
    level, value = FLAGS[flag]
    simulator.add_account(
        FLAG_USER, FLAG_PASSWORD, excursions=[(now - timedelta(hours=1), now, level)]
    )
    await setup_entry(hass, make_entry(simulator, username=FLAG_USER, unit=unit))
    previous, latest = published(simulator, FLAG_USER)[-2:]
    assert previous.value == latest.value == value

    glucose = state_of(hass, "sensor.flag_glucose")
    shown = latest.value if unit == MGDL else to_mmol(latest.value)
    assert float(glucose.state) == pytest.approx(shown)
    assert glucose.attributes[ATTR_UNIT_OF_MEASUREMENT] == unit
    assert glucose.attributes[ATTR_OUT_OF_RANGE] == flag
    assert state_of(hass, "sensor.flag_sensor_range").state == flag
    # Two flags have no difference that means anything.
    assert state_of(hass, "sensor.flag_glucose_change").state == STATE_UNKNOWN
    assert state_of(hass, "sensor.flag_rate_of_change").state == STATE_UNKNOWN
    urgent = "urgent_low" if flag == "low" else "urgent_high"
    assert state_of(hass, f"binary_sensor.flag_{urgent}").state == STATE_ON


async def test_change_next_to_low(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """The first value after LOW has no change; the one after it has."""
    now = dt_util.utcnow()
    level, value = FLAGS["low"]
    simulator.add_account(
        FLAG_USER, FLAG_PASSWORD, excursions=[(now - timedelta(hours=1), now, level)]
    )
    await setup_entry(hass, make_entry(simulator, username=FLAG_USER))
    later = [
        reading
        for reading in simulator.published_readings(FLAG_USER, now + timedelta(hours=3))
        if reading.time > now
    ]
    index = next(i for i, reading in enumerate(later) if reading.value != value)
    first, second = later[index], later[index + 1]
    assert later[index - 1].value == value

    for reading, change in ((first, STATE_UNKNOWN), (second, str(second.value - first.value))):
        await advance(hass, freezer, reading.published_at - dt_util.utcnow())
        for _ in range(30):
            shown = state_of(hass, "sensor.flag_reading_time").state
            if dt_util.parse_datetime(shown) == reading.time.replace(microsecond=0):
                break
            await advance(hass, freezer, timedelta(seconds=10))
        assert state_of(hass, "sensor.flag_glucose").state == str(reading.value)
        assert state_of(hass, "sensor.flag_glucose").attributes[ATTR_OUT_OF_RANGE] is None
        assert state_of(hass, "sensor.flag_sensor_range").state == "in_range"
        assert state_of(hass, "sensor.flag_glucose_change").state == change


def test_metrics_are_enabled_only_beside_their_wear() -> None:
    """A metric enabled by default in a period has the period's wear beside it.

    The wear tells why the metric is unavailable.
    """
    for metric in METRICS:
        assert all(period.shown_by_default for period in metric.enabled_by_default), metric.key
