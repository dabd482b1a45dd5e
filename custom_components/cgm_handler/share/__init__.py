"""Asynchronous client of the Dexcom Share service; it does not use Home Assistant."""

from .client import ShareClient, parse_readings, service_url
from .const import (
    APPLICATION_IDS,
    BASE_URLS,
    MAX_COUNT,
    MAX_MINUTES,
    Region,
)
from .exceptions import (
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareConnectionError,
    ShareError,
    ShareInvalidArgumentError,
    ShareInvalidResponseError,
    ShareNullSessionError,
    ShareServerError,
    ShareSessionError,
    ShareUnrecognizedServerError,
)
from .models import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW, GlucoseReading, OutOfRange, Trend

__all__ = [
    "APPLICATION_IDS",
    "BASE_URLS",
    "MAX_COUNT",
    "MAX_MINUTES",
    "OUT_OF_RANGE_HIGH",
    "OUT_OF_RANGE_LOW",
    "GlucoseReading",
    "OutOfRange",
    "Region",
    "ShareAccountLockedError",
    "ShareAuthenticationError",
    "ShareClient",
    "ShareConnectionError",
    "ShareError",
    "ShareInvalidArgumentError",
    "ShareInvalidResponseError",
    "ShareNullSessionError",
    "ShareServerError",
    "ShareSessionError",
    "ShareUnrecognizedServerError",
    "Trend",
    "parse_readings",
    "service_url",
]
