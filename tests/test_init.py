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


async def test_migrate_options(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """A 1.2 entry keeps the options it has and gets the defaults of the others."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options={CONF_LOW: 75},
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 6)
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


async def test_migrate_forecast_options(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A 1.3 entry keeps every option it has and gets those of the forecast sensors."""
    chosen = {
        CONF_URGENT_LOW: 60,
        CONF_LOW: 80,
        CONF_HIGH: 200,
        CONF_URGENT_HIGH: 300,
        CONF_STALE_MINUTES: 25,
    }
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=chosen,
        version=1,
        minor_version=3,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 6)
    assert entry.options == {
        **chosen,
        CONF_URGENT_LOW_SOON_LEVEL: 55,
        CONF_URGENT_LOW_SOON_MINUTES: 20,
        CONF_FAST_RATE: 2.0,
        CONF_STEADY_FALLS: False,
        CONF_CHART_HOURS: 3,
    }
    assert set(entry.options) == set(DEFAULT_OPTIONS)
    assert hass.states.get("binary_sensor.jane_urgent_low_soon") is not None


async def test_migrate_chart_hours(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """A 1.4 entry keeps its options and gets the chart's 3 hours."""
    new = (CONF_CHART_HOURS, CONF_STEADY_FALLS)
    chosen = {key: value for key, value in DEFAULT_OPTIONS.items() if key not in new}
    chosen[CONF_HIGH] = 160
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=chosen,
        version=1,
        minor_version=4,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert (entry.version, entry.minor_version) == (1, 6)
    assert entry.options == {**chosen, CONF_CHART_HOURS: 3, CONF_STEADY_FALLS: False}
    assert hass.states.get("image.jane_glucose_chart") is not None


async def test_migrate_steady_falls(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A 1.5 entry keeps its options and gets steady falls off."""
    chosen = {key: value for key, value in DEFAULT_OPTIONS.items() if key != CONF_STEADY_FALLS}
    chosen[CONF_URGENT_LOW_SOON_LEVEL] = 60
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=chosen,
        version=1,
        minor_version=5,
    )
    entry.add_to_hass(hass)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert (entry.version, entry.minor_version) == (1, 6)
    assert entry.options == {**chosen, CONF_STEADY_FALLS: False}


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
