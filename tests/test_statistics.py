"""Hourly long-term statistics: every reading, gap-free, never degraded, restart-safe.

The expected figures come from the simulator's ground truth, `published_readings`, and
from when the integration polled successfully: a reading can be had if some successful
poll came after it was published and while it was still in Dexcom's 24-hour window.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
import threading
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.db_schema import Statistics, StatisticsMeta
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import get_metadata, statistics_during_period
from homeassistant.components.recorder.tasks import RecorderTask
from homeassistant.components.recorder.util import session_scope
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from custom_components.cgm_handler import statistics as cgm_statistics
from custom_components.cgm_handler.coordinator import CgmCoordinator
from custom_components.cgm_handler.history import (
    HOUR,
    STORAGE_VERSION as HISTORY_VERSION,
    hour_start,
    storage_key,
    stored_form,
    to_ms,
)
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW
from custom_components.cgm_handler.statistics import (
    IMPORT_BATCH,
    STATISTICS,
    build_metadata,
    statistic_id,
)
from scripts.share_simulator import FaultKind, Reading, ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import assert_hours_match, by_hour, make_entry, published

FROZEN_AT = "2026-03-10T12:23:00+00:00"
DAY = timedelta(hours=24)
KEYS = [statistic.key for statistic in STATISTICS]

pytestmark = pytest.mark.freeze_time(FROZEN_AT)


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    """Record no entity states: only the imported statistics matter here, and it is faster."""
    return {"exclude": {"domains": ["sensor", "binary_sensor"]}}


class Run:
    """Drive the integration through time, restarts and outages, noting each good poll."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        simulator: ShareSimulator,
        entry: MockConfigEntry,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Spy on the coordinator: when did a poll of Share succeed."""
        self.hass = hass
        self.freezer = freezer
        self.simulator = simulator
        self.entry = entry
        self.polls: list[datetime] = []
        self.imported_counts: dict[datetime, list[int]] = defaultdict(list)
        self.batches: list[int] = []
        """The hours of each import of the reading counts."""
        original = CgmCoordinator._async_update_data

        async def update(coordinator: CgmCoordinator) -> Any:
            data = await original(coordinator)
            self.polls.append(dt_util.utcnow())
            return data

        monkeypatch.setattr(CgmCoordinator, "_async_update_data", update)
        add = cgm_statistics.async_add_external_statistics

        def add_statistics(hass: HomeAssistant, metadata: Any, rows: Any) -> None:
            if metadata["statistic_id"] == self.ids["readings"]:
                self.batches.append(len(rows))
                for row in rows:
                    self.imported_counts[row["start"]].append(int(row["mean"]))
            add(hass, metadata, rows)

        monkeypatch.setattr(cgm_statistics, "async_add_external_statistics", add_statistics)

    @property
    def ids(self) -> dict[str, str]:
        """Return the statistic ids of the entry by key."""
        return {key: statistic_id(self.entry.entry_id, key) for key in KEYS}

    async def settle(self) -> None:
        """Finish whatever is running, background tasks included."""
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def setup(self) -> None:
        """Set the entry up (first start, or start after a stop)."""
        if self.hass.config_entries.async_get_entry(self.entry.entry_id) is None:
            self.entry.add_to_hass(self.hass)
        await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()

    async def stop(self) -> None:
        """Stop as Home Assistant does: unload, and the recorder writes what it has."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        await async_wait_recording_done(self.hass)

    async def reload(self) -> None:
        """Reload at once, with imports possibly still queued in the recorder."""
        assert await self.hass.config_entries.async_reload(self.entry.entry_id)
        await self.settle()

    async def wait(self, duration: timedelta, step: timedelta) -> None:
        """Let time pass in steps, running the polls that come due."""
        for _ in range(round(duration / step)):
            self.freezer.tick(step)
            async_fire_time_changed(self.hass)
            await self.settle()

    def outage(self, start: timedelta, length: timedelta) -> tuple[datetime, datetime]:
        """Make Share fail from `start` from now on, for `length`."""
        begin = dt_util.utcnow() + start
        self.simulator.outage(begin, begin + length, FaultKind.HTML_ERROR)
        return begin, begin + length

    def obtainable(self) -> list[Reading]:
        """Return the published readings that a successful poll could fetch."""
        polls = sorted(self.polls)
        found = []
        for reading in self.simulator.published_readings(USERNAME):
            index = bisect_left(polls, reading.published_at)
            if index < len(polls) and reading.time > polls[index] - DAY:
                found.append(reading)
        return found

    async def rows(self) -> dict[str, dict[datetime, dict[str, Any]]]:
        """Return every imported row, by statistic key and hour."""
        await async_wait_recording_done(self.hass)
        start = dt_util.utcnow() - timedelta(days=30)
        found = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            start,
            None,
            set(self.ids.values()),
            "hour",
            None,
            {"mean", "min", "max"},
        )
        return {
            key: {
                datetime.fromtimestamp(row["start"], UTC): dict(row)
                for row in found.get(statistic, [])
            }
            for key, statistic in self.ids.items()
        }

    async def row_counts(self) -> dict[str, tuple[int, int]]:
        """Return the number of rows and of distinct hours of each statistic in the database."""

        def count() -> dict[str, tuple[int, int]]:
            with session_scope(hass=self.hass, read_only=True) as session:
                query = (
                    select(
                        StatisticsMeta.statistic_id,
                        func.count(Statistics.id),
                        func.count(func.distinct(Statistics.start_ts)),
                    )
                    .join(Statistics, Statistics.metadata_id == StatisticsMeta.id)
                    .where(StatisticsMeta.statistic_id.in_(self.ids.values()))
                    .group_by(StatisticsMeta.statistic_id)
                )
                return {sid: (rows, hours) for sid, rows, hours in session.execute(query)}

        await async_wait_recording_done(self.hass)
        return await get_instance(self.hass).async_add_executor_job(count)


def check_hours(
    rows: dict[str, dict[datetime, dict[str, Any]]], readings: list[Reading]
) -> tuple[int, int]:
    """Check every imported hour against the readings; return the hours checked and full."""
    expected = by_hour(readings)
    assert set(rows["readings"]) == set(expected)
    assert_hours_match(rows, expected)
    return len(expected), sum(len(values) == 12 for values in expected.values())


@pytest.fixture
def run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    mock_config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """Return a run of the simulator's account, not set up yet."""
    return Run(hass, freezer, simulator, mock_config_entry, monkeypatch)


async def thirty_hour_outage(run: Run) -> tuple[datetime, datetime]:
    """Cut Share off for 30 hours, restarting in the middle; return its start and the recovery.

    The setup waits for Share, and six hours of readings fall out of the window for good:
    the hours before the window at the recovery keep exactly what they had.
    """
    before = await run.rows()
    begin, end = run.outage(timedelta(minutes=3), timedelta(hours=30))
    await run.wait(timedelta(hours=12), timedelta(hours=1))
    await run.stop()
    run.freezer.tick(timedelta(minutes=20))
    await run.setup()
    assert run.entry.state is ConfigEntryState.SETUP_RETRY
    await run.wait(timedelta(hours=19), timedelta(hours=1))
    assert run.entry.state is ConfigEntryState.LOADED
    recovered = min(poll for poll in run.polls if poll >= end)
    window = hour_start(recovered - DAY)
    after = await run.rows()
    for key in KEYS:
        older = {hour: row for hour, row in after[key].items() if hour < window}
        assert older == {hour: row for hour, row in before[key].items() if hour < window}
    lost = [
        reading
        for reading in run.simulator.published_readings(USERNAME)
        if begin < reading.time <= recovered - DAY
    ]
    gap = set(by_hour(lost)) - {hour_start(begin), window}
    assert len(lost) > 60
    assert len(gap) >= 5
    assert not gap & set(after["readings"])
    return begin, recovered


async def test_statistics_match_the_readings_through_restarts_and_outages(run: Run) -> None:
    """Four days with restarts, a 2-hour and a 30-hour outage: every hour is right."""
    await run.setup()
    rows = await run.rows()
    # The first poll backfills the day Share holds: 25 hours, the oldest one partial.
    assert len(rows["readings"]) == 25
    check_hours(rows, run.obtainable())

    await run.wait(timedelta(hours=3), timedelta(minutes=5))
    await run.reload()
    await run.wait(timedelta(hours=5), timedelta(minutes=15))

    # Two hours without Share; the first good poll after it fetches the whole gap.
    run.outage(timedelta(minutes=7), timedelta(hours=2))
    await run.wait(timedelta(hours=3), timedelta(minutes=10))

    # Home Assistant stopped for 50 minutes.
    await run.stop()
    run.freezer.tick(timedelta(minutes=50))
    await run.setup()
    await run.wait(timedelta(hours=14), timedelta(hours=1))
    await run.reload()
    await run.wait(timedelta(hours=6), timedelta(minutes=30))
    check_hours(await run.rows(), run.obtainable())

    begin, recovered = await thirty_hour_outage(run)

    await run.wait(timedelta(hours=20), timedelta(hours=2))
    await run.reload()
    await run.wait(timedelta(hours=3), timedelta(minutes=5))

    rows = await run.rows()
    truth = run.simulator.published_readings(USERNAME)
    obtainable = run.obtainable()
    hours, full = check_hours(rows, obtainable)
    # Each hour whose readings all stayed in reach equals the ground truth exactly; the
    # others are the two hours cut by the 30-hour outage (and the current hour, maybe).
    truth_by_hour, got_by_hour = by_hour(truth), by_hour(obtainable)
    complete = {hour for hour, values in truth_by_hour.items() if got_by_hour.get(hour) == values}
    current = hour_start(dt_util.utcnow())
    partial = {hour_start(begin), hour_start(recovered - DAY)}
    assert set(rows["readings"]) - complete - {current} == partial
    assert hours >= 100
    assert full == hours - 4  # those, the current hour and the first hour Share ever had
    # Nothing duplicated, and no hour was ever imported with fewer readings than before.
    counts = await run.row_counts()
    assert counts == dict.fromkeys(run.ids.values(), (hours, hours))
    for hour, imported in run.imported_counts.items():
        assert imported == sorted(set(imported)), hour
    print(  # noqa: T201
        f"{hours} hours checked, {len(complete & set(rows['readings']))} complete, "
        f"{full} with 12 readings, {len(truth) - len(obtainable)} readings out of reach, "
        f"{len(run.polls)} polls"
    )


async def test_partial_oldest_hour_never_replaces_a_complete_one(
    run: Run, hass_storage: dict[str, Any]
) -> None:
    """After a restart the window's oldest hour is partial; the recorder keeps all of it."""
    await run.setup()
    await run.wait(timedelta(hours=2), timedelta(hours=1))
    before = await run.rows()

    # Stopped for 40 minutes, and the history file is gone: only the buffer is left.
    await run.stop()
    assert hass_storage.pop(f"cgm_handler.{run.entry.entry_id}")["data"]["readings"]
    run.freezer.tick(timedelta(minutes=40))
    await run.setup()
    oldest = hour_start(dt_util.utcnow() - DAY)
    buffer = by_hour(run.entry.runtime_data.data.readings)
    assert 0 < len(buffer[oldest]) < before["readings"][oldest]["mean"] == 12
    after = await run.rows()
    for key in KEYS:
        assert after[key][oldest] == before[key][oldest]
    assert run.imported_counts[oldest] == [12]
    check_hours(after, run.obtainable())


async def test_hour_split_by_a_long_outage_keeps_both_parts(run: Run) -> None:
    """An hour fetched partly before and partly after a 24 h outage holds both parts.

    The buffer only has the part after the outage; the history has both.
    """
    await run.setup()
    await run.wait(timedelta(minutes=50), timedelta(minutes=5))
    begin, end = run.outage(timedelta(minutes=5), timedelta(hours=24, minutes=15))
    await run.wait(timedelta(hours=24), timedelta(hours=1))
    await run.wait(timedelta(minutes=30), timedelta(minutes=5))
    recovered = min(poll for poll in run.polls if poll >= end)
    split = hour_start(begin)
    assert split == hour_start(recovered - DAY)
    obtainable = run.obtainable()
    parts = [r.time for r in obtainable if hour_start(r.time) == split]
    assert any(t < begin for t in parts)
    assert any(t > recovered - DAY for t in parts)
    in_buffer = [r for r in run.entry.runtime_data.data.readings if hour_start(r.time) == split]
    assert 0 < len(in_buffer) < len(parts)
    rows = await run.rows()
    assert rows["readings"][split]["mean"] == len(parts)
    check_hours(rows, obtainable)


async def test_statistic_ids_and_metadata(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Ids hold the entry id only; metadata carry the unit, class and mean type."""
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    entry = init_integration
    ids = {key: statistic_id(entry.entry_id, key) for key in KEYS}
    account_id = simulator.account(USERNAME).account_id
    for sid in ids.values():
        assert sid.startswith("cgm_handler:")
        assert sid.endswith(entry.entry_id.lower())
        assert USERNAME not in sid
        assert account_id not in sid
        assert account_id.replace("-", "") not in sid
    found = await get_instance(hass).async_add_executor_job(
        partial(get_metadata, hass, statistic_ids=set(ids.values()))
    )
    # The recorder still reports the deprecated has_mean when reading; only the rest counts.
    meta = {
        sid: {key: value for key, value in data.items() if key != "has_mean"}
        for sid, (_, data) in found.items()
    }
    assert meta[ids["glucose"]] == {
        "has_sum": False,
        "mean_type": StatisticMeanType.ARITHMETIC,
        "name": "jane glucose",
        "source": "cgm_handler",
        "statistic_id": ids["glucose"],
        "unit_class": "blood_glucose_concentration",
        "unit_of_measurement": "mg/dL",
    }
    assert meta[ids["time_in_range"]]["unit_of_measurement"] == "%"
    assert meta[ids["time_in_range"]]["unit_class"] is None
    assert meta[ids["readings"]]["unit_of_measurement"] is None
    for data in meta.values():
        assert data["mean_type"] is StatisticMeanType.ARITHMETIC
        assert data["has_sum"] is False


def test_metadata_has_no_deprecated_keys() -> None:
    """The metadata uses mean_type, not the deprecated has_mean."""
    metadata = build_metadata(STATISTICS[0], "01ABC", "jane")
    assert "has_mean" not in metadata
    assert metadata["statistic_id"] == "cgm_handler:glucose_01abc"


async def test_unreadable_counts_are_retried(
    run: Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the known counts nothing is imported; they are read again 30 s later."""
    calls = 0
    read = cgm_statistics.statistics_during_period

    def failing(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return read(*args)

    monkeypatch.setattr(cgm_statistics, "statistics_during_period", failing)
    await run.setup()
    assert "The statistics are not written yet (could not read them back" in caplog.text
    assert not (await run.rows())["readings"]
    await run.wait(timedelta(seconds=30), timedelta(seconds=30))
    # The counts, then the read-back of each import (a day of hours at most) they led to.
    assert len(run.batches) == 2
    assert calls == 2 + len(run.batches)
    check_hours(await run.rows(), run.obtainable())
    assert "The recorder holds the statistics again" in caplog.text


class BusyTask(RecorderTask):
    """A recorder task that holds the recorder's thread until released."""

    def __init__(self) -> None:
        """Hold the thread from when it starts until released."""
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, instance: Recorder) -> None:
        """Hold the recorder's thread."""
        self.started.set()
        self.release.wait(10)


async def hold_recorder(run: Run) -> BusyTask:
    """Set the entry up, let the recorder finish, then hold its thread until released."""
    await run.setup()
    await async_wait_recording_done(run.hass)
    busy = BusyTask()
    get_instance(run.hass).queue_task(busy)
    assert await run.hass.async_add_executor_job(busy.started.wait, 10)
    return busy


async def test_read_back_waits_for_the_task_the_recorder_is_running(run: Run) -> None:
    """A read-back waits for the task the recorder's thread is running.

    The recorder's queue is empty while its thread runs the last task taken from it (an
    import, say): the read-back must still come after it.
    """
    busy = await hold_recorder(run)
    importer = run.entry.runtime_data.statistics
    waiting = asyncio.ensure_future(importer._async_recorder_done())
    # Real time passes (the test's clock is frozen): the thread is still held.
    await run.hass.async_add_executor_job(busy.release.wait, 0.3)
    assert not waiting.done()
    busy.release.set()
    await waiting


class WatchedEvent(threading.Event):
    """An event that tells when a wait on it began and when that wait returned."""

    def __init__(self) -> None:
        """Not set, not waited on."""
        super().__init__()
        self.waiting = threading.Event()
        self.returned = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait as an event does, noting the start and the end."""
        self.waiting.set()
        try:
            return super().wait(timeout)
        finally:
            self.returned.set()


async def test_cancelled_read_back_frees_its_worker_thread(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-back cancelled while the recorder is busy (a shutdown) leaves no thread waiting.

    Home Assistant warns about worker threads still running at shutdown and waits for them.
    """
    busy = await hold_recorder(run)
    importer = run.entry.runtime_data.statistics
    markers: list[cgm_statistics.QueueMarker] = []

    class Marker(cgm_statistics.QueueMarker):
        def __init__(self) -> None:
            super().__init__()
            self.reached = WatchedEvent()
            markers.append(self)

    monkeypatch.setattr(cgm_statistics, "QueueMarker", Marker)
    waiting = asyncio.ensure_future(importer._async_recorder_done())
    await asyncio.sleep(0)
    reached = markers[0].reached
    assert isinstance(reached, WatchedEvent)
    assert await run.hass.async_add_executor_job(reached.waiting.wait, 10)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # The recorder is still busy, yet the wait ends now, not after RECORDER_WAIT.
    limit = cgm_statistics.RECORDER_WAIT.total_seconds() / 2
    assert await run.hass.async_add_executor_job(reached.returned.wait, limit)
    busy.release.set()


async def test_hours_beyond_the_window_are_rebuilt_from_the_history(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recorder without the older hours (purged, new) gets them from the stored history.

    Each hour once, a day at most per import, so the recorder has run each by its read-back.
    """
    simulator.add_account("kim", "kim-password", history=timedelta(days=3))
    truth = simulator.published_readings("kim")
    older = [r for r in truth if r.time < dt_util.utcnow() - DAY]
    entry = make_entry(simulator, username="kim")
    hass_storage[storage_key(entry.entry_id)] = {
        "version": HISTORY_VERSION,
        "key": storage_key(entry.entry_id),
        "data": stored_form({to_ms(r.time): r.value for r in older}),
    }
    kim = Run(hass, freezer, simulator, entry, monkeypatch)

    await kim.setup()

    hours, full = check_hours(await kim.rows(), truth)
    assert hours >= 72
    assert full >= 70
    assert all(len(counts) == 1 for counts in kim.imported_counts.values())
    assert sum(kim.batches) == len(kim.imported_counts) >= hours
    assert max(kim.batches) == IMPORT_BATCH


async def test_low_and_high_count_as_39_and_401(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An hour of LOW holds 39 mg/dL and is all below 54; an hour of HIGH holds 401."""
    now = dt_util.utcnow()
    low = (now - timedelta(hours=21), now - timedelta(hours=18), 25.0)
    high = (now - timedelta(hours=7), now - timedelta(hours=4), 450.0)
    simulator.add_account("flag", "flag-password-1", excursions=[low, high])
    run = Run(hass, freezer, simulator, make_entry(simulator, username="flag"), monkeypatch)

    await run.setup()

    rows = await run.rows()
    check_hours(rows, published(simulator, "flag"))
    for (begin, end, _), value, band in (
        (low, OUT_OF_RANGE_LOW, "time_below_54"),
        (high, OUT_OF_RANGE_HIGH, "time_above_250"),
    ):
        hour = hour_start(begin) + HOUR
        assert hour + HOUR <= end  # a whole hour of the flag
        glucose = rows["glucose"][hour]
        assert (glucose["min"], glucose["mean"], glucose["max"]) == (value, value, value)
        assert rows[band][hour]["mean"] == 100
        assert rows["time_in_range"][hour]["mean"] == 0


async def test_tight_range_is_added_to_the_hours_imported_before_it(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours imported without time in tight range get it at the next start, nothing else."""
    without = tuple(s for s in STATISTICS if s.key != "time_in_tight_range")
    assert len(without) == len(STATISTICS) - 1
    monkeypatch.setattr(cgm_statistics, "STATISTICS", without)
    await run.setup()
    await run.wait(timedelta(hours=3), timedelta(hours=1))
    await run.stop()
    before = await run.rows()
    assert not before["time_in_tight_range"]
    counts_before = {hour: list(counts) for hour, counts in run.imported_counts.items()}

    monkeypatch.setattr(cgm_statistics, "STATISTICS", STATISTICS)
    run.freezer.tick(timedelta(minutes=10))
    await run.setup()

    after = await run.rows()
    check_hours(after, run.obtainable())
    # Only the newest hour got readings and was imported again; the others kept their rows.
    now = hour_start(dt_util.utcnow())
    changed = {
        hour for hour, counts in run.imported_counts.items() if counts != counts_before.get(hour)
    }
    assert changed == {now}
    for key in KEYS:
        if key != "time_in_tight_range":
            kept = {hour: row for hour, row in before[key].items() if hour != now}
            assert {hour: after[key][hour] for hour in kept} == kept, key
    assert len(after["time_in_tight_range"]) == len(before["readings"]) >= 27
