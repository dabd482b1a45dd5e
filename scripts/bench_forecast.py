"""Glucose forecasts side by side: ours, Nightscout's AR2 and a 15-minute straight line.

Inputs:
- simglucose 0.2.11 (the UVa/Padova type-1 simulator) in its own venv: adolescents, adults
  and children with the meals of its RandomScenario, its BBController (basal-bolus) and
  the noise of its "Dexcom" sensor (scripts/bench_forecast_sim.py). The sensor samples
  every 3 minutes; each 5-minute reading is the sample nearest to it (at most a minute
  away, no averaging), rounded and clipped like Dexcom: below 40 is LOW (39), above 400
  HIGH (401). The default scenario has little hypoglycaemia, so on a share of meals the
  bolus is larger (an overestimated meal); the share and factor are printed.
- The project's Share simulator (scripts/share_simulator): its readings over the period,
  with a signal loss on some days, so gaps occur.

Figures, per method and input, pooled over the patients:
- RMSE and MAE of the forecast 15 and 30 minutes ahead, against the reading then; over
  the readings where every method forecasts and the later reading is within 40-400.
- "Urgent low soon": the alert is on at a reading when its forecast is at or below 55 mg/dL
  within 20 minutes. An alert episode is a run of consecutive readings with the alert on.
  A hypo event starts with 3 consecutive readings at or below 54 mg/dL (15 minutes) and
  ends with 3 consecutive readings at or above 70 (the 2019 consensus).
  - sensitivity: the share of events with the alert on at a reading 10 to 30 minutes
    before the event starts;
  - lead time: event start minus the start of the alert episode holding the first such
    reading; the median over warned events;
  - false alerts per patient-day: alert episodes with no reading at or below 54 mg/dL from
    their start to 30 minutes after it.
  - at AR2's false-alert rate: each method's alert level is swept (40-100 mg/dL); the
    sensitivity at the highest level whose false-alert rate is at most AR2's at 55.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import json
import math
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

from custom_components.cgm_handler.forecast import (
    HORIZONS,
    TREND_READINGS,
    Forecast,
    ar2,
    changes,
    forecast,
    make_forecast,
    minutes_between,
    trend_values,
    usable,
)
from custom_components.cgm_handler.share import GlucoseReading, Trend
from scripts.share_simulator.glucose import GlucoseModel
from scripts.share_simulator.sensor import SensorTrace, UploadDelay

LINEAR_READINGS = 4
"""The straight line goes through the newest 4 readings: 15 minutes."""


def trend(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast the newest reading plus the fitted weights of the last 6 changes."""
    if (recent := usable(readings, TREND_READINGS)) is None:
        return None
    return make_forecast(recent[-1].time, trend_values(recent))


def linear(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast along the least-squares line through the last 15 minutes of readings."""
    if (recent := usable(readings, LINEAR_READINGS)) is None:
        return None
    newest = recent[-1]
    ages = [-minutes_between(reading, newest) for reading in recent]
    values = [float(reading.value) for reading in recent]
    mean_age = math.fsum(ages) / len(ages)
    mean_value = math.fsum(values) / len(values)
    spread = math.fsum((age - mean_age) ** 2 for age in ages)
    slope = (
        math.fsum(
            (age - mean_age) * (value - mean_value) for age, value in zip(ages, values, strict=True)
        )
        / spread
    )
    now = mean_value - slope * mean_age
    return make_forecast(newest.time, [now + slope * minutes for minutes in HORIZONS])


Method = Callable[[Sequence[GlucoseReading]], Forecast | None]
METHODS: dict[str, Method] = {"ours": forecast, "AR2": ar2, "linear 15 min": linear}

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SIMULATE = ROOT / "scripts" / "bench_forecast_sim.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cgm_handler"
TRACES = CACHE / "bench_forecast"

GROUPS = ("adolescent", "adult", "child")
# The patients whose traces may fit or choose a method; never evaluated.
FITTING = tuple(f"{group}#010" for group in GROUPS)
DEFAULT_PATIENTS = tuple(f"{group}#{n:03}" for group in GROUPS for n in range(1, 5))
FULL_PATIENTS = tuple(f"{group}#{n:03}" for group in GROUPS for n in range(1, 10))
FIT_DAYS = 6.0
SHARE_PEOPLE = range(1, 11)
SHARE_FITTING = range(11, 21)  # Share simulator people who may choose a method
SHARE_DAYS = 7.0
SEED = 20260301
TRACE_VERSION = "simglucose 0.2.11, trace 1"  # change when bench_forecast_sim.py's output does
BOLUS_SHARE = 0.3
BOLUS_FACTOR = 1.5

TAIL = 24  # readings handed to a method: 2 hours, more than any method needs
URGENT_LOW = 55
WITHIN = 20
HYPO = 54
HYPO_END = 70
EVENT_READINGS = 3  # 15 minutes
WARN_EARLIEST = 30  # minutes before an event
WARN_LATEST = 10
FALSE_WINDOW = 30
SWEEP = range(40, 101)
STEP = timedelta(minutes=5)


@dataclass
class Trace:
    """The 5-minute readings of one patient."""

    name: str
    readings: list[GlucoseReading]

    @property
    def days(self) -> float:
        """Return the days the trace covers."""
        return len(self.readings) * STEP / timedelta(days=1)


def reading(at: datetime, value: float) -> GlucoseReading:
    """Return a reading as Share gives it: whole mg/dL, 39 below 40 and 401 above 400."""
    rounded = round(value)
    clipped = 39 if rounded < 40 else 401 if rounded > 400 else rounded
    return GlucoseReading(value=clipped, trend=Trend.NONE, time=at, display_time=at)


def simulated(name: str, days: float, seed: int) -> Trace:
    """Return a simglucose patient's readings, simulated once and then cached."""
    settings = f"{name} {days} {seed} {BOLUS_SHARE} {BOLUS_FACTOR}"
    key = hashlib.sha256(f"{TRACE_VERSION} {settings}".encode()).hexdigest()[:16]
    path = TRACES / f"{name.replace('#', '-')}-{key}.json"
    if not path.exists():
        output = subprocess.run(  # noqa: S603
            [BENCH_PYTHON, SIMULATE, *settings.split()],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        TRACES.mkdir(parents=True, exist_ok=True)
        path.write_text(output)
    data = json.loads(path.read_text())
    start = datetime.fromisoformat(data["start"]).replace(tzinfo=UTC)
    samples = {round(minutes): value for minutes, value in data["samples"]}
    end = max(samples)
    readings = []
    for minutes in range(5, end + 1, 5):
        nearest = min(
            (m for m in (minutes - 1, minutes, minutes + 1) if m in samples),
            key=lambda m: abs(m - minutes),
        )
        readings.append(reading(start + timedelta(minutes=minutes), samples[nearest]))
    return Trace(name, readings)


def share_simulator(person: int, days: float) -> Trace:
    """Return the readings of one person of the Share simulator."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    model = GlucoseModel(f"bench-{person}", ZoneInfo("Europe/Amsterdam"))
    trace = SensorTrace(model, start=start, delay=UploadDelay(), signal_loss_chance=0.3)
    readings = [
        GlucoseReading(value=r.value, trend=Trend.NONE, time=r.time, display_time=r.time)
        for r in trace.published(start + timedelta(days=days) + timedelta(hours=1))
        if r.time < start + timedelta(days=days)
    ]
    return Trace(f"share-{person}", readings)


@dataclass
class Scored:
    """What one method did on one trace."""

    lowest: list[float | None]
    """At each reading, the lowest forecast within WITHIN minutes (None: no forecast)."""
    predicted: dict[int, list[float | None]]
    """Per horizon (15, 30), the forecast at each reading."""


def score(trace: Trace, method: Method) -> Scored:
    """Run a method at every reading of a trace."""
    lowest: list[float | None] = []
    predicted: dict[int, list[float | None]] = {15: [], 30: []}
    readings = trace.readings
    for index in range(len(readings)):
        result = method(readings[max(0, index + 1 - TAIL) : index + 1])
        if result is None:
            lowest.append(None)
            for values in predicted.values():
                values.append(None)
            continue
        lowest.append(min(value for ahead, value in result.points if ahead <= WITHIN))
        for horizon, values in predicted.items():
            values.append(result.at(horizon))
    return Scored(lowest, predicted)


def hypo_events(readings: Sequence[GlucoseReading]) -> list[int]:
    """Return the index of the first reading of each hypo event."""
    starts = []
    inside = False
    low_run = high_run = 0
    for index, each in enumerate(readings):
        gap = index and each.time - readings[index - 1].time > STEP * 1.5
        if gap:
            low_run = high_run = 0
        low_run = low_run + 1 if each.value <= HYPO else 0
        high_run = high_run + 1 if each.value >= HYPO_END else 0
        if not inside and low_run >= EVENT_READINGS:
            starts.append(index - EVENT_READINGS + 1)
            inside = True
        elif inside and high_run >= EVENT_READINGS:
            inside = False
    return starts


def index_at(readings: Sequence[GlucoseReading], moment: datetime) -> int:
    """Return the index of the first reading at or after a moment."""
    low, high = 0, len(readings)
    while low < high:
        middle = (low + high) // 2
        if readings[middle].time < moment:
            low = middle + 1
        else:
            high = middle
    return low


@dataclass
class Alerts:
    """Alert figures of one method on one input at one level."""

    events: int = 0
    warned: int = 0
    leads: list[float] = field(default_factory=list)
    false: int = 0
    days: float = 0.0

    @property
    def sensitivity(self) -> float:
        """Return the share of events warned, in %."""
        return 100 * self.warned / self.events if self.events else math.nan

    @property
    def false_per_day(self) -> float:
        """Return the false alerts per patient-day."""
        return self.false / self.days


def alerts(trace: Trace, lowest: Sequence[float | None], level: float, into: Alerts) -> None:
    """Add a trace's alert figures at an alert level."""
    readings = trace.readings
    on = [value is not None and value <= level for value in lowest]
    episode_start: list[int | None] = []
    for index, active in enumerate(on):
        if not active:
            episode_start.append(None)
        elif (
            index
            and on[index - 1]
            and readings[index].time - readings[index - 1].time <= STEP * 1.5
        ):
            episode_start.append(episode_start[index - 1])
        else:
            episode_start.append(index)
            until = readings[index].time + timedelta(minutes=FALSE_WINDOW)
            end = index_at(readings, until + timedelta(seconds=1))
            if all(r.value > HYPO for r in readings[index:end]):
                into.false += 1
    for start in hypo_events(readings):
        begins = readings[start].time
        first = index_at(readings, begins - timedelta(minutes=WARN_EARLIEST))
        last = index_at(readings, begins - timedelta(minutes=WARN_LATEST) + timedelta(seconds=1))
        into.events += 1
        warned = next((i for i in range(first, last) if on[i]), None)
        if warned is not None:
            into.warned += 1
            began = episode_start[warned] or warned
            into.leads.append((begins - readings[began].time) / timedelta(minutes=1))
    into.days += trace.days


@dataclass
class Row:
    """The figures of one method on one input."""

    errors: dict[int, list[float]]
    at_55: Alerts
    sweep: dict[int, Alerts]


def evaluate(traces: Sequence[Trace], methods: dict[str, Method]) -> dict[str, Row]:
    """Return each method's figures over the traces."""
    rows = {
        name: Row({15: [], 30: []}, Alerts(), {level: Alerts() for level in SWEEP})
        for name in methods
    }
    for trace in traces:
        scored = {name: score(trace, method) for name, method in methods.items()}
        by_time = {r.time: r for r in trace.readings}
        for horizon in (15, 30):
            for index, now in enumerate(trace.readings):
                later = by_time.get(now.time + timedelta(minutes=horizon))
                if later is None or later.out_of_range:
                    continue
                values = [s.predicted[horizon][index] for s in scored.values()]
                if None in values:
                    continue
                for name, value in zip(scored, values, strict=True):
                    rows[name].errors[horizon].append((value or 0.0) - later.value)
        for name, s in scored.items():
            alerts(trace, s.lowest, URGENT_LOW, rows[name].at_55)
            for level, into in rows[name].sweep.items():
                alerts(trace, s.lowest, level, into)
    return rows


def at_rate(row: Row, rate: float) -> tuple[float, int]:
    """Return the sensitivity and level of the highest level with false alerts <= rate."""
    best = max((level for level, a in row.sweep.items() if a.false_per_day <= rate), default=None)
    if best is None:
        return math.nan, 0
    return row.sweep[best].sensitivity, best


def rmse(errors: Sequence[float]) -> float:
    """Return the root mean square of the errors."""
    return math.sqrt(math.fsum(e * e for e in errors) / len(errors))


def mae(errors: Sequence[float]) -> float:
    """Return the mean absolute error."""
    return math.fsum(abs(e) for e in errors) / len(errors)


def table(title: str, traces: Sequence[Trace], rows: dict[str, Row]) -> list[str]:
    """Return the markdown rows of one input."""
    reference = rows["AR2"].at_55.false_per_day
    events = rows["AR2"].at_55.events
    days = sum(t.days for t in traces)
    lines = []
    for name, row in rows.items():
        at55 = row.at_55
        lead = f"{statistics.median(at55.leads):.0f} min" if at55.leads else "-"
        sensitivity, level = at_rate(row, reference)
        at_reference = (
            f"{sensitivity:.0f} % (at {level})" if level else "none (more false alerts even at 40)"
        )
        lines.append(
            f"| {title} ({len(traces)} patients, {days:.0f} days, {events} hypos) | {name} "
            f"| {rmse(row.errors[15]):.1f} | {mae(row.errors[15]):.1f} "
            f"| {rmse(row.errors[30]):.1f} | {mae(row.errors[30]):.1f} "
            f"| {at55.sensitivity:.0f} % ({at55.warned}/{at55.events}) | {lead} "
            f"| {at55.false_per_day:.2f} | {at_reference} |"
        )
    return lines


HEADER = (
    (
        "| Input | Method | RMSE 15 min | MAE 15 min | RMSE 30 min | MAE 30 min | Sensitivity "
        "| Median lead | False alerts / day | Sensitivity at AR2's false-alert rate |"
    ),
    "|---|---|---|---|---|---|---|---|---|---|",
)


def per_call(readings: Sequence[GlucoseReading], calls: int = 20000) -> float:
    """Return the microseconds of one forecast from 24 hours of readings."""
    window = tuple(readings[-288:])
    begin = time.perf_counter()
    for _ in range(calls):
        forecast(window)
    return (time.perf_counter() - begin) / calls * 1e6


def solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small linear system by Gauss-Jordan elimination with partial pivoting."""
    size = len(vector)
    rows = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda r: abs(rows[r][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for r in range(size):
            if r != column:
                factor = rows[r][column] / rows[column][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    return [rows[i][size] / rows[i][i] for i in range(size)]


def fit(traces: Sequence[Trace]) -> dict[int, list[float]]:
    """Fit the trend's weights by least squares: change to each horizon on the last changes."""
    size = TREND_READINGS - 1
    weights = {}
    for horizon in HORIZONS:
        matrix = [[0.0] * size for _ in range(size)]
        vector = [0.0] * size
        for trace in traces:
            readings = trace.readings
            by_time = {r.time: r for r in readings}
            for index in range(size, len(readings)):
                recent = usable(readings[index - size : index + 1], TREND_READINGS)
                later = by_time.get(readings[index].time + timedelta(minutes=horizon))
                if recent is None or later is None or later.out_of_range:
                    continue
                steps = changes(recent)
                change = later.value - recent[-1].value
                for p in range(size):
                    vector[p] += steps[p] * change
                    for q in range(size):
                        matrix[p][q] += steps[p] * steps[q]
        weights[horizon] = solve(matrix, vector)
    return weights


def blend(first: Method, second: Method, share: float) -> Method:
    """Return a method: `share` times the first's forecast plus the rest times the second's."""

    def method(readings: Sequence[GlucoseReading]) -> Forecast | None:
        a, b = first(readings), second(readings)
        if a is None or b is None:
            return None
        return make_forecast(
            a.time,
            [
                share * x + (1 - share) * y
                for (_, x), (_, y) in zip(a.points, b.points, strict=True)
            ],
        )

    return method


CANDIDATES: dict[str, Method] = {
    "AR2": ar2,
    "linear 15 min": linear,
    "fitted trend": trend,
    **{f"{s:g} AR2 + {1 - s:g} trend": blend(ar2, trend, s) for s in (0.5, 0.65, 0.8)},
    **{f"{s:g} AR2 + {1 - s:g} line": blend(ar2, linear, s) for s in (0.5, 0.65, 0.8)},
    "ours": forecast,
}


def simulate_all(patients: Sequence[str], days: float, jobs: int) -> list[Trace]:
    """Return the simglucose traces, simulating those not cached yet."""
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda name: simulated(name, days, SEED), patients))


def choose(*, fitting: bool, jobs: int) -> None:
    """Print the fitted weights, or the candidates' figures on the fitting traces."""
    print(f"Simulating the fitting patients, {FIT_DAYS:g} days each ...", file=sys.stderr)
    traces = simulate_all(FITTING, FIT_DAYS, jobs)
    if fitting:
        print("TREND_WEIGHTS: Final = {")
        for horizon, weights in fit(traces).items():
            print(f"    {horizon}: ({', '.join(f'{w:.3f}' for w in weights)}),")
        print("}")
        return
    people = [share_simulator(person, SHARE_DAYS) for person in SHARE_FITTING]
    lines = list(HEADER)
    for title, inputs in (("simglucose, fitting", traces), ("Share simulator, fitting", people)):
        lines.extend(table(title, inputs, evaluate(inputs, CANDIDATES)))
    print("\n".join(lines))


def main() -> None:
    """Print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every evaluated patient (27)")
    parser.add_argument("--days", type=float, default=3.0, help="days per patient")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--fit", action="store_true", help="fit the trend's weights on the fitting patients"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="compare candidate methods on the fitting patients and Share simulator people",
    )
    args = parser.parse_args()
    if args.fit or args.candidates:
        choose(fitting=args.fit, jobs=args.jobs)
        return
    patients = FULL_PATIENTS if args.full else DEFAULT_PATIENTS
    days = args.days
    print(
        f"Simulating {len(patients)} simglucose patients, {days:g} days each ...", file=sys.stderr
    )
    inputs = {
        "simglucose": simulate_all(patients, days, args.jobs),
        "Share simulator": [share_simulator(person, SHARE_DAYS) for person in SHARE_PEOPLE],
    }
    lines = list(HEADER)
    for title, traces in inputs.items():
        lines.extend(table(title, traces, evaluate(traces, METHODS)))
    print("\n".join(lines))
    print(
        f"\nsimglucose: patients {', '.join(patients)}; meals of RandomScenario, BBController, "
        f"Dexcom sensor noise, seed {SEED}; on {BOLUS_SHARE:.0%} of meals the bolus is "
        f"{BOLUS_FACTOR:g} times the controller's. Not evaluated (kept for fitting): "
        f"{', '.join(FITTING)}."
    )
    print(
        f"ours: {per_call(inputs['simglucose'][0].readings):.1f} µs per forecast (24 h of readings)"
    )


if __name__ == "__main__":
    main()
