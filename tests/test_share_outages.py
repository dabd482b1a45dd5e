"""Share limiting requests, behind a firewall page or down: the waits and the repair."""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools
import random

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.cgm_handler.const import DOMAIN
from custom_components.cgm_handler.coordinator import CgmCoordinator
from custom_components.cgm_handler.diagnostics import async_get_config_entry_diagnostics
from custom_components.cgm_handler.entry_issues import issue_id
from custom_components.cgm_handler.scheduler import (
    JITTER,
    MAX_WAIT,
    MIN_WAIT,
    RATE_LIMIT_CAP,
    RATE_LIMIT_WAIT,
    TIMER_SLACK,
)
from custom_components.cgm_handler.share_health import OUTAGE_ISSUE
from scripts.share_simulator import FaultKind, ShareSimulator
from scripts.share_simulator.wire import (
    AUTHENTICATE_ENDPOINT,
    LOGIN_ENDPOINT,
    READINGS_ENDPOINT,
)
from tests.helpers import FROZEN_AT, Poll, advance, make_entry, setup_entry, spy_polls

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

LATE = 2 * TIMER_SLACK


def coordinator_of(entry: MockConfigEntry) -> CgmCoordinator:
    """Return the coordinator of a loaded entry."""
    coordinator = entry.runtime_data
    assert isinstance(coordinator, CgmCoordinator)
    return coordinator


def sign_ins(simulator: ShareSimulator) -> int:
    """Return the sign-in requests the simulator has had."""
    return simulator.requests[AUTHENTICATE_ENDPOINT] + simulator.requests[LOGIN_ENDPOINT]


def outage_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    """Return the repair issue about Share not answering, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id(OUTAGE_ISSUE, entry.entry_id))


def failed_times(polls: list[Poll]) -> list[datetime]:
    """Return when the failed polls ran."""
    return [poll.time for poll in polls if poll.returned is None]


def missing(simulator: ShareSimulator, coordinator: CgmCoordinator) -> set[datetime]:
    """Return the published readings of the last day the coordinator does not hold."""
    since = dt_util.utcnow() - timedelta(hours=23)
    held = {reading.time for reading in coordinator.data.readings}
    return {
        reading.time
        for reading in simulator.published_readings(simulator.account("jane"))
        if reading.time >= since
    } - held


@pytest.mark.parametrize(
    ("retry_after", "least"),
    [
        (1200, timedelta(minutes=20)),
        (7200, RATE_LIMIT_CAP),
        (None, RATE_LIMIT_WAIT),
    ],
)
async def test_a_rate_limit_waits_what_the_server_asked(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    retry_after: int | None,
    least: timedelta,
) -> None:
    """After a 429 nothing is asked before its Retry-After (an hour at most).

    Without Retry-After, 5 minutes; no sign-in; the readings of the wait come after it.
    """
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    coordinator = coordinator_of(entry)
    logins = sign_ins(simulator)
    simulator.inject(FaultKind.RATE_LIMITED, retry_after=retry_after)

    await advance(hass, freezer, MAX_WAIT + LATE)
    (limited,) = failed_times(polls)
    reads = simulator.requests[READINGS_ENDPOINT]
    await advance(hass, freezer, limited + least - dt_util.utcnow())
    assert simulator.requests[READINGS_ENDPOINT] == reads
    await advance(hass, freezer, least * JITTER + MAX_WAIT + LATE)

    after = [poll for poll in polls if poll.time > limited]
    assert after[0].returned is not None
    assert least <= after[0].time - limited <= min(RATE_LIMIT_CAP, least * (1 + JITTER)) + LATE
    assert sign_ins(simulator) == logins
    assert not missing(simulator, coordinator)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    share = diagnostics["share"]
    assert share["rate_limits"] == 1
    assert least.total_seconds() <= share["rate_limited_seconds"]
    assert share["rate_limited_seconds"] <= (after[0].time - limited).total_seconds()
    assert share["reachable"] is True


async def test_rate_limits_in_a_row_back_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without Retry-After, each limit in a row waits twice as long, from 5 minutes."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()
    simulator.outage(start, start + timedelta(hours=3), FaultKind.RATE_LIMITED)

    await advance(hass, freezer, timedelta(hours=3))

    failed = failed_times(polls)
    waits = [b - a for a, b in itertools.pairwise(failed)]
    for index, wait in enumerate(waits):
        least = min(RATE_LIMIT_CAP, RATE_LIMIT_WAIT * 2**index)
        assert least <= wait <= min(RATE_LIMIT_CAP, least * (1 + JITTER)) + LATE
    assert len(failed) <= 7
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["share"]["rate_limits"] == len(failed)
    assert diagnostics["share"]["reachable"] is False


async def test_errors_back_off_with_seeded_jitter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A firewall page is retried from 15 s to 5 minutes, each wait drawn within ±20 %."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    coordinator_of(entry).poller.scheduler.rng = random.Random(24)  # noqa: S311
    draws = random.Random(24)  # noqa: S311 - the same draws
    start = dt_util.utcnow()
    logins = sign_ins(simulator)
    simulator.outage(start, start + timedelta(minutes=40), FaultKind.HTML_ERROR, status=403)

    await advance(hass, freezer, timedelta(hours=1))

    failed = failed_times(polls)
    waits = [(b - a).total_seconds() for a, b in itertools.pairwise(failed)]
    expected = [
        min(MAX_WAIT, MIN_WAIT * 2**n).total_seconds() * draws.uniform(1 - JITTER, 1 + JITTER)
        for n in range(len(waits))
    ]
    assert waits == pytest.approx(expected, abs=LATE.total_seconds())
    assert sign_ins(simulator) == logins


@pytest.mark.parametrize(("minutes", "raised"), [(29, False), (31, True)])
async def test_a_repair_after_30_minutes_without_an_answer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    minutes: int,
    raised: bool,
) -> None:
    """The repair says since when and why; none for a shorter outage; it goes by itself."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    coordinator = coordinator_of(entry)
    start = dt_util.utcnow()
    end = start + timedelta(minutes=minutes) + MAX_WAIT
    simulator.outage(start, end, FaultKind.HTML_ERROR, status=403)
    await advance(hass, freezer, MAX_WAIT + LATE)
    first_failure = failed_times(polls)[0]

    await advance(hass, freezer, first_failure + timedelta(minutes=minutes) - dt_util.utcnow())

    issue = outage_issue(hass, entry)
    assert (issue is not None) is raised
    if issue is not None:
        assert issue.translation_key == "share_not_answering"
        placeholders = issue.translation_placeholders or {}
        assert placeholders["since"] == dt_util.as_local(first_failure).strftime("%H:%M")
        assert "HTTP 403" in placeholders["error"]
        assert placeholders["hours"] == "24"
        assert simulator.account("jane").password not in str(placeholders)
    await advance(hass, freezer, end - dt_util.utcnow() + MAX_WAIT * (1 + JITTER) + LATE)
    assert coordinator.last_update_success
    assert outage_issue(hass, entry) is None
    assert not missing(simulator, coordinator)


async def test_the_first_planned_wait_is_not_an_outage(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rate limit of 45 minutes raises no repair until 30 minutes after it ended."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()
    simulator.outage(start, start + timedelta(hours=3), FaultKind.RATE_LIMITED, retry_after=2700)
    await advance(hass, freezer, MAX_WAIT + LATE)
    first = failed_times(polls)[0]
    await advance(hass, freezer, first + timedelta(minutes=44) - dt_util.utcnow())
    assert outage_issue(hass, entry) is None
    await advance(hass, freezer, first + timedelta(minutes=56) - dt_util.utcnow())
    assert outage_issue(hass, entry) is None
    second = failed_times(polls)[1]
    assert second - first >= timedelta(minutes=45)

    await advance(hass, freezer, second + timedelta(minutes=31) - dt_util.utcnow())

    assert outage_issue(hass, entry) is not None


async def test_no_request_while_limited(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """A refresh asked during the limit (an action, a reload) sends nothing to Share."""
    entry = await setup_entry(hass, make_entry(simulator))
    simulator.inject(FaultKind.RATE_LIMITED, retry_after=1800)
    await advance(hass, freezer, MAX_WAIT + LATE)
    reads = simulator.requests[READINGS_ENDPOINT]

    await coordinator_of(entry).async_refresh()
    # The reload's first refresh waits too: the setup is retried later, without a request.
    assert not await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert simulator.requests[READINGS_ENDPOINT] == reads
    assert sign_ins(simulator) == 1


async def test_a_reload_keeps_counting_the_outage(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repair comes 30 minutes after the first failure, a reload in between.

    The reload fails (Share is down), so the entry waits in setup retry, up to 10 minutes
    between tries on the newest release: the repair's timer outlives the failed setup.
    """
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()
    simulator.outage(start, start + timedelta(hours=1), FaultKind.SERVER_ERROR)
    await advance(hass, freezer, MAX_WAIT + LATE)
    first_failure = failed_times(polls)[0]
    await advance(hass, freezer, timedelta(minutes=10))
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    await advance(hass, freezer, first_failure + timedelta(minutes=29) - dt_util.utcnow())
    assert outage_issue(hass, entry) is None
    await advance(hass, freezer, timedelta(minutes=2))
    assert outage_issue(hass, entry) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert outage_issue(hass, entry) is None
