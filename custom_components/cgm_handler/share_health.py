"""How Dexcom Share has been answering an entry: outages, rate limits and their repair.

Share has had outages of hours (while the Dexcom app kept working), and it limits the
requests of a busy account. After 30 minutes of failed polls a repair issue says since when
Share does not answer, the last error, and that the readings will be filled in; planned
wait of an outage (after a lockout or a rate limit) is not counted. What the entry knows is kept in
hass.data, so that a reload or a setup retry neither forgets a rate limit nor starts the
outage's count again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import BUFFER, DOMAIN
from .entry_issues import async_clear_issue, async_raise_issue, clock_time

OUTAGE_REPAIR_AFTER: Final = timedelta(minutes=30)
OUTAGE_ISSUE: Final = "share_not_answering"


@dataclass(slots=True)
class ShareState:
    """What an entry knows about Share's answers."""

    failing_since: datetime | None = None
    """The first failed poll since the last successful one."""
    last_error: str | None = None
    """The last error, in words (the Share client's messages hold no secret)."""
    excused: timedelta = timedelta(0)
    """The first planned wait since failing_since: it does not count toward the repair."""
    excused_until: datetime | None = None
    limited_until: datetime | None = None
    """When the server's rate limit ends, as it asked."""
    rate_limits: int = 0
    """The HTTP 429 answers since the entry was loaded first."""
    rate_limited: timedelta = timedelta(0)
    """The time spent waiting for rate limits to end."""
    unsub: CALLBACK_TYPE | None = field(default=None, repr=False, compare=False)
    """The timer of the repair; it outlives a failed setup, as the outage does."""


STATES: HassKey[dict[str, ShareState]] = HassKey(f"{DOMAIN}_share_states")


@callback
def async_forget_share_state(hass: HomeAssistant, entry_id: str) -> None:
    """Forget what an entry knew about Share and remove its repair issue."""
    if (state := hass.data.get(STATES, {}).pop(entry_id, None)) is not None:
        _cancel(state)
    async_clear_issue(hass, entry_id, OUTAGE_ISSUE)


class ShareHealth:
    """Follow the polls of one entry: their failures, the rate limits and the repair."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Use the state that outlives the entry's reloads."""
        self._hass = hass
        self._entry = entry
        if STATES not in hass.data:
            hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, partial(_async_stop_all, hass))
        self.state = hass.data.setdefault(STATES, {}).setdefault(entry.entry_id, ShareState())

    @property
    def reachable(self) -> bool:
        """Return whether the last poll got an answer from Share."""
        return self.state.failing_since is None

    def check(self, now: datetime) -> None:
        """Raise, without a request, while the server's rate limit lasts."""
        until = self.state.limited_until
        if until is not None and now < until:
            raise rate_limited_error(until, now)

    @callback
    def async_rate_limited(self, now: datetime, until: datetime) -> None:
        """Count a 429, and the wait until the limit ends."""
        state = self.state
        state.rate_limits += 1
        state.rate_limited += until - max(now, state.limited_until or now)
        state.limited_until = max(until, state.limited_until or until)

    @callback
    def async_failed(self, now: datetime, error: str, planned_until: datetime | None) -> None:
        """Note a failed poll, and a planned wait after it; raise the repair when due."""
        state = self.state
        if state.failing_since is None:
            state.failing_since, state.excused, state.excused_until = now, timedelta(0), None
        state.last_error = error
        # Only the first planned wait is not counted: a second limit or lockout in a row
        # means Share keeps refusing, which the person should hear about.
        if planned_until is not None and planned_until > now and state.excused_until is None:
            state.excused, state.excused_until = planned_until - now, planned_until
        self._async_check(now)

    @callback
    def async_stop(self) -> None:
        """Stop watching: the entry unloads (a failed setup does not call this)."""
        _cancel(self.state)

    @callback
    def async_succeeded(self) -> None:
        """Forget the outage and remove its repair issue."""
        _cancel(self.state)
        self.state.failing_since = self.state.last_error = None
        self.state.limited_until = None
        async_clear_issue(self._hass, self._entry.entry_id, OUTAGE_ISSUE)

    @callback
    def async_resume(self) -> None:
        """Watch an outage a reload or a setup retry interrupted."""
        if self.state.failing_since is not None:
            self._async_check(dt_util.utcnow())

    @callback
    def _async_check(self, now: datetime) -> None:
        """Raise the repair once the outage lasts long enough; else check again then."""
        _cancel(self.state)
        since = self.state.failing_since
        if since is None:
            return
        due = since + OUTAGE_REPAIR_AFTER + self.state.excused
        if now >= due:
            self._raise_issue(since)
        else:
            self.state.unsub = async_track_point_in_utc_time(self._hass, self._async_due, due)

    @callback
    def _async_due(self, now: datetime) -> None:
        self.state.unsub = None
        self._async_check(now)

    def _raise_issue(self, since: datetime) -> None:
        """Say since when Share does not answer, the last error and that no reading is lost."""
        async_raise_issue(
            self._hass,
            self._entry,
            OUTAGE_ISSUE,
            since=clock_time(since),
            error=self.state.last_error or "",
            hours=str(int(BUFFER.total_seconds() // 3600)),
        )


@callback
def _async_stop_all(hass: HomeAssistant, _event: Event) -> None:
    """Cancel every repair timer as Home Assistant stops (an entry may be in setup retry)."""
    for state in hass.data.get(STATES, {}).values():
        _cancel(state)


@callback
def _cancel(state: ShareState) -> None:
    """Cancel the repair's timer."""
    if state.unsub is not None:
        state.unsub()
        state.unsub = None


def rate_limited_error(until: datetime, now: datetime) -> UpdateFailed:
    """Return the error of a poll while the server limits requests."""
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="rate_limited",
        translation_placeholders={"minutes": whole_minutes(until - now)},
    )


def whole_minutes(wait: timedelta) -> str:
    """Return a wait in whole minutes, rounded up and at least one, for a message."""
    return str(max(1, -(-wait // timedelta(minutes=1))))
