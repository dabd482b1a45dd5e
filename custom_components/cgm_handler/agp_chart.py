"""The AGP chart as SVG, in plain Python: bands, median line and target lines.

The chart draws its own light, neutral card, so it reads the same in light and dark themes.
It holds numbers, times of day and the unit only, so it needs no translation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final
from xml.sax.saxutils import escape

from .agp import BIN_MINUTES, AgpBin
from .limits import HIGH, LOW, SENSOR_MAX, SENSOR_MIN, VERY_HIGH, VERY_LOW
from .units import to_unit

WIDTH: Final = 800
HEIGHT: Final = 400
LEFT: Final = 64
RIGHT: Final = WIDTH - 32
TOP: Final = 44
BOTTOM: Final = HEIGHT - 40
# The glucose axis is the sensor's range; LOW and HIGH are drawn at its ends.
GLUCOSE_TICKS: Final = (VERY_LOW, LOW, HIGH, VERY_HIGH, SENSOR_MAX)
HOUR_TICKS: Final = range(0, 25, 3)
DAY_MINUTES: Final = 24 * 60

BACKGROUND: Final = "#f8f9fa"
TEXT: Final = "#3c4043"
GRID: Final = "#dadce0"
OUTER_BAND: Final = "#c6dbf5"
INNER_BAND: Final = "#7aa7e0"
MEDIAN: Final = "#1a4b8c"
TARGET: Final = "#2e8b47"
FONT: Final = 'font-family="sans-serif" font-size="14"'


def x_of(minute: float) -> float:
    """Return the x of a time of day, in minutes after midnight."""
    return LEFT + (RIGHT - LEFT) * minute / DAY_MINUTES


def y_of(mg_dl: float) -> float:
    """Return the y of a glucose value, kept within the axis."""
    value = min(max(mg_dl, SENSOR_MIN), SENSOR_MAX)
    return BOTTOM - (BOTTOM - TOP) * (value - SENSOR_MIN) / (SENSOR_MAX - SENSOR_MIN)


def runs(bins: Sequence[AgpBin]) -> list[list[AgpBin]]:
    """Return the bins in runs of consecutive times of day; a left-out bin ends a run."""
    result: list[list[AgpBin]] = []
    for agp_bin in bins:
        if result and result[-1][-1].minute + BIN_MINUTES == agp_bin.minute:
            result[-1].append(agp_bin)
        else:
            result.append([agp_bin])
    return result


def points(run: Sequence[AgpBin], which: int) -> list[tuple[float, float]]:
    """Return the points of one percentile of a run: at the bins' middles.

    A run of one bin is drawn across the bin's width, so that it shows.
    """
    if len(run) == 1:
        start, value = run[0].minute, run[0].percentiles[which]
        return [(x_of(start), y_of(value)), (x_of(start + BIN_MINUTES), y_of(value))]
    return [(x_of(b.minute + BIN_MINUTES / 2), y_of(b.percentiles[which])) for b in run]


def path(coordinates: Iterable[tuple[float, float]]) -> str:
    """Return SVG point coordinates."""
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)


def band(run: Sequence[AgpBin], lower: int, upper: int, colour: str, name: str) -> str:
    """Return the area between two percentiles of a run."""
    outline = points(run, upper) + points(run, lower)[::-1]
    return f'<polygon class="{name}" points="{path(outline)}" fill="{colour}"/>'


def axes(unit: str) -> list[str]:
    """Return the grid, the target lines and the labels of both axes."""
    parts = [f'<text x="{LEFT}" y="{TOP - 16}" {FONT} fill="{TEXT}">{escape(unit)}</text>']
    for mg_dl in GLUCOSE_TICKS:
        y = y_of(mg_dl)
        target = mg_dl in (LOW, HIGH)
        stroke = (
            f'stroke="{TARGET}" stroke-width="2" stroke-dasharray="8 5"'
            if target
            else f'stroke="{GRID}" stroke-width="1"'
        )
        name = ' class="target"' if target else ""
        parts.append(f'<line{name} x1="{LEFT}" x2="{RIGHT}" y1="{y:.1f}" y2="{y:.1f}" {stroke}/>')
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 5:.1f}" text-anchor="end" {FONT} '
            f'fill="{TARGET if target else TEXT}">{to_unit(mg_dl, unit)}</text>'
        )
    for hour in HOUR_TICKS:
        x = x_of(hour * 60)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{BOTTOM}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{BOTTOM + 24}" text-anchor="middle" {FONT} '
            f'fill="{TEXT}">{hour:02d}:00</text>'
        )
    return parts


def legend() -> list[str]:
    """Return the key of the bands and the median, at the top right."""
    parts = []
    x = RIGHT - 330
    for colour, label in ((OUTER_BAND, "5-95 %"), (INNER_BAND, "25-75 %"), (MEDIAN, "50 %")):
        parts.append(f'<rect x="{x}" y="{TOP - 30}" width="22" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 28}" y="{TOP - 18}" {FONT} fill="{TEXT}">{label}</text>')
        x += 115
    return parts


def render(bins: Sequence[AgpBin], unit: str) -> bytes:
    """Return the chart of the bins, with its glucose axis in the unit."""
    size = f'width="{WIDTH}" height="{HEIGHT}"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" rx="12" fill="{BACKGROUND}"/>',
    ]
    chart_runs = runs(bins)
    parts.extend(band(run, 0, 4, OUTER_BAND, "band-5-95") for run in chart_runs)
    parts.extend(band(run, 1, 3, INNER_BAND, "band-25-75") for run in chart_runs)
    parts.extend(axes(unit))
    parts.extend(
        f'<polyline class="median" points="{path(points(run, 2))}" fill="none" '
        f'stroke="{MEDIAN}" stroke-width="3" stroke-linejoin="round"/>'
        for run in chart_runs
    )
    parts.extend(legend())
    parts.append("</svg>")
    return "\n".join(parts).encode()
