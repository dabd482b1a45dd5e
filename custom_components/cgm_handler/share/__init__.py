"""Asynchronous client of the Dexcom Share service; it does not use Home Assistant.

The package exports what the integration uses; the rest is in its modules.
"""

from .client import ShareClient, service_url
from .const import MAX_COUNT, MAX_MINUTES, Region
from .exceptions import (
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareError,
    ShareInvalidResponseError,
    ShareNullSessionError,
    ShareRateLimitedError,
    ShareUnavailableError,
    ShareUnrecognizedServerError,
)
from .models import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW, GlucoseReading, OutOfRange, Trend

__all__ = [
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
    "ShareError",
    "ShareInvalidResponseError",
    "ShareNullSessionError",
    "ShareRateLimitedError",
    "ShareUnavailableError",
    "ShareUnrecognizedServerError",
    "Trend",
    "service_url",
]
