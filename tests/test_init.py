"""Setting up and unloading the integration."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry


async def test_setup_and_unload(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The entry loads with a day of readings and unloads cleanly."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert len(init_integration.runtime_data.data.readings) > 250
    assert hass.states.get("sensor.jane_glucose") is not None

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
