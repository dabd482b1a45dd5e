"""The glucose chart, checked from the SVG's structure and the PNG's pixels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
import io
import itertools
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

from PIL import Image
import pytest

from custom_components.cgm_handler.cadence import GAP
from custom_components.cgm_handler.chart_png import PNG_SIZE, SCALE, png
from custom_components.cgm_handler.const import MGDL, MMOLL
from custom_components.cgm_handler.forecast import Forecast
from custom_components.cgm_handler.glucose_chart import (
    BACKGROUND,
    COLOURS,
    FORECAST,
    STALE,
    Chart,
    Frame,
    Limits,
    draw,
    readings_in_span,
    svg,
)
from custom_components.cgm_handler.history import by_hour, to_ms
from custom_components.cgm_handler.limits import SENSOR_MAX, SENSOR_MIN
from custom_components.cgm_handler.share import GlucoseReading, Trend
from tests.test_agp import SVG, parse, texts

NOW = datetime(2026, 3, 10, 12, 2, tzinfo=UTC)
LIMITS = Limits(urgent_low=60, low=80, high=150, urgent_high=220)
FIVE = timedelta(minutes=5)


def series(values: Sequence[int | None], newest: datetime = NOW) -> list[tuple[int, int]]:
    """Return readings 5 minutes apart ending at newest; None leaves a reading out."""
    start = newest - FIVE * (len(values) - 1)
    return [(to_ms(start + FIVE * i), v) for i, v in enumerate(values) if v is not None]


def chart(
    readings: list[tuple[int, int]],
    *,
    unit: str = MGDL,
    hours: int = 3,
    forecast: Forecast | None = None,
    stale: bool = False,
    now: datetime = NOW,
    zone: str = "UTC",
    trend: Trend = Trend.FLAT,
) -> Chart:
    """Return a chart of readings, the newest of them shown in the corner."""
    newest = None
    if readings:
        ms, value = readings[-1]
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        newest = GlucoseReading(value, trend, moment, moment)
    return Chart(readings, newest, forecast, LIMITS, unit, hours, now, ZoneInfo(zone), stale)


def root_of(drawn: Chart) -> ET.Element:
    """Return the parsed SVG of a chart."""
    return parse(svg(draw(drawn)))


def named(root: ET.Element, name: str) -> list[ET.Element]:
    """Return the elements whose classes include a name."""
    return [node for node in root.iter() if name in (node.get("class") or "").split()]


def number(node: ET.Element, attribute: str) -> float:
    """Return a numeric attribute."""
    return float(node.get(attribute, "nan"))


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
@pytest.mark.parametrize("hours", [3, 6, 12, 24])
def test_one_dot_per_reading_in_the_span(unit: str, hours: int) -> None:
    """Only the readings after the span's start are drawn, each once; older ones are not."""
    readings = series([100 + i % 50 for i in range(24 * 12 + 30)])
    since = NOW - timedelta(hours=hours)
    in_span = readings_in_span(by_hour(readings).values(), since)
    assert len(in_span) == sum(1 for ms, _ in readings if ms > to_ms(since))
    assert in_span == sorted(in_span)
    root = root_of(chart(in_span, unit=unit, hours=hours))
    dots = named(root, "reading")
    assert len(dots) == len(in_span)
    assert [int(dot.get("data-mgdl", "")) for dot in dots] == [v for _, v in in_span]
    assert unit in texts(root)


def test_colours_follow_the_entrys_limits() -> None:
    """Each dot's class and fill come from the entry's limits, compared as the sensors do."""
    values = [59, 60, 79, 80, 150, 151, 220, 221]
    want = ["urgent-low", "low", "low", "in-range", "in-range", "high", "high", "urgent-high"]
    dots = named(root_of(chart(series(values))), "reading")
    assert [dot.get("class") for dot in dots] == [f"reading {band}" for band in want]
    assert [dot.get("fill") for dot in dots] == [COLOURS[band] for band in want]


@pytest.mark.parametrize(
    ("unit", "labels"), [(MGDL, ["150", "80", "60"]), (MMOLL, ["8.3", "4.4", "3.3"])]
)
def test_band_and_urgent_low_line_where_the_limits_put_them(unit: str, labels: list[str]) -> None:
    """The target band spans low to high, the urgent-low line is at its limit, labelled."""
    root = root_of(chart(series([100] * 10), unit=unit))
    (band,) = named(root, "target")
    assert number(band, "y") == pytest.approx(Frame.y_of(LIMITS.high), abs=0.05)
    assert number(band, "y") + number(band, "height") == pytest.approx(
        Frame.y_of(LIMITS.low), abs=0.1
    )
    (line,) = named(root, "urgent-low-line")
    assert number(line, "y1") == number(line, "y2")
    assert number(line, "y1") == pytest.approx(Frame.y_of(LIMITS.urgent_low), abs=0.05)
    assert [node.text for node in named(root, "limit-label")] == labels


def test_dots_where_time_and_value_put_them() -> None:
    """A dot's x is its time in the span (with 30 minutes' room after now), its y its value."""
    drawn = chart(series([100, 200, 300]))
    frame = Frame(drawn)
    dots = named(root_of(drawn), "reading")
    for dot, (ms, value) in zip(dots, drawn.readings, strict=True):
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        assert number(dot, "cx") == pytest.approx(frame.x_of(moment), abs=0.05)
        assert number(dot, "cy") == pytest.approx(frame.y_of(value), abs=0.05)
    assert frame.end == NOW + timedelta(minutes=30)


def test_forecast_points_drawn_as_rings_after_the_newest() -> None:
    """Six rings at the forecast's times and values; none without a forecast."""
    readings = series([120, 115, 110, 105])
    points = tuple((minutes, 100.0 - minutes) for minutes in (5, 10, 15, 20, 25, 30))
    ahead = Forecast(NOW, points)
    drawn = chart(readings, forecast=ahead)
    frame = Frame(drawn)
    rings = named(root_of(drawn), "forecast")
    assert len(rings) == len(points)
    for ring, (minutes, value) in zip(rings, points, strict=True):
        assert number(ring, "cx") == pytest.approx(
            frame.x_of(NOW + timedelta(minutes=minutes)), abs=0.05
        )
        assert number(ring, "cy") == pytest.approx(frame.y_of(value), abs=0.05)
        assert ring.get("stroke") == FORECAST
        assert ring.get("fill") == BACKGROUND  # a ring, unlike the readings' dots
    assert not named(root_of(chart(readings)), "forecast")


def test_a_gap_stays_empty() -> None:
    """An hour without readings: no dot in it and no line across it."""
    readings = series([100] * 12 + [None] * 12 + [110] * 12)
    drawn = chart(readings)
    frame = Frame(drawn)
    root = root_of(drawn)
    xs = sorted(number(dot, "cx") for dot in named(root, "reading"))
    widest = max(b - a for a, b in itertools.pairwise(xs))
    assert widest == pytest.approx(frame.x_of(NOW) - frame.x_of(NOW - FIVE * 13), abs=0.1)
    assert widest > frame.x_of(NOW) - frame.x_of(NOW - GAP)
    assert not list(root.iter(f"{SVG}polyline"))
    assert not list(root.iter(f"{SVG}path"))
    for line in root.iter(f"{SVG}line"):  # the grid and limit lines only
        assert line.get("x1") == line.get("x2") or line.get("y1") == line.get("y2")
        assert line.get("class") in {"grid", "now", "urgent-low-line", "stale"}


def test_low_and_high_at_floor_and_ceiling_marked_once_per_run() -> None:
    """LOW and HIGH sit at the axis' ends, each run of them labelled once."""
    readings = series([39, 39, 39, 70, 401, 401, None, None, 401, 39, 100])
    root = root_of(chart(readings, trend=Trend.NOT_COMPUTABLE))
    dots = named(root, "reading")
    floor, ceiling = Frame.y_of(SENSOR_MIN), Frame.y_of(SENSOR_MAX)
    for dot in dots:
        if dot.get("data-mgdl") == "39":
            assert number(dot, "cy") == pytest.approx(floor, abs=0.05)
            assert dot.get("fill") == COLOURS["urgent-low"]
        if dot.get("data-mgdl") == "401":
            assert number(dot, "cy") == pytest.approx(ceiling, abs=0.05)
            assert dot.get("fill") == COLOURS["urgent-high"]
    assert [node.text for node in named(root, "out-of-range")] == ["LOW", "HIGH", "HIGH", "LOW"]
    assert not named(root, "trend")  # Dexcom gives no trend: no arrow


@pytest.mark.parametrize(
    ("unit", "value", "shown"), [(MGDL, 39, "LOW"), (MGDL, 401, "HIGH"), (MMOLL, 97, "5.4")]
)
def test_corner_shows_the_newest_value_trend_and_age(unit: str, value: int, shown: str) -> None:
    """The newest value as the app shows it, its arrow, the unit, its age and local time."""
    readings = series([100, value], newest=NOW - timedelta(minutes=4))
    root = root_of(chart(readings, unit=unit, trend=Trend.DOUBLE_DOWN, zone="Asia/Kathmandu"))
    (value_text,) = named(root, "value")
    assert value_text.text == shown
    assert len(named(root, "trend")) == 2
    (unit_text,) = named(root, "unit")
    assert unit_text.text == unit
    (age,) = named(root, "age")
    assert age.text == "4 min"
    assert "17:43" in texts(root)  # 11:58 UTC in Kathmandu, +05:45
    assert not named(root, "stale")


def test_stale_chart_says_so() -> None:
    """A stale newest reading: the value greyed and struck through, the card framed red."""
    readings = series([100] * 10, newest=NOW - timedelta(minutes=40))
    root = root_of(chart(readings, stale=True, trend=Trend.FLAT))
    (card,) = named(root, "card")
    assert card.get("stroke") == STALE
    assert len(named(root, "stale")) == 1
    (age,) = named(root, "age")
    assert age.text == "40 min"
    assert age.get("fill") == STALE
    assert not named(root, "trend")
    assert named(root, "value")[0].get("fill") != COLOURS["in-range"]


def test_no_readings_still_draws() -> None:
    """Nothing to show: the axes and a dash, still a valid image."""
    root = root_of(chart([]))
    assert named(root, "value")[0].text == "--"
    assert not named(root, "reading")


@pytest.mark.parametrize(("hours", "step"), [(3, 1), (6, 1), (12, 2), (24, 4)])
def test_local_full_hours_on_the_time_axis(hours: int, step: int) -> None:
    """The labels are local full hours, every step, where their instants are."""
    zone = ZoneInfo("Asia/Kathmandu")
    drawn = chart(series([100] * 10), hours=hours, zone="Asia/Kathmandu")
    frame = Frame(drawn)
    labels = named(root_of(drawn), "time")
    assert len(labels) >= 3
    for node in labels:
        hour, minute = (int(part) for part in (node.text or "").split(":"))
        assert minute == 0
        assert hour % step == 0
        local = NOW.astimezone(zone)
        moment = local.replace(hour=hour, minute=0)
        if moment > local + timedelta(minutes=30):
            moment -= timedelta(days=1)
        assert number(node, "x") == pytest.approx(frame.x_of(moment), abs=0.05)


def test_a_day_of_readings_stays_small() -> None:
    """24 hours of readings, LOW and HIGH included, and a forecast: under 40 kB."""
    values = [39 if i % 97 == 0 else 401 if i % 89 == 0 else 100 + i % 250 for i in range(288)]
    ahead = Forecast(NOW, tuple((m, 100.0) for m in (5, 10, 15, 20, 25, 30)))
    assert len(svg(draw(chart(series(values), hours=24, forecast=ahead)))) < 40_000


def test_png_shows_the_same_picture() -> None:
    """The PNG decodes at its size; a dot, a ring and the background have their colours."""
    readings = series([100] * 6 + [250] * 6)
    ahead = Forecast(NOW, tuple((m, 300.0) for m in (5, 10, 15, 20, 25, 30)))
    drawn = chart(readings, forecast=ahead)
    frame = Frame(drawn)
    image = Image.open(io.BytesIO(png(draw(drawn))))
    assert image.format == "PNG"
    assert image.size == PNG_SIZE

    def pixel(x: float, y: float) -> str:
        r, g, b = image.convert("RGB").getpixel((round(x * SCALE), round(y * SCALE)))  # type: ignore[misc]
        return f"#{r:02x}{g:02x}{b:02x}"

    newest = datetime.fromtimestamp(readings[-1][0] / 1000, UTC)
    assert pixel(frame.x_of(newest), frame.y_of(250)) == COLOURS["urgent-high"]
    first = datetime.fromtimestamp(readings[0][0] / 1000, UTC)
    assert pixel(frame.x_of(first), frame.y_of(100)) == COLOURS["in-range"]
    ring = frame.x_of(NOW + timedelta(minutes=15)), frame.y_of(300)
    assert pixel(*ring) == BACKGROUND  # a ring is hollow
    assert pixel(ring[0] + frame.radius() * 0.9, ring[1]) != BACKGROUND
    assert pixel(5, 390) == BACKGROUND
