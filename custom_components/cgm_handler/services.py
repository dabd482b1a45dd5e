"""Actions of the CGM Handler integration."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .agp import percentile_rows
from .const import CONF_UNIT, DOMAIN, MGDL, MMOLL
from .coordinator import CgmConfigEntry
from .units import to_unit

SERVICE_GET_READINGS = "get_readings"
SERVICE_GET_AGP = "get_agp"
ATTR_MINUTES = "minutes"
ATTR_UNIT = "unit"

GET_READINGS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_MINUTES, default=60): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=1440)
        ),
        vol.Optional(ATTR_UNIT): vol.In([MGDL, MMOLL]),
    }
)

GET_AGP_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_UNIT): vol.In([MGDL, MMOLL]),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_READINGS,
        _async_get_readings,
        schema=GET_READINGS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_AGP,
        _async_get_agp,
        schema=GET_AGP_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> CgmConfigEntry:
    """Return a loaded entry of this integration, or raise a translated error."""
    entry: CgmConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


async def _async_get_readings(call: ServiceCall) -> ServiceResponse:
    """Return the readings of the last minutes, oldest first."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    unit = call.data.get(ATTR_UNIT, entry.data[CONF_UNIT])
    since = dt_util.utcnow() - timedelta(minutes=call.data[ATTR_MINUTES])
    readings = [r for r in entry.runtime_data.data.readings if r.time > since]
    return {
        "unit": unit,
        "readings": [
            {
                "time": r.time.isoformat(),
                "value": to_unit(r.value, unit),
                "trend": r.trend.value,
                "out_of_range": r.out_of_range.value if r.out_of_range else None,
            }
            for r in readings
        ],
    }


async def _async_get_agp(call: ServiceCall) -> ServiceResponse:
    """Return the percentiles of the AGP drawn last, with the wear time behind them.

    Without enough wear (under 70 % of the 14 days) the percentiles are an empty list.
    """
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    unit = call.data.get(ATTR_UNIT, entry.data[CONF_UNIT])
    agp = entry.runtime_data.agp.data
    return {
        "unit": unit,
        "drawn": agp.drawn.isoformat(),
        "readings": agp.readings,
        "wear": round(agp.wear, 1),
        "percentiles": percentile_rows(agp, unit),
    }
