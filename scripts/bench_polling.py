"""Freshness and request counts of the poll schedulers over one simulated day.

A second table shows what backfilling holes costs: requests, bytes and reads that reach
back past the newest reading, on a normal day, a day with the phone offline for 5 hours
(its backlog reaching Share 12 minutes after the first new reading), and a day with a
new sensor's 2-hour warm-up, a hole that never fills.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import statistics

import aiohttp

from custom_components.cgm_handler.scheduler import (
    DEFAULT_QUANTILE,
    TIMER_SLACK,
    Backfill,
    PollScheduler,
    window_since,
)
from custom_components.cgm_handler.share import ShareClient
from scripts.share_simulator import Backlog, ManualClock, ShareSimulator
from scripts.share_simulator.wire import LOGIN_ENDPOINT, READINGS_ENDPOINT

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIXED_INTERVAL = timedelta(seconds=180)
PASSWORD = "bench-password"  # noqa: S105 (the simulator's account)
SETTLE = timedelta(minutes=20)


@dataclass
class Result:
    """What one strategy achieved over the day."""

    name: str
    lags: list[float]
    requests: int
    logins: int
    missed: int
    kilobytes: float = 0.0
    wide_reads: int = 0


class Run:
    """One strategy polling a fresh simulator over one simulated day."""

    def __init__(self, seed: str, start: datetime, **account: object) -> None:
        """Prepare a simulator with a day of history before start."""
        self.clock = ManualClock(start)
        self.start = start
        self.sim = ShareSimulator(seed=seed, now=self.clock.now)
        self.sim.add_account("bench", PASSWORD, history=DAY, **account)
        self.seen: dict[datetime, datetime] = {}
        self.wide_reads = 0

    async def poll(self, client: ShareClient, at: datetime, minutes: int, count: int) -> None:
        """Fetch at a simulated moment and note when each reading was first seen."""
        self.clock.set(at)
        for reading in await client.get_readings(minutes, count):
            self.seen.setdefault(reading.time, at)

    def result(self, name: str) -> Result:
        """Compare first sightings with the simulator's publication times."""
        end = self.start + DAY
        # Readings published in the last minutes are left for the next day.
        published = [
            r
            for r in self.sim.published_readings("bench", end - SETTLE)
            if r.published_at >= self.start
        ]
        lags = [
            (self.seen[r.time] - r.published_at).total_seconds()
            for r in published
            if r.time in self.seen
        ]
        logins = self.sim.requests[LOGIN_ENDPOINT]
        requests = self.sim.requests[READINGS_ENDPOINT]
        kilobytes = self.sim.bytes_sent[READINGS_ENDPOINT] / 1000
        missed = len(published) - len(lags)
        return Result(name, lags, requests, logins, missed, kilobytes, self.wide_reads)


async def run_ours(
    seed: str, start: datetime, quantile: float, name: str = "", **account: object
) -> Result:
    """Poll when the next reading is due and backfill holes, as the coordinator does."""
    run = Run(seed, start, **account)
    scheduler = PollScheduler(quantile=quantile)
    backfill = Backfill()
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        at = start
        while at < start + DAY:
            window = backfill.window(run.seen, at)
            if run.seen and window > window_since(max(run.seen), at):
                run.wide_reads += 1
            await run.poll(client, at, *window)
            backfill.fetched()
            scheduler.polled(at, max(run.seen, default=None))
            at = scheduler.next_poll(at) + TIMER_SLACK
    await run.sim.stop()
    default = " default" if quantile == DEFAULT_QUANTILE else ""
    return run.result(name or f"ours (quantile {quantile:.2f}{default})")


async def run_fixed(seed: str, start: datetime) -> Result:
    """Poll every 180 s for the current reading, as the core integration does."""
    run = Run(seed, start)
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        at = start
        while at < start + DAY:
            await run.poll(client, at, 10, 1)
            at += FIXED_INTERVAL
    await run.sim.stop()
    return run.result("fixed 180 s, current reading")


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked) - 1, round(share * len(ranked)) - 1))]


def report(results: list[Result]) -> None:
    """Print one row per strategy."""
    print(
        f"{'strategy':30} {'median lag':>10} {'p95 lag':>8} {'requests':>8} "
        f"{'logins':>6} {'missed':>6}"
    )
    for r in results:
        print(
            f"{r.name:30} {statistics.median(r.lags):9.1f}s {percentile(r.lags, 0.95):7.1f}s "
            f"{r.requests:8d} {r.logins:6d} {r.missed:6d}"
        )


def report_backfill(results: list[Result]) -> None:
    """Print what each kind of day costs."""
    print(f"{'day':30} {'requests':>8} {'kB':>7} {'wide reads':>10} {'missed':>6}")
    for r in results:
        print(f"{r.name:30} {r.requests:8d} {r.kilobytes:7.1f} {r.wide_reads:10d} {r.missed:6d}")


async def backfill_days(seed: str, start: datetime) -> list[Result]:
    """Run the default scheduler on a normal day, a phone-offline day and a warm-up day."""
    back = start + 11 * HOUR
    offline = Backlog(start + 6 * HOUR, back, back + 12 * MINUTE)
    days: list[tuple[str, dict[str, object]]] = [
        ("normal day", {}),
        ("phone offline 5 h", {"backlogs": [offline]}),
        ("sensor warm-up 2 h", {"sensor_start": start + 6 * HOUR}),
    ]
    return [
        await run_ours(seed, start, DEFAULT_QUANTILE, name, **account) for name, account in days
    ]


async def main() -> None:
    """Run every strategy on the same simulated day."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--start", default="2026-03-02T00:00:00+00:00")
    parser.add_argument(
        "--quantiles", default="0.5,0.75,0.9", help="learned-delay quantiles to compare"
    )
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    results = [await run_ours(args.seed, start, float(q)) for q in args.quantiles.split(",")]
    results.append(await run_fixed(args.seed, start))
    print(f"One simulated day from {start:%Y-%m-%d %H:%M} UTC, seed {args.seed!r}")
    report(results)
    print()
    report_backfill(await backfill_days(args.seed, start))


if __name__ == "__main__":
    asyncio.run(main())
