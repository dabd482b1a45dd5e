"""Glycemic metrics: the consensus definitions, and their sensors over 24 h to 90 days."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
import random
import statistics
from typing import Any
from unittest.mock import PropertyMock, patch
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util
import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import CONF_UNIT, MMOLL
from custom_components.cgm_handler.history import (
    SPAN,
    STORAGE_VERSION as HISTORY_VERSION,
    ReadingHistory,
    hour_start,
    hour_start_ms,
    storage_key,
    stored_form,
    to_ms,
)
from custom_components.cgm_handler.metrics import GlycemicMetrics, Totals, gmi
from custom_components.cgm_handler.share import (
    OUT_OF_RANGE_HIGH,
    OUT_OF_RANGE_LOW,
    GlucoseReading,
    Trend,
)
from scripts.share_simulator import FaultKind, Reading, ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import make_entry, published, setup_entry
from tests.test_statistics import FROZEN_AT, Run

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

# A 90-day store on a new database: the recorder imports some 17,000 hourly statistic rows,
# a query and an insert each. On PostgreSQL that took from 20 s to over 3 minutes on two
# busy cores, so these tests get more than the usual limit (which is there to stop a hang).
NINETY_DAY_IMPORT = pytest.mark.timeout(900)

DAY = timedelta(hours=24)
FORTNIGHT = timedelta(days=14)
FIVE_MINUTES = timedelta(minutes=5)
HOUR = timedelta(hours=1)
PERIODS = {
    "24h": DAY,
    "14d": FORTNIGHT,
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
KEYS = [
    "mean_glucose",
    "sd",
    "gmi",
    "cv",
    "time_in_range",
    "time_in_tight_range",
    "time_below_70",
    "time_below_54",
    "time_above_180",
    "time_above_250",
    "gri",
    "gri_hypo",
    "gri_hyper",
    "wear",
    "readings",
]
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


def compute(values: Iterable[int], period: timedelta) -> GlycemicMetrics | None:
    """Return the metrics of the readings (mg/dL) of a period, as the history adds them up."""
    totals = Totals()
    totals.add_all(values)
    return totals.metrics(period)


def reference(values: list[int], period: timedelta = DAY) -> dict[str, float]:
    """Compute every metric with numpy, the statistics module and plain counting."""
    array = np.array(values, dtype=float)
    mean = float(array.mean())
    count = len(values)

    def share(inside: Callable[[int], bool]) -> float:
        return len([v for v in values if inside(v)]) / count * 100

    very_low, low = share(lambda v: v < 54), share(lambda v: 54 <= v <= 69)
    very_high, high = share(lambda v: v > 250), share(lambda v: 181 <= v <= 250)
    return {
        "mean_glucose": mean,
        "sd": float(array.std(ddof=0)),
        "gmi": 3.31 + 0.02392 * mean,
        "cv": statistics.pstdev(values) / statistics.fmean(values) * 100,
        "time_in_range": share(lambda v: 70 <= v <= 180),
        "time_in_tight_range": share(lambda v: 70 <= v <= 140),
        "time_below_70": share(lambda v: v < 70),
        "time_below_54": very_low,
        "time_above_180": share(lambda v: v > 180),
        "time_above_250": very_high,
        "gri": min(3.0 * very_low + 2.4 * low + 1.6 * very_high + 0.8 * high, 100),
        "gri_hypo": very_low + 0.8 * low,
        "gri_hyper": very_high + 0.5 * high,
        "wear": min(count / (period / timedelta(minutes=5)) * 100, 100),
        "readings": count,
    }


def as_dict(metrics: GlycemicMetrics) -> dict[str, float]:
    """Return computed metrics under the names of `reference`."""
    return {
        "mean_glucose": metrics.mean,
        "sd": metrics.sd,
        "gmi": metrics.gmi,
        "cv": metrics.cv,
        **metrics.in_ranges,
        "gri": metrics.gri,
        "gri_hypo": metrics.gri_hypo,
        "gri_hyper": metrics.gri_hyper,
        "wear": metrics.wear,
        "readings": metrics.readings,
    }


@pytest.mark.parametrize("count", [1, 2, 12, 288, 4032])
def test_metrics_match_an_independent_computation(count: int) -> None:
    """Mean, GMI, CV (population SD) and the ranges, against the statistics module."""
    rng = random.Random(count)  # noqa: S311
    values = [rng.randint(OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH) for _ in range(count)]
    metrics = compute(iter(values), DAY)
    assert metrics is not None
    assert metrics.readings == count
    assert (metrics.minimum, metrics.maximum) == (min(values), max(values))
    assert as_dict(metrics) == pytest.approx(reference(values), rel=1e-9, abs=1e-9)
    assert metrics.complete is (count >= 0.7 * 288)


def test_glycemia_risk_index() -> None:
    """GRI and its components from the bands of Klonoff et al.; capped at 100."""
    # 10 % below 54, 10 % 54-69, 60 % in range, 10 % 181-250, 10 % above 250.
    values = [50] * 10 + [60] * 10 + [120] * 60 + [200] * 10 + [300] * 10
    metrics = compute(values, DAY)
    assert metrics is not None
    assert metrics.gri_hypo == pytest.approx(10 + 0.8 * 10)
    assert metrics.gri_hyper == pytest.approx(10 + 0.5 * 10)
    assert metrics.gri == pytest.approx(3.0 * 10 + 2.4 * 10 + 1.6 * 10 + 0.8 * 10)
    worst = compute([40] * 50 + [300] * 50, DAY)
    assert worst is not None
    assert worst.gri == 100
    assert worst.gri_hypo + worst.gri_hyper == 100


@pytest.mark.parametrize(
    ("count", "period", "wear"),
    [(288, DAY, 100), (202, DAY, 202 / 288 * 100), (300, DAY, 100), (288, FORTNIGHT, 100 / 14)],
)
def test_wear(count: int, period: timedelta, wear: float) -> None:
    """Wear is 5 minutes a reading over the period, at most 100 %; 70 % is complete."""
    metrics = compute([100] * count, period)
    assert metrics is not None
    assert metrics.wear == pytest.approx(wear)
    assert metrics.complete is (wear >= 70)


def test_range_limits() -> None:
    """70 and 180 are in range; below 70 includes below 54; above 180 includes above 250."""
    values = [53, 54, 69, 70, 180, 181, 250, 251]
    metrics = compute(values, DAY)
    assert metrics is not None
    assert metrics.in_ranges["time_in_range"] == 25.0
    assert metrics.in_ranges["time_below_70"] == 37.5
    assert metrics.in_ranges["time_below_54"] == 12.5
    assert metrics.in_ranges["time_above_180"] == 37.5
    assert metrics.in_ranges["time_above_250"] == 12.5
    assert compute([], DAY) is None
    # Dexcom's LOW and HIGH count as 39 and 401: below 54 and above 250, bounds of the mean.
    flags = compute([OUT_OF_RANGE_LOW, 100, OUT_OF_RANGE_HIGH, 100], DAY)
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
        "time_in_tight_range": 100,
        "time_below_70": 0,
        "time_below_54": 0,
        "time_above_180": 0,
        "time_above_250": 0,
    }
    assert compute([120], DAY) == GlycemicMetrics(
        1, 120, 120, 120, gmi(120), 0, in_ranges, 0, 100 / 288
    )
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


def reading(time: datetime, value: int) -> GlucoseReading:
    """Return a reading as Share reports it."""
    return GlucoseReading(value=value, trend=Trend.FLAT, time=time, display_time=time)


def check_sensors(
    hass: HomeAssistant, readings: list[Reading], at: datetime, entry_id: str
) -> tuple[int, int]:
    """Check every enabled metric sensor against the readings; return the 24 h and 14 d counts.

    A metric over a period that readings cover less than 70 % of is unavailable; the wear
    and the reading count are not.
    """
    registry = er.async_get(hass)
    counts = {}
    for suffix, period in PERIODS.items():
        values = [reading.value for reading in readings if reading.time > at - period]
        want = reference(values, period) if values else {"wear": 0, "readings": 0}
        complete = want["wear"] >= 70
        for key in KEYS:
            entity_id = registry.async_get_entity_id(
                "sensor", "cgm_handler", f"{entry_id}_{key}_{suffix}"
            )
            assert entity_id is not None, key
            if (state := hass.states.get(entity_id)) is None:
                continue  # disabled
            if key in ("wear", "readings"):
                assert float(state.state) == pytest.approx(want[key], abs=0.005), entity_id
            elif complete:
                assert float(state.state) == pytest.approx(want[key], abs=0.005), entity_id
                assert state.attributes["readings"] == len(values)
            else:
                assert state.state == STATE_UNAVAILABLE, entity_id
        counts[suffix] = len(values)
    return counts["24h"], counts["14d"]


async def test_sensors_over_days_restarts_and_outages(
    hass: HomeAssistant, run: Run, hass_storage: dict[str, Any]
) -> None:
    """The figures equal the readings received, across restarts and a 30-hour outage."""
    await run.setup()
    check_sensors(hass, run.obtainable(), run.polls[-1], run.entry.entry_id)
    await run.wait(timedelta(hours=20), timedelta(hours=1))
    await run.stop()
    run.freezer.tick(timedelta(minutes=30))
    await run.setup()
    await run.wait(timedelta(hours=30), timedelta(hours=2))
    await run.reload()
    day, fortnight = check_sensors(hass, run.obtainable(), run.polls[-1], run.entry.entry_id)
    assert day in range(280, 290)
    assert fortnight > 2 * day  # the days before the last one came from the store

    # Thirty hours without Share: after a day of it, the 24-hour figures have no readings.
    begin, end = run.outage(timedelta(minutes=3), timedelta(hours=30))
    await run.wait(timedelta(hours=25), timedelta(hours=1))
    assert hass.states.get("sensor.jane_mean_glucose_24_h").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.jane_time_in_range_24_h").state == STATE_UNAVAILABLE
    assert float(hass.states.get("sensor.jane_cgm_wear_time_14_days").state) > 10
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
    check_sensors(hass, obtainable, run.polls[-1], run.entry.entry_id)

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
    entry = await setup_entry(hass, make_entry(simulator, username="flag"))

    readings = published(simulator, "flag")
    values = [reading.value for reading in readings]
    assert OUT_OF_RANGE_LOW in values
    assert OUT_OF_RANGE_HIGH in values
    check_sensors(hass, readings, now, entry.entry_id)


def stored_history(entry_id: str, readings: list[Reading]) -> dict[str, Any]:
    """Return a history store as the 14-day history (version 1) wrote it."""
    return {
        "version": HISTORY_VERSION,
        "minor_version": 1,
        "key": storage_key(entry_id),
        "data": stored_form({to_ms(r.time): r.value for r in readings}),
    }


@NINETY_DAY_IMPORT
async def test_ninety_days_are_kept_and_older_pruned(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store of 92 days keeps its last 90; a day later it has moved on by a day."""
    simulator.add_account("kim", "kim-password", history=timedelta(days=92))
    entry = make_entry(simulator, username="kim")
    older = [r for r in simulator.published_readings("kim") if r.time < dt_util.utcnow() - DAY]
    hass_storage[storage_key(entry.entry_id)] = stored_history(entry.entry_id, older)
    kim = Run(hass, freezer, simulator, entry, monkeypatch)

    await kim.setup()
    await kim.wait(DAY, timedelta(hours=1))
    now = kim.polls[-1]
    await kim.stop()

    known = {r.time: r.value for r in simulator.published_readings("kim", now)}
    stored = hass_storage[storage_key(entry.entry_id)]["data"]["readings"]
    assert stored == [[to_ms(time), known[time]] for time in sorted(known) if time > now - SPAN]
    assert len(stored) > 89 * 280

    # Removing the entry removes its store.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert storage_key(entry.entry_id) not in hass_storage


async def test_a_fourteen_day_store_grows_to_ninety_days(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store of the 14-day history loads as it is, and nothing of it is dropped."""
    simulator.add_account("kim", "kim-password", history=timedelta(days=14))
    entry = make_entry(simulator, username="kim")
    older = [r for r in simulator.published_readings("kim") if r.time < dt_util.utcnow() - DAY]
    hass_storage[storage_key(entry.entry_id)] = stored_history(entry.entry_id, older)
    kim = Run(hass, freezer, simulator, entry, monkeypatch)

    await kim.setup()
    await kim.wait(timedelta(days=2), timedelta(hours=2))
    await kim.stop()

    saved = hass_storage[storage_key(entry.entry_id)]
    assert (saved["version"], saved["minor_version"]) == (HISTORY_VERSION, 1)
    known = {r.time: r.value for r in simulator.published_readings("kim", kim.polls[-1])}
    assert saved["data"]["readings"] == [[to_ms(time), known[time]] for time in sorted(known)]
    assert (max(known) - min(known)) > timedelta(days=15)


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
    disabled = ("gmi_24h", "time_below_54_24h", "time_above_250_24h", "sd_14d", "gri_hypo_14d")
    for key in (*disabled, "readings_14d", "mean_glucose_30d", "time_in_range_90d"):
        entity_id = entity_registry.async_get_entity_id(
            "sensor", "cgm_handler", f"{entry.entry_id}_{key}"
        )
        assert entity_id is not None
        registered = entity_registry.async_get(entity_id)
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
    enabled = ("mean_glucose_14d", "gmi_14d", "time_in_range_24h", "time_in_tight_range_14d")
    for key in (*enabled, "gri_14d", "wear_14d", "wear_24h", "gmi_90d", "wear_90d"):
        entity_id = entity_registry.async_get_entity_id(
            "sensor", "cgm_handler", f"{entry.entry_id}_{key}"
        )
        registered = entity_registry.async_get(entity_id)
        assert registered.entity_category is None
        assert registered.disabled_by is None


@pytest.fixture
def every_sensor_enabled() -> Any:
    """Enable the entities that are disabled by default."""
    with patch.object(
        Entity, "entity_registry_enabled_default", new_callable=PropertyMock, return_value=True
    ):
        yield


@NINETY_DAY_IMPORT
@pytest.mark.usefixtures("every_sensor_enabled")
async def test_every_metric_of_every_period(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 90 days of history every metric of every period equals an independent one."""
    simulator.add_account("kim", "kim-password", history=timedelta(days=91))
    entry = make_entry(simulator, username="kim")
    older = [r for r in simulator.published_readings("kim") if r.time < dt_util.utcnow() - DAY]
    hass_storage[storage_key(entry.entry_id)] = stored_history(entry.entry_id, older)
    kim = Run(hass, freezer, simulator, entry, monkeypatch)

    await kim.setup()
    await kim.wait(timedelta(hours=3), timedelta(minutes=20))

    readings = simulator.published_readings("kim", kim.polls[-1])
    check_sensors(hass, readings, kim.polls[-1], entry.entry_id)
    registry = er.async_get(hass)
    for suffix in PERIODS:
        for key in KEYS:
            unique_id = f"{entry.entry_id}_{key}_{suffix}"
            entity_id = registry.async_get_entity_id("sensor", "cgm_handler", unique_id)
            state = hass.states.get(entity_id or "")
            assert state is not None, unique_id
            assert state.state != STATE_UNAVAILABLE, unique_id


async def test_metrics_wait_for_seventy_percent_wear(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """14-day figures are unavailable until readings cover 70 % of 14 days, then shown."""
    simulator.add_account("kim", "kim-password", history=timedelta(days=9.7))
    entry = make_entry(simulator, username="kim")
    older = [r for r in simulator.published_readings("kim") if r.time < dt_util.utcnow() - DAY]
    hass_storage[storage_key(entry.entry_id)] = stored_history(entry.entry_id, older)
    kim = Run(hass, freezer, simulator, entry, monkeypatch)

    await kim.setup()
    wear = float(hass.states.get("sensor.kim_cgm_wear_time_14_days").state)
    assert 65 < wear < 70
    assert hass.states.get("sensor.kim_time_in_range_14_days").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.kim_glucose_management_indicator_14_days").state == (
        STATE_UNAVAILABLE
    )
    assert hass.states.get("sensor.kim_time_in_range_24_h").state != STATE_UNAVAILABLE
    check_sensors(hass, simulator.published_readings("kim"), kim.polls[-1], entry.entry_id)

    await kim.wait(timedelta(hours=4), timedelta(minutes=10))
    assert float(hass.states.get("sensor.kim_cgm_wear_time_14_days").state) >= 70
    assert hass.states.get("sensor.kim_time_in_range_14_days").state != STATE_UNAVAILABLE
    check_sensors(hass, simulator.published_readings("kim"), kim.polls[-1], entry.entry_id)


async def test_a_new_entry_shows_no_fourteen_day_figures(hass: HomeAssistant, run: Run) -> None:
    """Share gives a day back: the 14-day GMI is unavailable, its wear tells why."""
    await run.setup()
    assert hass.states.get("sensor.jane_glucose_management_indicator_14_days").state == (
        STATE_UNAVAILABLE
    )
    wear = float(hass.states.get("sensor.jane_cgm_wear_time_14_days").state)
    assert wear == pytest.approx(100 / 14, abs=0.5)
    assert float(hass.states.get("sensor.jane_cgm_wear_time_24_h").state) > 99
    assert hass.states.get("sensor.jane_mean_glucose_24_h").state != STATE_UNAVAILABLE


async def test_history_metrics_follow_gaps_filled_later(hass: HomeAssistant) -> None:
    """The hour totals added up once an hour change when an older hour gets a reading."""
    history = ReadingHistory(hass, "totals")
    await history.async_load()
    rng = random.Random(90)  # noqa: S311
    now = dt_util.utcnow()
    start = now - SPAN + timedelta(minutes=1)
    times = [start + i * FIVE_MINUTES for i in range(int(SPAN / FIVE_MINUTES))]
    kept = {
        t: rng.randint(OUT_OF_RANGE_LOW, OUT_OF_RANGE_HIGH) for t in times if rng.random() < 0.9
    }
    gaps = [t for t in times if t not in kept]

    def check(at: datetime) -> None:
        for period in PERIODS.values():
            values = [value for time, value in kept.items() if at - period < time <= at]
            metrics = history.metrics(period, at)
            assert metrics is not None
            assert as_dict(metrics) == pytest.approx(reference(values, period), rel=1e-9)

    history.async_merge(
        [reading(t, v) for t, v in kept.items() if t <= now - timedelta(days=1)], now
    )
    check(now - timedelta(days=1))
    check(now - timedelta(days=1))  # from the added-up hours
    # Readings arrive, and a gap days ago is filled.
    for time in (gaps[-500], gaps[-2000]):
        kept[time] = 250
        history.async_merge([reading(time, 250)], now)
        check(now - timedelta(days=1))
    # A day of polls, checked every 6 hours: the longer periods start from the shorter.
    for hours in range(1, 25):
        until = now - DAY + timedelta(hours=hours)
        history.async_merge(
            [reading(t, v) for t, v in kept.items() if until - HOUR < t <= until], until
        )
        if hours % 6 == 0:
            check(until)
    await history.async_flush()


def test_hour_start() -> None:
    """The start of the UTC hour, whatever zone the instant is given in (+05:45 here)."""
    moment = datetime(2026, 3, 10, 12, 23, 45, 678901, tzinfo=ZoneInfo("Asia/Kathmandu"))
    start = datetime(2026, 3, 10, 6, tzinfo=UTC)
    assert hour_start(moment) == start
    assert hour_start(moment).tzinfo is UTC
    assert hour_start(start) == start
    assert hour_start_ms(to_ms(moment)) == to_ms(start)
