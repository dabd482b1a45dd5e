"""The low, high and stale binary sensors."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    STATE_OFF,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.cgm_handler.const import (
    CONF_HIGH,
    CONF_LOW,
    CONF_URGENT_HIGH,
    CONF_URGENT_LOW,
    DEFAULT_THRESHOLDS,
    MMOLL,
)
from scripts.share_simulator import ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import (
    FROZEN_AT,
    assert_no_secrets,
    make_entry,
    own_view,
    published,
    secrets_of,
    setup_entry,
)

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

LIMITS = (CONF_URGENT_LOW, CONF_LOW, CONF_HIGH, CONF_URGENT_HIGH)
NAMES = {
    CONF_URGENT_LOW: "Urgent low",
    CONF_LOW: "Low",
    CONF_HIGH: "High",
    CONF_URGENT_HIGH: "Urgent high",
    "stale": "Stale",
    "urgent_low_soon": "Urgent low soon",
    "falling_fast": "Falling fast",
    "rising_fast": "Rising fast",
}


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """Return a state that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def limit_states(hass: HomeAssistant) -> dict[str, str]:
    """Return the state of each threshold sensor."""
    return {key: state_of(hass, f"binary_sensor.jane_{key}").state for key in LIMITS}


def expected(value: int, limits: dict[str, int]) -> dict[str, str]:
    """Return which threshold sensors should be on for a glucose value."""
    below = {CONF_URGENT_LOW, CONF_LOW}
    return {
        key: STATE_ON
        if (value < limits[key] if key in below else value > limits[key])
        else STATE_OFF
        for key in LIMITS
    }


async def test_binary_sensors(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The binary sensors compare the newest reading with the default limits."""
    with patch("custom_components.cgm_handler.PLATFORMS", [Platform.BINARY_SENSOR]):
        entry = await setup_entry(hass, make_entry(simulator))
    latest = published(simulator)[-1]

    assert limit_states(hass) == expected(latest.value, DEFAULT_THRESHOLDS)
    stale = state_of(hass, "binary_sensor.jane_stale")
    assert stale.state == STATE_OFF
    assert stale.attributes[ATTR_DEVICE_CLASS] == BinarySensorDeviceClass.PROBLEM
    for key, name in NAMES.items():
        friendly_name = state_of(hass, f"binary_sensor.jane_{key}").attributes[ATTR_FRIENDLY_NAME]
        assert friendly_name == f"{USERNAME} {name}"

    entity_entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {entity_entry.domain for entity_entry in entity_entries} == {"binary_sensor"}
    for entity_entry in entity_entries:
        state = state_of(hass, entity_entry.entity_id)
        assert own_view(entity_entry, state) == snapshot(name=entity_entry.entity_id)

    shown = [
        repr(entity_entry) + repr(state_of(hass, entity_entry.entity_id).as_dict())
        for entity_entry in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ]
    assert_no_secrets(secrets_of(simulator, entry), *shown, snapshot_of=__file__)


# Limits relative to the newest value; a value equal to a limit is not beyond it.
CASES: list[tuple[tuple[int, int, int, int], set[str]]] = [
    ((-20, -10, 10, 20), set()),
    ((-20, 0, 0, 20), set()),
    ((-20, 1, 10, 20), {CONF_LOW}),
    ((1, 2, 10, 20), {CONF_URGENT_LOW, CONF_LOW}),
    ((-20, -10, -1, 20), {CONF_HIGH}),
    ((-20, -10, -2, -1), {CONF_HIGH, CONF_URGENT_HIGH}),
]


@pytest.mark.parametrize("unit", ["mg/dL", MMOLL])
async def test_limits_from_options(
    hass: HomeAssistant, simulator: ShareSimulator, unit: str
) -> None:
    """The limits come from the options, in mg/dL whatever unit the entry shows."""
    value = published(simulator)[-1].value
    entry = await setup_entry(hass, make_entry(simulator, unit=unit))

    for offsets, on in CASES:
        options: dict[str, Any] = {
            key: value + offset for key, offset in zip(LIMITS, offsets, strict=True)
        }
        hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
        entry.runtime_data.async_update_listeners()
        await hass.async_block_till_done()

        states = limit_states(hass)
        assert states == {key: STATE_ON if key in on else STATE_OFF for key in LIMITS}, offsets
        assert states == expected(value, options)
