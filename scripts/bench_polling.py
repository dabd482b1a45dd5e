"""Freshness and request counts of the poll scheduler over one simulated day.

The first table runs the integration's poller (the object the coordinator drives) against
the Share simulator under several upload-delay models, next to a fixed 180 s poller for the
current reading (the core integration's strategy) and to the oracle: the fixed offsets
after each reading's time with the least mean lag for that model, found from its known
delay distribution, time-shared between k and k+1 polls per reading so that it makes as
many requests as ours.

A second table shows what backfilling holes costs: requests, bytes and reads that reach
back past the newest reading, on a normal day, a day with the phone offline for 5 hours
(its backlog reaching Share 12 minutes after the first new reading), and a day with a
new sensor's 2-hour warm-up, a hole that never fills.

With --budgets, one table instead: ours at each budget (polls per reading) on every model,
next to the oracle at the same request count. With --seeds, one row per seed and model:
ours next to the oracle, without the fixed poller's and the backfill's rows; with --days as
well, that many days from the start, each a fresh run, and a summary per seed and model.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import itertools
import math
import statistics

import aiohttp
import numpy as np

from custom_components.cgm_handler.cadence import READING_INTERVAL
from custom_components.cgm_handler.scheduler import (
    BUDGET,
    MIN_WAIT,
    TIMER_SLACK,
    Backfill,
    Poller,
    PollScheduler,
    window_since,
)
from custom_components.cgm_handler.share import ShareClient
from scripts.share_simulator import (
    Backlog,
    ChangingDelay,
    DelayModel,
    LogNormalDelay,
    ManualClock,
    ShareSimulator,
    UploadDelay,
)
from scripts.share_simulator.wire import LOGIN_ENDPOINT, READINGS_ENDPOINT, to_ms

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIXED_INTERVAL = timedelta(seconds=180)
PASSWORD = "bench-password"  # noqa: S105 (the simulator's account)
SETTLE = timedelta(minutes=20)
SLOT = READING_INTERVAL.total_seconds()
READINGS_A_DAY = round(DAY / READING_INTERVAL)
# The targets, on every model.
MAX_REQUESTS = 480
MEDIAN_MARGIN = 1.15
# The oracle's known distribution: this many draws of the model.
ORACLE_DRAWS = 10 * READINGS_A_DAY
DEFAULT = UploadDelay()
BIMODAL = UploadDelay(usual=(20, 40), late_chance=0.3, late=(150, 450))


def models(start: datetime) -> list[tuple[str, DelayModel]]:
    """Return the upload-delay models, by name."""
    return [
        ("default (10-90 s, 3 % late)", DEFAULT),
        ("bimodal (30 % 150-450 s)", BIMODAL),
        ("log-normal (median 40 s)", LogNormalDelay()),
        ("default, bimodal from noon", ChangingDelay(DEFAULT, BIMODAL, start + DAY / 2)),
    ]


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
    targets: str = ""

    @property
    def median(self) -> float:
        """Return the median lag."""
        return statistics.median(self.lags)

    @property
    def mean(self) -> float:
        """Return the mean lag."""
        return statistics.fmean(self.lags)


class Run:
    """One strategy polling a fresh simulator over one simulated day."""

    def __init__(
        self, seed: str, start: datetime, delay: DelayModel = DEFAULT, **account: object
    ) -> None:
        """Prepare a simulator with a day of history before start."""
        self.clock = ManualClock(start)
        self.start = start
        self.sim = ShareSimulator(seed=seed, now=self.clock.now, upload_delay=delay)
        self.sim.add_account("bench", PASSWORD, history=DAY, **account)
        self.seen: dict[datetime, datetime] = {}
        self.wide_reads = 0

    async def poll(self, client: ShareClient, at: datetime, minutes: int, count: int) -> None:
        """Fetch at a simulated moment and note when each reading was first seen."""
        self.clock.set(at)
        for reading in await client.get_readings(minutes, count):
            self.seen.setdefault(reading.time, at)

    def first_reading(self) -> datetime:
        """Return the time of the first reading due after the start."""
        times = [r.time for r in self.sim.published_readings("bench", self.start + HOUR)]
        newest = max(t for t in times if t <= self.start)
        return newest + READING_INTERVAL

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
    seed: str,
    start: datetime,
    name: str,
    delay: DelayModel = DEFAULT,
    budget: float = BUDGET,
    **account: object,
) -> Result:
    """Poll with the integration's poller, exactly as the coordinator does."""
    run = Run(seed, start, delay, **account)
    poller = Poller()
    poller.scheduler = PollScheduler(budget)
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        at = start
        while at < start + DAY:
            window = poller.window(run.seen, at)
            if run.seen and window > window_since(max(run.seen), at):
                run.wide_reads += 1
            await run.poll(client, at, *window)
            poller.read(run.seen, at)
            at = poller.next_poll(at) + TIMER_SLACK
    await run.sim.stop()
    return run.result(name)


async def run_fixed(seed: str, start: datetime, delay: DelayModel) -> Result:
    """Poll every 180 s for the current reading, as the core integration does."""
    run = Run(seed, start, delay)
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        at = start
        while at < start + DAY:
            await run.poll(client, at, 10, 1)
            at += FIXED_INTERVAL
    await run.sim.stop()
    return run.result("fixed 180 s, current reading")


async def run_oracle(
    seed: str, start: datetime, delay: DelayModel, plans: tuple[list[float], list[float], float]
) -> Result:
    """Poll at fixed offsets after each reading's time, fetching all that is missing."""
    fewer, more, share = plans
    run = Run(seed, start, delay)
    backfill = Backfill()
    url = await run.sim.start()
    async with aiohttp.ClientSession() as session:
        client = ShareClient(session, "bench", PASSWORD, base_url=url)
        await run.poll(client, start, *backfill.window(run.seen, start))
        backfill.fetched()
        due, slot = run.first_reading(), 0
        while due < start + DAY:
            # Bresenham: `share` of the readings get the plan with one poll more.
            extra = math.floor((slot + 1) * share) > math.floor(slot * share)
            for offset in more if extra else fewer:
                at = due + timedelta(seconds=offset)
                await run.poll(client, at, *backfill.window(run.seen, at))
                backfill.fetched()
            due, slot = due + READING_INTERVAL, slot + 1
    await run.sim.stop()
    return run.result("oracle: best fixed offsets")


def draws(delay: DelayModel, start: datetime) -> np.ndarray:
    """Return many upload delays drawn from the model, at the times of a day's readings."""
    return np.array(
        [
            delay.seconds("oracle", n, to_ms(start + (n % READINGS_A_DAY) * READING_INTERVAL))
            for n in range(ORACLE_DRAWS)
        ]
    )


def lags_of(delays: np.ndarray, offsets: Sequence[float]) -> np.ndarray:
    """Return the wait from upload to the next poll, with these offsets every reading."""
    slots = math.ceil(delays.max() / SLOT) + 2
    polls = np.sort(np.array([o + SLOT * n for n in range(slots) for o in offsets]))
    return polls[np.searchsorted(polls, delays)] - delays


def mixed_median(fewer: np.ndarray, more: np.ndarray, share: float) -> tuple[float, float]:
    """Return the median and mean lag when `share` of the readings get the second plan."""
    values = np.concatenate([fewer, more])
    weights = np.concatenate(
        [np.full(len(fewer), (1 - share) / len(fewer)), np.full(len(more), share / len(more))]
    )
    order = np.argsort(values)
    median = float(values[order][np.searchsorted(np.cumsum(weights[order]), 0.5)])
    return median, float(np.dot(values, weights))


def apart(offsets: list[float]) -> bool:
    """Tell whether polls at these offsets every reading are MIN_WAIT apart, as ours are."""
    ranked = sorted(offsets)
    gaps = [b - a for a, b in itertools.pairwise([*ranked, ranked[0] + SLOT])]
    return len(ranked) < 2 or min(gaps) >= MIN_WAIT.total_seconds()


def oracle_plans(delays: np.ndarray, per_reading: float) -> tuple[list[float], list[float], float]:
    """Return the offsets with the least mean lag, for k and k+1 polls, and their mix.

    The polls of a reading are MIN_WAIT apart, as the integration's always are.

    Coordinate descent from evenly spread offsets, each offset moved in turn to its best
    place until none moves, on a 5-second grid and then to the second around each place;
    ties go to the lower median lag.
    """
    polls = max(1, math.floor(per_reading))
    share = min(1.0, max(0.0, per_reading - polls))
    best: tuple[tuple[float, float], list[float], list[float]] = ((math.inf, math.inf), [], [])
    for spread in (60.0, 120.0, 240.0):
        plans = (
            [spread * (i + 1) / (polls + 1) for i in range(polls)],
            [spread * (i + 1) / (polls + 2) for i in range(polls + 1)],
        )

        def score(a: list[float], b: list[float]) -> tuple[float, float]:
            median, mean = mixed_median(lags_of(delays, a), lags_of(delays, b), share)
            return mean, median

        current = score(*plans)
        for step in (5.0, 1.0):
            moved = True
            while moved:
                moved = False
                for which, plan in enumerate(plans):
                    for index, offset in enumerate(plan):
                        near = np.arange(offset - 5, offset + 6) if step < 5 else ()
                        places = near if step < 5 else np.arange(0.0, SLOT, step)
                        for place in places:
                            trial = [*plan[:index], float(place) % SLOT, *plan[index + 1 :]]
                            if not apart(trial):
                                continue
                            pair = (trial, plans[1]) if which == 0 else (plans[0], trial)
                            if (value := score(*pair)) < current:
                                current, moved = value, True
                                plan[index] = trial[index]
        if current < best[0]:
            best = (current, sorted(plans[0]), sorted(plans[1]))
    return best[1], best[2], share


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked) - 1, round(share * len(ranked)) - 1))]


def ratio(ours: Result, oracle: Result) -> float:
    """Return our median lag over the oracle's."""
    return ours.median / oracle.median


def judge(ours: Result, fixed: Result, oracle: Result) -> str:
    """Return which targets ours meets against the fixed poller and the oracle."""
    failed = [
        what
        for what, met in (
            (f"requests > {MAX_REQUESTS}", ours.requests <= MAX_REQUESTS),
            (
                f"median > {MEDIAN_MARGIN:.2f} x oracle",
                ours.median <= MEDIAN_MARGIN * oracle.median,
            ),
            ("missed > fixed", ours.missed <= fixed.missed),
        )
        if not met
    ]
    return "met" if not failed else "NOT MET: " + ", ".join(failed)


def report(rows: list[tuple[str, list[Result]]]) -> None:
    """Print one row per strategy and delay model."""
    print(
        f"{'delay model':28} {'strategy':28} {'median lag':>10} {'p95 lag':>8} "
        f"{'mean lag':>8} {'requests':>8} {'missed':>6}  targets"
    )
    for model, results in rows:
        for r in results:
            print(
                f"{model:28} {r.name:28} {r.median:9.1f}s {percentile(r.lags, 0.95):7.1f}s "
                f"{r.mean:7.1f}s {r.requests:8d} {r.missed:6d}  {r.targets}"
            )


def report_backfill(results: list[Result]) -> None:
    """Print what each kind of day costs."""
    print(f"{'day':30} {'requests':>8} {'kB':>7} {'wide reads':>10} {'missed':>6}")
    for r in results:
        print(f"{r.name:30} {r.requests:8d} {r.kilobytes:7.1f} {r.wide_reads:10d} {r.missed:6d}")


def report_budgets(rows: list[tuple[float, str, Result, Result]]) -> None:
    """Print ours at each budget and model, with the oracle's median at its request count."""
    print(
        f"{'budget':>6} {'delay model':28} {'requests':>8} {'median':>7} {'p95':>7} "
        f"{'mean':>7} {'oracle':>7} {'ratio':>5}  targets"
    )
    for budget, model, ours, oracle in rows:
        print(
            f"{budget:6.2f} {model:28} {ours.requests:8d} {ours.median:6.1f}s "
            f"{percentile(ours.lags, 0.95):6.1f}s {ours.mean:6.1f}s {oracle.median:6.1f}s "
            f"{ratio(ours, oracle):5.2f}  {ours.targets}"
        )


def report_seeds(rows: list[tuple[datetime, str, str, list[Result]]]) -> None:
    """Print ours next to the oracle, one row per day, seed and model."""
    print(
        f"{'day':10} {'seed':6} {'delay model':28} {'median':>7} {'mean':>7} {'requests':>8} "
        f"{'oracle':>7} {'o. mean':>7} {'ratio':>5}  targets"
    )
    for day, seed, model, (ours, _, oracle) in rows:
        print(
            f"{day:%Y-%m-%d} {seed:6} {model:28} {ours.median:6.1f}s {ours.mean:6.1f}s "
            f"{ours.requests:8d} {oracle.median:6.1f}s {oracle.mean:6.1f}s "
            f"{ratio(ours, oracle):5.2f}  {ours.targets}"
        )


def report_seed_means(rows: list[tuple[datetime, str, str, list[Result]]]) -> None:
    """Print a summary of the days per seed and model.

    The means of the days' medians and mean lags, the most requests of a day, the oracle's
    mean lag, the worst ratio of the medians and the days that met the targets.
    """
    groups: dict[tuple[str, str], list[list[Result]]] = {}
    for _, seed, model, results in rows:
        groups.setdefault((seed, model), []).append(results)
    print(
        f"{'seed':6} {'delay model':28} {'days':>4} {'median':>7} {'mean':>7} "
        f"{'max req.':>8} {'o. mean':>7} {'worst ratio':>11} {'met':>4}"
    )
    for (seed, model), days in groups.items():
        ours = [results[0] for results in days]
        oracles = [results[2] for results in days]
        worst = max(ratio(o, oracle) for o, oracle in zip(ours, oracles, strict=True))
        print(
            f"{seed:6} {model:28} {len(days):4d} "
            f"{statistics.fmean(o.median for o in ours):6.1f}s "
            f"{statistics.fmean(o.mean for o in ours):6.1f}s "
            f"{max(o.requests for o in ours):8d} "
            f"{statistics.fmean(o.mean for o in oracles):6.1f}s {worst:11.2f} "
            f"{sum(o.targets == 'met' for o in ours):4d}"
        )


async def compare(
    seed: str, start: datetime, delay: DelayModel, budget: float = BUDGET
) -> list[Result]:
    """Run ours, the fixed poller and the oracle at ours' request count on one model."""
    ours = await run_ours(seed, start, "ours", delay, budget)
    fixed = await run_fixed(seed, start, delay)
    plans = oracle_plans(draws(delay, start), ours.requests / READINGS_A_DAY)
    oracle = await run_oracle(seed, start, delay, plans)
    ours.targets = judge(ours, fixed, oracle)
    return [ours, fixed, oracle]


async def compare_budgets(
    seed: str, start: datetime, budgets: list[float]
) -> list[tuple[float, str, Result, Result]]:
    """Run ours and the oracle at each budget on every model; the fixed poller once."""
    rows = []
    for name, delay in models(start):
        fixed = await run_fixed(seed, start, delay)
        for budget in budgets:
            ours = await run_ours(seed, start, "ours", delay, budget)
            plans = oracle_plans(draws(delay, start), ours.requests / READINGS_A_DAY)
            oracle = await run_oracle(seed, start, delay, plans)
            ours.targets = judge(ours, fixed, oracle)
            rows.append((budget, name, ours, oracle))
    return sorted(rows, key=lambda row: row[0])


async def backfill_days(seed: str, start: datetime) -> list[Result]:
    """Run our poller on a normal day, a phone-offline day and a warm-up day."""
    back = start + 11 * HOUR
    offline = Backlog(start + 6 * HOUR, back, back + 12 * MINUTE)
    days: list[tuple[str, dict[str, object]]] = [
        ("normal day", {}),
        ("phone offline 5 h", {"backlogs": [offline]}),
        ("sensor warm-up 2 h", {"sensor_start": start + 6 * HOUR}),
    ]
    return [await run_ours(seed, start, name, **account) for name, account in days]


async def seed_rows(seeds: list[str], start: datetime, days: int) -> None:
    """Print one row per day, seed and model, and over several days a summary."""
    print(f"{days} simulated day(s) per seed, the first from {start:%Y-%m-%d %H:%M} UTC")
    rows = [
        (day, seed, name, await compare(seed, day, delay))
        for day in (start + n * DAY for n in range(days))
        for seed in seeds
        for name, delay in models(day)
    ]
    report_seeds(rows)
    if days > 1:
        print()
        report_seed_means(rows)


async def main() -> None:
    """Run every strategy on every delay model over the same simulated day."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--start", default="2026-03-02T00:00:00+00:00")
    parser.add_argument(
        "--budgets",
        type=lambda text: [float(part) for part in text.split(",")],
        help="polls per reading to compare, comma-separated (e.g. 1.25,1.5,2)",
    )
    parser.add_argument(
        "--seeds",
        type=lambda text: text.split(","),
        help="seeds to compare on every model, one row each (e.g. bench,other,s1,s2,s3)",
    )
    parser.add_argument(
        "--days", type=int, default=1, help="with --seeds: days from the start, each a fresh run"
    )
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    if args.seeds:
        await seed_rows(args.seeds, start, args.days)
        return
    if args.budgets:
        print(f"One simulated day from {start:%Y-%m-%d %H:%M} UTC, seed {args.seed!r}")
        report_budgets(await compare_budgets(args.seed, start, args.budgets))
        return
    rows = [(name, await compare(args.seed, start, delay)) for name, delay in models(start)]
    print(f"One simulated day from {start:%Y-%m-%d %H:%M} UTC, seed {args.seed!r}")
    report(rows)
    print()
    report_backfill(await backfill_days(args.seed, start))


if __name__ == "__main__":
    asyncio.run(main())
