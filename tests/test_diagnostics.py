"""Diagnostics of a config entry."""

from __future__ import annotations

from datetime import timedelta
import json

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.cgm_handler.const import CONF_SERVER_URL
from custom_components.cgm_handler.share import OUT_OF_RANGE_HIGH, OUT_OF_RANGE_LOW
from scripts.share_simulator import ShareSimulator
from tests.conftest import EMAIL, USERNAME
from tests.helpers import (
    FROZEN_AT,
    assert_no_secrets,
    make_entry,
    published,
    secrets_of,
    setup_entry,
)

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

REDACTED = "**REDACTED**"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: ShareSimulator,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show the coordinator and the recent readings, without secrets."""
    entry = await setup_entry(hass, make_entry(simulator))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    secrets = [*secrets_of(simulator, entry), USERNAME, EMAIL, str(entry.unique_id)]
    assert_no_secrets(secrets, json.dumps(diagnostics), snapshot_of=__file__)
    stored = diagnostics["entry"]
    assert isinstance(stored, dict)
    assert stored["title"] == REDACTED
    assert stored["unique_id"] == REDACTED
    assert stored["data"] == {
        **entry.data,
        "username": REDACTED,
        "password": REDACTED,
    }
    readings = diagnostics["recent_readings"]
    assert isinstance(readings, list)
    recent = published(simulator)[-len(readings) :]
    assert [reading["value"] for reading in readings] == [r.value for r in recent]
    assert [reading["time"] for reading in readings] == [r.time.isoformat() for r in recent]
    # The forecast starts from the newest reading, 5 to 30 minutes ahead.
    forecast = diagnostics["forecast"]
    assert forecast["time"] == recent[-1].time.isoformat()
    assert [minutes for minutes, _ in forecast["points"]] == [5, 10, 15, 20, 25, 30]
    # The simulator listens on a random port.
    assert diagnostics == snapshot(exclude=props("created_at", "modified_at", CONF_SERVER_URL))


async def test_diagnostics_show_low_and_high(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, simulator: ShareSimulator
) -> None:
    """Recent readings keep Dexcom's 401 and say that it is HIGH."""
    now = dt_util.utcnow()
    simulator.add_account(
        "flag", "flag-password-1", excursions=[(now - timedelta(minutes=20), now, 450.0)]
    )
    entry = await setup_entry(hass, make_entry(simulator, username="flag"))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    readings = diagnostics["recent_readings"]
    assert isinstance(readings, list)
    recent = published(simulator, "flag")[-len(readings) :]
    flags = {OUT_OF_RANGE_LOW: "low", OUT_OF_RANGE_HIGH: "high"}
    assert [(r["value"], r["out_of_range"]) for r in readings] == [
        (r.value, flags.get(r.value)) for r in recent
    ]
    assert {r["out_of_range"] for r in readings} == {None, "high"}
