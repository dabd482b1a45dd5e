"""Coordinator that fetches readings from Dexcom Share when they are due."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import hashlib
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .agp_coordinator import AgpCoordinator
from .const import (
    BUFFER,
    CONF_STALE_MINUTES,
    DOMAIN,
    LOCKOUT_WAIT,
    LOGGER,
)
from .forecast import Forecast, forecast
from .history import ReadingHistory
from .metrics import GlycemicMetrics
from .no_readings import NoReadingsWatch
from .scheduler import GAP, MAX_WAIT, TIMER_SLACK, Poller
from .share import (
    GlucoseReading,
    ShareAccountLockedError,
    ShareAuthenticationError,
    ShareClient,
    ShareError,
    ShareNullSessionError,
)
from .statistics import StatisticsImporter

type CgmConfigEntry = ConfigEntry[CgmCoordinator]

# Lockouts outlive a reload or a setup retry, so neither can cost a login.
LOCKOUTS: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_lockouts")
# So does a rejected password (by its digest): it is not tried again until it changes,
# since each failed login brings Dexcom's lockout closer.
REJECTED: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_rejected")
# Share has answered wrong passwords with a null session id, so one may count toward the
# lockout. After the first, one more login comes after the lockout wait (a passing server
# fault is over by then); a second in a row counts as a rejected password. So at most two
# such logins per password, remembered across reloads and setup retries like a lockout.
NULL_SESSION_RETRIES: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_null_session_retries")


def password_digest(password: str) -> str:
    """Return a digest that tells whether a password is the one Dexcom rejected."""
    return hashlib.sha256(password.encode()).hexdigest()


@callback
def async_clear_rejection(hass: HomeAssistant, entry_id: str) -> None:
    """Let the entry log in again: its password was just accepted by a sign-in."""
    hass.data.get(REJECTED, {}).pop(entry_id, None)
    hass.data.get(NULL_SESSION_RETRIES, {}).pop(entry_id, None)


def lock_issue_id(entry_id: str) -> str:
    """Return the id of the repair issue shown while an entry's account is locked."""
    return f"account_locked_{entry_id}"


@callback
def async_clear_lockout(hass: HomeAssistant, entry_id: str) -> None:
    """Forget an entry's lockout and remove its repair issue."""
    if hass.data.get(LOCKOUTS, {}).pop(entry_id, None) is not None:
        ir.async_delete_issue(hass, DOMAIN, lock_issue_id(entry_id))


@dataclass(frozen=True, slots=True)
class CgmData:
    """The readings of the last 24 hours, oldest first, the metrics and the forecast."""

    readings: tuple[GlucoseReading, ...]
    metrics: Mapping[timedelta, GlycemicMetrics | None] = field(default_factory=dict)
    """The metrics of the readings of each period (METRIC_PERIODS) up to the last update."""
    forecast: Forecast | None = None
    """The forecast from the newest readings; None when they are too sparse for one."""

    @property
    def latest(self) -> GlucoseReading | None:
        """Return the newest reading."""
        return self.readings[-1] if self.readings else None

    @property
    def previous(self) -> GlucoseReading | None:
        """Return the reading before the newest, if it is the one just before it."""
        if len(self.readings) < 2:  # noqa: PLR2004
            return None
        latest, previous = self.readings[-1], self.readings[-2]
        if latest.time - previous.time > GAP:
            return None
        return previous

    @property
    def change(self) -> float | None:
        """Return the change from the previous reading in mg/dL; none next to LOW or HIGH."""
        latest, previous = self.latest, self.previous
        if latest is None or previous is None:
            return None
        if latest.out_of_range is not None or previous.out_of_range is not None:
            return None  # LOW and HIGH are flags, not measurements
        return latest.value - previous.value

    @property
    def rate(self) -> float | None:
        """Return the rate of change from the previous reading in mg/dL per minute."""
        change = self.change
        if change is None or self.latest is None or self.previous is None:
            return None
        return change / ((self.latest.time - self.previous.time).total_seconds() / 60)


# The periods of the metrics: the last day, the consensus's 14 days, a month and the whole
# history (the span an A1C reflects).
METRIC_PERIODS: Final = (
    timedelta(hours=24),
    timedelta(days=14),
    timedelta(days=30),
    timedelta(days=90),
)


class CgmCoordinator(DataUpdateCoordinator[CgmData]):
    """Poll Dexcom Share just after each reading is due, and backfill gaps.

    Each poll merges the new readings into the reading history, imports the hours that
    got readings into the recorder and returns the readings and metrics as one CgmData.
    """

    config_entry: CgmConfigEntry

    def __init__(self, hass: HomeAssistant, entry: CgmConfigEntry, client: ShareClient) -> None:
        """Set up the coordinator."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=MAX_WAIT,
        )
        self.client = client
        self.poller = Poller()
        self.history = ReadingHistory(hass, entry.entry_id)
        self.statistics = StatisticsImporter(hass, entry, self.history)
        self.agp = AgpCoordinator(hass, entry, self.history)
        self._readings: dict[datetime, GlucoseReading] = {}
        self._lockouts = hass.data.setdefault(LOCKOUTS, {})
        self._rejected = hass.data.setdefault(REJECTED, {})
        self._null_retries = hass.data.setdefault(NULL_SESSION_RETRIES, {})
        self._unsub_stale: CALLBACK_TYPE | None = None
        self.no_readings = NoReadingsWatch(hass, entry, dt_util.utcnow())
        # Keep polling, and importing statistics, when every entity is disabled.
        self.async_add_listener(lambda: None)

    async def _async_setup(self) -> None:
        """Read the stored reading history."""
        await self.history.async_load()

    @property
    def stale_after(self) -> timedelta:
        """Return the age after which a reading is too old to show."""
        return timedelta(minutes=self.config_entry.options[CONF_STALE_MINUTES])

    def is_fresh(self, reading: GlucoseReading | None) -> bool:
        """Return whether a reading is younger than the stale limit."""
        return reading is not None and dt_util.utcnow() - reading.time < self.stale_after

    async def _async_update_data(self) -> CgmData:
        """Fetch the new readings and return them with the metrics.

        A failed poll still slides the metric windows, so they do not hold old readings.
        """
        now = dt_util.utcnow()
        try:
            fetched = await self._async_fetch(now)
        except UpdateFailed:
            self._slide(now)
            raise
        async_clear_lockout(self.hass, self.config_entry.entry_id)
        self._null_retries.pop(self.config_entry.entry_id, None)
        self._merge(fetched, now)
        self.poller.read(self._readings.keys(), now)
        self.statistics.async_update(self.history.async_merge(fetched, now))
        readings = tuple(self._readings[key] for key in sorted(self._readings))
        data = CgmData(readings, self._metrics(now), forecast(readings))
        self._plan(self.poller.next_poll(now))
        self._watch_stale(data.latest)
        self.no_readings.async_polled(now, self.history.newest)
        return data

    def _metrics(self, now: datetime) -> dict[timedelta, GlycemicMetrics | None]:
        """Return the metrics of each period up to now."""
        return {period: self.history.metrics(period, now) for period in METRIC_PERIODS}

    def _slide(self, now: datetime) -> None:
        """Move the metric windows to now, keeping the readings."""
        if self.data is not None:
            self.data = replace(self.data, metrics=self._metrics(now))
            self.async_update_listeners()

    async def _async_fetch(self, now: datetime) -> list[GlucoseReading]:
        """Fetch the readings that are missing since the newest one."""
        locked_until = self._lockouts.get(self.config_entry.entry_id)
        if locked_until is not None and now < locked_until:
            self._plan(locked_until)
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="account_locked")
        entry_id = self.config_entry.entry_id
        password = password_digest(self.config_entry.data[CONF_PASSWORD])
        if self._rejected.get(entry_id) == password:
            raise ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key="invalid_auth")
        self._wait_after_null_session(now)
        minutes, count = self.poller.window(self._readings.keys(), now)
        try:
            return await self.client.get_readings(minutes, count)
        except ShareNullSessionError as err:
            raise self._null_session(now, password) from err
        except ShareAuthenticationError as err:
            self._rejected[entry_id] = password
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except ShareAccountLockedError as err:
            self._lock(now)
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="account_locked") from err
        except ShareError as err:
            self._plan(self.poller.failed(now))
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": type(err).__name__},
            ) from err

    def _merge(self, fetched: list[GlucoseReading], now: datetime) -> None:
        """Add the fetched readings and forget those older than the buffer."""
        for reading in fetched:
            self._readings[reading.time] = reading
        cutoff = now - BUFFER
        for key in [key for key in self._readings if key < cutoff]:
            del self._readings[key]

    def _plan(self, when: datetime) -> None:
        """Schedule the next poll at a point in time."""
        self.update_interval = max(when - dt_util.utcnow(), timedelta(0)) + TIMER_SLACK

    def _lock(self, now: datetime) -> None:
        """Stop logging in while Dexcom keeps the account locked."""
        self._lockouts[self.config_entry.entry_id] = now + LOCKOUT_WAIT
        self._plan(now + LOCKOUT_WAIT)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            lock_issue_id(self.config_entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="account_locked",
            translation_placeholders={
                "title": self.config_entry.title,
                "minutes": _minutes(LOCKOUT_WAIT),
            },
        )

    def _wait_after_null_session(self, now: datetime) -> None:
        """Raise, without a login, until the one retry after a null session id is due."""
        retry_at = self._null_retries.get(self.config_entry.entry_id)
        if retry_at is not None and now < retry_at:
            self._plan(retry_at)
            raise _null_session_wait()

    def _null_session(self, now: datetime, password: str) -> HomeAssistantError:
        """Return the error of a null session id, planning the one retry after the first."""
        entry_id = self.config_entry.entry_id
        if self._null_retries.pop(entry_id, None) is not None:
            self._rejected[entry_id] = password
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="null_session_again"
            )
        self._null_retries[entry_id] = now + LOCKOUT_WAIT
        self._plan(now + LOCKOUT_WAIT)
        return _null_session_wait()

    def _watch_stale(self, latest: GlucoseReading | None) -> None:
        """Update the entities the moment the newest reading becomes stale."""
        if self._unsub_stale is not None:
            self._unsub_stale()
            self._unsub_stale = None
        if latest is not None and self.is_fresh(latest):
            self._unsub_stale = async_track_point_in_utc_time(
                self.hass, self._stale_reached, latest.time + self.stale_after
            )

    @callback
    def _stale_reached(self, _now: datetime) -> None:
        self._unsub_stale = None
        self.async_update_listeners()

    async def async_shutdown(self) -> None:
        """Cancel the stale timer and stop polling."""
        if self._unsub_stale is not None:
            self._unsub_stale()
            self._unsub_stale = None
        await super().async_shutdown()


def _minutes(delta: timedelta) -> str:
    """Return a duration in whole minutes, for a message."""
    return str(int(delta.total_seconds() // 60))


def _null_session_wait() -> UpdateFailed:
    """Return the error of a poll that waits to log in again after a null session id."""
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="null_session",
        translation_placeholders={"minutes": _minutes(LOCKOUT_WAIT)},
    )
