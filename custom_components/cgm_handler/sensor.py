"""Glucose, range, trend, change, reading time, predicted glucose and metric sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import ATTR_OUT_OF_RANGE, CONF_UNIT, MGDL
from .coordinator import METRIC_PERIODS, CgmConfigEntry, CgmCoordinator, CgmData
from .entity import CgmEntity
from .metrics import RANGES, GlucoseRange, GlycemicMetrics
from .share import OutOfRange, Trend
from .units import precision, rate_to_unit, to_unit

PARALLEL_UPDATES = 0

IN_RANGE = "in_range"
ATTR_FORECAST = "forecast"
# The horizon of the predicted glucose sensor, named in its name.
PREDICTED_MINUTES = 20


@dataclass(frozen=True, kw_only=True)
class CgmSensorEntityDescription(SensorEntityDescription):
    """A sensor computed from the readings, in the entry's unit where it matters."""

    value_fn: Callable[[CgmData, str], float | str | datetime | None]
    attributes_fn: Callable[[CgmData, str], dict[str, Any]] | None = None
    available_fn: Callable[[CgmData], bool] = lambda _: True
    """Whether the readings are dense enough for a value, besides being fresh."""
    in_glucose_unit: bool = False
    shown_when_stale: bool = False


def _out_of_range(data: CgmData, _unit: str) -> dict[str, Any]:
    """Return the glucose attribute that tells Dexcom's LOW and HIGH from a measured value."""
    flag = data.latest.out_of_range if data.latest else None
    return {ATTR_OUT_OF_RANGE: flag.value if flag else None}


def _rate(data: CgmData, unit: str) -> float | None:
    """Return the rate of change in the unit per minute."""
    rate = data.rate
    return None if rate is None else rate_to_unit(rate, unit)


def _predicted(data: CgmData, _unit: str) -> float | None:
    """Return the glucose predicted PREDICTED_MINUTES after the newest reading, in mg/dL."""
    return round(data.forecast.at(PREDICTED_MINUTES)) if data.forecast else None


def _forecast_points(data: CgmData, unit: str) -> dict[str, Any]:
    """Return the forecast points with their times, in the entry's unit."""
    if data.forecast is None:
        return {}
    start = data.forecast.time
    return {
        ATTR_FORECAST: [
            {"time": start + timedelta(minutes=minutes), "glucose": to_unit(value, unit)}
            for minutes, value in data.forecast.points
        ]
    }


SENSORS: tuple[CgmSensorEntityDescription, ...] = (
    CgmSensorEntityDescription(
        key="glucose",
        translation_key="glucose",
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=MGDL,
        in_glucose_unit=True,
        value_fn=lambda data, _: data.latest.value if data.latest else None,
        attributes_fn=_out_of_range,
    ),
    CgmSensorEntityDescription(
        key="sensor_range",
        translation_key="sensor_range",
        device_class=SensorDeviceClass.ENUM,
        options=[OutOfRange.LOW.value, IN_RANGE, OutOfRange.HIGH.value],
        value_fn=lambda data, _: (data.latest.out_of_range or IN_RANGE) if data.latest else None,
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
        value_fn=lambda data, _: data.change,
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
    CgmSensorEntityDescription(
        key="predicted_glucose",
        translation_key="predicted_glucose",
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=MGDL,
        in_glucose_unit=True,
        value_fn=_predicted,
        attributes_fn=_forecast_points,
        available_fn=lambda data: data.forecast is not None,
    ),
)


@dataclass(frozen=True, kw_only=True)
class CgmMetricSensorEntityDescription(SensorEntityDescription):
    """A consensus metric over the readings of a period (see metrics.py)."""

    metrics_fn: Callable[[CgmData], GlycemicMetrics | None]
    value_fn: Callable[[GlycemicMetrics], float]
    threshold: int | None = None
    """The glucose limit (mg/dL) named in the entity name, in the entry's unit."""


PERIODS: tuple[tuple[str, timedelta], ...] = tuple(zip(("24h", "14d"), METRIC_PERIODS, strict=True))
# Rarely useful over one day: GMI estimates A1C from 14 days or more (consensus), and the
# level 2 ranges are a fraction of a percent most days. Users can enable them.
DISABLED_BY_DEFAULT = frozenset({"gmi_24h", "time_below_54_24h", "time_above_250_24h"})


def _in_range(band: GlucoseRange) -> Callable[[GlycemicMetrics], float]:
    return lambda metrics: metrics.in_ranges[band.key]


# key, value, glucose limit named in the entity name
PERCENT_METRICS: tuple[tuple[str, Callable[[GlycemicMetrics], float], int | None], ...] = (
    ("gmi", lambda metrics: metrics.gmi, None),
    ("cv", lambda metrics: metrics.cv, None),
    *((band.key, _in_range(band), band.limit) for band in RANGES),
)


def _metric_descriptions(suffix: str, period: timedelta) -> list[CgmMetricSensorEntityDescription]:
    """Return the metric sensors of one period: mean glucose, then the percentages."""
    mean_key = f"mean_glucose_{suffix}"

    def metrics_fn(data: CgmData) -> GlycemicMetrics | None:
        return data.metrics.get(period)

    descriptions = [
        CgmMetricSensorEntityDescription(
            key=mean_key,
            translation_key=mean_key,
            device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=MGDL,
            metrics_fn=metrics_fn,
            value_fn=lambda metrics: metrics.mean,
        )
    ]
    for name, value_fn, threshold in PERCENT_METRICS:
        key = f"{name}_{suffix}"
        descriptions.append(
            CgmMetricSensorEntityDescription(
                key=key,
                translation_key=key,
                state_class=SensorStateClass.MEASUREMENT,
                native_unit_of_measurement=PERCENTAGE,
                suggested_display_precision=1,
                entity_registry_enabled_default=key not in DISABLED_BY_DEFAULT,
                metrics_fn=metrics_fn,
                value_fn=value_fn,
                threshold=threshold,
            )
        )
    return descriptions


METRIC_SENSORS: tuple[CgmMetricSensorEntityDescription, ...] = tuple(
    description
    for suffix, period in PERIODS
    for description in _metric_descriptions(suffix, period)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one Dexcom account."""
    coordinator = entry.runtime_data
    async_add_entities(
        [
            *(CgmSensor(coordinator, description) for description in SENSORS),
            *(CgmMetricSensor(coordinator, description) for description in METRIC_SENSORS),
        ]
    )


class CgmSensor(CgmEntity, SensorEntity):
    """A sensor of one Dexcom account."""

    entity_description: CgmSensorEntityDescription
    # The forecast changes with every reading; the recorder keeps the predicted value.
    _unrecorded_attributes = frozenset({ATTR_FORECAST})

    def __init__(
        self, coordinator: CgmCoordinator, description: CgmSensorEntityDescription
    ) -> None:
        """Show glucose in the unit chosen for the entry."""
        super().__init__(coordinator, description)
        self._unit = coordinator.config_entry.data[CONF_UNIT]
        if description.in_glucose_unit:
            self._attr_suggested_unit_of_measurement = self._unit
            self._attr_suggested_display_precision = precision(self._unit)
        elif description.key == "rate_of_change":
            self._attr_native_unit_of_measurement = f"{self._unit}/min"
            self._attr_suggested_display_precision = precision(self._unit) + 1

    @property
    def available(self) -> bool:
        """Return whether there is a reading to show, and enough of them for the value."""
        data = self.coordinator.data
        if self.entity_description.shown_when_stale:
            return data.latest is not None
        return super().available and self.entity_description.available_fn(data)

    @property
    def native_value(self) -> float | str | datetime | None:
        """Return the value computed from the readings."""
        return self.entity_description.value_fn(self.coordinator.data, self._unit)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the attributes computed from the readings, for the sensors that have any."""
        attributes_fn = self.entity_description.attributes_fn
        return attributes_fn(self.coordinator.data, self._unit) if attributes_fn else None


class CgmMetricSensor(CgmEntity, SensorEntity):
    """A glycemic metric of one Dexcom account over 24 hours or 14 days."""

    entity_description: CgmMetricSensorEntityDescription

    def __init__(
        self, coordinator: CgmCoordinator, description: CgmMetricSensorEntityDescription
    ) -> None:
        """Show the metric in the entry's unit where it is a glucose value."""
        super().__init__(coordinator, description)
        unit = coordinator.config_entry.data[CONF_UNIT]
        if description.device_class is SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION:
            self._attr_suggested_unit_of_measurement = unit
            self._attr_suggested_display_precision = precision(unit)
        if description.threshold is not None:
            self._attr_translation_placeholders = {
                "threshold": f"{to_unit(description.threshold, unit)} {unit}"
            }

    @property
    def _metrics(self) -> GlycemicMetrics | None:
        return self.entity_description.metrics_fn(self.coordinator.data)

    @property
    def available(self) -> bool:
        """Return whether the period holds any reading."""
        return self._metrics is not None

    @property
    def native_value(self) -> float | None:
        """Return the metric."""
        metrics = self._metrics
        return round(self.entity_description.value_fn(metrics), 2) if metrics else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the number of readings behind the metric."""
        metrics = self._metrics
        return {"readings": metrics.readings} if metrics else None
