"""The cgm_handler.get_readings action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.cgm_handler.const import DOMAIN, MGDL, MMOLL
from custom_components.cgm_handler.services import SERVICE_GET_READINGS
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW
from scripts.share_simulator import Reading, ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import FROZEN_AT, make_entry, published, setup_entry, trend_state

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

FLAGS = {OUT_OF_RANGE_LOW: "low", OUT_OF_RANGE_HIGH: "high"}


async def get_readings(hass: HomeAssistant, **data: Any) -> ServiceResponse:
    """Call the action and return its response."""
    return await hass.services.async_call(
        DOMAIN, SERVICE_GET_READINGS, data, blocking=True, return_response=True
    )


def in_unit(reading: Reading, unit: str) -> float:
    """Return the value of a reading as the action shows it in a unit."""
    if unit == MGDL:
        return reading.value
    return round(BloodGlucoseConcentrationConverter.convert(reading.value, MGDL, MMOLL), 1)


def expected(
    simulator: ShareSimulator, minutes: int, unit: str, username: str = USERNAME
) -> dict[str, Any]:
    """Return the answer for the readings of the last minutes, from the simulator."""
    since = dt_util.utcnow() - timedelta(minutes=minutes)
    return {
        "unit": unit,
        "readings": [
            {
                "time": reading.time.isoformat(),
                "value": in_unit(reading, unit),
                "trend": trend_state(reading.trend),
                "out_of_range": FLAGS.get(reading.value),
            }
            for reading in published(simulator, username)
            if reading.time > since
        ],
    }


@pytest.mark.parametrize("entry_unit", [MGDL, MMOLL])
async def test_get_readings(
    hass: HomeAssistant, simulator: ShareSimulator, entry_unit: str
) -> None:
    """The readings of the last minutes, in the asked unit or else the entry's."""
    entry = await setup_entry(hass, make_entry(simulator, unit=entry_unit))

    for asked, minutes in [(None, 30), (MGDL, 1), (MMOLL, 5), (None, 1440), (MMOLL, 60)]:
        data: dict[str, Any] = {ATTR_CONFIG_ENTRY_ID: entry.entry_id, "minutes": minutes}
        if asked is not None:
            data["unit"] = asked

        response = await get_readings(hass, **data)

        unit = asked or entry_unit
        assert response == expected(simulator, minutes, unit)
        assert response is not None
        readings = response["readings"]
        assert isinstance(readings, list)
        for reading in readings:
            assert isinstance(reading, dict)
            assert isinstance(reading["value"], int if unit == MGDL else float)

    # Without minutes, the last hour.
    response = await get_readings(hass, config_entry_id=entry.entry_id)
    assert response == expected(simulator, 60, entry_unit)


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
async def test_get_low_and_high(hass: HomeAssistant, simulator: ShareSimulator, unit: str) -> None:
    """LOW and HIGH readings keep Dexcom's 39 and 401, and say which flag they are."""
    now = dt_util.utcnow()
    low = (now - timedelta(hours=8), now - timedelta(hours=7), 25.0)
    high = (now - timedelta(hours=3), now - timedelta(hours=2), 450.0)
    simulator.add_account("flag", "flag-password-1", excursions=[low, high])
    entry = await setup_entry(hass, make_entry(simulator, username="flag", unit=unit))

    response = await get_readings(hass, config_entry_id=entry.entry_id, minutes=600)

    assert response == expected(simulator, 600, unit, "flag")
    assert response is not None
    readings = response["readings"]
    assert isinstance(readings, list)
    flags = {reading["out_of_range"] for reading in readings if isinstance(reading, dict)}
    assert flags == {None, "low", "high"}


async def test_invalid_arguments(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """Minutes must be between 1 and 1440, and the unit mg/dL or mmol/L."""
    entry = await setup_entry(hass, make_entry(simulator))

    for minutes in (0, 1441, -5, "soon"):
        with pytest.raises(vol.Invalid):
            await get_readings(hass, config_entry_id=entry.entry_id, minutes=minutes)
    with pytest.raises(vol.Invalid):
        await get_readings(hass, config_entry_id=entry.entry_id, unit="mg")
    with pytest.raises(vol.Invalid):
        await get_readings(hass, minutes=60)


async def test_unknown_entry(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """An entry id that is not ours is rejected with a translated error."""
    await setup_entry(hass, make_entry(simulator))
    other = MockConfigEntry(domain="other_domain", title="other")
    other.add_to_hass(hass)

    for entry_id in ("does-not-exist", other.entry_id):
        with pytest.raises(ServiceValidationError) as err:
            await get_readings(hass, config_entry_id=entry_id)
        assert err.value.translation_domain == DOMAIN
        assert err.value.translation_key == "entry_not_found"
        assert err.value.translation_placeholders == {"entry_id": entry_id}
        assert str(err.value) == f"No CGM Handler entry with id {entry_id} exists"


async def test_entry_not_loaded(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """An entry that is not loaded has no readings to give."""
    entry = await setup_entry(hass, make_entry(simulator))
    assert await hass.config_entries.async_unload(entry.entry_id)

    with pytest.raises(ServiceValidationError) as err:
        await get_readings(hass, config_entry_id=entry.entry_id)

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "entry_not_loaded"
    assert err.value.translation_placeholders == {"entry_id": entry.entry_id}
    assert str(err.value) == f"The CGM Handler entry {entry.entry_id} is not loaded"
