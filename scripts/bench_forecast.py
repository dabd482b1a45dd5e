"""Glucose forecasts side by side on data no choice was made on, with 95 % intervals.

Inputs:
- simglucose 0.2.11 (the UVa/Padova type-1 simulator) in its own venv: adolescents, adults
  and children with the meals of its RandomScenario, its BBController (basal-bolus) and
  the noise of its "Dexcom" sensor (scripts/bench_forecast_sim.py). The sensor samples
  every 3 minutes; each 5-minute reading is the sample nearest to it (at most a minute
  away, no averaging), rounded and clipped like Dexcom: below 40 is LOW (39), above 400
  HIGH (401). The default scenario has little hypoglycaemia, so on a share of meals the
  bolus is larger (an overestimated meal); the share and factor are printed.
  Evaluated on EVALUATION_SEEDS; anything fitted or chosen uses CHOOSING_SEED and the
  FITTING patients instead (--fit, --candidates), never an evaluation seed.
- The project's Share simulator (scripts/share_simulator): its readings over the period,
  with a signal loss on some days, so gaps occur. People 1-10 are evaluated, 11-20 choose.

Figures, per method and input, pooled over the patients, each with a 95 % bootstrap
interval over patients (the patients are drawn again with replacement, BOOTSTRAP times;
the methods are compared on the same draws):
- RMSE of the forecast 15 and 30 minutes ahead, against the reading then; over the
  readings where every method forecasts and the later reading is within 40-400.
- "Urgent low soon": the alert is on at a reading when its forecast is at or below 55 mg/dL
  within 20 minutes (then the method's alert rule). An alert episode is a run of
  consecutive readings with the alert on. A hypo event starts with 3 consecutive readings
  at or below 54 mg/dL (15 minutes) and ends with 3 consecutive readings at or above 70
  (the 2019 consensus).
  - sensitivity: the share of events with the alert on at a reading 10 to 30 minutes
    before the event starts;
  - lead time: event start minus the start of the alert episode holding the first such
    reading; the median over warned events;
  - false alerts per patient-day: alert episodes with no reading at or below 54 mg/dL from
    their start to 30 minutes after it.
  - at AR2's false-alert rate: each method's alert level is swept (40-100 mg/dL); the
    sensitivity at the highest level whose false-alert rate is at most AR2's at 55, and
    its difference from AR2's sensitivity at 55.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import json
import math
import operator
import os
from pathlib import Path
import random
import statistics
import subprocess
import sys
import time
from typing import Protocol
from zoneinfo import ZoneInfo

from custom_components.cgm_handler.cadence import GAP
from custom_components.cgm_handler.forecast import (
    ALERT_LOOKBACK,
    ALERT_MARGIN,
    HORIZONS,
    Forecast,
    alert_holds,
    fit_line,
    forecast,
    make_forecast,
    steady_fall_forecast,
    urgent_low_soon,
    usable,
)
from custom_components.cgm_handler.share import GlucoseReading, Trend
from scripts.share_simulator.glucose import GlucoseModel
from scripts.share_simulator.noise import SensorNoise, SmoothNoise
from scripts.share_simulator.sensor import SensorTrace, UploadDelay

LINEAR_READINGS = 4
"""The straight line goes through the newest 4 readings: 15 minutes."""

# The fitted trend (the integration's forecast before, blended with AR2): per horizon, the
# weights of the changes between the newest 7 readings, newest change first (--fit).
TREND_READINGS = 7
TREND_WEIGHTS = {
    5: (0.849, -0.082, 0.069, -0.322, 0.208, 0.023),
    10: (1.504, -0.106, -0.188, -0.394, 0.469, -0.029),
    15: (2.072, -0.469, -0.204, -0.357, 0.692, -0.178),
    20: (2.224, -0.575, -0.119, -0.332, 0.776, -0.299),
    25: (2.273, -0.543, -0.074, -0.303, 0.778, -0.402),
    30: (2.363, -0.521, -0.041, -0.324, 0.737, -0.459),
}


def changes(recent: Sequence[GlucoseReading]) -> list[float]:
    """Return the changes between consecutive readings (mg/dL), newest first."""
    values = [reading.value for reading in recent]
    return [float(values[i] - values[i - 1]) for i in range(len(values) - 1, 0, -1)]


def trend(
    readings: Sequence[GlucoseReading], weights: Mapping[int, Sequence[float]] = TREND_WEIGHTS
) -> Forecast | None:
    """Forecast the newest reading plus the fitted weights of the last 6 changes."""
    if (recent := usable(readings, TREND_READINGS)) is None:
        return None
    steps = changes(recent)
    newest = recent[-1].value
    return make_forecast(
        recent[-1].time,
        [
            newest + math.fsum(w * c for w, c in zip(weights[m], steps, strict=True))
            for m in HORIZONS
        ],
    )


PERSONAL_REFIT = timedelta(hours=1)
PERSONAL_AFTER = timedelta(days=1)
"""Before a day of the person's own readings, the personal trend uses the shared weights."""


def personal_trend(trace: Trace) -> Method:
    """Return AR2 blended evenly with a trend whose weights fit the person's own readings.

    The weights are fitted by least squares, once an hour, on the person's readings whose
    30 minutes after are known by then, as the integration would in the executor; the
    first day uses the shared weights (TREND_WEIGHTS).
    """
    readings = trace.readings
    start = readings[0].time
    by_time = {r.time: r for r in readings}
    samples = []  # (time every target is known, changes, change to each horizon)
    for index in range(TREND_READINGS - 1, len(readings)):
        if (recent := usable(readings[: index + 1], TREND_READINGS)) is None:
            continue
        now = readings[index]
        later = [by_time.get(now.time + timedelta(minutes=h)) for h in HORIZONS]
        if any(r is None or r.out_of_range for r in later):
            continue
        targets = [float(r.value - now.value) for r in later if r is not None]
        samples.append((now.time + timedelta(minutes=HORIZONS[-1]), changes(recent), targets))
    size = TREND_READINGS - 1
    matrix = [[0.0] * size for _ in range(size)]
    vectors = {h: [0.0] * size for h in HORIZONS}
    fitted: dict[int, dict[int, list[float]]] = {}
    hour, taken = 0, 0
    while start + PERSONAL_AFTER + hour * PERSONAL_REFIT <= readings[-1].time:
        until = start + PERSONAL_AFTER + hour * PERSONAL_REFIT
        for known, steps, targets in samples[taken:]:
            if known > until:
                break
            taken += 1
            for p in range(size):
                for q in range(size):
                    matrix[p][q] += steps[p] * steps[q]
                for h, change in zip(HORIZONS, targets, strict=True):
                    vectors[h][p] += steps[p] * change
        fitted[hour] = {h: solve(matrix, vectors[h]) for h in HORIZONS}
        hour += 1

    def method(window: Sequence[GlucoseReading]) -> Forecast | None:
        if not window:
            return None
        since = (window[-1].time - start - PERSONAL_AFTER) // PERSONAL_REFIT
        shared = forecast(window)
        own = trend(window, fitted.get(since, TREND_WEIGHTS))
        if shared is None or own is None:
            return shared
        return make_forecast(
            shared.time,
            [(a + b) / 2 for (_, a), (_, b) in zip(shared.points, own.points, strict=True)],
        )

    return method


def dense_tail(readings: Sequence[GlucoseReading]) -> list[GlucoseReading]:
    """Return the newest readings up to the first gap or LOW/HIGH before them, oldest first."""
    tail: list[GlucoseReading] = []
    for each in reversed(readings):
        if each.out_of_range or (tail and not timedelta() < tail[-1].time - each.time <= GAP):
            break
        tail.append(each)
    return tail[::-1]


def kalman(slope_noise: float, reading_noise: float, damping: float) -> Method:
    """Return a Kalman filter of level and slope (per 5 minutes) over the dense readings.

    The level moves by the slope plus noise of variance 1 each step, the slope by noise of
    variance `slope_noise`; a reading is the level plus noise of variance `reading_noise`.
    The forecast carries the slope on, multiplied by `damping` each step.
    """

    def method(readings: Sequence[GlucoseReading]) -> Forecast | None:
        recent = dense_tail(readings)
        if len(recent) < 2:
            return None
        level, slope = float(recent[0].value), 0.0
        p00, p01, p11 = reading_noise, 0.0, 25.0
        for each in recent[1:]:
            level += slope
            p00, p01, p11 = p00 + 2 * p01 + p11 + 1.0, p01 + p11, p11 + slope_noise
            gain_level, gain_slope = p00 / (p00 + reading_noise), p01 / (p00 + reading_noise)
            error = each.value - level
            level, slope = level + gain_level * error, slope + gain_slope * error
            p00, p01, p11 = (1 - gain_level) * p00, (1 - gain_level) * p01, p11 - gain_slope * p01
        values = []
        for _ in HORIZONS:
            slope *= damping
            level += slope
            values.append(level)
        return make_forecast(recent[-1].time, values)

    return method


Method = Callable[[Sequence[GlucoseReading]], Forecast | None]


def linear(readings: Sequence[GlucoseReading]) -> Forecast | None:
    """Forecast along the least-squares line through the last 15 minutes of readings."""
    if (recent := usable(readings, LINEAR_READINGS)) is None:
        return None
    now, slope, _ = fit_line(recent)
    return make_forecast(recent[-1].time, [now + slope * minutes for minutes in HORIZONS])


Rule = Callable[[Sequence[GlucoseReading], Sequence[float | None], float], list[bool]]


def plain(
    readings: Sequence[GlucoseReading], lowest: Sequence[float | None], level: float
) -> list[bool]:
    """Return the alert at each reading: on while the lowest forecast is at or below the level."""
    del readings
    return [value is not None and value <= level for value in lowest]


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


def held(margin: float = ALERT_MARGIN) -> Rule:
    """Return the integration's rule: on at the level, held while within the margin above it."""

    def rule(
        readings: Sequence[GlucoseReading], lowest: Sequence[float | None], level: float
    ) -> list[bool]:
        del readings
        return [
            alert_holds(
                (lowest[j] for j in range(i, max(i - ALERT_LOOKBACK, -1), -1)), level, margin
            )
            for i in range(len(lowest))
        ]

    return rule


def steady_fall(
    count: int,
    wobble: float | None,
    steepest: float = 0.0,
    *,
    lasting: int = 1,
    gate: float = math.inf,
    slowing: float = math.inf,
) -> Rule:
    """Return AR2's held alert, or on a steady fall along its least-squares line.

    At each reading the line through the newest `count` readings counts as a forecast when
    the fall is steady: its slope is below -`steepest` mg/dL/min and its RMS residual at
    most `wobble` mg/dL (None: each reading lower than the one before instead), at this
    reading and the `lasting` - 1 before it, the newest change is at most `slowing` mg/dL
    above the one before (the fall is not levelling off), and AR2's lowest forecast is at
    most `gate` mg/dL above the level. The alert is held on the lower of that line and
    AR2's forecast.
    """
    hold = held()
    last: list[tuple[object, object, list[float]]] = []  # the lines of the last trace

    def rule(
        readings: Sequence[GlucoseReading], lowest: Sequence[float | None], level: float
    ) -> list[bool]:
        if not last or last[0][0] is not readings or last[0][1] is not lowest:
            lines = [
                steady_line(
                    readings[max(0, i + 1 - count) : i + 1], count, wobble, steepest, slowing
                )
                for i in range(len(readings))
            ]
            lasted = [
                max(lines[max(0, i + 1 - lasting) : i + 1]) if i + 1 >= lasting else math.inf
                for i in range(len(lines))
            ]
            last[:] = [(readings, lowest, lasted)]
        lines = last[0][2]
        lower = [
            value if value is None or value > level + gate else min(value, lines[i])
            for i, value in enumerate(lowest)
        ]
        return hold(readings, lower, level)

    return rule


def steady_line(
    readings: Sequence[GlucoseReading],
    count: int,
    wobble: float | None,
    steepest: float,
    slowing: float = math.inf,
) -> float:
    """Return the line's lowest within WITHIN minutes on a steady fall, else infinity.

    With `wobble` None, the integration's steady fall (each reading lower than the one
    before); otherwise the line's RMS residual at most `wobble` mg/dL instead.
    """
    if (recent := usable(readings, count)) is None:
        return math.inf
    *_, before, previous, newest = recent
    if newest.value - previous.value > previous.value - before.value + slowing:
        return math.inf
    if wobble is None:
        line = steady_fall_forecast(recent, WITHIN, count, -steepest)
        return math.inf if line is None else line
    now, slope, residual = fit_line(recent)
    return now + slope * WITHIN if slope < -steepest and residual <= wobble else math.inf


@dataclass(frozen=True)
class Candidate:
    """A forecast and the alert rule on it; `personal` makes the forecast of one person."""

    method: Method | None = None
    rule: Rule = plain
    personal: Callable[[Trace], Method] | None = None

    def forecast_for(self, trace: Trace) -> Method:
        """Return the forecast used on a person's trace."""
        if self.personal is not None:
            return self.personal(trace)
        if self.method is None:
            raise ValueError("a candidate needs a method or a personal one")
        return self.method


ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SIMULATE = ROOT / "scripts" / "bench_forecast_sim.py"
PLOT = ROOT / "scripts" / "bench_forecast_plot.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cgm_handler"
TRACES = CACHE / "bench_forecast"

GROUPS = ("adolescent", "adult", "child")
# The patients whose traces may fit a method; never evaluated.
FITTING = tuple(f"{group}#010" for group in GROUPS)
DEFAULT_PATIENTS = tuple(f"{group}#{n:03}" for group in GROUPS for n in range(1, 5))
FULL_PATIENTS = tuple(f"{group}#{n:03}" for group in GROUPS for n in range(1, 10))
FIT_DAYS = 6.0
SHARE_PEOPLE = range(1, 11)
SHARE_CHOOSING = range(11, 21)  # Share simulator people who may choose a method
SHARE_DAYS = 7.0
CHOOSING_SEED = 20260301  # simglucose seed of every fit and choice; never evaluated
EVALUATION_SEEDS = (1, 2, 3)
TRACE_VERSION = "simglucose 0.2.11, trace 1"  # change when bench_forecast_sim.py's output does
BOLUS_SHARE = 0.3
BOLUS_FACTOR = 1.5
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 1

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
ERROR_HORIZONS = (15, 30)


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
    return Trace(f"{name} seed {seed}", readings)


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
    predicted: dict[int, list[float | None]] = {horizon: [] for horizon in ERROR_HORIZONS}
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
    """Alert figures of one method on one patient at one level."""

    events: int = 0
    warned: int = 0
    leads: list[float] = field(default_factory=list)
    false: int = 0
    on: int = 0
    """Readings with the alert on."""


def alerts(readings: Sequence[GlucoseReading], on: Sequence[bool]) -> Alerts:
    """Return a trace's alert figures, given whether the alert is on at each reading."""
    into = Alerts(on=sum(on))
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
    return into


@dataclass
class Patient:
    """What one method did on one patient."""

    squares: dict[int, float]
    """Per horizon, the sum of squared errors."""
    counts: dict[int, int]
    days: float
    sweep: dict[int, Alerts]
    """Per alert level, the alert figures."""


def evaluate(trace: Trace, candidates: dict[str, Candidate]) -> dict[str, Patient]:
    """Return each candidate's figures on one trace."""
    readings = trace.readings
    scored = {name: score(trace, c.forecast_for(trace)) for name, c in candidates.items()}
    by_time = {r.time: r for r in readings}
    squares = {name: dict.fromkeys(ERROR_HORIZONS, 0.0) for name in candidates}
    counts = dict.fromkeys(ERROR_HORIZONS, 0)
    for horizon in ERROR_HORIZONS:
        for index, now in enumerate(readings):
            later = by_time.get(now.time + timedelta(minutes=horizon))
            if later is None or later.out_of_range:
                continue
            values = [s.predicted[horizon][index] for s in scored.values()]
            if None in values:
                continue
            counts[horizon] += 1
            for name, value in zip(scored, values, strict=True):
                squares[name][horizon] += ((value or 0.0) - later.value) ** 2
    return {
        name: Patient(
            squares[name],
            dict(counts),
            trace.days,
            {
                level: alerts(readings, c.rule(readings, scored[name].lowest, level))
                for level in SWEEP
            },
        )
        for name, c in candidates.items()
    }


@dataclass
class Summary:
    """One method's pooled figures over a set of patients (weights: how often each counts)."""

    rmse: dict[int, float]
    sensitivity: float
    false_per_day: float
    at_rate: float
    """Sensitivity at the highest level whose false alerts per day are at most AR2's at 55."""
    level: int | None
    """That level; None when every level gives more false alerts than AR2."""


class Pool:
    """The patients of one input, as columns ready to be summed with weights."""

    def __init__(self, patients: Sequence[dict[str, Patient]]) -> None:
        """Turn each method's per-patient figures into columns."""
        self.size = len(patients)
        self.names = list(patients[0]) if patients else []
        self.days = [p[self.names[0]].days for p in patients] if patients else []
        self.counts = {h: [p[self.names[0]].counts[h] for p in patients] for h in ERROR_HORIZONS}
        self.squares = {
            name: {h: [p[name].squares[h] for p in patients] for h in ERROR_HORIZONS}
            for name in self.names
        }
        self.columns = {
            name: {
                level: tuple(
                    [getattr(p[name].sweep[level], key) for p in patients]
                    for key in ("events", "warned", "false")
                )
                for level in SWEEP
            }
            for name in self.names
        }

    def summarise(self, weights: Sequence[int]) -> dict[str, Summary]:
        """Return each method's figures with the patients counted by their weights."""

        def total(column: Sequence[float]) -> float:
            return math.fsum(map(operator.mul, weights, column))

        days = total(self.days)
        sums = {
            name: {
                level: tuple(total(column) for column in columns)
                for level, columns in levels.items()
            }
            for name, levels in self.columns.items()
        }
        reference = sums["AR2"][URGENT_LOW][2] / days
        result = {}
        for name in self.names:

            def sensitivity(level: int, name: str = name) -> float:
                events, warned, _ = sums[name][level]
                return 100 * warned / events if events else math.nan

            level = max(
                (lvl for lvl, (_, _, false) in sums[name].items() if false / days <= reference),
                default=None,
            )
            result[name] = Summary(
                {
                    h: math.sqrt(total(self.squares[name][h]) / max(total(self.counts[h]), 1))
                    for h in ERROR_HORIZONS
                },
                sensitivity(URGENT_LOW),
                sums[name][URGENT_LOW][2] / days,
                math.nan if level is None else sensitivity(level),
                level,
            )
        return result

    def curve(self, name: str) -> list[tuple[int, float, float]]:
        """Return (level, false alerts per day, sensitivity) at each level, pooled."""
        days = math.fsum(self.days)
        curve = []
        for level, (events, warned, false) in self.columns[name].items():
            sensitivity = 100 * sum(warned) / sum(events) if sum(events) else math.nan
            curve.append((level, sum(false) / days, sensitivity))
        return curve


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Return the 2.5th and 97.5th percentiles, ignoring NaN."""
    kept = sorted(v for v in values if not math.isnan(v))
    if len(kept) < 2:
        return math.nan, math.nan
    cuts = statistics.quantiles(kept, n=40, method="inclusive")
    return cuts[0], cuts[-1]


@dataclass
class Estimate:
    """A figure and its 95 % bootstrap interval."""

    value: float
    low: float
    high: float

    def show(self, digits: int = 1, unit: str = "") -> str:
        """Return the figure with its interval, e.g. '48 % [38-57]'."""
        if math.isnan(self.value):
            return "-"
        return f"{self.value:.{digits}f}{unit} [{self.low:.{digits}f} to {self.high:.{digits}f}]"


@dataclass
class Figures:
    """One method's figures on one input, with intervals."""

    rmse: dict[int, Estimate]
    sensitivity: Estimate
    false_per_day: Estimate
    at_rate: Estimate
    level: int | None
    gain: Estimate
    """Sensitivity at AR2's false-alert rate minus AR2's sensitivity at 55, in points."""
    events: int
    warned: int
    leads: list[float]
    on_hours: float
    """Hours with the alert on per patient-day, at 55."""


def bootstrap(pool: Pool, patients: Sequence[dict[str, Patient]]) -> dict[str, Figures]:
    """Return each method's figures with 95 % intervals from resampled patients."""
    point = pool.summarise([1] * pool.size)
    draws = random.Random(BOOTSTRAP_SEED)
    samples = []
    for _ in range(BOOTSTRAP):
        weights = [0] * pool.size
        for index in draws.choices(range(pool.size), k=pool.size):
            weights[index] += 1
        samples.append(pool.summarise(weights))

    def estimate(value: float, drawn: Sequence[float]) -> Estimate:
        return Estimate(value, *interval(drawn))

    figures = {}
    for name in pool.names:
        p = point[name]
        mine = [sample[name] for sample in samples]
        at55 = [patient[name].sweep[URGENT_LOW] for patient in patients]
        figures[name] = Figures(
            {h: estimate(p.rmse[h], [s.rmse[h] for s in mine]) for h in ERROR_HORIZONS},
            estimate(p.sensitivity, [s.sensitivity for s in mine]),
            estimate(p.false_per_day, [s.false_per_day for s in mine]),
            estimate(p.at_rate, [s.at_rate for s in mine]),
            p.level,
            estimate(
                p.at_rate - point["AR2"].sensitivity,
                [s[name].at_rate - s["AR2"].sensitivity for s in samples],
            ),
            sum(a.events for a in at55),
            sum(a.warned for a in at55),
            [lead for a in at55 for lead in a.leads],
            sum(a.on for a in at55) * STEP / timedelta(hours=1) / math.fsum(pool.days),
        )
    return figures


HEADER = (
    (
        "| Input | Method | RMSE 15 min | RMSE 30 min | Sensitivity at 55 | Median lead "
        "| False alerts / day at 55 | Sensitivity at AR2's false-alert rate "
        "| Gain over AR2 (points) | Hours on / day at 55 |"
    ),
    "|---|---|---|---|---|---|---|---|---|---|",
)


def table(title: str, traces: Sequence[Trace], figures: dict[str, Figures]) -> list[str]:
    """Return the markdown rows of one input."""
    days = sum(t.days for t in traces)
    events = figures["AR2"].events
    lines = []
    for name, f in figures.items():
        lead = f"{statistics.median(f.leads):.0f} min" if f.leads else "-"
        at_rate = (
            f"{f.at_rate.show(0, ' %')} (at {f.level})"
            if f.level is not None
            else "none (more false alerts even at 40)"
        )
        gain = f.gain.show(0) if f.level is not None else "-"
        lines.append(
            f"| {title} ({len(traces)} patients, {days:.0f} days, {events} hypos) | {name} "
            f"| {f.rmse[15].show()} | {f.rmse[30].show()} "
            f"| {f.sensitivity.show(0, ' %')} ({f.warned}/{f.events}) | {lead} "
            f"| {f.false_per_day.show(2)} | {at_rate} | {gain} | {f.on_hours:.2f} |"
        )
    return lines


def report(
    inputs: dict[str, list[Trace]], candidates: dict[str, Candidate]
) -> tuple[list[str], dict[str, dict[str, list[tuple[int, float, float]]]]]:
    """Return the table of every input and the curve of each method on each input."""
    lines = list(HEADER)
    curves = {}
    for title, traces in inputs.items():
        patients = [evaluate(trace, candidates) for trace in traces]
        pool = Pool(patients)
        lines.extend(table(title, traces, bootstrap(pool, patients)))
        curves[title] = {name: pool.curve(name) for name in candidates}
    return lines, curves


def print_curves(curves: dict[str, dict[str, list[tuple[int, float, float]]]]) -> None:
    """Print the sensitivity against false alerts per patient-day at some levels."""
    shown = (40, 50, 55, 60, 70, 80, 90, 100)
    for title, methods in curves.items():
        print(f"\nSensitivity (%) / false alerts per patient-day as the level sweeps: {title}")
        print("| Method | " + " | ".join(f"at {level}" for level in shown) + " |")
        print("|---|" + "---|" * len(shown))
        for name, curve in methods.items():
            points = {level: (false, sens) for level, false, sens in curve}
            cells = " | ".join(
                f"{points[level][1]:.0f} / {points[level][0]:.2f}" for level in shown
            )
            print(f"| {name} | {cells} |")


def plot(curves: dict[str, dict[str, list[tuple[int, float, float]]]], path: Path) -> None:
    """Draw the curves into a PNG, with matplotlib in the benchmark's own venv."""
    subprocess.run(  # noqa: S603
        [BENCH_PYTHON, PLOT, str(path)], input=json.dumps(curves), check=True, text=True
    )


FALL_RATES = (1, 2, 3)  # mg/dL per minute
FALL_STARTS = (110, 140, 180)
FALL_NOISE_SEEDS = range(20)
FLAT_MINUTES = 60
FALL_LEAD = 15  # minutes before 55 the alert should be on
FALL_BEGIN = datetime(2026, 3, 1, tzinfo=UTC)


class Noise(Protocol):
    """Noise added to glucose, in mg/dL, at some minutes after the start."""

    def at(self, minutes: float) -> float:
        """Return the noise at some minutes after the start."""
        ...


def fall_readings(start: int, rate: int, noise: Noise | None) -> tuple[list[GlucoseReading], float]:
    """Return the readings of a steady fall until it reaches 55, and the minute it does.

    Glucose is flat at `start` for FLAT_MINUTES, then falls at `rate` mg/dL/min; each
    reading adds the noise (if any) and is rounded as Share does.
    """
    reaches = FLAT_MINUTES + (start - URGENT_LOW) / rate
    readings = []
    for minutes in range(5, math.ceil(reaches), 5):
        level = start - rate * max(0, minutes - FLAT_MINUTES)
        value = level + (noise.at(minutes) if noise else 0.0)
        readings.append(reading(FALL_BEGIN + timedelta(minutes=minutes), value))
    return readings, reaches


def warned_ahead(readings: Sequence[GlucoseReading], on: Sequence[bool], reaches: float) -> float:
    """Return the minutes from the first alert after the flat hour to 55 (0: no alert)."""
    flat = FALL_BEGIN + timedelta(minutes=FLAT_MINUTES)
    first = next(
        (r.time for r, alert in zip(readings, on, strict=True) if alert and r.time > flat), None
    )
    return 0.0 if first is None else reaches - (first - FALL_BEGIN) / timedelta(minutes=1)


def fall_lead(candidate: Candidate, start: int, rate: int, noise: Noise | None) -> float:
    """Return the minutes from the alert's first turning on to the fall reaching 55 (0: never)."""
    readings, reaches = fall_readings(start, rate, noise)
    fall = Trace("fall", readings)
    scored = score(fall, candidate.forecast_for(fall))
    return warned_ahead(readings, candidate.rule(readings, scored.lowest, URGENT_LOW), reaches)


def print_falls(candidates: dict[str, Candidate]) -> None:
    """Print how early each method warns of steady falls, without and with noise."""
    noises: dict[str, Callable[[int], Noise]] = {
        "simglucose's sensor noise": SensorNoise,
        "the Share simulator's noise": lambda seed: SmoothNoise(seed, FALL_BEGIN),
    }
    print(
        f"\nSteady falls from {', '.join(map(str, FALL_STARTS))} mg/dL after an hour flat: "
        f"minutes from the alert to 55 mg/dL without noise, and with each noise the falls "
        f"warned at least {FALL_LEAD} minutes ahead, or from the second lower reading where "
        f"that is later ({len(FALL_NOISE_SEEDS)} noise seeds per start): " + "; ".join(noises)
    )
    print("| Method | " + " | ".join(f"{rate} mg/dL/min" for rate in FALL_RATES) + " |")
    print("|---|" + "---|" * len(FALL_RATES))
    for name, candidate in candidates.items():
        cells = []
        for rate in FALL_RATES:
            clean = [fall_lead(candidate, start, rate, None) for start in FALL_STARTS]
            counts = []
            for noise in noises.values():
                leads = [
                    fall_lead(candidate, start, rate, noise(seed)) >= readings_allow(start, rate)
                    for start in FALL_STARTS
                    for seed in FALL_NOISE_SEEDS
                ]
                counts.append(f"{sum(leads)}/{len(leads)}")
            cells.append(f"{' / '.join(f'{lead:.0f}' for lead in clean)} min; {', '.join(counts)}")
        print(f"| {name} | {' | '.join(cells)} |")


def readings_allow(start: int, rate: int) -> float:
    """Return the warning 5-minute readings allow: FALL_LEAD, or less on a short fall.

    A fall that starts at a reading shows from its second lower reading on (one lower
    reading may be a glitch), 10 minutes after it starts.
    """
    return min(FALL_LEAD, (start - URGENT_LOW) / rate - 10) - 1e-6


def per_call(window: Sequence[GlucoseReading], calls: int = 2000) -> float:
    """Return the microseconds of one update's forecast and alert from a window of readings."""
    begin = time.perf_counter()
    for _ in range(calls):
        forecast(window)
        urgent_low_soon(window, URGENT_LOW, WITHIN)
    return (time.perf_counter() - begin) / calls * 1e6


def timings(readings: Sequence[GlucoseReading]) -> str:
    """Return the time of the forecast and alert: typical, and at their longest.

    Typical: the median over 24-hour windows of a simulated trace. Longest: 24 hours flat
    at the level plus half the margin, so the alert looks back over every reading it may.
    """
    windows = [readings[end - 288 : end] for end in range(288, len(readings) + 1, 36)]
    typical = statistics.median(per_call(window, 200) for window in windows)
    hover = [
        reading(readings[0].time + STEP * i, URGENT_LOW + ALERT_MARGIN / 2) for i in range(288)
    ]
    return (
        f"ours: {typical:.1f} µs per forecast and alert (median over 24-hour windows), "
        f"{per_call(hover):.1f} µs at the longest (24 h at {URGENT_LOW + ALERT_MARGIN / 2:g} mg/dL)"
    )


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


METHODS: dict[str, Candidate] = {
    "ours": Candidate(forecast, held()),
    "AR2": Candidate(forecast),
    "before: AR2 + trend": Candidate(blend(forecast, trend, 0.5)),
    "AR2 + personal trend, held 15 (not shipped)": Candidate(
        rule=held(15), personal=personal_trend
    ),
    "linear 15 min": Candidate(linear),
    "ours with steady falls on (option)": Candidate(forecast, steady_fall(3, None, 0.5)),
    "AR2 held 15 or steady fall near the level (not shipped)": Candidate(
        forecast, steady_fall(3, None, 1, gate=15)
    ),
}
"""The evaluated methods: ours is AR2 with the alert held while within ALERT_MARGIN; the
steady falls are the candidate that warns of every steady fall in time and the best steady
fall candidate on the choosing data (--candidates)."""

CANDIDATES: dict[str, Candidate] = {
    "AR2": Candidate(forecast),
    **{f"AR2, held {m}": Candidate(forecast, held(m)) for m in (5, 10, 15)},
    "linear 15 min": Candidate(linear),
    "fitted trend": Candidate(trend),
    "AR2 + trend": Candidate(blend(forecast, trend, 0.5)),
    **{f"AR2 + trend, held {m}": Candidate(blend(forecast, trend, 0.5), held(m)) for m in (10, 15)},
    "0.5 AR2 + 0.5 line": Candidate(blend(forecast, linear, 0.5)),
    **{
        f"Kalman {slope:g}/{noise:g}/{damping:g}": Candidate(kalman(slope, noise, damping))
        for slope, noise, damping in ((0.05, 4, 1), (0.2, 4, 0.9), (0.2, 16, 1))
    },
    "Kalman 0.2/4/0.9, held 15": Candidate(kalman(0.2, 4, 0.9), held(15)),
    "AR2 + personal trend": Candidate(personal=personal_trend),
    "AR2 + personal trend, held 15": Candidate(rule=held(15), personal=personal_trend),
    **{
        f"AR2 held 15 or steady fall, {count} readings, "
        + ("each lower" if wobble is None else f"residual <= {wobble:g}")
        + f", slope < -{steepest:g}": Candidate(forecast, steady_fall(count, wobble, steepest))
        for count in (3, 4, 5)
        for wobble in (2, 4, None)
        for steepest in (0.5, 1)
    },
    **{
        f"AR2 held 15 or steady fall, 3 readings, each lower, slope < -{steepest:g}"
        + (f", {lasting} readings running" if lasting > 1 else "")
        + (f", AR2 within {gate:g} above the level" if gate < math.inf else ""): Candidate(
            forecast, steady_fall(3, None, steepest, lasting=lasting, gate=gate)
        )
        for steepest, lasting, gate in (
            (1.5, 1, math.inf),
            (2, 1, math.inf),
            (1, 2, math.inf),
            (1, 1, 30),
            (1, 1, 15),
            (0.5, 1, 15),
        )
    },
    **{
        f"AR2 held 15 or steady fall, 3 readings, each lower, slope < -{steepest:g}, "
        f"not slowing by over {slowing:g}": Candidate(
            forecast, steady_fall(3, None, steepest, slowing=slowing)
        )
        for steepest in (0.5, 1)
        for slowing in (0, 3, 6)
    },
}
"""Compared on the choosing data only (--candidates): Kalman slope noise/reading noise/damping;
the steady falls: readings in the line, its largest RMS residual (mg/dL) or each reading
lower than the one before, and its smallest fall (mg/dL/min)."""


def simulate_all(patients: Sequence[str], days: float, seed: int, jobs: int) -> list[Trace]:
    """Return the simglucose traces, simulating those not cached yet."""
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda name: simulated(name, days, seed), patients))


def choose(*, fitting: bool, full: bool, jobs: int, only: str = "") -> None:
    """Print the fitted weights, or the candidates' figures on the choosing data."""
    print(f"Simulating the fitting patients, {FIT_DAYS:g} days each ...", file=sys.stderr)
    traces = simulate_all(FITTING, FIT_DAYS, CHOOSING_SEED, jobs)
    if fitting:
        print("TREND_WEIGHTS: Final = {")
        for horizon, weights in fit(traces).items():
            print(f"    {horizon}: ({', '.join(f'{w:.3f}' for w in weights)}),")
        print("}")
        return
    chosen = {
        name: c
        for name, c in CANDIDATES.items()
        if name == "AR2" or any(part in name for part in only.split("|"))
    }
    patients = FULL_PATIENTS if full else DEFAULT_PATIENTS
    traces += simulate_all(patients, 3.0, CHOOSING_SEED, jobs)
    people = [share_simulator(person, SHARE_DAYS) for person in SHARE_CHOOSING]
    lines, curves = report(
        {
            f"simglucose, choosing seed {CHOOSING_SEED}": traces,
            "Share simulator, choosing people": people,
        },
        chosen,
    )
    print("\n".join(lines))
    print_curves(curves)
    print_falls(chosen)


def main() -> None:
    """Print the side-by-side tables and curves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every evaluated patient (27)")
    parser.add_argument("--days", type=float, default=3.0, help="days per patient")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--plot", type=Path, help="draw the curves into this PNG")
    parser.add_argument(
        "--fit", action="store_true", help="fit the trend's weights on the fitting patients"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="compare candidate methods on the choosing seed and Share simulator people",
    )
    parser.add_argument(
        "--only",
        default="",
        help="with --candidates: AR2 and those whose name holds a text of A|B|...",
    )
    parser.add_argument(
        "--falls", action="store_true", help="only the steady falls (no simglucose needed)"
    )
    args = parser.parse_args()
    if args.falls:
        print_falls(METHODS)
        return
    if args.fit or args.candidates:
        choose(fitting=args.fit, full=args.full, jobs=args.jobs, only=args.only)
        return
    patients = FULL_PATIENTS if args.full else DEFAULT_PATIENTS
    days = args.days
    print(
        f"Simulating {len(patients)} simglucose patients x {len(EVALUATION_SEEDS)} seeds, "
        f"{days:g} days each ...",
        file=sys.stderr,
    )
    seeds = {seed: simulate_all(patients, days, seed, args.jobs) for seed in EVALUATION_SEEDS}
    inputs = {
        "simglucose, seeds " + ", ".join(map(str, EVALUATION_SEEDS)): [
            trace for traces in seeds.values() for trace in traces
        ],
        **{f"simglucose, seed {seed}": traces for seed, traces in seeds.items()},
        "Share simulator": [share_simulator(person, SHARE_DAYS) for person in SHARE_PEOPLE],
    }
    lines, curves = report(inputs, METHODS)
    print("\n".join(lines))
    pooled = {title: curves[title] for title in (next(iter(inputs)), "Share simulator")}
    print_curves(pooled)
    print_falls(METHODS)
    print(
        f"\nsimglucose: patients {', '.join(patients)}; meals of RandomScenario, BBController, "
        f"Dexcom sensor noise, seeds {', '.join(map(str, EVALUATION_SEEDS))}; on "
        f"{BOLUS_SHARE:.0%} of meals the bolus is {BOLUS_FACTOR:g} times the controller's. "
        f"Fitting and choosing use seed {CHOOSING_SEED}, the patients {', '.join(FITTING)} "
        f"and Share simulator people {SHARE_CHOOSING.start}-{SHARE_CHOOSING.stop - 1}; "
        f"intervals: 95 %, {BOOTSTRAP} bootstrap draws of the patients."
    )
    print(timings(seeds[EVALUATION_SEEDS[0]][0].readings))
    if args.plot:
        plot(pooled, args.plot)
        print(f"curves drawn into {args.plot}")


if __name__ == "__main__":
    main()
