"""Helpers of the Home Assistant tests: entries, a poll log and time travel."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import math
from pathlib import Path
import re
import statistics
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
    get_scheduled_timer_handles,
)

from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import (
    CONF_REGION,
    CONF_SERVER_URL,
    CONF_UNIT,
    DEFAULT_OPTIONS,
    DOMAIN,
    MGDL,
)
from custom_components.cgm_handler.share import (
    MAX_COUNT,
    MAX_MINUTES,
    GlucoseReading,
    ShareClient,
)
from scripts.share_simulator import Reading, ShareSimulator
from tests.conftest import USERNAME

# A fixed moment, so that the simulator (deterministic by seed) gives stable snapshots.
FROZEN_AT = "2026-03-10T12:00:00+00:00"
ENTRY_ID = "01JCGMHANDLERTESTENTRY0001"


# The registry fields this integration decides. The rest (ids, aliases, object-id fields and
# the like) belong to Home Assistant and differ between releases, so snapshots leave them out.
OWN_REGISTRY_FIELDS = (
    "entity_id",
    "unique_id",
    "platform",
    "translation_key",
    "original_name",
    "original_device_class",
    "original_icon",
    "has_entity_name",
    "entity_category",
    "disabled_by",
    "capabilities",
    "supported_features",
    "unit_of_measurement",
    "options",
)


def own_view(entity_entry: er.RegistryEntry, state: State | None) -> dict[str, Any]:
    """Return what the integration decides of an entity: its registry fields and its state."""
    view = {field: _plain(getattr(entity_entry, field)) for field in OWN_REGISTRY_FIELDS}
    if state is not None:
        precision = entity_entry.options.get("sensor", {}).get("suggested_display_precision")
        view["state"] = _shown(state.state, precision)
        view["attributes"] = _plain(state.attributes)
    return view


def _shown(state: str, precision: int | None) -> str:
    """Return a state as the frontend shows it: numbers at the entity's display precision.

    Home Assistant converts mg/dL to mmol/L with a factor that changed between releases;
    the value shown is what the integration decides. Tests check exact values themselves.
    """
    try:
        return state if precision is None else f"{float(state):.{precision}f}"
    except ValueError:
        return state


def _plain(value: Any) -> Any:
    """Return mappings as plain dicts with plain string keys, whatever types a release uses."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def make_entry(
    simulator: ShareSimulator,
    *,
    username: str = USERNAME,
    unit: str = MGDL,
    options: dict[str, Any] | None = None,
    entry_id: str = ENTRY_ID,
) -> MockConfigEntry:
    """Return an entry for an account of the simulator, with a fixed entry id."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=CgmConfigFlow.MINOR_VERSION,
        title=username,
        entry_id=entry_id,
        unique_id=simulator.account(username).account_id,
        data={
            CONF_USERNAME: username,
            CONF_PASSWORD: simulator.account(username).password,
            CONF_REGION: "us",
            CONF_UNIT: unit,
            CONF_SERVER_URL: simulator.base_url,
        },
        options={**DEFAULT_OPTIONS, **(options or {})},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add the entry and set it up."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


@dataclass(frozen=True, slots=True)
class Poll:
    """One call of ShareClient.get_readings and what it returned."""

    time: datetime
    minutes: int
    max_count: int
    returned: tuple[GlucoseReading, ...] | None
    """None when the call raised."""


def spy_polls(monkeypatch: pytest.MonkeyPatch) -> list[Poll]:
    """Record every get_readings call of every client, in order."""
    polls: list[Poll] = []
    original = ShareClient.get_readings

    async def get_readings(
        self: ShareClient, minutes: int = MAX_MINUTES, max_count: int = MAX_COUNT
    ) -> list[GlucoseReading]:
        now = dt_util.utcnow()
        try:
            readings = await original(self, minutes, max_count)
        except Exception:
            polls.append(Poll(now, minutes, max_count, None))
            raise
        polls.append(Poll(now, minutes, max_count, tuple(readings)))
        return readings

    monkeypatch.setattr(ShareClient, "get_readings", get_readings)
    return polls


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Let time pass, jumping from one timer to the next and running what comes due.

    Each timer runs at exactly its own time, as in production, and whatever it starts
    (a poll of the simulator, say) finishes before the clock moves on.
    """
    end = dt_util.utcnow() + delta
    for _ in range(100_000):
        now = dt_util.utcnow()
        if now >= end:
            return
        due = [
            handle.when()
            for handle in get_scheduled_timer_handles(hass.loop)
            if isinstance(handle, asyncio.TimerHandle) and not handle.cancelled()
        ]
        target = end
        if due:
            # Round up, so that the timer is due when the clock gets there.
            wait = math.ceil(max(min(due) - hass.loop.time(), 0) * 1e6)
            target = min(end, now + timedelta(microseconds=max(wait, 1)))
        freezer.move_to(target)
        await fire_due_timers(hass)
    pytest.fail("time travel did not reach its end")  # pragma: no cover


async def move_to(hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime) -> None:
    """Jump to a moment at once and run the timers that are due by then."""
    freezer.move_to(moment)
    await fire_due_timers(hass)


async def fire_due_timers(hass: HomeAssistant) -> None:
    """Run the timers due now, and the tasks they start.

    Timers are kept in float seconds since the epoch, which are only exact to a fraction
    of a microsecond; one due within a microsecond of now counts as due.
    """
    async_fire_time_changed_exact(hass, dt_util.utcnow() + timedelta(microseconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)


def secrets_of(simulator: ShareSimulator, entry: MockConfigEntry) -> list[str]:
    """Return what must never show in an entity, a state, diagnostics or a snapshot."""
    account = simulator.account(entry.data[CONF_USERNAME])
    session_id = entry.runtime_data.client._session_id
    assert session_id is not None
    return [account.password, account.account_id, session_id]


def assert_no_secrets(secrets: list[str], *texts: str, snapshot_of: str | None = None) -> None:
    """Check texts, and the stored snapshots of a test module, for secrets."""
    if snapshot_of is not None:
        path = Path(snapshot_of).parent / "snapshots" / f"{Path(snapshot_of).stem}.ambr"
        if path.exists():
            texts = (*texts, path.read_text(encoding="utf-8"))
    leaks = [secret for secret in secrets for text in texts if secret in text]
    assert leaks == []


def trend_state(dexcom_trend: str) -> str:
    """Return the trend state of a Dexcom trend name: FortyFiveUp -> forty_five_up."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", dexcom_trend).lower()


def published(
    simulator: ShareSimulator, username: str = USERNAME, until: datetime | None = None
) -> list[Reading]:
    """Return the readings Share published by `until` (now) that were a day old at most."""
    until = until or dt_util.utcnow()
    return [
        reading
        for reading in simulator.published_readings(username, until)
        if reading.time > until - timedelta(days=1)
    ]


# What each range statistic counts, written independently of the integration.
BANDS: dict[str, Callable[[int], bool]] = {
    "time_in_range": lambda value: 70 <= value <= 180,
    "time_in_tight_range": lambda value: 70 <= value <= 140,
    "time_below_70": lambda value: value < 70,
    "time_below_54": lambda value: value < 54,
    "time_above_180": lambda value: value > 180,
    "time_above_250": lambda value: value > 250,
}


def by_hour(readings: Iterable[Reading]) -> dict[datetime, list[int]]:
    """Return the values of readings per UTC hour, computed without the integration."""
    hours: dict[datetime, list[int]] = defaultdict(list)
    for reading in readings:
        hours[reading.time.replace(minute=0, second=0, microsecond=0)].append(reading.value)
    return hours


def expected_row(values: list[int]) -> dict[str, float]:
    """Return what each statistic of an hour must hold, with the statistics module."""
    expected: dict[str, float] = {
        "glucose": statistics.fmean(values),
        "glucose_min": min(values),
        "glucose_max": max(values),
        "readings": len(values),
    }
    for key, contains in BANDS.items():
        expected[key] = sum(map(contains, values)) * 100 / len(values)
    return expected


def assert_hours_match(
    rows: dict[str, dict[datetime, dict[str, Any]]], expected: dict[datetime, list[int]]
) -> None:
    """Assert that the imported rows of every statistic hold exactly the expected hours."""
    for key in ("glucose", "readings", *BANDS):
        assert set(rows[key]) == set(expected), key
    for hour, values in expected.items():
        want = expected_row(values)
        glucose = rows["glucose"][hour]
        assert glucose["mean"] == pytest.approx(want["glucose"], rel=1e-12), hour
        assert (glucose["min"], glucose["max"]) == (want["glucose_min"], want["glucose_max"])
        assert rows["readings"][hour]["mean"] == want["readings"], hour
        for key in BANDS:
            assert rows[key][hour]["mean"] == pytest.approx(want[key], rel=1e-12, abs=1e-12)
