"""Diagnostics of a config entry."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.cgm_handler.const import CONF_SERVER_URL
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
    # The simulator listens on a random port.
    assert diagnostics == snapshot(exclude=props("created_at", "modified_at", CONF_SERVER_URL))
