"""The periods the metrics describe, from the last day to the span an A1C reflects."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Final


@dataclass(frozen=True, slots=True)
class Period:
    """A period up to now, with a sensor per metric (mean_glucose_14d) and its wear."""

    key: str
    """The end of the keys of its sensors."""
    length: timedelta
    shown_by_default: bool
    """Whether its wear sensor is enabled by default; each metric names the periods its
    sensor is enabled by default in (sensor.Metric.enabled_by_default)."""


DAY: Final = Period("24h", timedelta(hours=24), shown_by_default=True)
FORTNIGHT: Final = Period("14d", timedelta(days=14), shown_by_default=True)
"""The consensus's report; the AGP's period."""
MONTH: Final = Period("30d", timedelta(days=30), shown_by_default=False)
QUARTER: Final = Period("90d", timedelta(days=90), shown_by_default=True)
"""The span an A1C reflects."""

PERIODS: Final = (DAY, FORTNIGHT, MONTH, QUARTER)
