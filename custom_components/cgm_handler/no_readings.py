"""A repair issue for an account that signs in but gets no readings for hours.

Share answers an empty list while sharing is off in the Dexcom app, which the app can
do by itself; only the stale sensor would show it otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant, callback

from .entry_issues import async_clear_issue, async_raise_issue

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

# Longer than any warm-up (2 hours for a G6, 30 minutes for a G7) plus the time to change
# the sensor, so a sensor change never raises the issue; short enough to say on the same
# day that readings stopped coming.
NO_READINGS_AFTER: Final = timedelta(hours=3)


NO_READINGS_ISSUE: Final = "no_readings"


@callback
def async_clear_no_readings(hass: HomeAssistant, entry_id: str) -> None:
    """Remove an entry's repair issue about missing readings."""
    async_clear_issue(hass, entry_id, NO_READINGS_ISSUE)


class NoReadingsWatch:
    """Raise the repair issue after hours of successful polls without a new reading.

    Each poll gives the newest reading of the history, which the Store keeps across
    restarts, so a restart does not start the count again. An entry that never had a reading
    counts from the moment it was set up.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, now: datetime) -> None:
        """Start watching the entry."""
        self._hass = hass
        self._entry = entry
        self._started = now
        self._newest: datetime | None = None

    @callback
    def async_polled(self, now: datetime, newest: datetime | None) -> None:
        """Note a successful poll and the newest reading known after it."""
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
        self._async_check(now)

    @callback
    def _async_check(self, now: datetime) -> None:
        """Raise the issue after hours without a reading; remove it once one came.

        Without any reading known (at setup, before the history is read) the issue is
        left as it is, so a reload never removes and raises it again.
        """
        if now - (self._newest or self._started) >= NO_READINGS_AFTER:
            hours = str(int(NO_READINGS_AFTER.total_seconds() // 3600))
            async_raise_issue(self._hass, self._entry, NO_READINGS_ISSUE, hours=hours)
        elif self._newest is not None:
            async_clear_no_readings(self._hass, self._entry.entry_id)
