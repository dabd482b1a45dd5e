"""Glycemic metrics: the consensus definitions, and the 24-hour and 14-day sensors."""

from __future__ import annotations

from datetime import datetime, timedelta
import random
import statistics
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import CONF_UNIT, MMOLL
from custom_components.cgm_handler.history import to_ms
from custom_components.cgm_handler.metrics import GlycemicMetrics, compute, gmi
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW
from scripts.share_simulator import FaultKind, Reading, ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import make_entry, published, setup_entry
from tests.test_statistics import FROZEN_AT, Run

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

DAY = timedelta(hours=24)
FORTNIGHT = timedelta(days=14)
# sensor key -> entity id suffix, for the sensors enabled by default
SENSORS_24H = {
    "mean_glucose": "mean_glucose_24_h",
    "cv": "coefficient_of_variation_24_h",
    "time_in_range": "time_in_range_24_h",
    "time_below_70": "time_below_70_mg_dl_24_h",
    "time_above_180": "time_above_180_mg_dl_24_h",
}
SENSORS_14D = {
    "mean_glucose": "mean_glucose_14_days",
    "gmi": "glucose_management_indicator_14_days",
    "cv": "coefficient_of_variation_14_days",
    "time_in_range": "time_in_range_14_days",
    "time_below_70": "time_below_70_mg_dl_14_days",
    "time_below_54": "time_below_54_mg_dl_14_days",
    "time_above_180": "time_above_180_mg_dl_14_days",
    "time_above_250": "time_above_250_mg_dl_14_days",
}


def reference(values: list[int]) -> dict[str, float]:
    """Compute the consensus metrics with the statistics module and plain counting."""
    mean = statistics.fmean(values)
    count = len(values)
    return {
        "mean_glucose": mean,
        "gmi": 3.31 + 0.02392 * mean,
        "cv": statistics.pstdev(values) / mean * 100,
        "time_in_range": len([v for v in values if 70 <= v <= 180]) / count * 100,
        "time_below_70": len([v for v in values if v < 70]) / count * 100,
        "time_below_54": len([v for v in values if v < 54]) / count * 100,
        "time_above_180": len([v for v in values if v > 180]) / count * 100,
        "time_above_250": len([v for v in values if v > 250]) / count * 100,
    }


def as_dict(metrics: GlycemicMetrics) -> dict[str, float]:
    """Return computed metrics under the names of `reference`."""
    return {
        "mean_glucose": metrics.mean,
        "gmi": metrics.gmi,
        "cv": metrics.cv,
        **metrics.in_ranges,
    }


@pytest.mark.parametrize("count", [1, 2, 12, 288, 4032])
def test_metrics_match_an_independent_computation(count: int) -> None:
    """Mean, GMI, CV (population SD) and the ranges, against the statistics module."""
    rng = random.Random(count)  # noqa: S311
    values = [rng.randint(OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH) for _ in range(count)]
    metrics = compute(iter(values))
    assert metrics is not None
    assert metrics.readings == count
    assert (metrics.minimum, metrics.maximum) == (min(values), max(values))
    assert as_dict(metrics) == pytest.approx(reference(values), rel=1e-12, abs=1e-12)


def test_range_limits() -> None:
    """70 and 180 are in range; below 70 includes below 54; above 180 includes above 250."""
    values = [53, 54, 69, 70, 180, 181, 250, 251]
    metrics = compute(values)
    assert metrics is not None
    assert metrics.in_ranges["time_in_range"] == 25.0
    assert metrics.in_ranges["time_below_70"] == 37.5
    assert metrics.in_ranges["time_below_54"] == 12.5
    assert metrics.in_ranges["time_above_180"] == 37.5
    assert metrics.in_ranges["time_above_250"] == 12.5
    assert compute([]) is None
    # Dexcom's LOW and HIGH count as 39 and 401: below 54 and above 250, bounds of the mean.
    flags = compute([OUT_OF_RANGE_LOW, 100, OUT_OF_RANGE_HIGH, 100])
    assert flags is not None
    shares = flags.in_ranges
    assert (shares["time_below_54"], shares["time_in_range"], shares["time_above_250"]) == (
        25,
        50,
        25,
    )
    assert flags.mean == (OUT_OF_RANGE_LOW + 200 + OUT_OF_RANGE_HIGH) / 4
    assert (flags.minimum, flags.maximum) == (OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH)
    in_ranges = {
        "time_in_range": 100,
        "time_below_70": 0,
        "time_below_54": 0,
        "time_above_180": 0,
        "time_above_250": 0,
    }
    assert compute([120]) == GlycemicMetrics(1, 120, 120, 120, gmi(120), 0, in_ranges)
    assert gmi(154) == pytest.approx(6.99368)


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    """Record no entity states: it is faster, and the states are read from the machine."""
    return {"exclude": {"domains": ["sensor", "binary_sensor"]}}


@pytest.fixture
def run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    mock_config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """Return a run of the simulator's account, not set up yet."""
    return Run(hass, freezer, simulator, mock_config_entry, monkeypatch)


def check_sensors(
    hass: HomeAssistant, readings: list[Reading], at: datetime, name: str = USERNAME
) -> tuple[int, int]:
    """Check every enabled metric sensor against the readings; return both reading counts."""
    counts = []
    for period, sensors in ((DAY, SENSORS_24H), (FORTNIGHT, SENSORS_14D)):
        values = [reading.value for reading in readings if reading.time > at - period]
        want = reference(values)
        for key, suffix in sensors.items():
            state = hass.states.get(f"sensor.{name}_{suffix}")
            assert state is not None, suffix
            assert float(state.state) == pytest.approx(want[key], abs=0.005), suffix
            assert state.attributes["readings"] == len(values)
        counts.append(len(values))
    return counts[0], counts[1]


async def test_sensors_over_days_restarts_and_outages(
    hass: HomeAssistant, run: Run, hass_storage: dict[str, Any]
) -> None:
    """The figures equal the readings received, across restarts and a 30-hour outage."""
    await run.setup()
    check_sensors(hass, run.obtainable(), run.polls[-1])
    await run.wait(timedelta(hours=20), timedelta(hours=1))
    await run.stop()
    run.freezer.tick(timedelta(minutes=30))
    await run.setup()
    await run.wait(timedelta(hours=30), timedelta(hours=2))
    await run.reload()
    day, fortnight = check_sensors(hass, run.obtainable(), run.polls[-1])
    assert day in range(280, 290)
    assert fortnight > 2 * day  # the days before the last one came from the store

    # Thirty hours without Share: after a day of it, the 24-hour figures have no readings.
    begin, end = run.outage(timedelta(minutes=3), timedelta(hours=30))
    await run.wait(timedelta(hours=25), timedelta(hours=1))
    assert hass.states.get("sensor.jane_mean_glucose_24_h").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.jane_time_in_range_24_h").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.jane_mean_glucose_14_days").state != STATE_UNAVAILABLE
    await run.wait(timedelta(hours=8), timedelta(hours=1))
    await run.stop()
    await run.setup()
    obtainable = run.obtainable()
    lost = {r.time for r in run.simulator.published_readings(USERNAME)} - {
        r.time for r in obtainable
    }
    assert len(lost) > 60
    # Lost: what came in the outage, or just before it but was published after the last poll.
    assert all(begin - timedelta(minutes=15) < time < end for time in lost)
    check_sensors(hass, obtainable, run.polls[-1])

    # The store holds exactly the readings received in the last 14 days, oldest first.
    await run.stop()
    stored = hass_storage[f"cgm_handler.{run.entry.entry_id}"]["data"]["readings"]
    assert stored == [[to_ms(r.time), r.value] for r in obtainable]


async def test_low_and_high_count_as_39_and_401(
    hass: HomeAssistant, simulator: ShareSimulator
) -> None:
    """The figures count Dexcom's LOW as 39 mg/dL and HIGH as 401, as Share reports them."""
    now = dt_util.utcnow()
    low = (now - timedelta(hours=21), now - timedelta(hours=18), 25.0)
    high = (now - timedelta(hours=7), now - timedelta(hours=4), 450.0)
    simulator.add_account("flag", "flag-password-1", excursions=[low, high])
    await setup_entry(hass, make_entry(simulator, username="flag"))

    readings = published(simulator, "flag")
    values = [reading.value for reading in readings]
    assert OUT_OF_RANGE_LOW in values
    assert OUT_OF_RANGE_HIGH in values
    check_sensors(hass, readings, now, "flag")


async def test_fourteen_days_are_pruned(
    hass: HomeAssistant, run: Run, hass_storage: dict[str, Any]
) -> None:
    """Sixteen days on, the 14-day figures and the store only cover the last 14 days."""
    await run.setup()
    await run.wait(timedelta(days=16), timedelta(hours=12))
    now = run.polls[-1]
    obtainable = run.obtainable()
    assert len(obtainable) > 16 * 280
    check_sensors(hass, obtainable, now)
    await run.stop()
    stored = hass_storage[f"cgm_handler.{run.entry.entry_id}"]["data"]["readings"]
    assert stored == [[to_ms(r.time), r.value] for r in obtainable if r.time > now - FORTNIGHT]

    # Removing the entry removes its store.
    await hass.config_entries.async_remove(run.entry.entry_id)
    await hass.async_block_till_done()
    assert f"cgm_handler.{run.entry.entry_id}" not in hass_storage


async def test_unavailable_without_readings(
    hass: HomeAssistant, simulator: ShareSimulator, run: Run
) -> None:
    """An account with no readings in the last day shows no figures."""
    simulator.outage(dt_util.utcnow(), dt_util.utcnow() + DAY, FaultKind.EMPTY)
    await run.setup()
    for suffix in (*SENSORS_24H.values(), *SENSORS_14D.values()):
        assert hass.states.get(f"sensor.jane_{suffix}").state == STATE_UNAVAILABLE


async def test_units_names_and_defaults(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """In mmol/L the mean and the limits in the names follow; rarer figures start disabled."""
    entry = MockConfigEntry(
        domain=mock_config_entry.domain,
        minor_version=CgmConfigFlow.MINOR_VERSION,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data={**mock_config_entry.data, CONF_UNIT: MMOLL},
        options=mock_config_entry.options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    mean = hass.states.get("sensor.jane_mean_glucose_24_h")
    assert mean.attributes["unit_of_measurement"] == MMOLL
    values = [r.value for r in entry.runtime_data.data.readings]
    assert float(mean.state) == pytest.approx(statistics.fmean(values) / 18.0, abs=0.1)
    names = {
        "sensor.jane_time_below_3_9_mmol_l_24_h": "jane Time below 3.9 mmol/L (24 h)",
        "sensor.jane_time_above_10_0_mmol_l_24_h": "jane Time above 10.0 mmol/L (24 h)",
        "sensor.jane_time_below_3_0_mmol_l_14_days": "jane Time below 3.0 mmol/L (14 days)",
        "sensor.jane_time_above_13_9_mmol_l_14_days": "jane Time above 13.9 mmol/L (14 days)",
    }
    for entity_id, name in names.items():
        assert hass.states.get(entity_id).attributes["friendly_name"] == name
    for key in ("gmi_24h", "time_below_54_24h", "time_above_250_24h"):
        entity_id = entity_registry.async_get_entity_id(
            "sensor", "cgm_handler", f"{entry.entry_id}_{key}"
        )
        assert entity_id is not None
        registered = entity_registry.async_get(entity_id)
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
    for key in ("mean_glucose_14d", "gmi_14d", "time_in_range_24h"):
        entity_id = entity_registry.async_get_entity_id(
            "sensor", "cgm_handler", f"{entry.entry_id}_{key}"
        )
        registered = entity_registry.async_get(entity_id)
        assert registered.entity_category is None
        assert registered.disabled_by is None
