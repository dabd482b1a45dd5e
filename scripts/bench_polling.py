"""Freshness and request counts of the poll schedulers over one simulated day."""

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
    PollScheduler,
    fetch_window,
)
from custom_components.cgm_handler.share import ShareClient
from custom_components.cgm_handler.share.const import LOGIN_ENDPOINT, READINGS_ENDPOINT
from scripts.share_simulator import ManualClock, ShareSimulator

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


class Run:
    """One strategy polling a fresh simulator over one simulated day."""

    def __init__(self, seed: str, start: datetime) -> None:
        """Prepare a simulator with a day of history before start."""
        self.clock = ManualClock(start)
        self.start = start
        self.sim = ShareSimulator(seed=seed, now=self.clock.now)
        self.sim.add_account("bench", PASSWORD, history=DAY)
        self.seen: dict[datetime, datetime] = {}

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
        return Result(name, lags, requests, logins, len(published) - len(lags))


async def run_ours(seed: str, start: datetime, quantile: float) -> Result:
    """Poll when the next reading is due, as the coordinator does."""
    run = Run(seed, start)
    scheduler = PollScheduler(quantile=quantile)
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        at = start
        while at < start + DAY:
            await run.poll(client, at, *fetch_window(run.seen, at))
            scheduler.polled(at, max(run.seen, default=None))
            at = scheduler.next_poll(at) + TIMER_SLACK
    await run.sim.stop()
    default = " default" if quantile == DEFAULT_QUANTILE else ""
    return run.result(f"ours (quantile {quantile:.2f}{default})")


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


if __name__ == "__main__":
    asyncio.run(main())
