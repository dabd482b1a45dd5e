"""Glucose limits in mg/dL: the consensus's ranges and the sensor's own range."""

from typing import Final

from .share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW

# The consensus's limits (Battelino et al., Diabetes Care 2019), and the top of its
# tight range (2023).
VERY_LOW: Final = 54
LOW: Final = 70
TIGHT_HIGH: Final = 140
HIGH: Final = 180
VERY_HIGH: Final = 250

# Dexcom sensors read 40-400 mg/dL; Share reports LOW and HIGH just outside.
SENSOR_MIN: Final = OUT_OF_RANGE_LOW + 1
SENSOR_MAX: Final = OUT_OF_RANGE_HIGH - 1
