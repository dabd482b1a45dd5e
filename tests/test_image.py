"""The AGP image entity and the get_agp action, on 14 days of simulated readings."""

from __future__ import annotations

from datetime import timedelta
import threading
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceResponse, State
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.cgm_handler import agp_coordinator
from custom_components.cgm_handler.agp import PERCENTILES, PERIOD, Agp
from custom_components.cgm_handler.const import DOMAIN, MGDL, MMOLL
from custom_components.cgm_handler.history import (
    STORAGE_VERSION,
    storage_key,
    stored_form,
    to_ms,
)
from custom_components.cgm_handler.services import SERVICE_GET_AGP
from custom_components.cgm_handler.units import to_unit
from scripts.share_simulator import ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import FROZEN_AT, advance, make_entry, own_view, setup_entry
from tests.test_agp import parse, reference_profile, texts

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

WEARER = "fortnight"
WEARER_PASSWORD = "fortnight-password"
ZONE = "Asia/Kathmandu"  # +05:45: local bins are not UTC bins shifted by whole hours
IMAGE = f"image.{WEARER}_ambulatory_glucose_profile"
HALF_STEP = {MGDL: 0.5, MMOLL: 0.05}
"""How far a value the unit shows may be from the exact one."""


async def setup_fortnight(
    hass: HomeAssistant, simulator: ShareSimulator, storage: dict[str, Any], unit: str = MGDL
) -> MockConfigEntry:
    """Set up an account with 14 days of readings in its stored history, in local time."""
    await hass.config.async_set_time_zone(ZONE)
    simulator.add_account(WEARER, WEARER_PASSWORD, history=PERIOD + timedelta(hours=2))
    entry = make_entry(simulator, username=WEARER, unit=unit)
    readings = simulator.published_readings(WEARER)
    storage[storage_key(entry.entry_id)] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": storage_key(entry.entry_id),
        "data": stored_form({to_ms(reading.time): reading.value for reading in readings}),
    }
    return await setup_entry(hass, entry)


def expected_rows(simulator: ShareSimulator, unit: str) -> dict[str, list[float]]:
    """Return numpy's percentiles of the last 14 days by local time, in the unit."""
    since = dt_util.utcnow() - PERIOD
    readings = [
        (to_ms(reading.time), reading.value)
        for reading in simulator.published_readings(WEARER)
        if reading.time > since
    ]
    return {
        f"{minute // 60:02d}:{minute % 60:02d}": [to_unit(value, unit) for value in values]
        for minute, values in reference_profile(readings, ZoneInfo(ZONE)).items()
    }


def assert_rows(rows: list[dict[str, Any]], want: dict[str, list[float]], unit: str) -> None:
    """Check each bin's row against the reference, within what the unit's rounding allows."""
    assert [row["time"] for row in rows] == list(want)
    for row in rows:
        got = [row[f"p{percent}"] for percent in PERCENTILES]
        assert got == pytest.approx(want[row["time"]], abs=HALF_STEP[unit] * 2 + 1e-9)


def image_state(hass: HomeAssistant, entity_id: str = IMAGE) -> State:
    """Return the image's state, which must exist."""
    state = hass.states.get(entity_id)
    assert state is not None
    return state


async def get_agp(hass: HomeAssistant, **data: Any) -> ServiceResponse:
    """Call the action and return its response."""
    return await hass.services.async_call(
        DOMAIN, SERVICE_GET_AGP, data, blocking=True, return_response=True
    )


@pytest.mark.parametrize("unit", [MGDL, MMOLL])
async def test_percentiles_attribute_and_action(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_storage: dict[str, Any],
    unit: str,
) -> None:
    """The image's attribute and the action give numpy's percentiles by local time."""
    entry = await setup_fortnight(hass, simulator, hass_storage, unit)
    state = image_state(hass)
    assert state.state == dt_util.utcnow().isoformat()
    assert state.attributes["unit"] == unit
    want = expected_rows(simulator, unit)
    assert len(want) == 48
    assert_rows(state.attributes["percentiles"], want, unit)

    response = await get_agp(hass, **{ATTR_CONFIG_ENTRY_ID: entry.entry_id})
    assert response is not None
    assert response["unit"] == unit
    assert response["drawn"] == state.state
    assert response["percentiles"] == state.attributes["percentiles"]
    assert response["wear"] == pytest.approx(response["readings"] / 4032 * 100, abs=0.05)
    assert response["wear"] > 90

    other = MMOLL if unit == MGDL else MGDL
    converted = await get_agp(hass, config_entry_id=entry.entry_id, unit=other)
    assert converted is not None
    assert converted["unit"] == other
    assert_rows(converted["percentiles"], expected_rows(simulator, other), other)


async def test_image_is_served_as_svg(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_storage: dict[str, Any],
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The image proxy serves the chart, by the token in the entity picture, as SVG."""
    await setup_fortnight(hass, simulator, hass_storage, MMOLL)
    client = await hass_client_no_auth()
    response = await client.get(image_state(hass).attributes["entity_picture"])
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    root = parse(await response.read())
    assert MMOLL in texts(root)
    classes = {node.get("class") for node in root.iter()}
    assert {"band-5-95", "band-25-75", "median", "target"} <= classes


async def test_redrawn_every_hour_in_the_executor(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polls every 5 minutes do not redraw; the hour does, off the event loop."""
    threads: list[int] = []
    build = agp_coordinator.build_agp

    def spy(*args: Any) -> Agp:
        threads.append(threading.get_ident())
        return build(*args)

    monkeypatch.setattr(agp_coordinator, "build_agp", spy)
    await setup_fortnight(hass, simulator, hass_storage)
    first = image_state(hass).state
    assert len(threads) == 1

    await advance(hass, freezer, timedelta(minutes=50))
    assert len(threads) == 1
    assert image_state(hass).state == first

    await advance(hass, freezer, timedelta(minutes=20))
    assert len(threads) == 2
    assert hass.loop_thread_id not in threads
    redrawn = dt_util.parse_datetime(image_state(hass).state)
    assert redrawn is not None
    assert dt_util.parse_datetime(first) + timedelta(hours=1) <= redrawn <= dt_util.utcnow()  # type: ignore[operator]


async def test_unavailable_with_too_little_data(
    hass: HomeAssistant, simulator: ShareSimulator
) -> None:
    """A day of readings is under 70 % of 14 days: unavailable, and no percentiles."""
    entry = await setup_entry(hass, make_entry(simulator))
    assert image_state(hass, f"image.{USERNAME}_ambulatory_glucose_profile").state == (
        STATE_UNAVAILABLE
    )
    response = await get_agp(hass, config_entry_id=entry.entry_id)
    assert response is not None
    assert response["percentiles"] == []
    assert 6 < response["wear"] < 7.2  # one day of 14


async def test_action_needs_a_loaded_entry(hass: HomeAssistant, simulator: ShareSimulator) -> None:
    """An unknown entry id is a translated error."""
    await setup_entry(hass, make_entry(simulator))
    with pytest.raises(ServiceValidationError) as error:
        await get_agp(hass, config_entry_id="unknown")
    assert error.value.translation_key == "entry_not_found"


async def test_image_entity(
    hass: HomeAssistant,
    simulator: ShareSimulator,
    hass_storage: dict[str, Any],
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The image's registry entry and state, without its changing access token."""
    await setup_fortnight(hass, simulator, hass_storage)
    entity_entry = entity_registry.async_get(IMAGE)
    assert entity_entry is not None
    view = own_view(entity_entry, image_state(hass))
    for changing in ("access_token", "entity_picture"):
        assert view["attributes"].pop(changing)
    view["attributes"]["percentiles"] = len(view["attributes"]["percentiles"])
    assert view == snapshot
