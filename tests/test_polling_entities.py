"""The diagnostic entities of the polls: upload delays, next poll, requests, Share reachable."""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, EntityCategory
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest

from custom_components.cgm_handler.coordinator import CgmCoordinator
from custom_components.cgm_handler.scheduler import JITTER, MAX_WAIT, TIMER_SLACK
from scripts.share_simulator import FaultKind, ShareSimulator
from tests.helpers import FROZEN_AT, advance, make_entry, setup_entry, spy_polls

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

MEDIAN = "sensor.jane_upload_delay"
P90 = "sensor.jane_upload_delay_90th_percentile"
NEXT_POLL = "sensor.jane_next_planned_poll"
REQUESTS = "sensor.jane_share_requests_24_h"
REACHABLE = "binary_sensor.jane_dexcom_share_reachable"
ENTITIES = (MEDIAN, P90, NEXT_POLL, REQUESTS, REACHABLE)


async def test_defaults(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, simulator: ShareSimulator
) -> None:
    """All are diagnostics; the delay and Share reachable are enabled by default."""
    await setup_entry(hass, make_entry(simulator))
    for entity_id in ENTITIES:
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.entity_category is EntityCategory.DIAGNOSTIC
        assert (entry.disabled_by is None) is (entity_id in {MEDIAN, REACHABLE})


async def test_values_and_writes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Live values; a poll that brings no new reading changes the request count only."""
    entry = await setup_entry(hass, make_entry(simulator))
    for entity_id in ENTITIES:
        entity_registry.async_update_entity(entity_id, disabled_by=None)
    # Home Assistant reloads the entry 30 s after entities are enabled; its first refresh
    # is the new coordinator's first request.
    await advance(hass, freezer, timedelta(seconds=31))
    coordinator = entry.runtime_data
    assert coordinator.data.polling.requests_24h == 1
    polls = spy_polls(monkeypatch)
    assert isinstance(coordinator, CgmCoordinator)
    changes: list[tuple[datetime, str]] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] in ENTITIES and old and new and old.state != new.state:
            changes.append((dt_util.utcnow(), event.data["entity_id"]))

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    await advance(hass, freezer, timedelta(hours=2))

    median, p90 = (float(hass.states.get(e).state) for e in (MEDIAN, P90))  # type: ignore[union-attr]
    assert 0 < median <= p90
    assert entry.runtime_data is coordinator
    assert median == coordinator.poller.scheduler.upload_delay.total_seconds()
    assert hass.states.get(REACHABLE).state == "on"  # type: ignore[union-attr]
    assert int(hass.states.get(REQUESTS).state) == 1 + len(polls)  # type: ignore[union-attr]
    next_poll = dt_util.parse_datetime(hass.states.get(NEXT_POLL).state)  # type: ignore[union-attr]
    newest = coordinator.data.latest
    assert newest is not None
    assert next_poll is not None
    assert newest.time < next_poll <= newest.time + timedelta(minutes=10)

    known: set[datetime] = set()
    empty = 0
    for poll in polls:
        found = {reading.time for reading in poll.returned or ()}
        if poll.returned is not None and found <= known:
            empty += 1
            moved = {entity_id for when, entity_id in changes if when == poll.time}
            assert moved <= {REQUESTS}, f"{moved} changed on an empty poll at {poll.time}"
        known |= found
    assert empty > 0


async def test_share_reachable_follows_the_polls(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, simulator: ShareSimulator
) -> None:
    """Off from the first failed poll, on again at the first good one; never unavailable."""
    await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()
    simulator.outage(start, start + timedelta(minutes=20), FaultKind.HTML_ERROR, status=403)

    await advance(hass, freezer, MAX_WAIT * (1 + JITTER) + 2 * TIMER_SLACK)
    assert hass.states.get(REACHABLE).state == "off"  # type: ignore[union-attr]
    assert hass.states.get(MEDIAN).state not in {"unavailable", "unknown"}  # type: ignore[union-attr]

    await advance(hass, freezer, timedelta(minutes=25))
    assert hass.states.get(REACHABLE).state == "on"  # type: ignore[union-attr]
