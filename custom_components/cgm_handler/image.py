"""Image entities: the AGP of the last 14 days, and the glucose chart as SVG and PNG."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .agp import Agp, percentile_rows
from .agp_coordinator import AgpCoordinator
from .chart_png import png
from .const import (
    CONF_CHART_HOURS,
    CONF_HIGH,
    CONF_LOW,
    CONF_UNIT,
    CONF_URGENT_HIGH,
    CONF_URGENT_LOW,
)
from .coordinator import CgmConfigEntry, CgmCoordinator
from .entity import CgmEntity, device_info
from .glucose_chart import Chart, Limits, Shape, draw, readings_in_span, svg

PARALLEL_UPDATES = 0

ATTR_PERCENTILES: Final = "percentiles"
ATTR_UNIT: Final = "unit"
SVG: Final = "image/svg+xml"
PNG: Final = "image/png"


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


@dataclass(frozen=True, kw_only=True)
class GlucoseChartDescription(ImageEntityDescription):
    """The glucose chart in one format."""

    content_type: str
    render_fn: Callable[[Sequence[Shape]], bytes]


CHARTS: tuple[GlucoseChartDescription, ...] = (
    GlucoseChartDescription(
        key="glucose_chart", translation_key="glucose_chart", content_type=SVG, render_fn=svg
    ),
    # Notifications attach bitmaps only.
    GlucoseChartDescription(
        key="glucose_chart_png",
        translation_key="glucose_chart_png",
        content_type=PNG,
        render_fn=png,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the AGP image and the glucose charts of one Dexcom account."""
    async_add_entities(CgmImage(entry.runtime_data.agp, description) for description in IMAGES)
    async_add_entities(GlucoseChartImage(entry.runtime_data, description) for description in CHARTS)


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


def render_chart(
    hours: Iterable[Mapping[int, int]],
    chart: Chart,
    render_fn: Callable[[Sequence[Shape]], bytes],
) -> bytes:
    """Return the chart of the readings of its span; run in the executor."""
    since = chart.now - timedelta(hours=chart.hours)
    return render_fn(draw(replace(chart, readings=readings_in_span(hours, since))))


class GlucoseChartImage(CgmEntity, ImageEntity):
    """The glucose chart of the last hours, from every reading the history holds.

    A new reading, a backfilled one or the newest turning stale gives the image a new time,
    so that it is fetched again; it is drawn in the executor once per change, when asked.
    """

    entity_description: GlucoseChartDescription

    def __init__(self, coordinator: CgmCoordinator, description: GlucoseChartDescription) -> None:
        """Show the entry's readings in its unit, with its limits."""
        super().__init__(coordinator, description)
        ImageEntity.__init__(self, coordinator.hass)
        self._attr_content_type = description.content_type
        self._shown: tuple[datetime | None, int, bool] | None = None
        self._image: bytes | None = None
        self._note_change()

    @property
    def available(self) -> bool:
        """Return True: a stale chart says so itself."""
        return True

    def _state_of_readings(self) -> tuple[datetime | None, int, bool]:
        """Return what a redraw follows: the newest reading, the count and freshness."""
        data = self.coordinator.data
        latest = data.latest
        return (
            latest.time if latest else None,
            len(data.readings),
            self.coordinator.is_fresh(latest),
        )

    def _note_change(self) -> None:
        """Forget the drawing and take a new image time if the readings changed."""
        shown = self._state_of_readings()
        if shown != self._shown:
            self._shown = shown
            self._image = None
            self._attr_image_last_updated = dt_util.utcnow()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Redraw at the next fetch if a reading came or the newest turned stale."""
        self._note_change()
        super()._handle_coordinator_update()

    def _chart(self) -> Chart:
        """Return what to draw, without the readings, which the executor picks."""
        coordinator = self.coordinator
        entry = coordinator.config_entry
        options = entry.options
        latest = coordinator.data.latest
        fresh = coordinator.is_fresh(latest)
        return Chart(
            readings=(),
            newest=latest,
            forecast=coordinator.data.forecast if fresh else None,  # as the forecast sensors
            limits=Limits(
                options[CONF_URGENT_LOW],
                options[CONF_LOW],
                options[CONF_HIGH],
                options[CONF_URGENT_HIGH],
            ),
            unit=entry.data[CONF_UNIT],
            hours=options[CONF_CHART_HOURS],
            now=dt_util.utcnow(),
            zone=dt_util.get_default_time_zone(),
            stale=not fresh,
        )

    async def async_image(self) -> bytes | None:
        """Return the chart, drawn in the executor if the readings changed since."""
        if self._image is not None:
            return self._image
        shown = self._shown
        chart = self._chart()
        hours = self.coordinator.history.hours_since(chart.now - timedelta(hours=chart.hours))
        image = await self.hass.async_add_executor_job(
            render_chart, hours, chart, self.entity_description.render_fn
        )
        if shown == self._shown:  # no newer reading came meanwhile
            self._image = image
        return image
