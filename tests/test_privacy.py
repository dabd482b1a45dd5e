"""No Dexcom username, email address or phone number in the log, at any level.

The entry's title is the username, which is often an email address or a phone number;
people paste their log into public bug reports.
"""

from __future__ import annotations

import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from custom_components.cgm_handler.scheduler import MAX_WAIT
from scripts.share_simulator import FaultKind, ShareSimulator
from scripts.share_simulator.wire import READINGS_ENDPOINT
from tests.helpers import FROZEN_AT, advance, make_entry, setup_entry

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

EMAIL = "jane.doe@example.com"
PHONE = "+15551234567"
PASSWORD = "private-password"
OURS = "custom_components.cgm_handler"


def shown(records: list[logging.LogRecord]) -> str:
    """Return log records as the log shows them: logger, level and message."""
    return "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in records)


@pytest.mark.parametrize("username", [EMAIL, PHONE], ids=["email", "phone"])
async def test_the_log_never_names_the_account(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    caplog: pytest.LogCaptureFixture,
    username: str,
) -> None:
    """Set up, a poll that fails and one that succeeds: no record names the account.

    The integration's records (its coordinators' included) name it at no level, and no
    record at all does from warnings up. Home Assistant's own debug and info records may
    name the entity ids and friendly names, which follow the title.
    """
    caplog.set_level(logging.DEBUG)
    simulator.add_account(username, PASSWORD, email=EMAIL, phone=PHONE)
    entry = await setup_entry(hass, make_entry(simulator, username=username))
    coordinator = entry.runtime_data
    assert entry.title == username

    simulator.inject(FaultKind.SERVER_ERROR, endpoint=READINGS_ENDPOINT)
    simulator.invalidate_sessions()  # the next poll logs in again
    await advance(hass, freezer, 2 * MAX_WAIT)
    assert coordinator.last_update_success

    ours = shown([r for r in caplog.records if r.name.startswith(OURS)])
    warnings = shown([r for r in caplog.records if r.levelno >= logging.WARNING])
    for secret in (EMAIL, PHONE, PHONE.removeprefix("+")):
        assert secret not in ours
        assert secret not in warnings
    assert f"Error fetching cgm_handler {entry.entry_id} data" in ours  # the failed poll
    assert f"Fetching cgm_handler {entry.entry_id} data recovered" in ours
    assert "Opened a Dexcom Share session" in ours  # debug records are captured too
