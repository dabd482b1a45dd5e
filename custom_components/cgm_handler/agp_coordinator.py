"""The AGP, redrawn every hour in the executor from the reading history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .agp import PERIOD, Agp, profile
from .agp_chart import render
from .const import CONF_UNIT, DOMAIN, LOGGER
from .history import ReadingHistory, to_ms

REDRAW: Final = timedelta(hours=1)


def build_agp(
    hours: Iterable[Mapping[int, int]], since: datetime, zone: tzinfo, unit: str, now: datetime
) -> Agp:
    """Return the profile of the readings after since and its chart in the unit.

    It sorts thousands of readings and writes the chart, so it runs in the executor; hours
    hold mg/dL by epoch ms.
    """
    cutoff = to_ms(since)
    readings = [(ms, value) for hour in hours for ms, value in hour.items() if ms > cutoff]
    agp = Agp(now, len(readings))
    if not agp.enough:
        return agp
    bins = profile(readings, zone)
    return replace(agp, bins=bins, chart=render(bins, unit))


class AgpCoordinator(DataUpdateCoordinator[Agp]):
    """Compute the AGP of the last 14 days at setup and then every hour.

    The event loop only lists the history's hours of the period; the readings are picked
    from them, and the percentiles and the chart computed, in the executor.
    """

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, history: ReadingHistory) -> None:
        """Draw from the entry's reading history; named without the title, as CgmCoordinator."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.entry_id} AGP",
            update_interval=REDRAW,
        )
        self.history = history

    async def _async_setup(self) -> None:
        """Keep redrawing for the get_agp action when the image entity is disabled."""
        self.async_add_listener(lambda: None)

    async def _async_update_data(self) -> Agp:
        """Return the AGP of the period up to now."""
        now = dt_util.utcnow()
        since = now - PERIOD
        return await self.hass.async_add_executor_job(
            build_agp,
            self.history.hours_since(since),
            since,
            dt_util.get_default_time_zone(),
            self.config_entry.data[CONF_UNIT],
            now,
        )
