"""Event-loop time of one coordinator update, with 14 and with 90 days of history.

With 14 days it also times the update with the glucose chart's entity listening: its check
for a new reading on each update, and the inputs of a drawing it collects on the event loop
when the new picture is fetched. One drawing of 24 hours of readings, as SVG and as PNG, is
timed on its own: it runs in the executor.

It then times the hourly AGP: listing the history's hours of the last 14 days on the event
loop, and picking their readings, computing the percentiles and drawing the chart, which
run in the executor.

Each update is the real one (CgmCoordinator.async_refresh): it merges a new reading into
the reading history, imports the hour it falls in into a recorder (SQLite in a temporary folder) and
computes the metrics of every period. Only Share is left out: a stand-in answers at once
with the next reading, so the time measured is the work on the event loop.

After each update the statistics importer reads back what it imported, once the recorder
has written it: the queries per update, the time of each read in the executor and the
event-loop time of comparing what was read with what was sent are counted too.

Once an hour the metrics add up the hour totals of each period again (history.py): that
hourly run is timed on its own, by computing the metrics an hour later each time. The
size of the history's file is the one written at the end, and the time of that save is
the whole save, most of it in the executor.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from pathlib import Path
import statistics
import tempfile
import time

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import recorder as recorder_helper
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.cgm_handler import statistics as cgm_statistics
from custom_components.cgm_handler.agp import PERIOD
from custom_components.cgm_handler.agp_coordinator import build_agp
from custom_components.cgm_handler.cadence import READING_INTERVAL
from custom_components.cgm_handler.config_flow import CgmConfigFlow
from custom_components.cgm_handler.const import (
    CONF_CHART_HOURS,
    CONF_REGION,
    CONF_UNIT,
    DEFAULT_OPTIONS,
    DOMAIN,
    MGDL,
)
from custom_components.cgm_handler.coordinator import CgmCoordinator
from custom_components.cgm_handler.history import ReadingHistory, storage_key
from custom_components.cgm_handler.image import CHARTS, GlucoseChartImage, render_chart
from custom_components.cgm_handler.periods import PERIODS
from custom_components.cgm_handler.share import GlucoseReading, Trend

WARM_UP = 5
CHART_HOURS = 24
"""The longest span the chart offers, timed."""
CHARTS_HOURS_TEXT = f"{CHART_HOURS} hours of readings"
"""Updates left out of the figures: the first loads the recorder's counts, then imports."""
HOURLY_RUNS = 50


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run measured."""

    updates: list[float]
    """Milliseconds of each update after the warm-up."""
    hourly: list[float]
    """Milliseconds of each hourly run of the metrics of every period."""
    save: float
    """Milliseconds of saving the history."""
    size: int
    """Bytes of the history's file."""
    reads: list[float]
    """Milliseconds of each read-back of the imported hours, in the executor."""
    compares: list[float]
    """Milliseconds of comparing each read-back with what was sent, on the event loop."""
    chart_inputs: list[float]
    """Milliseconds of collecting the chart's inputs (both formats) after each update."""
    drawings: dict[str, list[float]]
    """Milliseconds of each drawing of the chart in the executor, by format; empty without."""
    chart_size: dict[str, int]
    """Bytes of the last drawing, by format."""


class ReadBackTimer:
    """Time the importer's read-backs and their comparisons, while installed."""

    def __init__(self) -> None:
        """Wrap the read and the comparison of the statistics module."""
        self.reads: list[float] = []
        self.compares: list[float] = []
        self._read = cgm_statistics.statistics_during_period
        self._compare = cgm_statistics.StatisticsImporter._compare  # noqa: SLF001

    def install(self) -> None:
        """Start timing."""
        timer = self

        def read(*args: object) -> object:
            start = time.perf_counter()
            rows = timer._read(*args)  # type: ignore[arg-type]
            timer.reads.append((time.perf_counter() - start) * 1000)
            return rows

        def compare(importer: object, *args: object) -> object:
            start = time.perf_counter()
            missed = timer._compare(importer, *args)  # type: ignore[arg-type]
            timer.compares.append((time.perf_counter() - start) * 1000)
            return missed

        cgm_statistics.statistics_during_period = read  # type: ignore[assignment]
        cgm_statistics.StatisticsImporter._compare = compare  # type: ignore[method-assign]  # noqa: SLF001

    def remove(self) -> None:
        """Stop timing."""
        cgm_statistics.statistics_during_period = self._read
        cgm_statistics.StatisticsImporter._compare = self._compare  # type: ignore[method-assign]  # noqa: SLF001


def reading(at: datetime, index: int) -> GlucoseReading:
    """Return a reading that wanders through every glucose range."""
    return GlucoseReading(value=40 + (index * 37) % 360, trend=Trend.FLAT, time=at, display_time=at)


class NextReading:
    """Stands in for the Share client: each read answers with one new reading."""

    def __init__(self, first: datetime) -> None:
        """Answer with a reading at first, then one per interval after it."""
        self.next = first
        self.count = 0

    async def get_readings(self, *_: object) -> list[GlucoseReading]:
        """Return the next reading."""
        answer = [reading(self.next, self.count)]
        self.next += READING_INTERVAL
        self.count += 1
        return answer


@asynccontextmanager
async def stopped_at_the_end(config_dir: str) -> AsyncIterator[HomeAssistant]:
    """Yield a test Home Assistant and stop it at the end, failed or not.

    Stopping it stops the recorder's thread, which would keep the interpreter from exiting.
    """
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        try:
            yield hass
        finally:
            await hass.async_stop(force=True)


def chart_entities(coordinator: CgmCoordinator) -> list[GlucoseChartImage]:
    """Return the chart's entities, listening to the coordinator as they do once added."""
    entities = [GlucoseChartImage(coordinator, description) for description in CHARTS]
    for entity in entities:
        coordinator.async_add_listener(entity._note_change)  # noqa: SLF001
    return entities


def collect_chart_inputs(entities: list[GlucoseChartImage]) -> list[float]:
    """Collect the inputs of each format's drawing on the event loop; return the time of it.

    The drawings themselves are timed apart (time_drawings).
    """
    times = []
    for entity in entities:
        start = time.perf_counter()
        chart = entity._chart()  # noqa: SLF001
        entity.coordinator.history.hours_since(chart.now - timedelta(hours=chart.hours))
        times.append((time.perf_counter() - start) * 1000)
    return times


def time_drawings(
    coordinator: CgmCoordinator, entities: list[GlucoseChartImage], runs: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Return the milliseconds of each drawing by format, and the bytes of the last."""
    drawings: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for entity in entities:
        chart = entity._chart()  # noqa: SLF001
        hours = coordinator.history.hours_since(chart.now - timedelta(hours=chart.hours))
        render = entity.entity_description.render_fn
        name = entity.content_type.removeprefix("image/").removesuffix("+xml").upper()
        drawings[name] = []
        for _ in range(runs):
            start = time.perf_counter()
            image = render_chart(hours, chart, render)
            drawings[name].append((time.perf_counter() - start) * 1000)
        sizes[name] = len(image)
    return drawings, sizes


async def measure(days: int, updates: int, *, chart: bool = False) -> Figures:
    """Return the figures of a run with days of history, with or without the chart."""
    with tempfile.TemporaryDirectory() as config_dir:
        async with stopped_at_the_end(config_dir) as hass:
            recorder_helper.async_initialize_recorder(hass)
            db_url = f"sqlite:///{config_dir}/home-assistant_v2.db"
            if not await async_setup_component(hass, "recorder", {"recorder": {"db_url": db_url}}):
                raise SystemExit("bench_update: the recorder did not set up")
            entry = MockConfigEntry(
                domain=DOMAIN,
                title="bench",
                minor_version=CgmConfigFlow.MINOR_VERSION,
                data={
                    CONF_USERNAME: "bench",
                    CONF_PASSWORD: "bench",  # never sent: no Share server is asked
                    CONF_REGION: "us",
                    CONF_UNIT: MGDL,
                },
                options={**DEFAULT_OPTIONS, CONF_CHART_HOURS: CHART_HOURS},
            )
            entry.add_to_hass(hass)
            now = dt_util.utcnow()
            first_new = now - (updates + WARM_UP) * READING_INTERVAL
            count = int(timedelta(days=days) / READING_INTERVAL)
            client = NextReading(first_new)
            coordinator = CgmCoordinator(hass, entry, client)  # type: ignore[arg-type]
            coordinator.history.span = timedelta(days=days)
            coordinator.history.async_merge(
                [reading(first_new - (count - i) * READING_INTERVAL, i) for i in range(count)],
                now,
            )
            for _ in range(WARM_UP):
                await coordinator.async_refresh()
                await hass.async_block_till_done()
            # The recorder thread writes the first import (every hour) before the timing.
            await get_instance(hass).async_block_till_done()
            entities = chart_entities(coordinator) if chart else []
            times: list[float] = []
            chart_inputs: list[float] = []
            timer = ReadBackTimer()
            timer.install()
            try:
                for _ in range(updates):
                    start = time.perf_counter()
                    await coordinator.async_refresh()
                    times.append((time.perf_counter() - start) * 1000)
                    if chart:
                        chart_inputs.append(sum(collect_chart_inputs(entities)))
                        times[-1] += chart_inputs[-1]
                    # The read-back of the import, after the recorder wrote it.
                    await hass.async_block_till_done(wait_background_tasks=True)
            finally:
                timer.remove()
            if not coordinator.last_update_success:
                raise SystemExit("bench_update: an update failed")
            history = coordinator.history
            hourly = []
            for hours in range(1, HOURLY_RUNS + 1):
                later = dt_util.utcnow() + timedelta(hours=hours)
                start = time.perf_counter()
                for period in PERIODS:
                    history.metrics(period.length, later)
                hourly.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await history.async_flush()
            save = (time.perf_counter() - start) * 1000
            path = Path(hass.config.path(".storage", storage_key(entry.entry_id)))
            size = (await hass.async_add_executor_job(path.stat)).st_size
            drawings, chart_size = time_drawings(coordinator, entities, 50)
            await coordinator.async_shutdown()
            return Figures(
                times,
                hourly,
                save,
                size,
                timer.reads,
                timer.compares,
                chart_inputs,
                drawings,
                chart_size,
            )


async def measure_agp(days: int, runs: int) -> tuple[list[float], list[float]]:
    """Return the milliseconds of each hourly AGP: its work on the loop, then in the executor.

    The history holds a reading every 5 minutes for `days`; the AGP takes the last 14.
    """
    with tempfile.TemporaryDirectory() as config_dir:
        async with stopped_at_the_end(config_dir) as hass:
            now = dt_util.utcnow()
            count = int(timedelta(days=days) / READING_INTERVAL)
            history = ReadingHistory(hass, "bench")
            history.async_merge(
                [reading(now - (count - i) * READING_INTERVAL, i) for i in range(count)], now
            )
            zone = dt_util.get_default_time_zone()
            copies, builds = [], []
            for _ in range(runs):
                start = time.perf_counter()
                hours = history.hours_since(now - PERIOD)
                copied = time.perf_counter()
                agp = build_agp(hours, now - PERIOD, zone, MGDL, now)
                copies.append((copied - start) * 1000)
                builds.append((time.perf_counter() - copied) * 1000)
            if not agp.enough or agp.chart is None:
                raise SystemExit("bench_update: the AGP was not drawn")
            return copies, builds


def p95(values: list[float]) -> float:
    """Return the 95th percentile."""
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    """Print the median and p95 of one update, and the hourly and store figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--agp-runs", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    runs = {days: asyncio.run(measure(days, args.updates)) for days in (14, 90)}
    charted = asyncio.run(measure(14, args.updates, chart=True))
    print(f"Event-loop time of one coordinator update ({args.updates} updates)")
    print("| History | Median | p95 | Max |")
    print("|---|---|---|---|")
    for days, figures in runs.items():
        times = figures.updates
        print(
            f"| {days} days | {statistics.median(times):.2f} ms | {p95(times):.2f} ms "
            f"| {max(times):.2f} ms |"
        )
    times = charted.updates
    print(
        f"| 14 days, with the chart | {statistics.median(times):.2f} ms | {p95(times):.2f} ms "
        f"| {max(times):.2f} ms |"
    )
    inputs = charted.chart_inputs
    print(
        f"| of it, the chart's inputs | {statistics.median(inputs):.3f} ms | {p95(inputs):.3f} ms "
        f"| {max(inputs):.3f} ms |"
    )
    print()
    print(f"One drawing of the chart, {CHARTS_HOURS_TEXT}, in the executor (50 runs)")
    print("| Format | Median | p95 | Size |")
    print("|---|---|---|---|")
    for name, drawn in charted.drawings.items():
        print(
            f"| {name} | {statistics.median(drawn):.2f} ms | {p95(drawn):.2f} ms "
            f"| {charted.chart_size[name] / 1000:.1f} kB |"
        )
    print()
    print(f"Read-back of the imported hours ({args.updates} updates): median, p95")
    print("| History | Queries per update | Read, executor | Compare, event loop |")
    print("|---|---|---|---|")
    for days, figures in runs.items():
        reads, compares = figures.reads, figures.compares
        print(
            f"| {days} days | {len(reads) / args.updates:.2f} "
            f"| {statistics.median(reads):.2f} ms, {p95(reads):.2f} ms "
            f"| {statistics.median(compares):.3f} ms, {p95(compares):.3f} ms |"
        )
    print()
    print(f"Hourly run of the metrics of every period ({HOURLY_RUNS} runs), and the store")
    print("| History | Hourly median | Hourly max | Store file | Save |")
    print("|---|---|---|---|---|")
    for days, figures in runs.items():
        hourly = figures.hourly
        print(
            f"| {days} days | {statistics.median(hourly):.2f} ms | {max(hourly):.2f} ms "
            f"| {figures.size / 1e6:.2f} MB | {figures.save:.1f} ms |"
        )
    print()
    print(f"Hourly AGP of the last 14 days ({args.agp_runs} runs): median, p95")
    print("| History | Hours listed, event loop | Readings, percentiles and SVG, executor |")
    print("|---|---|---|")
    for days in (14, 90):
        copies, builds = asyncio.run(measure_agp(days, args.agp_runs))
        print(
            f"| {days} days | {statistics.median(copies):.2f} ms, {p95(copies):.2f} ms "
            f"| {statistics.median(builds):.2f} ms, {p95(builds):.2f} ms |"
        )


if __name__ == "__main__":
    main()
