"""Hourly long-term statistics of every reading, and the 14-day history behind the metrics.

History: the readings of the last 14 days are kept in a Store per entry, so that the
14-day metrics survive restarts and cover every reading received, not only the 24 hours
Dexcom Share returns.

Statistics: for each hour, the mean, minimum and maximum glucose, the share of readings in
each consensus range and the number of readings are imported as external statistics
(source `cgm_handler`, ids built from the entry id), from the history, for every hour the
coordinator's 24-hour buffer reaches. Imports are upserts on the hour, so an hour is
imported again whenever it has more readings than the recorder holds for it, and never
with fewer: the oldest hour of Dexcom's 24-hour window is usually partial after a restart
or an outage, and must not replace a complete row. The counts the recorder holds are read
once per setup and tracked in memory after that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    statistics_during_period,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
from sqlalchemy.exc import SQLAlchemyError

from .const import DOMAIN, LOGGER, MGDL
from .coordinator import CgmConfigEntry
from .metrics import RANGES, GlucoseRange, GlycemicMetrics, compute
from .share import GlucoseReading

HOUR: Final = timedelta(hours=1)
# Share's window reaches back 24 hours, so its oldest hour starts at most 25 hours ago.

STORAGE_VERSION: Final = 1
HISTORY_SPAN: Final = timedelta(days=14)
KNOWN_SPAN: Final = HISTORY_SPAN + HOUR
METRICS_INTERVAL: Final = timedelta(minutes=5)
SAVE_DELAY: Final = 300  # seconds; whatever is lost in a crash is refetched from Share
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND: Final = timedelta(milliseconds=1)
HOUR_MS: Final = HOUR // MILLISECOND

DATA_HISTORY: HassKey[dict[str, ReadingHistory]] = HassKey(f"{DOMAIN}_history")


@dataclass(frozen=True, slots=True)
class HourlyStatistic:
    """One external statistic with a row per hour."""

    key: str
    name: str
    unit: str | None
    unit_class: str | None
    values_fn: Callable[[GlycemicMetrics], dict[str, float]]


def _glucose(metrics: GlycemicMetrics) -> dict[str, float]:
    return {"mean": metrics.mean, "min": float(metrics.minimum), "max": float(metrics.maximum)}


def _share(band: GlucoseRange) -> Callable[[GlycemicMetrics], dict[str, float]]:
    return lambda metrics: {"mean": metrics.in_ranges[band.key]}


def _count(metrics: GlycemicMetrics) -> dict[str, float]:
    return {"mean": metrics.readings}


READINGS_KEY: Final = "readings"

# The reading count comes last: the recorder runs imports in order, so a count in the
# database never claims more readings than the other statistics of that hour hold.
STATISTICS: Final[tuple[HourlyStatistic, ...]] = (
    HourlyStatistic(
        "glucose", "glucose", MGDL, BloodGlucoseConcentrationConverter.UNIT_CLASS, _glucose
    ),
    *(HourlyStatistic(band.key, band.name, PERCENTAGE, None, _share(band)) for band in RANGES),
    HourlyStatistic(
        READINGS_KEY, "readings", None, None, lambda metrics: {"mean": metrics.readings}
    ),
)


def statistic_id(entry_id: str, key: str) -> str:
    """Return the id of one statistic of an entry: stable, without account or username."""
    return f"{DOMAIN}:{key}_{entry_id.lower()}"


def hour_start(moment: datetime) -> datetime:
    """Return the start of the UTC hour of an instant."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def build_metadata(statistic: HourlyStatistic, entry_id: str, title: str) -> StatisticMetaData:
    """Return the metadata of a statistic."""
    return StatisticMetaData(
        has_sum=False,
        mean_type=StatisticMeanType.ARITHMETIC,
        name=f"{title} {statistic.name}",
        source=DOMAIN,
        statistic_id=statistic_id(entry_id, statistic.key),
        unit_class=statistic.unit_class,
        unit_of_measurement=statistic.unit,
    )


type HourSource = Callable[[], Mapping[datetime, Sequence[int]]]


class StatisticsImporter:
    """Import the hours that have more readings than the recorder already holds."""

    def __init__(self, hass: HomeAssistant, entry: CgmConfigEntry, source: HourSource) -> None:
        """Import the hours `source` returns, with their readings (mg/dL)."""
        self.hass = hass
        self.entry = entry
        self.source = source
        self.known: dict[datetime, int] = {}
        """Readings per hour in the recorder, as loaded at setup and imported since."""
        self._loaded = False
        self._loading = False

    @property
    def count_id(self) -> str:
        """Return the id of the reading-count statistic."""
        return statistic_id(self.entry.entry_id, READINGS_KEY)

    @callback
    def async_update(self) -> None:
        """Import what is new; load the known counts first."""
        if self._loaded:
            self._import(self.source())
        elif not self._loading:
            self._loading = True
            self.entry.async_create_background_task(
                self.hass, self._async_load(), f"{DOMAIN} load statistics counts"
            )

    async def _async_load(self) -> None:
        """Read the reading count of each recent hour from the recorder, then import."""
        instance = get_instance(self.hass)
        start = hour_start(dt_util.utcnow()) - KNOWN_SPAN
        try:
            # Imports queued before a reload must be in the database before it is read.
            await instance.async_block_till_done()
            rows = await instance.async_add_executor_job(
                statistics_during_period,
                self.hass,
                start,
                None,
                {self.count_id},
                "hour",
                None,
                {"mean"},
            )
        except SQLAlchemyError as err:
            LOGGER.warning("Could not read the imported statistics, retrying later: %s", err)
            return
        finally:
            self._loading = False
        for row in rows.get(self.count_id, []):
            self.known[datetime.fromtimestamp(row["start"], UTC)] = round(row.get("mean") or 0)
        self._loaded = True
        self._import(self.source())

    def _import(self, by_hour: Mapping[datetime, Sequence[int]]) -> None:
        """Import every hour that has more readings than the recorder holds for it.

        Hours older than Share's window only change when the recorder lost them (a purge,
        a new database) or never had them: the stored history then has more readings.
        """
        oldest = hour_start(dt_util.utcnow() - HISTORY_SPAN)
        for hour in [hour for hour in self.known if hour < oldest]:
            del self.known[hour]
        hours = sorted(
            hour
            for hour, values in by_hour.items()
            if hour >= oldest and len(values) > self.known.get(hour, 0)
        )
        by_hour_metrics = {
            hour: metrics for hour in hours if (metrics := compute(by_hour[hour])) is not None
        }
        if by_hour_metrics:
            entry_id, title = self.entry.entry_id, self.entry.title
            for statistic in STATISTICS:
                rows = [
                    cast("StatisticData", {"start": hour, **statistic.values_fn(metrics)})
                    for hour, metrics in by_hour_metrics.items()
                ]
                metadata = build_metadata(statistic, entry_id, title)
                async_add_external_statistics(self.hass, metadata, rows)
            for hour in hours:
                self.known[hour] = len(by_hour[hour])
            LOGGER.debug("Imported the statistics of %d hours from %s", len(hours), hours[0])


def to_ms(moment: datetime) -> int:
    """Return the epoch milliseconds of an instant."""
    return (moment - EPOCH) // MILLISECOND


class ReadingHistory:
    """The readings of the last 14 days, kept in a Store, and their metrics."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Use the entry's store; call async_load before use."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
        self._values: dict[int, int] = {}
        """mg/dL by epoch milliseconds."""
        self._now = dt_util.utcnow()
        self._metrics: dict[timedelta, GlycemicMetrics | None] = {}
        self._dirty = False

    async def async_load(self) -> None:
        """Read the stored readings."""
        data = await self._store.async_load()
        if data:
            self._values = {int(ms): int(value) for ms, value in data.get("readings", [])}

    @callback
    def async_merge(self, readings: Iterable[GlucoseReading], now: datetime) -> None:
        """Add new readings, forget those older than 14 days and save later."""
        changed = False
        for reading in readings:
            ms = to_ms(reading.time)
            if self._values.get(ms) != reading.value:
                self._values[ms] = reading.value
                changed = True
        cutoff = to_ms(now - HISTORY_SPAN)
        for ms in [ms for ms in self._values if ms <= cutoff]:
            del self._values[ms]
            changed = True
        self._now = now
        self._metrics.clear()
        if changed:
            self._dirty = True
            self._store.async_delay_save(self._data, SAVE_DELAY)

    def metrics(self, period: timedelta) -> GlycemicMetrics | None:
        """Return the metrics of the readings in the period before the last merge."""
        if period not in self._metrics:
            since = to_ms(self._now - period)
            self._metrics[period] = compute(v for ms, v in self._values.items() if ms > since)
        return self._metrics[period]

    @property
    def newest(self) -> datetime | None:
        """Return the time of the newest reading."""
        return EPOCH + max(self._values) * MILLISECOND if self._values else None

    def by_hour(self, since: datetime) -> dict[datetime, list[int]]:
        """Return the values of the readings from an hour on, per UTC hour, oldest first."""
        hours: defaultdict[int, list[int]] = defaultdict(list)
        start = to_ms(since)
        for ms in sorted(ms for ms in self._values if ms >= start):
            hours[ms // HOUR_MS * HOUR_MS].append(self._values[ms])
        return {EPOCH + ms * MILLISECOND: values for ms, values in hours.items()}

    def _data(self) -> dict[str, Any]:
        """Return what the store saves."""
        self._dirty = False
        return {"readings": [[ms, self._values[ms]] for ms in sorted(self._values)]}

    async def async_flush(self) -> None:
        """Save now what is waiting for a delayed save."""
        if self._dirty:
            await self._store.async_save(self._data())


def storage_key(entry_id: str) -> str:
    """Return the key of an entry's store."""
    return f"{DOMAIN}.{entry_id}"


async def async_setup_statistics(hass: HomeAssistant, entry: CgmConfigEntry) -> None:
    """Keep the history and the statistics up to date with the coordinator.

    The listener also keeps the coordinator polling when every entity is disabled.
    """
    coordinator = entry.runtime_data
    history = ReadingHistory(hass, entry.entry_id)
    await history.async_load()

    def hours_in_history() -> dict[datetime, list[int]]:
        # Every hour with all the readings received in it: an hour at the old end of the
        # buffer may have more in the history than in the buffer.
        return history.by_hour(hour_start(dt_util.utcnow() - HISTORY_SPAN))

    importer = StatisticsImporter(hass, entry, hours_in_history)

    @callback
    def _async_update() -> None:
        history.async_merge(coordinator.data.readings, dt_util.utcnow())
        importer.async_update()

    @callback
    def _async_tick(_now: datetime) -> None:
        # A failing coordinator stays silent; slide the metric windows all the same.
        if not coordinator.last_update_success:
            coordinator.async_update_listeners()

    _async_update()
    # The history remembers the newest reading across restarts, when Share has none.
    coordinator.no_readings.async_polled(dt_util.utcnow(), history.newest)
    entry.async_on_unload(coordinator.async_add_listener(_async_update))
    entry.async_on_unload(async_track_time_interval(hass, _async_tick, METRICS_INTERVAL))
    hass.data.setdefault(DATA_HISTORY, {})[entry.entry_id] = history


async def async_unload_statistics(hass: HomeAssistant, entry: CgmConfigEntry) -> None:
    """Save the history now."""
    if (history := hass.data.get(DATA_HISTORY, {}).pop(entry.entry_id, None)) is not None:
        await history.async_flush()


async def async_remove_statistics(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the stored history of a removed entry (imported statistics are kept)."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry_id)).async_remove()
