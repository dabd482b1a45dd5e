"""Setting up and unloading the integration."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.cgm_handler.const import (
    CONF_CHART_HOURS,
    CONF_FAST_RATE,
    CONF_HIGH,
    CONF_LOW,
    CONF_SERVER_URL,
    CONF_STALE_MINUTES,
    CONF_STEADY_FALLS,
    CONF_URGENT_HIGH,
    CONF_URGENT_LOW,
    CONF_URGENT_LOW_SOON_LEVEL,
    CONF_URGENT_LOW_SOON_MINUTES,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from scripts.share_simulator import ShareSimulator


async def test_setup_and_unload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The entry loads with a day of readings and unloads cleanly."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert len(init_integration.runtime_data.data.readings) > 250
    assert hass.states.get("sensor.jane_glucose") is not None

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED


@pytest.mark.parametrize("trailing", ["", "/"])
async def test_migrate_server_url(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    mock_config_entry: MockConfigEntry,
    trailing: str,
) -> None:
    """A 1.1 entry's server URL, stored as typed, becomes the service URL with its slash."""
    assert simulator.base_url is not None
    stored = simulator.base_url.rstrip("/") + trailing
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data={**mock_config_entry.data, CONF_SERVER_URL: stored},
        version=1,
        minor_version=1,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 6)
    assert entry.data[CONF_SERVER_URL] == simulator.base_url
    assert hass.states.get("sensor.jane_glucose") is not None


async def migrated(
    hass: HomeAssistant, like: MockConfigEntry, options: dict[str, object], minor_version: int
) -> MockConfigEntry:
    """Set up an entry of an older minor version with these options; it loads as 1.6."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=like.title,
        unique_id=like.unique_id,
        data=dict(like.data),
        options=options,
        version=1,
        minor_version=minor_version,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 6)
    return entry


async def test_migrate_options(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """A 1.2 entry keeps the options it has and gets the defaults of the others."""
    entry = await migrated(hass, mock_config_entry, {CONF_LOW: 75}, 2)

    assert entry.options == {
        CONF_URGENT_LOW: 54,
        CONF_LOW: 75,
        CONF_HIGH: 180,
        CONF_URGENT_HIGH: 250,
        CONF_STALE_MINUTES: 15,
        CONF_URGENT_LOW_SOON_LEVEL: 55,
        CONF_URGENT_LOW_SOON_MINUTES: 20,
        CONF_FAST_RATE: 2.0,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: 3,
    }
    assert hass.states.get("binary_sensor.jane_stale") is not None


@pytest.mark.parametrize(
    ("minor_version", "added", "entity_id"),
    [
        (
            3,
            {
                CONF_URGENT_LOW_SOON_LEVEL: 55,
                CONF_URGENT_LOW_SOON_MINUTES: 20,
                CONF_FAST_RATE: 2.0,
                CONF_STEADY_FALLS: False,
                CONF_CHART_HOURS: 3,
            },
            "binary_sensor.jane_urgent_low_soon",
        ),
        (4, {CONF_CHART_HOURS: 3, CONF_STEADY_FALLS: False}, "image.jane_glucose_chart"),
        (5, {CONF_STEADY_FALLS: False}, "binary_sensor.jane_urgent_low_soon"),
    ],
)
async def test_migrate_adds_the_newer_options(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    minor_version: int,
    added: dict[str, object],
    entity_id: str,
) -> None:
    """A 1.3 to 1.5 entry keeps every option it has and gets those added after it."""
    chosen = {key: value for key, value in DEFAULT_OPTIONS.items() if key not in added}
    chosen[CONF_HIGH] = 160
    entry = await migrated(hass, mock_config_entry, chosen, minor_version)

    assert entry.options == {**chosen, **added}
    assert set(entry.options) == set(DEFAULT_OPTIONS)
    assert hass.states.get(entity_id) is not None


async def test_migrate_from_future_version(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """An entry of a newer major version is refused, not misread."""
    entry = MockConfigEntry(
        domain=DOMAIN, data=dict(mock_config_entry.data), version=2, minor_version=1
    )
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
