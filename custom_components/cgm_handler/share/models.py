"""Typed models of Dexcom Share data."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Trend(StrEnum):
    """The direction of glucose, as Dexcom reports it."""

    NONE = "none"
    DOUBLE_UP = "double_up"
    SINGLE_UP = "single_up"
    FORTY_FIVE_UP = "forty_five_up"
    FLAT = "flat"
    FORTY_FIVE_DOWN = "forty_five_down"
    SINGLE_DOWN = "single_down"
    DOUBLE_DOWN = "double_down"
    NOT_COMPUTABLE = "not_computable"
    RATE_OUT_OF_RANGE = "rate_out_of_range"


# Dexcom's legacy integer trends are indexes into this tuple.
LEGACY_TRENDS: tuple[Trend, ...] = tuple(Trend)


@dataclass(frozen=True, slots=True)
class GlucoseReading:
    """One sensor glucose value."""

    value: int
    """Glucose in mg/dL."""
    trend: Trend
    time: datetime
    """The UTC instant of the reading (Dexcom's WT)."""
    display_time: datetime
    """The same instant in the UTC offset of the receiver (taken from Dexcom's DT)."""
