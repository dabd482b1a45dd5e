"""Base entity of the CGM Handler integration."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import CgmCoordinator


def device_info(entry: ConfigEntry) -> DeviceInfo:
    """Return the device of one Dexcom account, which all its entities belong to."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        entry_type=DeviceEntryType.SERVICE,
        manufacturer="Dexcom",
        model="Share",
        name=entry.title,
    )


class CgmEntity(CoordinatorEntity[CgmCoordinator]):
    """An entity of one Dexcom account."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CgmCoordinator, description: EntityDescription) -> None:
        """Name the entity after its description and attach it to the account's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = device_info(entry)

    @property
    def available(self) -> bool:
        """Return whether the newest reading is fresh enough to act on."""
        return self.coordinator.is_fresh(self.coordinator.data.latest)
