"""Diagnostics of the CGM Handler integration."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import CgmConfigEntry
from .forecast import Forecast
from .share_health import ShareState
from .statistics import StatisticsImporter

TO_REDACT = {CONF_USERNAME, CONF_PASSWORD, "unique_id", "title", "session_id"}
RECENT_READINGS = 12


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: CgmConfigEntry
) -> dict[str, Any]:
    """Return the entry, coordinator state, recent readings and forecast, without secrets."""
    coordinator = entry.runtime_data
    readings = coordinator.data.readings
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval": str(coordinator.update_interval),
            "upload_delay": coordinator.poller.scheduler.upload_delay.total_seconds(),
            "poll_offsets": [
                offset.total_seconds() for offset in coordinator.poller.scheduler.offsets
            ],
            "readings_in_buffer": len(readings),
            "holes_in_buffer": coordinator.poller.backfill.holes,
        },
        "recent_readings": [
            {**asdict(reading), "out_of_range": reading.out_of_range}
            for reading in readings[-RECENT_READINGS:]
        ],
        "forecast": _forecast(coordinator.data.forecast),
        "statistics": _statistics(coordinator.statistics),
        "share": _share(coordinator.health.state),
    }


def _share(state: ShareState) -> dict[str, Any]:
    """Return how Share answers: since when it fails and why, and its rate limits."""
    return {
        "reachable": state.failing_since is None,
        "failing_since": _iso(state.failing_since),
        "last_error": state.last_error,
        "rate_limits": state.rate_limits,
        "rate_limited_seconds": state.rate_limited.total_seconds(),
        "rate_limited_until": _iso(state.limited_until),
    }


def _iso(moment: datetime | None) -> str | None:
    """Return a moment in ISO format, or None."""
    return moment.isoformat() if moment is not None else None


def _statistics(importer: StatisticsImporter) -> dict[str, Any]:
    """Return the hours waiting for the recorder, and since when imports fail."""
    since = importer.failing_since
    return {
        "hours_waiting_for_recorder": [hour.isoformat() for hour in sorted(importer.waiting)],
        "hours_not_read_back": [hour.isoformat() for hour in sorted(importer.sent)],
        "failing_since": since.isoformat() if since is not None else None,
    }


def _forecast(forecast: Forecast | None) -> dict[str, Any] | None:
    """Return the forecast: its start and (minutes ahead, mg/dL) to a tenth."""
    if forecast is None:
        return None
    return {
        "time": forecast.time.isoformat(),
        "points": [[minutes, round(value, 1)] for minutes, value in forecast.points],
    }
