"""The readings of the last 14 days, kept in a Store per entry.

They let the 14-day metrics survive restarts and cover every reading received, not only
the 24 hours Dexcom Share returns, and they are what the hourly statistics are built from.
The readings are grouped by UTC hour, with each hour's totals kept, so that the work of a
poll grows with the new readings rather than with the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .metrics import GlycemicMetrics, Totals
from .share import GlucoseReading

STORAGE_VERSION: Final = 1
SPAN: Final = timedelta(days=14)
SAVE_DELAY: Final = 300  # seconds; whatever is lost in a crash is refetched from Share
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND: Final = timedelta(milliseconds=1)
HOUR_MS: Final = timedelta(hours=1) // MILLISECOND


def to_ms(moment: datetime) -> int:
    """Return the epoch milliseconds of an instant."""
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    """Return the instant of epoch milliseconds."""
    return EPOCH + ms * MILLISECOND


def storage_key(entry_id: str) -> str:
    """Return the key of an entry's store."""
    return f"{DOMAIN}.{entry_id}"


def stored_form(values: Mapping[int, int]) -> dict[str, Any]:
    """Return what the store saves: [epoch ms, mg/dL] pairs, oldest first."""
    return {"readings": [[ms, values[ms]] for ms in sorted(values)]}


class ReadingHistory:
    """The readings of the last 14 days (or of a given span), by UTC hour."""

    def __init__(self, hass: HomeAssistant, entry_id: str, span: timedelta = SPAN) -> None:
        """Use the entry's store; call async_load before use."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
        self.span = span
        self._hours: dict[int, dict[int, int]] = {}
        """mg/dL by epoch milliseconds, per UTC hour (epoch milliseconds of its start)."""
        self._totals: dict[int, Totals] = {}
        self._last = 0
        """The start of the newest hour."""
        self._trimmed_before = 0
        """The start of the oldest hour kept at the last trim of whole hours."""
        self._dirty = False

    async def async_load(self) -> None:
        """Read the stored readings."""
        data = await self._store.async_load()
        if data:
            for ms, value in data.get("readings", []):
                self._add(int(ms), int(value))

    def _add(self, ms: int, value: int) -> int | None:
        """Add or change one reading; return the start of its hour if it was new or changed."""
        start = ms // HOUR_MS * HOUR_MS
        hour = self._hours.setdefault(start, {})
        if hour.get(ms) == value:
            return None
        hour[ms] = value
        self._totals.pop(start, None)
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
        oldest = cutoff // HOUR_MS * HOUR_MS
        if oldest > self._trimmed_before:  # once an hour
            self._trimmed_before = oldest
            for start in [start for start in self._hours if start < oldest]:
                del self._hours[start]
                self._totals.pop(start, None)
                changed = True
        if (hour := self._hours.get(oldest)) and any(ms <= cutoff for ms in hour):
            if kept := {ms: value for ms, value in hour.items() if ms > cutoff}:
                self._hours[oldest] = kept
            else:
                del self._hours[oldest]
            self._totals.pop(oldest, None)
            changed = True
        if changed:
            self._dirty = True
            self._store.async_delay_save(self._data, SAVE_DELAY)
        return {from_ms(start) for start in added}

    def metrics(self, period: timedelta, now: datetime) -> GlycemicMetrics | None:
        """Return the metrics of the readings of the period up to now.

        Whole hours add up their kept totals; only the hour the period starts in is
        counted reading by reading.
        """
        since = to_ms(now - period)
        first = since // HOUR_MS * HOUR_MS
        totals = Totals()
        values = self._hours.get(first, {})
        totals.add_all(value for ms, value in values.items() if ms > since)
        for start in range(first + HOUR_MS, self._last + 1, HOUR_MS):
            if values := self._hours.get(start, {}):
                totals.merge(self._hour_totals(start, values))
        return totals.metrics()

    def _hour_totals(self, start: int, values: Mapping[int, int]) -> Totals:
        """Return the totals of one hour, computed once per change."""
        if (totals := self._totals.get(start)) is None:
            totals = self._totals[start] = Totals()
            totals.add_all(values.values())
        return totals

    def readings_since(self, since: datetime) -> list[tuple[int, int]]:
        """Return (epoch ms, mg/dL) of the readings after a time: a copy to use off the loop."""
        cutoff = to_ms(since)
        first = cutoff // HOUR_MS * HOUR_MS
        return [
            (ms, value)
            for start, values in self._hours.items()
            if start >= first
            for ms, value in values.items()
            if ms > cutoff
        ]

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
        return self._hour_totals(start, values).metrics() if values else None

    def _data(self) -> dict[str, Any]:
        """Return what the store saves."""
        self._dirty = False
        return stored_form({ms: v for values in self._hours.values() for ms, v in values.items()})

    async def async_flush(self) -> None:
        """Save now what is waiting for a delayed save."""
        if self._dirty:
            await self._store.async_save(self._data())


async def async_remove_history(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the stored history of a removed entry."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry_id)).async_remove()
