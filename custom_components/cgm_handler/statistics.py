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

An import counts only once the recorder holds it. The recorder only queues an import,
and drops it when the database fails (a PostgreSQL or MariaDB server that restarts or
cannot be reached): so after importing, the importer waits until the recorder has worked
through its queue and reads the hours back (one query for every statistic). An hour the
database does not hold as sent waits; while imports fail nothing more is queued, and the
waiting hours are read again with a backoff (30 s doubling to 5 minutes): the first read
that works imports them again at once. After 30 minutes of failures a repair issue says
so; it goes away by itself once every hour is written.

A statistic added in a later version (time in tight range) has no rows for the hours
imported before it: at setup, each hour the recorder counts readings for but lacks a row
of some statistic gets that statistic imported, from the history, when the history still
holds as many readings of the hour as the recorder counts.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
import threading
from typing import Any, Final, cast

from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    statistics_during_period,
)
from homeassistant.components.recorder.tasks import RecorderTask
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import PERCENTAGE
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BloodGlucoseConcentrationConverter
from sqlalchemy.exc import SQLAlchemyError

from .const import DOMAIN, LOGGER, MGDL
from .entry_issues import async_clear_issue, async_raise_issue, clock_time
from .history import HOUR, ReadingHistory, hour_start
from .metrics import RANGES, GlucoseRange, GlycemicMetrics

RETRY_FIRST: Final = timedelta(seconds=30)
RETRY_MAX: Final = timedelta(minutes=5)
"""While imports fail, the waiting hours are read back after 30 s, 1, 2, 4 and 5 minutes."""
REPAIR_AFTER: Final = timedelta(minutes=30)
IMPORT_ISSUE: Final = "statistics_not_written"
RECORDER_WAIT: Final = timedelta(seconds=10)
"""How long a read-back waits for the recorder to run the imports queued before it."""
IMPORT_BATCH: Final = 24
"""Hours per import; the next are sent once these are read back."""

type Values = dict[str, float]
type HourRows = dict[str, Values]
"""The values of one hour, by statistic key."""


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


def hour_rows(metrics: GlycemicMetrics, statistics: Iterable[HourlyStatistic]) -> HourRows:
    """Return the values of the statistics of one hour."""
    return {statistic.key: statistic.values_fn(metrics) for statistic in statistics}


def holds(row: Mapping[str, Any] | None, values: Values) -> bool:
    """Tell whether a row the recorder returned holds the values imported."""
    if row is None:
        return False
    return all(
        isinstance(row.get(name), int | float)
        and math.isclose(row[name], value, rel_tol=1e-9, abs_tol=1e-9)
        for name, value in values.items()
    )


class QueueMarker(RecorderTask):
    """A task that tells when the recorder's thread reaches it in its queue."""

    def __init__(self) -> None:
        """Not reached yet."""
        self.reached = threading.Event()

    def run(self, instance: Recorder) -> None:
        """Note that the recorder got here."""
        self.reached.set()


class StatisticsImporter:
    """Import the hours that have more readings than the recorder holds, until it holds them."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, history: ReadingHistory) -> None:
        """Import the hours of the history."""
        self.hass = hass
        self.entry = entry
        self.history = history
        self.known: dict[datetime, int] = {}
        """Readings per hour the recorder holds, as read back from it."""
        self.lacking: dict[datetime, list[HourlyStatistic]] = {}
        """The statistics the recorder has no (or a wrong) row of, for an hour it counts."""
        self.sent: dict[datetime, HourRows] = {}
        """The hours imported and not read back yet, with the values sent."""
        self.waiting: set[datetime] = set()
        """The hours the database did not take: they are imported again once it works."""
        self.failing_since: datetime | None = None
        self._failures = 0
        self._pending: set[datetime] = set()
        self._loaded = False
        self._busy = False
        self._retry: CALLBACK_TYPE | None = None
        entry.async_on_unload(self._cancel_retry)

    @property
    def count_id(self) -> str:
        """Return the id of the reading-count statistic."""
        return statistic_id(self.entry.entry_id, READINGS_KEY)

    @callback
    def async_update(self, hours: Iterable[datetime]) -> None:
        """Import the hours that got readings; load the known counts first.

        While the database fails, the hours wait for the next read-back instead.
        """
        self._pending.update(hours)
        if not self._loaded:
            if not self._busy and self._retry is None:
                self._start(self._async_load(), "load statistics counts")
        elif not self._failures:
            self._import()

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run a load or a read-back in the background; one at a time."""
        self._busy = True
        self.entry.async_create_background_task(self.hass, work, f"{DOMAIN} {name}")

    async def _async_read(
        self, start: datetime, end: datetime | None, types: set[str]
    ) -> dict[str, dict[datetime, dict[str, Any]]] | None:
        """Return the rows of every statistic from start to end, or None if unreadable."""
        instance = get_instance(self.hass)
        ids = {statistic_id(self.entry.entry_id, s.key): s.key for s in STATISTICS}
        await self._async_recorder_done()
        if self.hass.is_stopping:
            return None  # the recorder is closing its database; the next start reads again
        try:
            rows = await instance.async_add_executor_job(
                statistics_during_period, self.hass, start, end, set(ids), "hour", None, types
            )
        except (SQLAlchemyError, RuntimeError) as err:  # RuntimeError: not connected yet
            self._note_failing(f"could not read them back: {err}")
            return None
        return {
            key: {datetime.fromtimestamp(row["start"], UTC): dict(row) for row in rows.get(sid, [])}
            for sid, key in ids.items()
        }

    async def _async_recorder_done(self) -> None:
        """Wait until the recorder's thread has run what was queued before, or 10 s.

        A marker goes in always: the recorder's own `async_block_till_done` returns at once
        when its queue is empty, even while its thread still runs the last import. The wait
        is bounded in real time: a recorder stuck on its database (down, or a locked SQLite
        file) is read back anyway, and what it does not hold yet waits for the retries.
        """
        marker = QueueMarker()
        get_instance(self.hass).queue_task(marker)
        try:
            await self.hass.async_add_executor_job(
                marker.reached.wait, RECORDER_WAIT.total_seconds()
            )
        finally:
            marker.reached.set()  # a wait cancelled at shutdown frees its worker thread

    async def _async_load(self) -> None:
        """Read the reading count of each recent hour from the recorder, then import."""
        start = hour_start(dt_util.utcnow()) - self.history.span - HOUR
        rows = await self._async_read(start, None, {"mean"})
        self._busy = False
        if rows is None:
            self._failed()
            return
        for hour, row in rows[READINGS_KEY].items():
            self.known[hour] = round(row.get("mean") or 0)
        for statistic in STATISTICS:
            for hour in self.known.keys() - rows[statistic.key].keys():
                self.lacking.setdefault(hour, []).append(statistic)
        self._loaded = True
        # Hours older than Share's window only change when the recorder lost them (a purge,
        # a new database) or never had them: the history then has more readings.
        self._pending.update(self.history.hours(), self.waiting)
        self.waiting.clear()
        self._import()
        self._check_healthy()

    def _import(self) -> None:
        """Import the oldest pending hours that have more readings than the recorder holds.

        An hour with as many readings as the recorder holds gets the statistics it lacks. At
        most IMPORT_BATCH hours go at once, so that the recorder (on a new database, 90 days
        of them) has run each import by the time it is read back.
        """
        oldest = hour_start(dt_util.utcnow() - self.history.span)
        if not self._pending.issubset(self.known):  # a new hour: once an hour
            for hour in [hour for hour in self.known if hour < oldest]:
                del self.known[hour]
                self.lacking.pop(hour, None)
        due: dict[datetime, HourRows] = {}
        hours = iter(sorted(hour for hour in self._pending if hour >= oldest))
        for hour in hours:
            statistics = self._due(hour)
            if statistics and (metrics := self.history.hour_metrics(hour)):
                due[hour] = hour_rows(metrics, statistics)
                if len(due) == IMPORT_BATCH:
                    break
        self._pending = set(hours)
        if due:
            self._send(due)

    def _send(self, due: dict[datetime, HourRows]) -> None:
        """Queue the imports of some hours, then read them back."""
        entry_id, title = self.entry.entry_id, self.entry.title
        for statistic in STATISTICS:  # in their order: the reading count last
            if rows := [
                cast("StatisticData", {"start": hour, **values[statistic.key]})
                for hour, values in due.items()
                if statistic.key in values
            ]:
                metadata = build_metadata(statistic, entry_id, title)
                async_add_external_statistics(self.hass, metadata, rows)
        for hour, values in due.items():
            self.sent[hour] = {**self.sent.get(hour, {}), **values}
            self.lacking.pop(hour, None)
        LOGGER.debug("Imported the statistics of %d hours from %s", len(due), min(due))
        if not self._busy:
            self._start(self._async_check(), "check statistics")

    def _due(self, hour: datetime) -> tuple[HourlyStatistic, ...]:
        """Return the statistics of an hour to import: all of them, the lacking or none."""
        sent = self.sent.get(hour, {}).get(READINGS_KEY, {}).get("mean", 0)
        count, known = self.history.count(hour), max(self.known.get(hour, 0), round(sent))
        if count > known:
            return STATISTICS
        if count == known:
            return tuple(self.lacking.get(hour, ()))
        return ()

    async def _async_check(self) -> None:
        """Read back the hours sent until the recorder holds each as sent; send the next."""
        while self.sent:
            sent = dict(self.sent)
            rows = await self._async_read(min(sent), max(sent) + HOUR, {"mean", "min", "max"})
            missed = list(self.sent) if rows is None else self._compare(sent, rows)
            if missed:
                # The hours sent again meanwhile wait too: the retry compares them anew.
                self._busy = False
                self.waiting.update(missed, self.sent)
                self.sent.clear()
                self._failed()
                return
            if not self.sent:
                self._import()  # the next batch, if hours are left
        self._busy = False
        self._check_healthy()

    def _compare(
        self, sent: dict[datetime, HourRows], rows: dict[str, dict[datetime, dict[str, Any]]]
    ) -> list[datetime]:
        """Note the hours the recorder holds as sent; return those it does not hold."""
        missed = []
        for hour, values in sent.items():
            latest = self.sent[hour]
            if all(holds(rows[key].get(hour), latest[key]) for key in latest):
                del self.sent[hour]
                if READINGS_KEY in latest:
                    self.known[hour] = round(latest[READINGS_KEY]["mean"])
            elif latest is values:  # not sent again since: it did not land
                self.sent.pop(hour)
                self._reconcile(hour, rows)
                missed.append(hour)
        return missed

    def _reconcile(self, hour: datetime, rows: dict[str, dict[datetime, dict[str, Any]]]) -> None:
        """Take what the recorder holds for an hour as known, and what it lacks as lacking."""
        count = rows[READINGS_KEY].get(hour)
        self.known[hour] = round(count["mean"]) if count else 0
        metrics = self.history.hour_metrics(hour)
        if metrics is None or metrics.readings != self.known[hour]:
            self.lacking.pop(hour, None)
            return
        expected = hour_rows(metrics, STATISTICS)
        lacking = [s for s in STATISTICS if not holds(rows[s.key].get(hour), expected[s.key])]
        if lacking:
            self.lacking[hour] = lacking
        else:
            self.lacking.pop(hour, None)

    @callback
    def _note_failing(self, reason: str) -> None:
        """Note that the statistics are not written; tell the person after 30 minutes."""
        now = dt_util.utcnow()
        if self.failing_since is None:
            self.failing_since = now
            LOGGER.warning("The statistics are not written yet (%s); trying again", reason)
        elif now - self.failing_since >= REPAIR_AFTER:
            since = clock_time(self.failing_since)
            async_raise_issue(self.hass, self.entry, IMPORT_ISSUE, since=since)

    @callback
    def _failed(self) -> None:
        """Read the database again later, waiting longer each time."""
        if self.hass.is_stopping:
            return
        self._note_failing(f"{len(self.waiting)} hours not held by the recorder")
        self._failures += 1
        delay = min(RETRY_FIRST * 2 ** (self._failures - 1), RETRY_MAX)
        self._retry = async_call_later(self.hass, delay, self._retry_due)

    @callback
    def _retry_due(self, _now: datetime) -> None:
        self._retry = None
        if self._loaded:
            self._start(self._async_retry(), "retry statistics")
        else:
            self._start(self._async_load(), "load statistics counts")

    async def _async_retry(self) -> None:
        """Read the waiting hours back; once the database answers, import them again."""
        waiting = sorted(self.waiting)
        if not waiting:
            self._busy = False
            self._check_healthy()
            return
        rows = await self._async_read(waiting[0], waiting[-1] + HOUR, {"mean", "min", "max"})
        self._busy = False
        if rows is None:
            self._failed()
            return
        for hour in waiting:
            self._reconcile(hour, rows)
        self._pending.update(waiting)
        self.waiting.clear()
        self._import()
        self._check_healthy()

    def _check_healthy(self) -> None:
        """Forget the failures once nothing waits for the recorder."""
        if self.sent or self.waiting or self.failing_since is None:
            return
        LOGGER.info("The recorder holds the statistics again")
        self._failures = 0
        self.failing_since = None
        async_clear_issue(self.hass, self.entry.entry_id, IMPORT_ISSUE)
        if self._pending:  # hours of the polls made meanwhile
            self._import()

    @callback
    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry()
            self._retry = None
