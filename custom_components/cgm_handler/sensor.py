"""Glucose, trend, change and reading time sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_UNIT, MGDL
from .coordinator import CgmConfigEntry, CgmCoordinator, CgmData
from .entity import CgmEntity
from .share import Trend
from .units import to_unit

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CgmSensorEntityDescription(SensorEntityDescription):
    """A sensor computed from the readings, in the entry's unit where it matters."""

    value_fn: Callable[[CgmData, str], float | str | datetime | None]
    in_glucose_unit: bool = False
    shown_when_stale: bool = False


def _change(data: CgmData) -> float | None:
    """Return the change from the previous reading in mg/dL."""
    if data.latest is None or data.previous is None:
        return None
    return data.latest.value - data.previous.value


def _rate(data: CgmData, unit: str) -> float | None:
    """Return the rate of change in the unit per minute."""
    change = _change(data)
    if change is None or data.latest is None or data.previous is None:
        return None
    minutes = (data.latest.time - data.previous.time).total_seconds() / 60
    per_minute = change / minutes
    return round(per_minute, 1) if unit == MGDL else round(to_unit(per_minute * 10, unit) / 10, 2)


SENSORS: tuple[CgmSensorEntityDescription, ...] = (
    CgmSensorEntityDescription(
        key="glucose",
        translation_key="glucose",
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=MGDL,
        in_glucose_unit=True,
        value_fn=lambda data, _: data.latest.value if data.latest else None,
    ),
    CgmSensorEntityDescription(
        key="trend",
        translation_key="trend",
        device_class=SensorDeviceClass.ENUM,
        options=[trend.value for trend in Trend],
        value_fn=lambda data, _: data.latest.trend.value if data.latest else None,
    ),
    CgmSensorEntityDescription(
        key="glucose_change",
        translation_key="glucose_change",
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=MGDL,
        in_glucose_unit=True,
        value_fn=lambda data, _: _change(data),
    ),
    CgmSensorEntityDescription(
        key="rate_of_change",
        translation_key="rate_of_change",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_rate,
    ),
    CgmSensorEntityDescription(
        key="reading_time",
        translation_key="reading_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        shown_when_stale=True,
        value_fn=lambda data, _: data.latest.time if data.latest else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one Dexcom account."""
    async_add_entities(CgmSensor(entry.runtime_data, description) for description in SENSORS)


class CgmSensor(CgmEntity, SensorEntity):
    """A sensor of one Dexcom account."""

    entity_description: CgmSensorEntityDescription

    def __init__(
        self, coordinator: CgmCoordinator, description: CgmSensorEntityDescription
    ) -> None:
        """Show glucose in the unit chosen for the entry."""
        super().__init__(coordinator, description)
        self._unit = coordinator.config_entry.data[CONF_UNIT]
        precision = 0 if self._unit == MGDL else 1
        if description.in_glucose_unit:
            self._attr_suggested_unit_of_measurement = self._unit
            self._attr_suggested_display_precision = precision
        elif description.key == "rate_of_change":
            self._attr_native_unit_of_measurement = f"{self._unit}/min"
            self._attr_suggested_display_precision = precision + 1

    @property
    def available(self) -> bool:
        """Return whether there is a reading to show."""
        if self.entity_description.shown_when_stale:
            return self.coordinator.data.latest is not None
        return super().available

    @property
    def native_value(self) -> float | str | datetime | None:
        """Return the value computed from the readings."""
        return self.entity_description.value_fn(self.coordinator.data, self._unit)
