"""The AGP chart of the last 14 days, as an image entity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .agp import Agp, percentile_rows
from .agp_coordinator import AgpCoordinator
from .const import CONF_UNIT
from .coordinator import CgmConfigEntry
from .entity import device_info

PARALLEL_UPDATES = 0

ATTR_PERCENTILES: Final = "percentiles"
ATTR_UNIT: Final = "unit"
SVG: Final = "image/svg+xml"


@dataclass(frozen=True, kw_only=True)
class CgmImageEntityDescription(ImageEntityDescription):
    """An image drawn from the AGP, with attributes in the entry's unit."""

    image_fn: Callable[[Agp], bytes | None]
    attributes_fn: Callable[[Agp, str], dict[str, Any]]


IMAGES: tuple[CgmImageEntityDescription, ...] = (
    CgmImageEntityDescription(
        key="agp",
        translation_key="agp",
        image_fn=lambda agp: agp.chart,
        attributes_fn=lambda agp, unit: {
            ATTR_UNIT: unit,
            ATTR_PERCENTILES: percentile_rows(agp, unit),
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the AGP image of one Dexcom account."""
    coordinator = entry.runtime_data.agp
    async_add_entities(CgmImage(coordinator, description) for description in IMAGES)


class CgmImage(CoordinatorEntity[AgpCoordinator], ImageEntity):
    """An image of one Dexcom account, redrawn with the AGP every hour."""

    _attr_content_type = SVG
    _attr_has_entity_name = True
    # Dozens of rows, new every hour: for templates and the action, not the database.
    _unrecorded_attributes = frozenset({ATTR_PERCENTILES})
    entity_description: CgmImageEntityDescription

    def __init__(self, coordinator: AgpCoordinator, description: CgmImageEntityDescription) -> None:
        """Show the AGP of the entry, with its percentiles in the entry's unit."""
        super().__init__(coordinator)
        ImageEntity.__init__(self, coordinator.hass)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = device_info(entry)
        self._unit: str = entry.data[CONF_UNIT]
        self._attr_image_last_updated = coordinator.data.drawn

    @callback
    def _handle_coordinator_update(self) -> None:
        """Take the time of the new drawing as the image's."""
        self._attr_image_last_updated = self.coordinator.data.drawn
        super()._handle_coordinator_update()

    @property
    def available(self) -> bool:
        """Return whether the last 14 days have enough readings for the AGP."""
        return super().available and self.coordinator.data.enough

    async def async_image(self) -> bytes | None:
        """Return the chart drawn in the executor at the last redraw."""
        return self.entity_description.image_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the percentiles behind the chart."""
        return self.entity_description.attributes_fn(self.coordinator.data, self._unit)
