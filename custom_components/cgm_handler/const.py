"""Constants of the CGM Handler integration."""

from datetime import timedelta
import logging
from typing import Final

from homeassistant.const import UnitOfBloodGlucoseConcentration

from .limits import HIGH, LOW, VERY_HIGH, VERY_LOW

DOMAIN: Final = "cgm_handler"
LOGGER = logging.getLogger(__package__)

CONF_REGION: Final = "region"
CONF_SERVER_URL: Final = "server_url"
CONF_UNIT: Final = "unit"

CONF_URGENT_LOW: Final = "urgent_low"
CONF_LOW: Final = "low"
CONF_HIGH: Final = "high"
CONF_URGENT_HIGH: Final = "urgent_high"
CONF_STALE_MINUTES: Final = "stale_minutes"
CONF_URGENT_LOW_SOON_LEVEL: Final = "urgent_low_soon_level"
CONF_URGENT_LOW_SOON_MINUTES: Final = "urgent_low_soon_minutes"
CONF_FAST_RATE: Final = "fast_rate"
CONF_STEADY_FALLS: Final = "steady_falls"
CONF_CHART_HOURS: Final = "chart_hours"

ATTR_OUT_OF_RANGE: Final = "out_of_range"

MGDL: Final = UnitOfBloodGlucoseConcentration.MILLIGRAMS_PER_DECILITER
MMOLL: Final = UnitOfBloodGlucoseConcentration.MILLIMOLE_PER_LITER

# Thresholds are stored in mg/dL whatever unit the entry shows.
DEFAULT_THRESHOLDS: Final = {
    CONF_URGENT_LOW: VERY_LOW,
    CONF_LOW: LOW,
    CONF_HIGH: HIGH,
    CONF_URGENT_HIGH: VERY_HIGH,
}
DEFAULT_STALE_MINUTES: Final = 15
# Dexcom's "urgent low soon": 55 mg/dL predicted within 20 minutes; rising and falling fast
# from 2 mg/dL per minute (stored in mg/dL/min whatever unit the entry shows). Warning of
# steady falls early is off: it costs several times the false alerts (docs/forecast.md).
DEFAULT_FORECAST_OPTIONS: Final = {
    CONF_URGENT_LOW_SOON_LEVEL: 55,
    CONF_URGENT_LOW_SOON_MINUTES: 20,
    CONF_FAST_RATE: 2.0,
    CONF_STEADY_FALLS: False,
}
# The hours the glucose chart may show; it opens on the last 3, as Dexcom's app does.
CHART_HOURS: Final = (3, 6, 12, 24)
DEFAULT_CHART_HOURS: Final = 3
# Stored in the options of every entry when it is created (or migrated to 1.3 to 1.6).
DEFAULT_OPTIONS: Final = {
    **DEFAULT_THRESHOLDS,
    CONF_STALE_MINUTES: DEFAULT_STALE_MINUTES,
    **DEFAULT_FORECAST_OPTIONS,
    CONF_CHART_HOURS: DEFAULT_CHART_HOURS,
}

# The readings the coordinator keeps whole (trend, time): Share's 24-hour window.
BUFFER: Final = timedelta(hours=24)
LOCKOUT_WAIT: Final = timedelta(minutes=30)
