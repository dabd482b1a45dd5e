"""Typed models of Dexcom Share data."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

# Dexcom sensors read 40-400 mg/dL. Share reports a reading below that range as 39, which
# Dexcom's app shows as LOW, and one above it as 401, shown as HIGH.
OUT_OF_RANGE_LOW: Final = 39
OUT_OF_RANGE_HIGH: Final = 401


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


class OutOfRange(StrEnum):
    """A reading beyond the sensor's range, as Dexcom's app shows it."""

    LOW = "low"
    HIGH = "high"


# Dexcom's legacy integer trends are indexes into this tuple.
LEGACY_TRENDS: tuple[Trend, ...] = tuple(Trend)


@dataclass(frozen=True, slots=True)
class GlucoseReading:
    """One sensor glucose value."""

    value: int
    """Glucose in mg/dL: 39 stands for LOW and 401 for HIGH (see out_of_range)."""
    trend: Trend
    time: datetime
    """The UTC instant of the reading (Dexcom's WT)."""
    display_time: datetime
    """The same instant in the UTC offset of the receiver (taken from Dexcom's DT)."""

    @property
    def out_of_range(self) -> OutOfRange | None:
        """Return LOW or HIGH when the reading is beyond the sensor's range, else None."""
        if self.value <= OUT_OF_RANGE_LOW:
            return OutOfRange.LOW
        if self.value >= OUT_OF_RANGE_HIGH:
            return OutOfRange.HIGH
        return None
