"""Coordinator that fetches readings from Dexcom Share when they are due."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .agp_coordinator import AgpCoordinator
from .cadence import GAP
from .const import BUFFER, CONF_STALE_MINUTES, DOMAIN, LOGGER
from .forecast import Forecast, forecast
from .history import ReadingHistory
from .metrics import GlycemicMetrics
from .no_readings import NoReadingsWatch
from .periods import PERIODS, Period
from .scheduler import MAX_WAIT, TIMER_SLACK, Poller
from .share import GlucoseReading, ShareClient, ShareError, ShareRateLimitedError
from .share_health import ShareHealth, rate_limited_error
from .sign_in_guard import SignInGuard
from .statistics import StatisticsImporter

type CgmConfigEntry = ConfigEntry[CgmCoordinator]

# The share of readings by which the high upload delay shown has reached Share.
UPLOAD_DELAY_HIGH = 0.9


@dataclass(frozen=True, slots=True)
class Polling:
    """What the polls show: the upload delays learned, the plan and Share's answers."""

    upload_delay: timedelta
    upload_delay_p90: timedelta
    next_poll: datetime | None
    """The first poll planned for the next reading."""
    requests_24h: int
    """The reads asked of Share in the last 24 hours."""
    reachable: bool


@dataclass(frozen=True, slots=True)
class CgmData:
    """The readings of the last 24 hours, oldest first, the metrics and the forecast."""

    readings: tuple[GlucoseReading, ...]
    metrics: Mapping[Period, GlycemicMetrics | None] = field(default_factory=dict)
    """The metrics of the readings of each period up to the last update."""
    forecast: Forecast | None = None
    """The forecast from the newest readings; None when they are too sparse for one."""
    polling: Polling | None = None

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


class CgmCoordinator(DataUpdateCoordinator[CgmData]):
    """Poll Dexcom Share just after each reading is due, and backfill gaps.

    Each poll merges the new readings into the reading history, imports the hours that
    got readings into the recorder and returns the readings and metrics as one CgmData.
    """

    config_entry: CgmConfigEntry

    def __init__(self, hass: HomeAssistant, entry: CgmConfigEntry, client: ShareClient) -> None:
        """Set up the coordinator.

        Home Assistant logs its name, so it holds the entry id, not the title: that is the
        Dexcom username, often an email address or a phone number.
        """
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.entry_id}",
            update_interval=MAX_WAIT,
        )
        self.client = client
        self.guard = SignInGuard(hass, entry)
        self.health = ShareHealth(hass, entry)
        self.poller = Poller()
        self.history = ReadingHistory(hass, entry.entry_id)
        self.statistics = StatisticsImporter(hass, entry, self.history)
        self.agp = AgpCoordinator(hass, entry, self.history)
        self._readings: dict[datetime, GlucoseReading] = {}
        self._requests: deque[datetime] = deque()
        self._unsub_stale: CALLBACK_TYPE | None = None
        self.no_readings = NoReadingsWatch(hass, entry, dt_util.utcnow())
        # Keep polling, and importing statistics, when every entity is disabled.
        self.async_add_listener(lambda: None)

    async def _async_setup(self) -> None:
        """Read the stored reading history; go on watching an outage a reload interrupted."""
        await self.history.async_load()
        self.health.async_resume()

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
        except UpdateFailed as err:
            if (resume := self.guard.resume_at(now)) is not None:
                self._plan(resume)
            planned = resume or self.health.state.limited_until
            self.health.async_failed(now, _in_words(err), planned)
            self._slide(now)
            raise
        self.guard.async_signed_in()
        self.health.async_succeeded()
        self._merge(fetched, now)
        self.poller.read(self._readings.keys(), now)
        self.statistics.async_update(self.history.async_merge(fetched, now))
        readings = tuple(self._readings[key] for key in sorted(self._readings))
        data = CgmData(readings, self._metrics(now), forecast(readings), self._polling(now))
        self._plan(self.poller.next_poll(now))
        self._watch_stale(data.latest)
        self.no_readings.async_polled(now, self.history.newest)
        return data

    def _metrics(self, now: datetime) -> dict[Period, GlycemicMetrics | None]:
        """Return the metrics of each period up to now."""
        return {period: self.history.metrics(period.length, now) for period in PERIODS}

    def _polling(self, now: datetime) -> Polling:
        """Return what the polls show now."""
        while self._requests and self._requests[0] <= now - BUFFER:
            self._requests.popleft()
        scheduler = self.poller.scheduler
        return Polling(
            upload_delay=scheduler.delays.median,
            upload_delay_p90=scheduler.delays.quantile(UPLOAD_DELAY_HIGH),
            next_poll=scheduler.next_planned,
            requests_24h=len(self._requests),
            reachable=self.health.reachable,
        )

    def _slide(self, now: datetime) -> None:
        """Move the metric windows to now, keeping the readings."""
        if self.data is not None:
            self.data = replace(self.data, metrics=self._metrics(now), polling=self._polling(now))
            self.async_update_listeners()

    async def _async_fetch(self, now: datetime) -> list[GlucoseReading]:
        """Fetch the readings that are missing since the newest one, if the guard lets it."""
        password = self.config_entry.data[CONF_PASSWORD]
        try:
            self.guard.check(now, password)
            self.health.check(now)
            minutes, count = self.poller.window(self._readings.keys(), now)
            self._requests.append(now)
            return await self.client.get_readings(minutes, count)
        except ShareRateLimitedError as err:
            resume = self.poller.rate_limited(now, err.retry_after)
            self.health.async_rate_limited(now, resume)
            self._plan(resume)
            raise rate_limited_error(resume, now) from err
        except ShareError as err:
            if (refused := self.guard.refused(err, now, password)) is not None:
                raise refused from err
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


def _in_words(err: UpdateFailed) -> str:
    """Return what went wrong: the Share client's message (it holds no secret), or ours."""
    cause = err.__cause__
    return str(cause) if isinstance(cause, ShareError) else str(err)
