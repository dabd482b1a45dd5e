"""The readings of the last 90 days, kept in a Store per entry.

They let the metrics of 14, 30 and 90 days survive restarts and cover every reading
received, not only the 24 hours Dexcom Share returns, and they are what the hourly
statistics are built from. The readings are grouped by UTC hour, with each hour's totals
kept, and the totals of a period's whole hours are added up once an hour, so that the work
of a poll grows with the new readings rather than with the history.

The stored form is the one of the 14-day history (version 1): [epoch ms, mg/dL] pairs, so
a store written with 14 days loads as it is and grows to 90 days. Reading and writing the
file, and building it or the hours from it, run in the executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .metrics import GlycemicMetrics, Totals
from .periods import PERIODS
from .share import GlucoseReading

STORAGE_VERSION: Final = 1
SPAN: Final = max(period.length for period in PERIODS)
"""What the history keeps: the longest period of the metrics."""
# Seconds from a change to the save that holds it: the file of 90 days is about 1.3 MB, and
# whatever a crash loses is refetched from Share's 24 hours at the next start.
SAVE_DELAY: Final = 3600
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND: Final = timedelta(milliseconds=1)
HOUR: Final = timedelta(hours=1)
HOUR_MS: Final = HOUR // MILLISECOND


def to_ms(moment: datetime) -> int:
    """Return the epoch milliseconds of an instant."""
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    """Return the instant of epoch milliseconds."""
    return EPOCH + ms * MILLISECOND


def hour_start_ms(ms: int) -> int:
    """Return the start of the UTC hour of an instant, both in epoch milliseconds."""
    return ms // HOUR_MS * HOUR_MS


def hour_start(moment: datetime) -> datetime:
    """Return the start of the UTC hour of an instant."""
    return from_ms(hour_start_ms(to_ms(moment)))


def storage_key(entry_id: str) -> str:
    """Return the key of an entry's store."""
    return f"{DOMAIN}.{entry_id}"


def stored_form(values: Mapping[int, int]) -> dict[str, Any]:
    """Return what the store saves: [epoch ms, mg/dL] pairs, oldest first."""
    return {"readings": [[ms, values[ms]] for ms in sorted(values)]}


def by_hour(readings: Iterable[Iterable[int]]) -> dict[int, dict[int, int]]:
    """Return stored [epoch ms, mg/dL] pairs as mg/dL by epoch ms, per UTC hour."""
    hours: dict[int, dict[int, int]] = {}
    for ms, value in readings:
        hours.setdefault(hour_start_ms(int(ms)), {})[int(ms)] = int(value)
    return hours


class ReadingHistory:
    """The readings of the last 90 days, by UTC hour."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Use the entry's store; call async_load before use."""
        self.hass = hass
        # The saved data is built from the hours in the executor: see _data.
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(entry_id), serialize_in_event_loop=False
        )
        self.span = SPAN
        self._hours: dict[int, dict[int, int]] = {}
        """mg/dL by epoch milliseconds, per UTC hour (epoch milliseconds of its start).

        An hour's dict is replaced, never changed, so that a save can read it from the
        executor while new readings arrive."""
        self._totals: dict[int, Totals] = {}
        self._settled: dict[timedelta, tuple[int, int, Totals]] = {}
        """By period: the first and the newest hour, and the totals of the hours between."""
        self._last = 0
        """The start of the newest hour."""
        self._trimmed_before = 0
        """The start of the oldest hour kept at the last trim of whole hours."""
        self._dirty = False
        """Whether a change waits for its save."""

    async def async_load(self) -> None:
        """Read the stored readings."""
        data = await self._store.async_load()
        if data:
            readings = data.get("readings", [])
            self._hours = await self.hass.async_add_executor_job(by_hour, readings)
            self._last = max(self._hours, default=0)

    def _add(self, ms: int, value: int) -> int | None:
        """Add or change one reading; return the start of its hour if it was new or changed."""
        start = hour_start_ms(ms)
        hour = self._hours.get(start, {})
        if hour.get(ms) == value:
            return None
        self._hours[start] = {**hour, ms: value}
        self._totals.pop(start, None)
        if start < self._last:  # a gap filled: the settled hours changed
            self._settled.clear()
        self._last = max(self._last, start)
        return start

    @callback
    def async_merge(self, readings: Iterable[GlucoseReading], now: datetime) -> set[datetime]:
        """Add readings, forget those older than the span and save later.

        Return the hours that got a new or changed reading.
        """
        added = {
            start
            for reading in readings
            if (start := self._add(to_ms(reading.time), reading.value)) is not None
        }
        changed = bool(added)
        cutoff = to_ms(now - self.span)
        oldest = hour_start_ms(cutoff)
        if oldest > self._trimmed_before:  # once an hour
            self._trimmed_before = oldest
            for start in [start for start in self._hours if start < oldest]:
                del self._hours[start]
                self._totals.pop(start, None)
                changed = True
            self._settled.clear()
        if (hour := self._hours.get(oldest)) and any(ms <= cutoff for ms in hour):
            if kept := {ms: value for ms, value in hour.items() if ms > cutoff}:
                self._hours[oldest] = kept
            else:
                del self._hours[oldest]
            self._totals.pop(oldest, None)
            changed = True
        if changed and not self._dirty:  # the save reads the hours when it runs
            self._dirty = True
            self._store.async_delay_save(self._data, SAVE_DELAY)
        return {from_ms(start) for start in added}

    def metrics(self, period: timedelta, now: datetime) -> GlycemicMetrics | None:
        """Return the metrics of the readings of the period up to now.

        The hour the period starts in is counted reading by reading, the newest hour from
        its kept totals, and the hours between from totals added up once per hour (again
        only when an older hour gets a reading).
        """
        since = to_ms(now - period)
        first = hour_start_ms(since)
        totals = Totals()
        values = self._hours.get(first, {})
        totals.add_all(value for ms, value in values.items() if ms > since)
        if self._last > first:
            totals.merge(self._between(period, first))
            totals.merge(self._hour_totals(self._last, self._hours[self._last]))
        return totals.metrics(period)

    def _between(self, period: timedelta, first: int) -> Totals:
        """Return the totals of the hours after the first and before the newest.

        They start from the totals of a shorter period, if one is added up already.
        """
        last = self._last
        settled = self._settled.get(period)
        if settled is not None and settled[:2] == (first, last):
            return settled[2]
        shorter = [
            (start, totals)
            for start, end, totals in self._settled.values()
            if end == last and first < start < last
        ]
        totals, stop = Totals(), last
        if shorter:
            nearest_first, nearest = min(shorter, key=lambda pair: pair[0])
            totals.merge(nearest)
            stop = nearest_first + HOUR_MS
        for start in range(first + HOUR_MS, stop, HOUR_MS):
            if values := self._hours.get(start):
                totals.merge(self._hour_totals(start, values))
        self._settled[period] = (first, self._last, totals)
        return totals

    def _hour_totals(self, start: int, values: Mapping[int, int]) -> Totals:
        """Return the totals of one hour, computed once per change."""
        if (totals := self._totals.get(start)) is None:
            totals = self._totals[start] = Totals()
            totals.add_all(values.values())
        return totals

    def hours_since(self, since: datetime) -> list[Mapping[int, int]]:
        """Return the hours that hold the readings after a time: mg/dL by epoch ms.

        An hour's dict is replaced, never changed, so the executor can read them while new
        readings arrive. The first hour may also hold readings from before the time.
        """
        first = hour_start_ms(to_ms(since))
        return [values for start, values in self._hours.items() if start >= first]

    @property
    def newest(self) -> datetime | None:
        """Return the time of the newest reading."""
        if not self._hours:
            return None
        return from_ms(max(self._hours[self._last]))

    def hours(self) -> list[datetime]:
        """Return the UTC hours that have readings."""
        return [from_ms(start) for start in self._hours]

    def count(self, hour: datetime) -> int:
        """Return the number of readings of one UTC hour."""
        return len(self._hours.get(to_ms(hour), {}))

    def hour_metrics(self, hour: datetime) -> GlycemicMetrics | None:
        """Return the metrics of the readings of one UTC hour."""
        start = to_ms(hour)
        values = self._hours.get(start)
        return self._hour_totals(start, values).metrics(HOUR) if values else None

    def _data(self) -> dict[str, Any]:
        """Return what the store saves; run in the executor.

        The copy of the dict of hours is one step, and the hours in it are not changed
        after they are added, so the event loop can go on adding readings meanwhile.
        """
        self._dirty = False
        hours = self._hours.copy()
        return stored_form({ms: v for values in hours.values() for ms, v in values.items()})

    async def async_flush(self) -> None:
        """Save now what is waiting for a delayed save."""
        if self._dirty:
            await self._store.async_save(await self.hass.async_add_executor_job(self._data))


async def async_remove_history(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the stored history of a removed entry."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry_id)).async_remove()
