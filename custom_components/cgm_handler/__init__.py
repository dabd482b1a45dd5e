"""The CGM Handler integration: Dexcom CGM readings through Dexcom Share."""

from __future__ import annotations

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .const import CONF_REGION, CONF_SERVER_URL, DEFAULT_OPTIONS, DOMAIN, LOGGER
from .coordinator import CgmConfigEntry, CgmCoordinator
from .history import async_remove_history
from .no_readings import async_clear_no_readings
from .services import async_setup_services
from .share import Region, ShareClient
from .share_health import async_forget_share_state
from .sign_in_guard import async_clear_lockout

PLATFORMS = [Platform.BINARY_SENSOR, Platform.IMAGE, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CgmConfigEntry) -> bool:
    """Read the history, log in, fetch the last 24 hours, draw the AGP and set up the entities."""
    client = ShareClient(
        async_get_clientsession(hass),
        entry.data[CONF_USERNAME],
        entry.data[CONF_PASSWORD],
        region=Region(entry.data[CONF_REGION]),
        base_url=entry.data.get(CONF_SERVER_URL),
        account_id=entry.unique_id,
    )
    coordinator = CgmCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    await coordinator.agp.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: CgmConfigEntry) -> bool:
    """Store the service URL with its trailing slash (1.2) and every option (1.3 to 1.6).

    1.4 brought the options of the forecast sensors, 1.5 the glucose chart's hours, 1.6
    warning of steady falls early; as in 1.3, the defaults fill in the options an entry
    lacks, and the options it has stay.
    """
    if entry.version > 1:
        return False
    if entry.minor_version < 2:  # noqa: PLR2004
        data = dict(entry.data)
        if (url := data.get(CONF_SERVER_URL)) and not url.endswith("/"):
            data[CONF_SERVER_URL] = f"{url}/"
        hass.config_entries.async_update_entry(entry, data=data, minor_version=2)
        LOGGER.debug("Migrated the entry to version 1.2")
    if entry.minor_version < 6:  # noqa: PLR2004
        options = {**DEFAULT_OPTIONS, **entry.options}
        hass.config_entries.async_update_entry(entry, options=options, minor_version=6)
        LOGGER.debug("Migrated the entry to version 1.6")
    return True


async def async_unload_entry(hass: HomeAssistant, entry: CgmConfigEntry) -> bool:
    """Unload the entities and save the reading history.

    A reload keeps the repairs about missing readings and a Share outage (the next poll
    decides about them); disabling the entry removes them, since nothing would poll to
    remove them later.
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        entry.runtime_data.health.async_stop()
        await entry.runtime_data.history.async_flush()
        if entry.disabled_by is not None:
            async_clear_no_readings(hass, entry.entry_id)
            async_forget_share_state(hass, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: CgmConfigEntry) -> None:
    """Delete the stored reading history and the repairs of the entry."""
    async_clear_lockout(hass, entry.entry_id)
    async_clear_no_readings(hass, entry.entry_id)
    async_forget_share_state(hass, entry.entry_id)
    await async_remove_history(hass, entry.entry_id)
