"""Glucose, sensor range, trend, change and reading time sensors, and the glycemic metrics.

The metrics of a period are unavailable while the readings cover less of it than the
consensus asks (metrics.COMPLETE); its wear and reading-count sensors stay available and
tell why.
"""

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
from .units import convert, precision, to_unit

PARALLEL_UPDATES = 0

IN_RANGE = "in_range"


@dataclass(frozen=True, kw_only=True)
class CgmSensorEntityDescription(SensorEntityDescription):
    """A sensor computed from the readings, in the entry's unit where it matters."""

    value_fn: Callable[[CgmData, str], float | str | datetime | None]
    attributes_fn: Callable[[CgmData], dict[str, Any]] | None = None
    available_fn: Callable[[CgmData], bool] | None = None
    """Whether there is a value to show; without it, while the newest reading is fresh."""
    in_glucose_unit: bool = False
    threshold: int | None = None
    """The glucose limit (mg/dL) named in the entity name, in the entry's unit."""


def _change(data: CgmData) -> float | None:
    """Return the change from the previous reading in mg/dL; none next to LOW or HIGH."""
    latest, previous = data.latest, data.previous
    if latest is None or previous is None:
        return None
    if latest.out_of_range is not None or previous.out_of_range is not None:
        return None  # LOW and HIGH are flags, not measurements
    return latest.value - previous.value


def _out_of_range(data: CgmData) -> dict[str, Any]:
    """Return the glucose attribute that tells Dexcom's LOW and HIGH from a measured value."""
    flag = data.latest.out_of_range if data.latest else None
    return {ATTR_OUT_OF_RANGE: flag.value if flag else None}


def _rate(data: CgmData, unit: str) -> float | None:
    """Return the rate of change in the unit per minute."""
    change = _change(data)
    if change is None or data.latest is None or data.previous is None:
        return None
    minutes = (data.latest.time - data.previous.time).total_seconds() / 60
    return round(convert(change / minutes, unit), precision(unit) + 1)


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
        available_fn=lambda data: data.latest is not None,
        value_fn=lambda data, _: data.latest.time if data.latest else None,
    ),
)


@dataclass(frozen=True, slots=True)
class Metric:
    """A consensus metric (see metrics.py), with a sensor per period."""

    key: str
    value_fn: Callable[[GlycemicMetrics], float]
    in_glucose_unit: bool = False
    unit: str | None = PERCENTAGE
    threshold: int | None = None


def _in_range(band: GlucoseRange) -> Callable[[GlycemicMetrics], float]:
    return lambda metrics: metrics.in_ranges[band.key]


METRICS: tuple[Metric, ...] = (
    Metric("mean_glucose", lambda metrics: metrics.mean, in_glucose_unit=True, unit=MGDL),
    Metric("sd", lambda metrics: metrics.sd, in_glucose_unit=True, unit=MGDL),
    Metric("gmi", lambda metrics: metrics.gmi),
    Metric("cv", lambda metrics: metrics.cv),
    *(Metric(band.key, _in_range(band), threshold=band.limit) for band in RANGES),
    Metric("gri", lambda metrics: metrics.gri, unit=None),
    Metric("gri_hypo", lambda metrics: metrics.gri_hypo, unit=None),
    Metric("gri_hyper", lambda metrics: metrics.gri_hyper, unit=None),
)

PERIODS: tuple[tuple[str, timedelta], ...] = tuple(
    zip(("24h", "14d", "30d", "90d"), METRIC_PERIODS, strict=True)
)
# The figures of the consensus's 14-day report, the 90-day GMI (the span an A1C reflects)
# and the wear that tells why they are unavailable; the 24-hour figures that were there
# before. The rest is there to be enabled: see the README.
ENABLED_BY_DEFAULT = frozenset(
    {
        *(f"{key}_24h" for key in ("mean_glucose", "cv", "time_in_range", "wear")),
        *(f"{key}_24h" for key in ("time_below_70", "time_above_180")),
        *(f"{key}_14d" for key in ("mean_glucose", "gmi", "cv", "gri", "wear")),
        *(f"{band.key}_14d" for band in RANGES),
        "gmi_90d",
        "wear_90d",
    }
)


def _complete(period: timedelta) -> Callable[[CgmData], bool]:
    """Return whether the readings cover enough of the period (metrics.COMPLETE)."""

    def available_fn(data: CgmData) -> bool:
        metrics = data.metrics.get(period)
        return metrics is not None and metrics.complete

    return available_fn


def _readings(period: timedelta) -> Callable[[CgmData], dict[str, Any]]:
    """Return the attribute with the number of readings behind a metric."""

    def attributes_fn(data: CgmData) -> dict[str, Any]:
        metrics = data.metrics.get(period)
        return {"readings": metrics.readings if metrics else 0}

    return attributes_fn


def _metric_sensor(metric: Metric, suffix: str, period: timedelta) -> CgmSensorEntityDescription:
    """Return the sensor of a metric over a period, unavailable with too little data."""

    def value_fn(data: CgmData, _: str) -> float | None:
        metrics = data.metrics.get(period)
        return round(metric.value_fn(metrics), 2) if metrics else None

    key = f"{metric.key}_{suffix}"
    return CgmSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION
        if metric.in_glucose_unit
        else None,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=metric.unit,
        suggested_display_precision=None if metric.in_glucose_unit else 1,
        entity_registry_enabled_default=key in ENABLED_BY_DEFAULT,
        in_glucose_unit=metric.in_glucose_unit,
        threshold=metric.threshold,
        available_fn=_complete(period),
        value_fn=value_fn,
        attributes_fn=_readings(period),
    )


def _coverage_sensors(suffix: str, period: timedelta) -> list[CgmSensorEntityDescription]:
    """Return the wear and reading-count sensors of a period: available with any data."""

    def wear(data: CgmData, _: str) -> float:
        metrics = data.metrics.get(period)
        return round(metrics.wear, 2) if metrics else 0.0

    def readings(data: CgmData, _: str) -> int:
        metrics = data.metrics.get(period)
        return metrics.readings if metrics else 0

    return [
        CgmSensorEntityDescription(
            key=f"{name}_{suffix}",
            translation_key=f"{name}_{suffix}",
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=unit,
            suggested_display_precision=precision,
            entity_registry_enabled_default=f"{name}_{suffix}" in ENABLED_BY_DEFAULT,
            available_fn=lambda _: True,
            value_fn=value_fn,
        )
        for name, unit, precision, value_fn in (
            ("wear", PERCENTAGE, 1, wear),
            ("readings", None, 0, readings),
        )
    ]


METRIC_SENSORS: tuple[CgmSensorEntityDescription, ...] = tuple(
    description
    for suffix, period in PERIODS
    for description in (
        *(_metric_sensor(metric, suffix, period) for metric in METRICS),
        *_coverage_sensors(suffix, period),
    )
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CgmConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one Dexcom account."""
    coordinator = entry.runtime_data
    async_add_entities(
        CgmSensor(coordinator, description) for description in (*SENSORS, *METRIC_SENSORS)
    )


class CgmSensor(CgmEntity, SensorEntity):
    """A sensor of one Dexcom account."""

    entity_description: CgmSensorEntityDescription

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
        if description.threshold is not None:
            self._attr_translation_placeholders = {
                "threshold": f"{to_unit(description.threshold, self._unit)} {self._unit}"
            }

    @property
    def available(self) -> bool:
        """Return whether there is a value to show."""
        if (available_fn := self.entity_description.available_fn) is not None:
            return available_fn(self.coordinator.data)
        return super().available

    @property
    def native_value(self) -> float | str | datetime | None:
        """Return the value computed from the readings."""
        return self.entity_description.value_fn(self.coordinator.data, self._unit)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the attributes computed from the readings, for the sensors that have any."""
        attributes_fn = self.entity_description.attributes_fn
        return attributes_fn(self.coordinator.data) if attributes_fn else None
