"""Null session ids: a bounded number of logins, never a lockout."""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.cgm_handler.const import CONF_REGION, CONF_SERVER_URL, DOMAIN, LOCKOUT_WAIT
from custom_components.cgm_handler.scheduler import MAX_WAIT, TIMER_SLACK
from scripts.share_simulator import FaultKind, ShareSimulator
from scripts.share_simulator.wire import LOGIN_ENDPOINT
from tests.conftest import USERNAME
from tests.helpers import FROZEN_AT, advance, make_entry, published, setup_entry, spy_polls

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

LATE = 2 * TIMER_SLACK


def login_calls(simulator: ShareSimulator) -> int:
    """Return every LoginPublisherAccountById request, whatever its answer."""
    return simulator.requests[LOGIN_ENDPOINT]


def reauth_flows(hass: HomeAssistant) -> list[str]:
    """Return the entry ids of the re-authentication flows in progress."""
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    return [
        flow["context"]["entry_id"] for flow in flows if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def test_null_sessions_cost_two_logins_then_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Share answering null sessions for hours costs two logins 30 minutes apart, no lock.

    Retried like a server fault, every 5 minutes, they would lock the account (the
    simulator counts them as failed logins and locks after 5 in a row).
    """
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = login_calls(simulator)
    simulator.inject(FaultKind.NULL_SESSION, count=None)
    simulator.invalidate_sessions()

    await advance(hass, freezer, MAX_WAIT + LATE)

    assert login_calls(simulator) == logins + 1
    assert polls[-1].returned is None
    failed_at = polls[-1].time
    assert reauth_flows(hass) == []
    assert "empty session" in caplog.text
    requests = sum(simulator.requests.values())

    await advance(hass, freezer, failed_at + LOCKOUT_WAIT - dt_util.utcnow())

    assert login_calls(simulator) == logins + 1
    assert sum(simulator.requests.values()) == requests

    await advance(hass, freezer, LATE)

    assert login_calls(simulator) == logins + 2
    assert reauth_flows(hass) == [entry.entry_id]

    await advance(hass, freezer, timedelta(hours=6))
    for _ in range(3):
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

    assert login_calls(simulator) == logins + 2
    assert account.failed_logins == 2
    assert account.locked_until is None
    assert reauth_flows(hass) == [entry.entry_id]


async def test_one_null_session_is_retried_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A passing null session waits 30 minutes, then polling goes on with no reauth."""
    entry = await setup_entry(hass, make_entry(simulator))
    logins = login_calls(simulator)
    simulator.inject(FaultKind.NULL_SESSION)
    simulator.invalidate_sessions()
    caplog.set_level(logging.INFO, logger="custom_components.cgm_handler")

    await advance(hass, freezer, MAX_WAIT + LATE)
    failed_at = dt_util.utcnow()
    await advance(hass, freezer, LOCKOUT_WAIT + MAX_WAIT)

    assert login_calls(simulator) == logins + 2
    assert reauth_flows(hass) == []
    coordinator = entry.runtime_data
    assert coordinator.last_update_success
    newest = coordinator.data.latest
    assert newest is not None
    assert newest.time == published(simulator)[-1].time
    assert newest.time > failed_at

    # A later null session starts over: one wait, no reauth.
    simulator.inject(FaultKind.NULL_SESSION)
    simulator.invalidate_sessions()
    await advance(hass, freezer, LOCKOUT_WAIT + 2 * MAX_WAIT)

    assert login_calls(simulator) == logins + 4
    assert reauth_flows(hass) == []
    assert caplog.text.count(f"Fetching {DOMAIN} {entry.entry_id} data recovered") == 2


async def test_null_session_at_setup_waits_across_setup_retries(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """Setup retries cost no login during the wait; the second null session asks for reauth."""
    simulator.inject(FaultKind.NULL_SESSION, count=None)
    entry = await setup_entry(hass, make_entry(simulator))

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert login_calls(simulator) == 1

    await advance(hass, freezer, LOCKOUT_WAIT - LATE)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert login_calls(simulator) == 1

    # Home Assistant retries a setup at least every 80 seconds.
    await advance(hass, freezer, timedelta(seconds=90))

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert login_calls(simulator) == 2
    assert reauth_flows(hass) == [entry.entry_id]


async def test_sign_in_in_a_flow_ends_the_wait(
    hass: HomeAssistant,
    simulator: ShareSimulator,
) -> None:
    """Reconfiguring with details that sign in lets the entry log in at once."""
    simulator.inject(FaultKind.NULL_SESSION)
    entry = await setup_entry(hass, make_entry(simulator))
    assert entry.state is ConfigEntryState.SETUP_RETRY

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_USERNAME: entry.data[CONF_USERNAME],
            CONF_PASSWORD: entry.data[CONF_PASSWORD],
            CONF_REGION: entry.data[CONF_REGION],
            "advanced": {CONF_SERVER_URL: entry.data[CONF_SERVER_URL]},
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reconfigure_successful"
    assert entry.state is ConfigEntryState.LOADED
    # The failed one, the flow's, and the setup's.
    assert login_calls(simulator) == 3
