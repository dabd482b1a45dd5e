"""Hourly long-term statistics of every reading, imported into the recorder.

For each hour, the mean, minimum and maximum glucose, the share of readings in each
consensus range and the number of readings are imported as external statistics (source
`cgm_handler`, ids built from the entry id), from the coordinator's reading history.
Imports are upserts on the hour, so an hour is imported again whenever it has more
readings than the recorder holds for it, and never with fewer: the oldest hour of
Dexcom's 24-hour window is usually partial after a restart or an outage, and must not
replace a complete row. The counts the recorder holds are read once per setup, when
every hour of the history is compared with them; after that, each poll imports only the
hours that got readings.

A statistic added in a later version (time in tight range) has no rows for the hours
imported before it: at setup, each hour the recorder counts readings for but lacks a row
of some statistic gets that statistic imported, from the history, when the history still
holds as many readings of the hour as the recorder counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, cast

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    statistics_during_period,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
from sqlalchemy.exc import SQLAlchemyError

from .const import DOMAIN, LOGGER, MGDL
from .history import ReadingHistory
from .metrics import RANGES, GlucoseRange, GlycemicMetrics

HOUR: Final = timedelta(hours=1)


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


class StatisticsImporter:
    """Import the hours that have more readings than the recorder already holds."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, history: ReadingHistory) -> None:
        """Import the hours of the history."""
        self.hass = hass
        self.entry = entry
        self.history = history
        self.known: dict[datetime, int] = {}
        """Readings per hour in the recorder, as loaded at setup and imported since."""
        self.lacking: dict[datetime, list[HourlyStatistic]] = {}
        """The statistics the recorder has no row of for an hour it counts readings of."""
        self._pending: set[datetime] = set()
        self._loaded = False
        self._loading = False

    @property
    def count_id(self) -> str:
        """Return the id of the reading-count statistic."""
        return statistic_id(self.entry.entry_id, READINGS_KEY)

    @callback
    def async_update(self, hours: Iterable[datetime]) -> None:
        """Import the hours that got readings; load the known counts first."""
        self._pending.update(hours)
        if self._loaded:
            self._import()
        elif not self._loading:
            self._loading = True
            self.entry.async_create_background_task(
                self.hass, self._async_load(), f"{DOMAIN} load statistics counts"
            )

    async def _async_load(self) -> None:
        """Read the reading count of each recent hour from the recorder, then import."""
        instance = get_instance(self.hass)
        start = hour_start(dt_util.utcnow()) - self.history.span - HOUR
        ids = {
            statistic.key: statistic_id(self.entry.entry_id, statistic.key)
            for statistic in STATISTICS
        }
        try:
            # Imports queued before a reload must be in the database before it is read.
            await instance.async_block_till_done()
            rows = await instance.async_add_executor_job(
                statistics_during_period,
                self.hass,
                start,
                None,
                set(ids.values()),
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
        for statistic in STATISTICS:
            held = {
                datetime.fromtimestamp(row["start"], UTC)
                for row in rows.get(ids[statistic.key], [])
            }
            for hour in self.known.keys() - held:
                self.lacking.setdefault(hour, []).append(statistic)
        self._loaded = True
        # Hours older than Share's window only change when the recorder lost them (a purge,
        # a new database) or never had them: the history then has more readings.
        self._pending.update(self.history.hours())
        self._import()

    def _import(self) -> None:
        """Import every pending hour that has more readings than the recorder holds.

        An hour with as many readings as the recorder holds gets the statistics it lacks.
        """
        oldest = hour_start(dt_util.utcnow() - self.history.span)
        if not self._pending.issubset(self.known):  # a new hour: once an hour
            for hour in [hour for hour in self.known if hour < oldest]:
                del self.known[hour]
                self.lacking.pop(hour, None)
        plan: dict[HourlyStatistic, list[datetime]] = {}
        by_hour: dict[datetime, GlycemicMetrics] = {}
        for hour in sorted(hour for hour in self._pending if hour >= oldest):
            statistics = self._due(hour)
            if statistics and (metrics := self.history.hour_metrics(hour)):
                by_hour[hour] = metrics
                for statistic in statistics:
                    plan.setdefault(statistic, []).append(hour)
        self._pending.clear()
        if not by_hour:
            return
        entry_id, title = self.entry.entry_id, self.entry.title
        for statistic in STATISTICS:  # in their order: the reading count last
            if hours := plan.get(statistic):
                rows = [
                    cast("StatisticData", {"start": hour, **statistic.values_fn(by_hour[hour])})
                    for hour in hours
                ]
                metadata = build_metadata(statistic, entry_id, title)
                async_add_external_statistics(self.hass, metadata, rows)
        for hour, metrics in by_hour.items():
            self.known[hour] = max(metrics.readings, self.known.get(hour, 0))
            self.lacking.pop(hour, None)
        LOGGER.debug("Imported the statistics of %d hours from %s", len(by_hour), min(by_hour))

    def _due(self, hour: datetime) -> tuple[HourlyStatistic, ...]:
        """Return the statistics of an hour to import: all of them, the lacking or none."""
        count, known = self.history.count(hour), self.known.get(hour, 0)
        if count > known:
            return STATISTICS
        if count == known:
            return tuple(self.lacking.get(hour, ()))
        return ()
