"""The glucose chart's shapes painted as PNG with Pillow, for notifications.

The companion apps attach bitmaps, not SVG. Pillow ships with Home Assistant. Painting runs
in the executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
import io
import math
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from .glucose_chart import HEIGHT, WIDTH, Shape

SCALE: Final = 1.5
"""Pixels per SVG unit: 1080 px wide, a phone's width."""
PNG_SIZE: Final = (round(WIDTH * SCALE), round(HEIGHT * SCALE))
DASH: Final = (8.0, 5.0)
ANCHORS: Final = {"start": "ls", "middle": "ms", "end": "rs"}


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return Pillow's own font at a size in pixels."""
    return ImageFont.load_default(size)


def dashes(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float, float, float]]:
    """Return the segments of a dashed line, which must have a length."""
    length = math.hypot(x2 - x1, y2 - y1)
    dx, dy = (x2 - x1) / length, (y2 - y1) / length
    segments, at = [], 0.0
    while at < length:
        end = min(at + DASH[0] * SCALE, length)
        segments.append((x1 + dx * at, y1 + dy * at, x1 + dx * end, y1 + dy * end))
        at = end + DASH[1] * SCALE
    return segments


def paint(draw: ImageDraw.ImageDraw, shape: Shape) -> None:
    """Paint one shape."""
    x, y, x2, y2 = (value * SCALE for value in (shape.x, shape.y, shape.x2, shape.y2))
    width = max(1, round(shape.width * SCALE))
    if shape.kind == "circle":
        r = shape.r * SCALE
        box = (x - r, y - r, x + r, y + r)
        draw.ellipse(box, fill=shape.fill, outline=shape.stroke, width=width)
    elif shape.kind == "rect":
        draw.rectangle((x, y, x2, y2), fill=shape.fill, outline=shape.stroke, width=width)
    elif shape.kind == "line":
        for segment in dashes(x, y, x2, y2) if shape.dash else [(x, y, x2, y2)]:
            draw.line(segment, fill=shape.stroke, width=width)
    elif shape.kind == "polygon":
        draw.polygon([(px * SCALE, py * SCALE) for px, py in shape.points], fill=shape.fill)
    else:
        draw.text(
            (x, y),
            shape.text,
            fill=shape.fill,
            font=font(round(shape.size * SCALE)),
            anchor=ANCHORS[shape.anchor],
            stroke_width=1 if shape.bold else 0,
            stroke_fill=shape.fill,
        )


def png(shapes: Iterable[Shape]) -> bytes:
    """Return the shapes painted as a PNG of PNG_SIZE."""
    image = Image.new("RGB", PNG_SIZE, "white")
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        paint(draw, shape)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
