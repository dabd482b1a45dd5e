"""Low, high, stale, urgent low soon, falling and rising fast, and Share reachable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_FAST_RATE,
    CONF_HIGH,
    CONF_LOW,
    CONF_STEADY_FALLS,
    CONF_URGENT_HIGH,
    CONF_URGENT_LOW,
    CONF_URGENT_LOW_SOON_LEVEL,
    CONF_URGENT_LOW_SOON_MINUTES,
)
from .coordinator import CgmConfigEntry, CgmData
from .entity import CgmEntity
from .forecast import urgent_low_soon

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class CgmThresholdDescription(BinarySensorEntityDescription):
    """A binary sensor that compares glucose with one threshold from the options."""

    option: str
    """The option that holds the threshold, in mg/dL."""
    compare_fn: Callable[[int, int], bool]


THRESHOLD_SENSORS: tuple[CgmThresholdDescription, ...] = (
    CgmThresholdDescription(
        key="urgent_low",
        translation_key="urgent_low",
        option=CONF_URGENT_LOW,
        compare_fn=lambda v, t: v < t,
    ),
    CgmThresholdDescription(
        key="low", translation_key="low", option=CONF_LOW, compare_fn=lambda v, t: v < t
    ),
    CgmThresholdDescription(
        key="high", translation_key="high", option=CONF_HIGH, compare_fn=lambda v, t: v > t
    ),
    CgmThresholdDescription(
        key="urgent_high",
        translation_key="urgent_high",
        option=CONF_URGENT_HIGH,
        compare_fn=lambda v, t: v > t,
    ),
)


@dataclass(frozen=True, kw_only=True)
class CgmOutlookDescription(BinarySensorEntityDescription):
    """A binary sensor on the forecast or the rate of change, with limits from the options.

    value_fn returns None when the readings are too sparse to tell.
    """

    value_fn: Callable[[CgmData, Mapping[str, Any]], bool | None]


def _urgent_low_soon(data: CgmData, options: Mapping[str, Any]) -> bool | None:
    """Return whether the forecast reaches the level within the horizon (forecast.py)."""
    if data.forecast is None:
        return None
    level, minutes = options[CONF_URGENT_LOW_SOON_LEVEL], options[CONF_URGENT_LOW_SOON_MINUTES]
    return urgent_low_soon(data.readings, level, minutes, steady_falls=options[CONF_STEADY_FALLS])


def _fast(sign: int) -> Callable[[CgmData, Mapping[str, Any]], bool | None]:
    """Return whether glucose changes at least at the rate from the options, up (1) or down (-1)."""

    def value_fn(data: CgmData, options: Mapping[str, Any]) -> bool | None:
        rate = data.rate
        return None if rate is None else sign * rate >= options[CONF_FAST_RATE]

    return value_fn


OUTLOOK_SENSORS: tuple[CgmOutlookDescription, ...] = (
    CgmOutlookDescription(
        key="urgent_low_soon", translation_key="urgent_low_soon", value_fn=_urgent_low_soon
    ),
    CgmOutlookDescription(key="falling_fast", translation_key="falling_fast", value_fn=_fast(-1)),
    CgmOutlookDescription(key="rising_fast", translation_key="rising_fast", value_fn=_fast(1)),
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
            *(CgmOutlookSensor(coordinator, description) for description in OUTLOOK_SENSORS),
            CgmShareReachableSensor(coordinator, SHARE_REACHABLE),
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
        threshold = self.coordinator.config_entry.options[self.entity_description.option]
        return self.entity_description.compare_fn(latest.value, threshold)


class CgmOutlookSensor(CgmEntity, BinarySensorEntity):
    """On while the forecast or the rate of change crosses a limit from the options."""

    entity_description: CgmOutlookDescription

    @property
    def _value(self) -> bool | None:
        return self.entity_description.value_fn(
            self.coordinator.data, self.coordinator.config_entry.options
        )

    @property
    def available(self) -> bool:
        """Return whether the readings are fresh and dense enough to tell."""
        return super().available and self._value is not None

    @property
    def is_on(self) -> bool | None:
        """Return whether the limit is crossed."""
        return self._value


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


SHARE_REACHABLE = BinarySensorEntityDescription(
    key="share_reachable",
    translation_key="share_reachable",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


class CgmShareReachableSensor(CgmEntity, BinarySensorEntity):
    """On while the last poll got an answer from Dexcom Share."""

    @property
    def available(self) -> bool:
        """Stay available: whether Share answers is what this sensor reports."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether the last poll got an answer."""
        return self.coordinator.health.reachable
