"""The glucose chart entities: every reading of the span, as SVG and as PNG."""

from __future__ import annotations

from datetime import timedelta
import io
import threading
from typing import Any
import xml.etree.ElementTree as ET

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.history import get_significant_states
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.cgm_handler import image
from custom_components.cgm_handler.chart_png import PNG_SIZE
from custom_components.cgm_handler.const import CONF_CHART_HOURS, MGDL, MMOLL
from custom_components.cgm_handler.glucose_chart import STALE, Chart, Frame, Limits
from custom_components.cgm_handler.limits import HIGH, LOW, VERY_HIGH, VERY_LOW
from scripts.share_simulator import ShareSimulator
from scripts.share_simulator.faults import FaultKind
from scripts.share_simulator.sensor import Reading
from tests.helpers import FROZEN_AT, advance, make_entry, published, setup_entry
from tests.test_agp import parse
from tests.test_glucose_chart import named, number
from tests.test_predictive import PREDICTED

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

SVG_CHART = "image.jane_glucose_chart"
PNG_CHART = "image.jane_glucose_chart_png"


def state_of(hass: HomeAssistant, entity_id: str = SVG_CHART) -> State:
    """Return an entity's state, which must exist."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state


async def fetch(
    hass: HomeAssistant, client_of: ClientSessionGenerator, entity_id: str = SVG_CHART
) -> tuple[str, bytes]:
    """Return the content type and body that the entity picture's URL serves."""
    client = await client_of()
    response = await client.get(state_of(hass, entity_id).attributes["entity_picture"])
    assert response.status == 200
    return response.content_type, await response.read()


def frame_now(hours: int) -> Frame:
    """Return the chart's frame of a drawing made now."""
    chart = Chart((), None, None, Limits(VERY_LOW, LOW, HIGH, VERY_HIGH), MGDL, hours,
                  dt_util.utcnow(), dt_util.get_default_time_zone(), stale=False)  # fmt: skip
    return Frame(chart)


def assert_dots_are(root: ET.Element, readings: list[Reading], hours: int) -> None:
    """Check one dot per reading of the span, at its time and with its value."""
    since = dt_util.utcnow() - timedelta(hours=hours)
    want = sorted((r.time, r.value) for r in readings if r.time > since)
    dots = named(root, "reading")
    assert len(dots) == len(want)
    frame = frame_now(hours)
    for dot, (moment, value) in zip(dots, want, strict=True):
        assert int(dot.get("data-mgdl", "")) == value
        assert number(dot, "cx") == pytest.approx(frame.x_of(moment), abs=0.05)


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
async def test_svg_chart_shows_every_reading_of_the_span(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    unit: str,
) -> None:
    """The image proxy serves SVG with a dot per reading of the last 3 hours, and the forecast."""
    await setup_entry(hass, make_entry(simulator, unit=unit))
    content_type, body = await fetch(hass, hass_client_no_auth)
    assert content_type == "image/svg+xml"
    root = parse(body)
    assert_dots_are(root, published(simulator), 3)
    assert named(root, "unit")[0].text == unit
    forecast_shown = state_of(hass, f"sensor.jane_{PREDICTED}").state != "unavailable"
    assert len(named(root, "forecast")) == (6 if forecast_shown else 0)
    assert state_of(hass).attributes["friendly_name"] == "jane Glucose chart"


async def test_span_is_an_option(
    hass: HomeAssistant, simulator: ShareSimulator, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """With 12 hours chosen, the chart holds the readings of 12 hours."""
    await setup_entry(hass, make_entry(simulator, options={CONF_CHART_HOURS: 12}))
    _, body = await fetch(hass, hass_client_no_auth)
    root = parse(body)
    assert_dots_are(root, published(simulator), 12)
    assert len(named(root, "reading")) > 12 * 11


async def test_png_through_the_image_proxy(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The URL a notification attaches serves a PNG of its size to the app's sign-in.

    /api/image_proxy/<entity id> needs Home Assistant's authentication, which the companion
    apps add to a relative URL; without it, or the entity's token, it is refused.
    """
    await setup_entry(hass, make_entry(simulator))
    url = f"/api/image_proxy/{PNG_CHART}"
    signed_in = await hass_client()
    response = await signed_in.get(url)
    assert response.status == 200
    assert response.content_type == "image/png"
    picture = Image.open(io.BytesIO(await response.read()))
    assert picture.format == "PNG"
    assert picture.size == PNG_SIZE
    assert picture.convert("RGB").getpixel((4, PNG_SIZE[1] - 4)) == (0xF8, 0xF9, 0xFA)
    assert state_of(hass, PNG_CHART).attributes["friendly_name"] == "jane Glucose chart (PNG)"

    stranger = await hass_client_no_auth()
    assert (await stranger.get(url)).status == 403
    content_type, _ = await fetch(hass, hass_client_no_auth, PNG_CHART)
    assert content_type == "image/png"


async def test_redrawn_when_a_reading_arrives_or_turns_stale(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fetches between readings reuse the drawing; a reading and staleness redraw it."""
    threads: list[int] = []
    render = image.render_chart

    def spy(*args: Any) -> bytes:
        threads.append(threading.get_ident())
        return render(*args)

    monkeypatch.setattr(image, "render_chart", spy)
    await setup_entry(hass, make_entry(simulator))
    first = state_of(hass).state
    assert threads == []  # drawn when asked for
    await fetch(hass, hass_client_no_auth)
    await fetch(hass, hass_client_no_auth)
    assert len(threads) == 1
    assert hass.loop_thread_id not in threads

    newest = published(simulator)[-1].time
    await advance(hass, freezer, timedelta(minutes=6))
    assert published(simulator)[-1].time > newest
    assert state_of(hass).state != first
    _, body = await fetch(hass, hass_client_no_auth)
    assert len(threads) == 2
    assert not named(parse(body), "stale")

    simulator.outage(dt_util.utcnow(), dt_util.utcnow() + timedelta(hours=1), FaultKind.HTML_ERROR)
    await advance(hass, freezer, timedelta(minutes=20))
    _, body = await fetch(hass, hass_client_no_auth)
    assert len(threads) == 3
    root = parse(body)
    assert named(root, "card")[0].get("stroke") == STALE
    assert len(named(root, "stale")) == 1
    assert not named(root, "forecast")  # as the forecast sensors: unavailable when stale
    assert state_of(hass).state != "unavailable"


async def test_chart_holds_an_hour_the_recorder_lacks(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_client_no_auth: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Share down for an hour: no glucose state recorded for it, yet a dot per reading."""
    await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()
    simulator.outage(start, start + timedelta(minutes=70), FaultKind.HTML_ERROR)
    await advance(hass, freezer, timedelta(minutes=85))
    await async_wait_recording_done(hass)

    hole = (start + timedelta(minutes=16), start + timedelta(minutes=70))
    history = await get_instance(hass).async_add_executor_job(
        get_significant_states, hass, hole[0], hole[1], ["sensor.jane_glucose"]
    )
    recorded = [
        s
        for s in history.get("sensor.jane_glucose", [])
        if isinstance(s, State) and s.state.isdigit() and s.last_changed > hole[0]
    ]
    assert recorded == []

    in_hole = [r for r in published(simulator) if hole[0] <= r.time < hole[1]]
    assert len(in_hole) >= 10
    _, body = await fetch(hass, hass_client_no_auth)
    root = parse(body)
    assert_dots_are(root, published(simulator), 3)
    frame = frame_now(3)
    xs = {round(number(dot, "cx"), 1) for dot in named(root, "reading")}
    assert {round(frame.x_of(r.time), 1) for r in in_hole} <= xs
