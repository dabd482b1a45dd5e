"""The AGP percentiles and chart, checked against numpy and an independent binning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import random
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from custom_components.cgm_handler.agp import (
    BIN_MINUTES,
    BINS,
    MIN_BIN_READINGS,
    PERCENTILES,
    PERIOD,
    Agp,
    AgpBin,
    percentile,
    percentile_rows,
    profile,
)
from custom_components.cgm_handler.agp_chart import render, y_of
from custom_components.cgm_handler.agp_coordinator import build_agp
from custom_components.cgm_handler.const import MGDL, MMOLL
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
FIVE_MINUTES = 300_000


def reference_bins(readings: list[tuple[int, int]], zone: ZoneInfo) -> dict[int, list[int]]:
    """Group readings by local time of day with the zone's UTC offset, as minutes of the day."""
    bins: dict[int, list[int]] = {}
    for ms, value in readings:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        offset = moment.astimezone(zone).utcoffset()
        assert offset is not None
        minute = int((moment + offset).timestamp() // 60 % 1440)
        bins.setdefault(minute // BIN_MINUTES * BIN_MINUTES, []).append(value)
    return bins


def reference_profile(readings: list[tuple[int, int]], zone: ZoneInfo) -> dict[int, list[float]]:
    """Return numpy's percentiles ("linear", Hyndman-Fan type 7) of the bins kept."""
    return {
        minute: [float(p) for p in np.percentile(values, PERCENTILES, method="linear")]
        for minute, values in sorted(reference_bins(readings, zone).items())
        if len(values) >= MIN_BIN_READINGS
    }


def build(readings: list[tuple[int, int]], unit: str = MGDL, zone: str = "UTC") -> Agp:
    """Return the AGP of readings of the 14 days up to NOW, given as one hour."""
    return build_agp([dict(readings)], NOW - PERIOD, ZoneInfo(zone), unit, NOW)


def fortnight(seed: int, wear: float = 1.0) -> list[tuple[int, int]]:
    """Return 14 days of random readings every 5 minutes, LOW and HIGH included."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    end = int(NOW.timestamp() * 1000)
    return [
        (end - step * FIVE_MINUTES, rng.choice((rng.randint(39, 401), rng.randint(90, 200))))
        for step in range(14 * 288)
        if rng.random() < wear
    ]


@pytest.mark.parametrize("seed", range(20))
def test_percentile_matches_numpy(seed: int) -> None:
    """Random sizes and values, with many ties: equal to numpy's linear method."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    values = sorted(rng.randint(39, 60 + seed * 20) for _ in range(rng.randint(1, 300)))
    for percent in (0, *PERCENTILES, 100):
        want = float(np.percentile(values, percent, method="linear"))
        assert percentile(values, percent) == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "values",
    [[120], [39, 401], [100] * 14, [39] * 10 + [401] * 10, [1, 2, 3, 4, 1000]],
    ids=["single", "low-high", "ties", "bounds", "outlier"],
)
def test_percentile_edge_cases(values: list[int]) -> None:
    """One reading, two, all equal, only LOW and HIGH, an outlier: as numpy."""
    for percent in PERCENTILES:
        want = float(np.percentile(values, percent))
        assert percentile(values, percent) == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/New_York", "Europe/Berlin"])
@pytest.mark.parametrize("seed", range(3))
def test_profile_matches_numpy_by_local_time(zone: str, seed: int) -> None:
    """Every bin of local time (+05:45; one with the March DST change) equals numpy's."""
    readings = fortnight(seed, wear=0.8)
    bins = profile(readings, ZoneInfo(zone))
    want = reference_profile(readings, ZoneInfo(zone))
    assert [agp_bin.minute for agp_bin in bins] == list(want)
    assert len(bins) == BINS
    for agp_bin in bins:
        assert list(agp_bin.percentiles) == pytest.approx(want[agp_bin.minute], rel=1e-12)


def test_sparse_bins_are_left_out() -> None:
    """An empty bin and one under the minimum are left out; at the minimum, it is kept."""
    zone = ZoneInfo("UTC")
    day = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    half_hour = 30 * 60_000
    readings = [
        *((day + i, 100 + i % 3) for i in range(MIN_BIN_READINGS)),  # 00:00, with ties
        *((day + half_hour + i, 150) for i in range(MIN_BIN_READINGS - 1)),  # 00:30
        (day + 3 * half_hour, 200),  # 01:30, a single reading
    ]
    want = reference_profile(readings, zone)
    assert list(want) == [0]
    [agp_bin] = profile(readings, zone)
    assert (agp_bin.minute, agp_bin.readings) == (0, MIN_BIN_READINGS)
    assert list(agp_bin.percentiles) == pytest.approx(want[0], rel=1e-12)
    assert profile([], zone) == ()


def test_dst_change_keeps_clock_time() -> None:
    """Across Berlin's changes of clock, a reading goes to the bin of the clock's time."""
    zone = ZoneInfo("Europe/Berlin")
    before = int(datetime(2026, 3, 29, 0, 40, tzinfo=UTC).timestamp() * 1000)  # 01:40 CET
    after = int(datetime(2026, 3, 29, 1, 40, tzinfo=UTC).timestamp() * 1000)  # 03:40 CEST
    readings = [(before + i, 100) for i in range(MIN_BIN_READINGS)]
    readings += [(after + i, 200) for i in range(MIN_BIN_READINGS)]
    bins = profile(readings, zone)
    assert [(b.time, b.percentiles[2]) for b in bins] == [("01:30", 100.0), ("03:30", 200.0)]

    # In autumn 02:30 comes twice, an hour apart: both hours' readings share its bin.
    first = int(datetime(2026, 10, 25, 0, 40, tzinfo=UTC).timestamp() * 1000)  # 02:40 CEST
    second = int(datetime(2026, 10, 25, 1, 40, tzinfo=UTC).timestamp() * 1000)  # 02:40 CET
    readings = [(first + i, 100) for i in range(7)] + [(second + i, 200) for i in range(7)]
    [agp_bin] = profile(readings, zone)
    assert (agp_bin.time, agp_bin.readings, agp_bin.percentiles[2]) == ("02:30", 14, 150.0)


def test_low_and_high_count_as_their_bounds() -> None:
    """LOW and HIGH enter the percentiles as 39 and 401 mg/dL."""
    day = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    values = [OUT_OF_RANGE_LOW] * 10 + [OUT_OF_RANGE_HIGH] * 10
    [agp_bin] = profile([(day + i, value) for i, value in enumerate(values)], ZoneInfo("UTC"))
    assert agp_bin.percentiles[0] == OUT_OF_RANGE_LOW
    assert agp_bin.percentiles[4] == OUT_OF_RANGE_HIGH
    assert agp_bin.percentiles[2] == pytest.approx(np.percentile(values, 50))


def test_too_little_wear_draws_nothing() -> None:
    """Under 70 % of the 14 days with readings: no bins and no chart."""
    readings = fortnight(1, wear=0.6)
    agp = build(readings)
    assert agp.wear == pytest.approx(100 * len(readings) / (14 * 288))
    assert not agp.enough
    assert (agp.bins, agp.chart) == ((), None)
    assert percentile_rows(agp, MGDL) == []

    enough = build(fortnight(1, wear=0.75))
    assert enough.enough
    assert enough.chart is not None
    assert len(enough.bins) == BINS


def parse(chart: bytes) -> ET.Element:
    """Return the root of an SVG document, which must be well formed."""
    root = ET.fromstring(chart)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    """Return the text of every label."""
    return [node.text or "" for node in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("unit", "labels"),
    [(MGDL, ["54", "70", "180", "250", "400"]), (MMOLL, ["3.0", "3.9", "10.0", "13.9", "22.2"])],
)
def test_chart_draws_bands_median_and_targets(unit: str, labels: list[str]) -> None:
    """Both bands, the median line, the 70 and 180 lines, and labels in the unit."""
    agp = build(fortnight(2), unit)
    assert agp.chart is not None
    root = parse(agp.chart)
    classes = [node.get("class") for node in root.iter() if node.get("class")]
    assert classes.count("band-5-95") == 1
    assert classes.count("band-25-75") == 1
    assert classes.count("median") == 1
    targets = [node for node in root.iter(f"{SVG}line") if node.get("class") == "target"]
    assert sorted(float(line.get("y1", "")) for line in targets) == pytest.approx(
        sorted([y_of(70), y_of(180)]), abs=0.05
    )
    shown = texts(root)
    assert unit in shown
    assert all(label in shown for label in labels)
    assert "00:00" in shown
    assert "24:00" in shown
    assert root.find(f"{SVG}rect") is not None  # its own background, for any theme
    median = next(node for node in root.iter() if node.get("class") == "median")
    assert len(median.get("points", "").split()) == BINS


def test_only_the_period_counts() -> None:
    """Readings at or before the start of the 14 days are left out."""
    readings = fortnight(3)
    since = int((NOW - PERIOD).timestamp() * 1000)
    older = [(since - step * FIVE_MINUTES, 400) for step in range(300)]
    assert build(readings + older) == build(readings)
    assert build(readings).readings == len(readings)


def test_chart_breaks_at_left_out_bins() -> None:
    """A left-out bin splits the lines and bands; a lone bin is drawn across its width."""
    percentiles = (60.0, 90.0, 120.0, 150.0, 250.0)
    bins = [AgpBin(minute, percentiles, 20) for minute in (0, 30, 60, 120)]
    root = parse(render(bins, MGDL))
    medians = [node for node in root.iter() if node.get("class") == "median"]
    assert [len(node.get("points", "").split()) for node in medians] == [3, 2]
    lone = medians[1].get("points", "").split()
    assert {point.split(",")[1] for point in lone} == {f"{y_of(120):.1f}"}
    assert len([node for node in root.iter() if node.get("class") == "band-5-95"]) == 2


def test_empty_profile_still_draws_axes() -> None:
    """No bins: the axes and labels alone, still a valid image."""
    root = parse(render([], MGDL))
    assert not [node for node in root.iter() if node.get("class") == "median"]
    assert MGDL in texts(root)


def test_rows_in_the_unit() -> None:
    """Each bin as its start and percentiles, rounded as the unit shows values."""
    agp = Agp(NOW, 4032, (AgpBin(90, (55.0, 99.5, 126.25, 180.0, 401.0), 84),))
    assert percentile_rows(agp, MGDL) == [
        {"time": "01:30", "p5": 55, "p25": 100, "p50": 126, "p75": 180, "p95": 401}
    ]
    [row] = percentile_rows(agp, MMOLL)
    assert row["time"] == "01:30"
    assert row["p50"] == pytest.approx(126.25 / 18.016, abs=0.051)
