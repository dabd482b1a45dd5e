"""The glucose chart of the last hours, in plain Python: every reading and the forecast.

`draw(chart)` lays the chart out as shapes (`Shape`); `svg(shapes)` writes them as SVG and
`chart_png.png(shapes)` paints them with Pillow, so both formats show the same picture.

- Each reading is a dot coloured by its range under the entry's limits; LOW and HIGH sit
  at the axis' floor and ceiling with a LOW or HIGH label at the start of each run.
- The target range is a band, the urgent-low limit a line, both labelled with their values.
- The forecast's points, when given, are rings after the newest reading.
- The header holds the newest value, its trend arrow, its unit and its age; a stale chart
  greys the value, strikes it through and frames the card in red.
- Readings are dots only, so a gap stays empty.

The chart draws its own light card, so it reads the same in light and dark themes, and it
holds numbers, times, the unit, LOW and HIGH only (as Dexcom's app), so it needs no
translation. Drawing runs in the executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
import math
from typing import Final
from xml.sax.saxutils import escape

from .cadence import GAP, READING_INTERVAL
from .forecast import HORIZONS, Forecast
from .history import from_ms, to_ms
from .limits import SENSOR_MAX, SENSOR_MIN
from .share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW, GlucoseReading, OutOfRange, Trend
from .units import precision, to_unit

WIDTH: Final = 720
HEIGHT: Final = 400
LEFT: Final = 66
RIGHT: Final = WIDTH - 20
TOP: Final = 100
BOTTOM: Final = HEIGHT - 48
AHEAD: Final = timedelta(minutes=max(HORIZONS))
"""Room after now for the forecast."""

BACKGROUND: Final = "#f8f9fa"
TEXT: Final = "#202124"
MUTED: Final = "#5f6368"
GRID: Final = "#dadce0"
BAND: Final = "#d5ecd9"
TARGET: Final = "#2e7d32"
URGENT_LINE: Final = "#c5221f"
FORECAST: Final = "#7b1fa2"
STALE: Final = "#c5221f"
COLOURS: Final = {
    "urgent-low": "#a50e0e",
    "low": "#ea4335",
    "in-range": "#34a853",
    "high": "#f9ab00",
    "urgent-high": "#e37400",
}
TEXT_SIZE: Final = 20
LABEL_ROOM: Final = TEXT_SIZE + 2
VALUE_SIZE: Final = 52
TICK_HOURS: Final = {3: 1, 6: 1, 12: 2, 24: 4}
"""Hours between the time labels, by span."""
TREND_ANGLES: Final[Mapping[Trend, tuple[int, int]]] = {
    Trend.DOUBLE_UP: (90, 2),
    Trend.SINGLE_UP: (90, 1),
    Trend.FORTY_FIVE_UP: (45, 1),
    Trend.FLAT: (0, 1),
    Trend.FORTY_FIVE_DOWN: (-45, 1),
    Trend.SINGLE_DOWN: (-90, 1),
    Trend.DOUBLE_DOWN: (-90, 2),
}
"""The angle of the trend arrow, in degrees up from the right, and how many arrows."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The entry's glucose limits, in mg/dL."""

    urgent_low: int
    low: int
    high: int
    urgent_high: int

    def range_of(self, mg_dl: int) -> str:
        """Return the range of a reading, compared as the entry's binary sensors do."""
        if mg_dl < self.urgent_low:
            return "urgent-low"
        if mg_dl < self.low:
            return "low"
        if mg_dl > self.urgent_high:
            return "urgent-high"
        if mg_dl > self.high:
            return "high"
        return "in-range"


@dataclass(frozen=True, slots=True)
class Chart:
    """What one drawing shows."""

    readings: Sequence[tuple[int, int]]
    """(epoch ms, mg/dL) of every reading in the span, oldest first."""
    newest: GlucoseReading | None
    forecast: Forecast | None
    """None whenever the forecast entities are unavailable."""
    limits: Limits
    unit: str
    hours: int
    now: datetime
    zone: tzinfo
    stale: bool


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn element. kind is circle, rect, line, polygon or text.

    A circle is at (x, y) with radius r; a rect spans (x, y) to (x2, y2); a line runs
    from (x, y) to (x2, y2); a polygon has points; a text's baseline starts, centres or
    ends at (x, y) by anchor.
    """

    kind: str
    name: str
    x: float = 0.0
    y: float = 0.0
    x2: float = 0.0
    y2: float = 0.0
    r: float = 0.0
    fill: str | None = None
    stroke: str | None = None
    width: float = 1.0
    dash: bool = False
    points: tuple[tuple[float, float], ...] = ()
    text: str = ""
    size: int = TEXT_SIZE
    anchor: str = "start"
    bold: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)
    """Data attributes written to the SVG only, for what reads it."""


def readings_in_span(hours: Iterable[Mapping[int, int]], since: datetime) -> list[tuple[int, int]]:
    """Return the readings after since from the history's hours, oldest first."""
    cutoff = to_ms(since)
    return sorted((ms, value) for hour in hours for ms, value in hour.items() if ms > cutoff)


class Frame:
    """The mapping of times and glucose values to the plot area."""

    def __init__(self, chart: Chart) -> None:
        """Span the chart's hours up to now, and the forecast's room after."""
        self.end = chart.now + AHEAD
        self.start = chart.now - timedelta(hours=chart.hours)

    def x_of(self, moment: datetime) -> float:
        """Return the x of an instant."""
        share = (moment - self.start) / (self.end - self.start)
        return LEFT + (RIGHT - LEFT) * share

    @staticmethod
    def y_of(mg_dl: float) -> float:
        """Return the y of a glucose value, kept within the sensor's range."""
        value = min(max(mg_dl, SENSOR_MIN), SENSOR_MAX)
        return BOTTOM - (BOTTOM - TOP) * (value - SENSOR_MIN) / (SENSOR_MAX - SENSOR_MIN)

    def radius(self) -> float:
        """Return the dot radius: about half the room of one reading, 2 to 5 px."""
        room = (RIGHT - LEFT) * (READING_INTERVAL / (self.end - self.start))
        return round(min(5.0, max(2.0, room * 0.55)), 1)


def shown(mg_dl: float, unit: str) -> str:
    """Return a glucose value as the unit shows it."""
    return f"{to_unit(mg_dl, unit):.{precision(unit)}f}"


def flag(mg_dl: int) -> str | None:
    """Return LOW or HIGH for a reading beyond the sensor's range, as Dexcom's app shows it."""
    if mg_dl <= OUT_OF_RANGE_LOW:
        return OutOfRange.LOW.upper()
    if mg_dl >= OUT_OF_RANGE_HIGH:
        return OutOfRange.HIGH.upper()
    return None


def label(mg_dl: int, unit: str) -> str:
    """Return a reading as Dexcom's app shows it: LOW, HIGH or the value."""
    return flag(mg_dl) or shown(mg_dl, unit)


def limit_shapes(chart: Chart, frame: Frame) -> list[Shape]:
    """Return the target band, the urgent-low line and their labels."""
    top, bottom = frame.y_of(chart.limits.high), frame.y_of(chart.limits.low)
    urgent = frame.y_of(chart.limits.urgent_low)
    shapes = [
        Shape("rect", "target", LEFT, top, RIGHT, bottom, fill=BAND),
        Shape(
            "line",
            "urgent-low-line",
            LEFT,
            urgent,
            RIGHT,
            urgent,
            stroke=URGENT_LINE,
            width=2,
            dash=True,
        ),
    ]
    # The low and urgent-low labels keep apart when their lines are close.
    push = max(0.0, LABEL_ROOM - (urgent - bottom)) / 2
    for mg_dl, y, colour in (
        (chart.limits.high, top, TARGET),
        (chart.limits.low, bottom - push, TARGET),
        (chart.limits.urgent_low, urgent + push, URGENT_LINE),
    ):
        text = shown(mg_dl, chart.unit)
        shapes.append(
            Shape(
                "text",
                "limit-label",
                LEFT - 8,
                y + 5,
                text=text,
                fill=colour,
                anchor="end",
                bold=True,
            )
        )
    return shapes


def time_ticks(chart: Chart, frame: Frame) -> list[datetime]:
    """Return the local full hours to label, every TICK_HOURS of the span."""
    step = TICK_HOURS.get(chart.hours, max(1, chart.hours // 6))
    quarter = timedelta(minutes=15)  # every UTC offset is a multiple of it
    moment = frame.start - (frame.start - from_ms(0)) % quarter
    ticks = []
    while moment <= frame.end:
        local = moment.astimezone(chart.zone)
        if moment >= frame.start and local.minute == 0 and local.hour % step == 0:
            ticks.append(moment)
        moment += quarter
    return ticks


def axis_shapes(chart: Chart, frame: Frame) -> list[Shape]:
    """Return the time grid with local times, and the line of now."""
    shapes = []
    for moment in time_ticks(chart, frame):
        x = frame.x_of(moment)
        shapes.append(Shape("line", "grid", x, TOP, x, BOTTOM, stroke=GRID))
        shapes.append(
            Shape(
                "text",
                "time",
                x,
                BOTTOM + 30,
                text=moment.astimezone(chart.zone).strftime("%H:%M"),
                fill=MUTED,
                anchor="middle",
            )
        )
    now = frame.x_of(chart.now)
    shapes.append(Shape("line", "now", now, TOP, now, BOTTOM, stroke=MUTED, dash=True))
    shapes.append(Shape("rect", "frame", LEFT, TOP, RIGHT, BOTTOM, stroke=GRID))
    return shapes


def reading_shapes(chart: Chart, frame: Frame) -> list[Shape]:
    """Return a dot per reading, and a LOW or HIGH label at the start of each such run."""
    shapes = []
    radius = frame.radius()
    previous: tuple[datetime, str | None] | None = None
    for ms, mg_dl in chart.readings:
        moment = from_ms(ms)
        x, y = frame.x_of(moment), frame.y_of(mg_dl)
        band = chart.limits.range_of(mg_dl)
        beyond = flag(mg_dl)
        extra = {"data-mgdl": str(mg_dl)}
        shapes.append(
            Shape("circle", f"reading {band}", x, y, r=radius, fill=COLOURS[band], extra=extra)
        )
        run_goes_on = previous is not None and moment - previous[0] <= GAP and previous[1] == beyond
        if beyond is not None and not run_goes_on:
            y_text = y - radius - 6 if mg_dl <= OUT_OF_RANGE_LOW else y + radius + 18
            shapes.append(
                Shape("text", "out-of-range", x, y_text, text=beyond, fill=COLOURS[band], bold=True)
            )
        previous = (moment, beyond)
    return shapes


def forecast_shapes(chart: Chart, frame: Frame) -> list[Shape]:
    """Return a ring per forecast point after the newest reading."""
    if chart.forecast is None:
        return []
    radius = max(frame.radius(), 3.0)
    return [
        Shape(
            "circle",
            "forecast",
            frame.x_of(chart.forecast.time + timedelta(minutes=minutes)),
            frame.y_of(mg_dl),
            r=radius,
            fill=BACKGROUND,
            stroke=FORECAST,
            width=2,
            extra={"data-mgdl": f"{mg_dl:.1f}", "data-minutes": str(minutes)},
        )
        for minutes, mg_dl in chart.forecast.points
    ]


def arrow(x: float, y: float, degrees: int) -> tuple[tuple[float, float], ...]:
    """Return the outline of an arrow 28 px long centred on (x, y), pointing at an angle."""
    outline = ((-14, -3), (4, -3), (4, -9), (14, 0), (4, 9), (4, 3), (-14, 3))
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return tuple(
        (round(x + px * cos + py * sin, 1), round(y - px * sin + py * cos, 1)) for px, py in outline
    )


def header_shapes(chart: Chart) -> list[Shape]:
    """Return the newest value, its trend arrow, the unit and its age, at the top."""
    baseline = 66
    newest = chart.newest
    colour = (
        MUTED if chart.stale or newest is None else COLOURS[chart.limits.range_of(newest.value)]
    )
    text = "--" if newest is None else label(newest.value, chart.unit)
    value_width = len(text) * VALUE_SIZE * 0.58
    shapes = [
        Shape("text", "value", 24, baseline, text=text, size=VALUE_SIZE, fill=colour, bold=True)
    ]
    x = 24 + value_width + 12
    if newest is not None and not chart.stale and newest.trend in TREND_ANGLES:
        degrees, count = TREND_ANGLES[newest.trend]
        for _ in range(count):
            shapes.append(
                Shape("polygon", "trend", points=arrow(x + 14, baseline - 18, degrees), fill=colour)
            )
            x += 22
        x += 20
    shapes.append(Shape("text", "unit", x, baseline, text=chart.unit, fill=MUTED))
    if newest is None:
        return shapes
    if chart.stale:
        shapes.append(
            Shape(
                "line",
                "stale",
                20,
                baseline - 18,
                24 + value_width + 4,
                baseline - 18,
                stroke=STALE,
                width=3,
            )
        )
    minutes = max(0, int((chart.now - newest.time) / timedelta(minutes=1)))
    time = newest.time.astimezone(chart.zone).strftime("%H:%M")
    shapes.append(
        Shape(
            "text",
            "age",
            RIGHT,
            baseline - 26,
            text=f"{minutes} min",
            fill=STALE if chart.stale else TEXT,
            anchor="end",
            bold=chart.stale,
            size=24,
        )
    )
    shapes.append(
        Shape("text", "reading-time", RIGHT, baseline + 2, text=time, fill=MUTED, anchor="end")
    )
    return shapes


def draw(chart: Chart) -> list[Shape]:
    """Return the chart as shapes, back to front."""
    frame = Frame(chart)
    shapes = [
        Shape(
            "rect",
            "card",
            0,
            0,
            WIDTH,
            HEIGHT,
            fill=BACKGROUND,
            stroke=STALE if chart.stale else None,
            width=4 if chart.stale else 1,
        )
    ]
    shapes += limit_shapes(chart, frame)
    shapes += axis_shapes(chart, frame)
    shapes += reading_shapes(chart, frame)
    shapes += forecast_shapes(chart, frame)
    shapes += header_shapes(chart)
    return shapes


def svg_element(shape: Shape) -> str:
    """Return one shape as an SVG element."""
    paint = f' fill="{shape.fill or "none"}"'
    if shape.stroke:
        paint += f' stroke="{shape.stroke}" stroke-width="{shape.width:g}"'
        if shape.dash:
            paint += ' stroke-dasharray="8 5"'
    extra = "".join(f' {key}="{value}"' for key, value in shape.extra.items())
    head = f'class="{shape.name}"{extra}'
    if shape.kind == "circle":
        return f'<circle {head} cx="{shape.x:.1f}" cy="{shape.y:.1f}" r="{shape.r:g}"{paint}/>'
    if shape.kind == "rect":
        return (
            f'<rect {head} x="{shape.x:.1f}" y="{shape.y:.1f}" '
            f'width="{shape.x2 - shape.x:.1f}" height="{shape.y2 - shape.y:.1f}"{paint}/>'
        )
    if shape.kind == "line":
        return (
            f'<line {head} x1="{shape.x:.1f}" y1="{shape.y:.1f}" x2="{shape.x2:.1f}" '
            f'y2="{shape.y2:.1f}"{paint}/>'
        )
    if shape.kind == "polygon":
        points = " ".join(f"{x:g},{y:g}" for x, y in shape.points)
        return f'<polygon {head} points="{points}"{paint}/>'
    weight = ' font-weight="bold"' if shape.bold else ""
    return (
        f'<text {head} x="{shape.x:.1f}" y="{shape.y:.1f}" font-size="{shape.size}"'
        f'{weight} text-anchor="{shape.anchor}"{paint}>{escape(shape.text)}</text>'
    )


def svg(shapes: Iterable[Shape]) -> bytes:
    """Return the shapes as an SVG document."""
    size = f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
    body = "\n".join(svg_element(shape) for shape in shapes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="sans-serif">\n{body}\n</svg>'
    ).encode()
