"""Glucose, range, trend, change, reading time, predicted glucose and metric sensors.

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
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import ATTR_OUT_OF_RANGE, CONF_UNIT, MGDL
from .coordinator import CgmConfigEntry, CgmCoordinator, CgmData, Polling
from .entity import CgmEntity
from .metrics import (
    TIME_ABOVE_180,
    TIME_ABOVE_250,
    TIME_BELOW_54,
    TIME_BELOW_70,
    TIME_IN_RANGE,
    TIME_IN_TIGHT_RANGE,
    GlucoseRange,
    GlycemicMetrics,
)
from .periods import DAY, FORTNIGHT, PERIODS, QUARTER, Period
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
    """Whether the readings are dense enough for a value."""
    needs_fresh: bool = True
    """Whether the value is shown only while the newest reading is fresh."""
    in_glucose_unit: bool = False
    in_rate_unit: bool = False
    """Whether the value is a rate of change, shown in the entry's unit per minute."""
    threshold: int | None = None
    """The glucose limit (mg/dL) named in the entity name, in the entry's unit."""


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
        in_rate_unit=True,
        value_fn=_rate,
    ),
    CgmSensorEntityDescription(
        key="reading_time",
        translation_key="reading_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        needs_fresh=False,
        available_fn=lambda data: data.latest is not None,
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
    # How the polls go: diagnostics, shown whatever the readings' age.
    CgmSensorEntityDescription(
        key="upload_delay",
        translation_key="upload_delay",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        needs_fresh=False,
        available_fn=lambda data: data.polling is not None,
        value_fn=lambda data, _: _seconds(data.polling, "upload_delay"),
    ),
    CgmSensorEntityDescription(
        key="upload_delay_p90",
        translation_key="upload_delay_p90",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_registry_enabled_default=False,
        needs_fresh=False,
        available_fn=lambda data: data.polling is not None,
        value_fn=lambda data, _: _seconds(data.polling, "upload_delay_p90"),
    ),
    CgmSensorEntityDescription(
        key="next_poll",
        translation_key="next_poll",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_registry_enabled_default=False,
        needs_fresh=False,
        available_fn=lambda data: data.polling is not None,
        value_fn=lambda data, _: data.polling.next_poll if data.polling else None,
    ),
    CgmSensorEntityDescription(
        key="share_requests_24h",
        translation_key="share_requests_24h",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        needs_fresh=False,
        available_fn=lambda data: data.polling is not None,
        value_fn=lambda data, _: data.polling.requests_24h if data.polling else None,
    ),
)


def _seconds(polling: Polling | None, name: str) -> float | None:
    """Return a delay of the polls in seconds."""
    return None if polling is None else getattr(polling, name).total_seconds()


@dataclass(frozen=True, slots=True)
class Metric:
    """A consensus metric (see metrics.py), with a sensor per period."""

    key: str
    value_fn: Callable[[GlycemicMetrics], float]
    enabled_by_default: tuple[Period, ...] = ()
    """The periods whose sensor of the metric is enabled by default."""
    in_glucose_unit: bool = False
    unit: str | None = PERCENTAGE
    threshold: int | None = None
    """The glucose limit (mg/dL) named in the sensor name."""


def _share_in(band: GlucoseRange, *enabled_by_default: Period) -> Metric:
    """Return the metric of the share of readings in a range."""
    return Metric(
        band.key,
        lambda metrics: metrics.in_ranges[band.key],
        enabled_by_default=enabled_by_default,
        threshold=band.limit,
    )


# The figures of the consensus's 14-day report, the 90-day GMI (the span an A1C reflects)
# and the 24-hour figures that were there before are enabled by default. The rest is there
# to be enabled: see the README.
METRICS: tuple[Metric, ...] = (
    Metric(
        "mean_glucose",
        lambda metrics: metrics.mean,
        enabled_by_default=(DAY, FORTNIGHT),
        in_glucose_unit=True,
        unit=MGDL,
    ),
    Metric("sd", lambda metrics: metrics.sd, in_glucose_unit=True, unit=MGDL),
    Metric("gmi", lambda metrics: metrics.gmi, enabled_by_default=(FORTNIGHT, QUARTER)),
    Metric("cv", lambda metrics: metrics.cv, enabled_by_default=(DAY, FORTNIGHT)),
    _share_in(TIME_IN_RANGE, DAY, FORTNIGHT),
    _share_in(TIME_IN_TIGHT_RANGE, FORTNIGHT),
    _share_in(TIME_BELOW_70, DAY, FORTNIGHT),
    _share_in(TIME_BELOW_54, FORTNIGHT),
    _share_in(TIME_ABOVE_180, DAY, FORTNIGHT),
    _share_in(TIME_ABOVE_250, FORTNIGHT),
    Metric("gri", lambda metrics: metrics.gri, enabled_by_default=(FORTNIGHT,), unit=None),
    Metric("gri_hypo", lambda metrics: metrics.gri_hypo, unit=None),
    Metric("gri_hyper", lambda metrics: metrics.gri_hyper, unit=None),
)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a period has readings, with a sensor per period.

    Any reading makes it available: it tells why the period's metrics are not.
    """

    key: str
    value_fn: Callable[[GlycemicMetrics | None], float]
    unit: str | None
    precision: int
    enabled_by_default: bool
    """Whether its sensor is enabled by default in the periods shown by default."""


COVERAGE: tuple[Coverage, ...] = (
    Coverage(
        "wear",
        lambda metrics: round(metrics.wear, 2) if metrics else 0.0,
        PERCENTAGE,
        1,
        enabled_by_default=True,
    ),
    Coverage(
        "readings",
        lambda metrics: metrics.readings if metrics else 0,
        None,
        0,
        enabled_by_default=False,
    ),
)


def _metric_sensor(metric: Metric, period: Period) -> CgmSensorEntityDescription:
    """Return the sensor of a metric over a period, unavailable with too little data."""

    def value_fn(data: CgmData, _: str) -> float | None:
        metrics = data.metrics.get(period)
        return round(metric.value_fn(metrics), 2) if metrics else None

    def available_fn(data: CgmData) -> bool:
        metrics = data.metrics.get(period)
        return metrics is not None and metrics.complete

    def attributes_fn(data: CgmData, _unit: str) -> dict[str, Any]:
        metrics = data.metrics.get(period)
        return {"readings": metrics.readings if metrics else 0}

    key = f"{metric.key}_{period.key}"
    return CgmSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.BLOOD_GLUCOSE_CONCENTRATION
        if metric.in_glucose_unit
        else None,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=metric.unit,
        suggested_display_precision=None if metric.in_glucose_unit else 1,
        entity_registry_enabled_default=period in metric.enabled_by_default,
        in_glucose_unit=metric.in_glucose_unit,
        threshold=metric.threshold,
        needs_fresh=False,
        available_fn=available_fn,
        value_fn=value_fn,
        attributes_fn=attributes_fn,
    )


def _coverage_sensor(coverage: Coverage, period: Period) -> CgmSensorEntityDescription:
    """Return the sensor of a period's coverage: available with any data."""
    key = f"{coverage.key}_{period.key}"
    return CgmSensorEntityDescription(
        key=key,
        translation_key=key,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=coverage.unit,
        suggested_display_precision=coverage.precision,
        entity_registry_enabled_default=coverage.enabled_by_default and period.shown_by_default,
        needs_fresh=False,
        value_fn=lambda data, _: coverage.value_fn(data.metrics.get(period)),
    )


METRIC_SENSORS: tuple[CgmSensorEntityDescription, ...] = tuple(
    description
    for period in PERIODS
    for description in (
        *(_metric_sensor(metric, period) for metric in METRICS),
        *(_coverage_sensor(coverage, period) for coverage in COVERAGE),
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
        elif description.in_rate_unit:
            self._attr_native_unit_of_measurement = f"{self._unit}/min"
            self._attr_suggested_display_precision = precision(self._unit) + 1
        if description.threshold is not None:
            self._attr_translation_placeholders = {
                "threshold": f"{to_unit(description.threshold, self._unit)} {self._unit}"
            }

    @property
    def available(self) -> bool:
        """Return whether there is a value to show: fresh where it must be, and dense enough."""
        description = self.entity_description
        fresh = super().available or not description.needs_fresh
        return fresh and description.available_fn(self.coordinator.data)

    @property
    def native_value(self) -> float | str | datetime | None:
        """Return the value computed from the readings."""
        return self.entity_description.value_fn(self.coordinator.data, self._unit)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the attributes computed from the readings, for the sensors that have any."""
        attributes_fn = self.entity_description.attributes_fn
        return attributes_fn(self.coordinator.data, self._unit) if attributes_fn else None
