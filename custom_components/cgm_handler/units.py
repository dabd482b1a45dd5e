"""Glucose unit conversion."""

from __future__ import annotations

from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter

from .const import MGDL, MMOLL


def convert(mg_dl: float, unit: str) -> float:
    """Convert mg/dL to the unit."""
    return BloodGlucoseConcentrationConverter.convert(mg_dl, MGDL, unit)


def precision(unit: str) -> int:
    """Return the decimals a glucose value shows in the unit."""
    return 0 if unit == MGDL else 1


def to_unit(mg_dl: float, unit: str) -> float:
    """Convert mg/dL to the unit, rounded to what the unit shows."""
    if unit == MGDL:
        return round(mg_dl)
    return round(convert(mg_dl, MMOLL), precision(unit))


def from_unit(value: float, unit: str) -> int:
    """Convert a value in the unit to whole mg/dL."""
    return round(BloodGlucoseConcentrationConverter.convert(value, unit, MGDL))


def rate_to_unit(mg_dl_per_minute: float, unit: str) -> float:
    """Convert a rate in mg/dL per minute to the unit per minute, one decimal finer."""
    return round(convert(mg_dl_per_minute, unit), precision(unit) + 1)


def rate_from_unit(value: float, unit: str) -> float:
    """Convert a rate in the unit per minute to mg/dL per minute, to a tenth."""
    return round(BloodGlucoseConcentrationConverter.convert(value, unit, MGDL), 1)
