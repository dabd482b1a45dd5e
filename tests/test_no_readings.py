"""The repair issue raised while an account signs in but gets no readings for hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.cgm_handler.cadence import READING_INTERVAL
from custom_components.cgm_handler.const import DOMAIN
from custom_components.cgm_handler.no_readings import NO_READINGS_AFTER
from custom_components.cgm_handler.scheduler import TIMER_SLACK
from scripts.share_simulator import ShareSimulator
from tests.conftest import USERNAME
from tests.helpers import FROZEN_AT, advance, make_entry, move_to, published, setup_entry

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

LATE = 2 * TIMER_SLACK
# The first poll after the limit comes within a reading interval of it.
RAISED_BY = NO_READINGS_AFTER + READING_INTERVAL + LATE
WARMUP_USER = "warmup"


def no_readings_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    """Return the entry's repair issue about missing readings."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"no_readings_{entry.entry_id}")


def newest_time(entry: MockConfigEntry) -> datetime:
    """Return the time of the entry's newest reading."""
    latest = entry.runtime_data.data.latest
    assert latest is not None
    return latest.time


async def entry_with_issue(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> MockConfigEntry:
    """Set up an entry, turn sharing off and jump past the limit."""
    entry = await setup_entry(hass, make_entry(simulator))
    simulator.account(USERNAME).sharing = False
    await move_to(hass, freezer, newest_time(entry) + RAISED_BY)
    assert no_readings_issue(hass, entry) is not None
    return entry


async def test_sharing_off_raises_a_repair_until_readings_return(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """Hours of empty answers raise a translated repair; the next reading removes it."""
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    account.sharing = False
    newest = newest_time(entry)

    await advance(hass, freezer, newest + NO_READINGS_AFTER - LATE - dt_util.utcnow())

    assert entry.runtime_data.last_update_success
    assert no_readings_issue(hass, entry) is None
    stale = hass.states.get("binary_sensor.jane_stale")
    assert stale is not None
    assert stale.state == STATE_ON

    await advance(hass, freezer, newest + RAISED_BY - dt_util.utcnow())

    issue = no_readings_issue(hass, entry)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "no_readings"
    placeholders = issue.translation_placeholders
    assert placeholders == {"title": entry.title, "hours": "3"}
    translations = await async_get_translations(hass, "en", "issues", {DOMAIN})
    prefix = f"component.{DOMAIN}.issues.no_readings"
    assert entry.title in translations[f"{prefix}.title"].format(**placeholders)
    description = translations[f"{prefix}.description"].format(**placeholders)
    for advice in ("more than 3 hours", "Share or Connections", "follower", "online"):
        assert advice in description

    account.sharing = True
    await advance(hass, freezer, READING_INTERVAL + LATE)

    assert no_readings_issue(hass, entry) is None
    glucose = hass.states.get("sensor.jane_glucose")
    assert glucose is not None
    assert glucose.state == str(published(simulator)[-1].value)


async def test_sensor_warmup_raises_no_repair(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """A G6 sensor change (2 hours of warm-up and 20 minutes to change it) is no issue."""
    now = dt_util.utcnow()
    change = (now + timedelta(minutes=10), now + timedelta(hours=2, minutes=30))
    simulator.add_account(WARMUP_USER, "warmup-password", gaps=[change])
    entry = await setup_entry(
        hass, make_entry(simulator, username=WARMUP_USER, entry_id="01JCGMHANDLERWARMUPENTRY01")
    )
    events = async_capture_events(hass, ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED)

    await advance(hass, freezer, timedelta(hours=4))

    assert [event.data for event in events] == []
    assert newest_time(entry) > change[1]


async def test_reload_keeps_the_repair_and_disabling_removes_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """Reloading while sharing is off never removes the repair; disabling the entry does."""
    entry = await entry_with_issue(hass, freezer, simulator)
    issue = no_readings_issue(hass, entry)
    events = async_capture_events(hass, ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED)

    for _ in range(2):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.LOADED
    assert [event.data["action"] for event in events] == []
    assert no_readings_issue(hass, entry) == issue

    await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.NOT_LOADED
    assert no_readings_issue(hass, entry) is None


async def test_removing_the_entry_removes_the_repair(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """Deleting an entry leaves no repair about its readings behind."""
    entry = await entry_with_issue(hass, freezer, simulator)

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert no_readings_issue(hass, entry) is None


async def test_setup_remembers_when_readings_stopped(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """After Home Assistant was down, the stored history dates the last reading.

    Share answers nothing at all while sharing is off, so only the stored history
    knows that readings stopped two hours before the entry was unloaded.
    """
    entry = await setup_entry(hass, make_entry(simulator))
    simulator.account(USERNAME).sharing = False
    newest = newest_time(entry)
    await advance(hass, freezer, timedelta(hours=2))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert no_readings_issue(hass, entry) is None

    freezer.move_to(newest + NO_READINGS_AFTER + timedelta(minutes=1))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.runtime_data.data.latest is None
    assert no_readings_issue(hass, entry) is not None


async def test_entry_without_readings_counts_from_setup(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """An account that never had a reading gets the repair hours after its setup."""
    simulator.account(USERNAME).sharing = False
    entry = await setup_entry(hass, make_entry(simulator))
    set_up_at = dt_util.utcnow()
    assert entry.runtime_data.data.latest is None

    await advance(hass, freezer, NO_READINGS_AFTER - LATE)
    assert no_readings_issue(hass, entry) is None

    await advance(hass, freezer, set_up_at + RAISED_BY - dt_util.utcnow())
    assert no_readings_issue(hass, entry) is not None
