"""Low, high and stale binary sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_HIGH, CONF_LOW, CONF_URGENT_HIGH, CONF_URGENT_LOW
from .coordinator import CgmConfigEntry
from .entity import CgmEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CgmThresholdDescription(BinarySensorEntityDescription):
    """A binary sensor that compares glucose with one threshold from the options."""

    compare_fn: Callable[[int, int], bool]


THRESHOLD_SENSORS: tuple[CgmThresholdDescription, ...] = (
    CgmThresholdDescription(
        key=CONF_URGENT_LOW, translation_key=CONF_URGENT_LOW, compare_fn=lambda v, t: v < t
    ),
    CgmThresholdDescription(key=CONF_LOW, translation_key=CONF_LOW, compare_fn=lambda v, t: v < t),
    CgmThresholdDescription(
        key=CONF_HIGH, translation_key=CONF_HIGH, compare_fn=lambda v, t: v > t
    ),
    CgmThresholdDescription(
        key=CONF_URGENT_HIGH, translation_key=CONF_URGENT_HIGH, compare_fn=lambda v, t: v > t
    ),
)
STALE_SENSOR = BinarySensorEntityDescription(
    key="stale",
    translation_key="stale",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of one Dexcom account."""
    coordinator = entry.runtime_data
    async_add_entities(
        [
            *(CgmThresholdSensor(coordinator, description) for description in THRESHOLD_SENSORS),
            CgmStaleSensor(coordinator, STALE_SENSOR),
        ]
    )


class CgmThresholdSensor(CgmEntity, BinarySensorEntity):
    """On while fresh glucose is beyond a threshold."""

    entity_description: CgmThresholdDescription

    @property
    def is_on(self) -> bool | None:
        """Compare the newest reading with the threshold."""
        latest = self.coordinator.data.latest
        if latest is None:
            return None
        threshold = self.coordinator.config_entry.options[self.entity_description.key]
        return self.entity_description.compare_fn(latest.value, threshold)


class CgmStaleSensor(CgmEntity, BinarySensorEntity):
    """On while there is no reading younger than the stale limit."""

    @property
    def available(self) -> bool:
        """Stay available: staleness is exactly what this sensor reports."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether the newest reading is too old."""
        return not self.coordinator.is_fresh(self.coordinator.data.latest)
