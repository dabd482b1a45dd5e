"""The coordinator polling the simulated Dexcom Share, with time travel."""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools
import logging
import random
import statistics

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.cgm_handler.cadence import GAP, READING_INTERVAL
from custom_components.cgm_handler.const import BUFFER, DOMAIN, LOCKOUT_WAIT
from custom_components.cgm_handler.coordinator import CgmCoordinator, CgmData
from custom_components.cgm_handler.scheduler import (
    BUDGET,
    JITTER,
    MAX_POLLS,
    MAX_WAIT,
    MIN_WAIT,
    TIMER_SLACK,
)
from custom_components.cgm_handler.share import MAX_COUNT, MAX_MINUTES, GlucoseReading, Trend
from scripts.share_simulator import FaultKind, Reading, ShareSimulator
from scripts.share_simulator.wire import LOGIN_ENDPOINT, READINGS_ENDPOINT
from tests.conftest import PASSWORD, USERNAME
from tests.helpers import (
    FROZEN_AT,
    Poll,
    advance,
    make_entry,
    move_to,
    published,
    setup_entry,
    spy_polls,
)

pytestmark = pytest.mark.freeze_time(FROZEN_AT)

GAP_USER = "gap"
GAP_PASSWORD = "gap-password-1"
# A poll runs up to this much after the moment the coordinator planned (never before):
# a second of slack, plus up to a second lost to Home Assistant's whole-second timer base.
LATE = 2 * TIMER_SLACK


def coordinator_of(entry_runtime: object) -> CgmCoordinator:
    """Return the coordinator of a loaded entry."""
    assert isinstance(entry_runtime, CgmCoordinator)
    return entry_runtime


def first_seen(polls: list[Poll]) -> dict[datetime, datetime]:
    """Return when each reading time was first returned by a poll."""
    seen: dict[datetime, datetime] = {}
    for poll in polls:
        for reading in poll.returned or ():
            seen.setdefault(reading.time, poll.time)
    return seen


def as_pairs(readings: list[Reading] | tuple[GlucoseReading, ...]) -> list[tuple[datetime, int]]:
    """Return (time, value) of readings, to compare the simulator's with the client's."""
    return [(reading.time, reading.value) for reading in readings]


def window_starts(known: list[datetime]) -> list[datetime]:
    """Return where a read may start: the newest reading, or the reading before a hole."""
    times = sorted(known)
    holes = [before for before, after in itertools.pairwise(times) if after - before > GAP]
    return [*holes, times[-1]]


async def test_first_refresh_fetches_the_last_day(
    hass: HomeAssistant, simulator: ShareSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting up asks for the whole day once and keeps exactly what Share published."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))

    assert [(poll.minutes, poll.max_count) for poll in polls] == [(MAX_MINUTES, MAX_COUNT)]
    assert simulator.requests[READINGS_ENDPOINT] == 1
    readings = coordinator_of(entry.runtime_data).data.readings
    assert as_pairs(readings) == as_pairs(published(simulator))
    assert len(readings) > 250


async def test_polls_follow_the_readings(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polls come when a reading is due, fetch only what is missing, and miss nothing."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    start = dt_util.utcnow()

    await advance(hass, freezer, timedelta(hours=3))

    known: list[datetime] = [reading.time for reading in polls[0].returned or ()]
    for previous, poll in itertools.pairwise(polls):
        newest = max(known)
        # Never before the next reading can exist, never closer than 15 s to the last poll.
        assert poll.time >= newest + READING_INTERVAL
        assert poll.time - previous.time >= MIN_WAIT
        # The window reaches back to the newest reading, or to the reading before a hole.
        spans = [(poll.time - since).total_seconds() for since in window_starts(known)]
        assert any((poll.minutes - 2) * 60 < span <= poll.minutes * 60 for span in spans)
        assert poll.minutes / 5 <= poll.max_count <= poll.minutes // 5 + 2
        known.extend(reading.time for reading in poll.returned or ())

    # Every reading published during the run was fetched, soon after it reached Share.
    settled = dt_util.utcnow() - READING_INTERVAL - LATE
    new = [r for r in simulator.published_readings(USERNAME, settled) if r.published_at > start]
    seen = first_seen(polls)
    assert all(reading.time in seen for reading in new)
    lags = {r.time: (seen[r.time] - r.published_at).total_seconds() for r in new}
    assert max(lags.values()) <= (READING_INTERVAL + LATE).total_seconds()
    usual = [lags[r.time] for r in new if r.published_at - r.time <= timedelta(seconds=90)]
    # Most uploads are there at their reading's polls; one that misses them comes with the
    # next reading's.
    assert statistics.median(usual) <= 30
    # Within the budget of polls per reading: far fewer than polling every 15 s.
    assert len(polls) - 1 <= BUDGET * len(new) + MAX_POLLS

    coordinator = coordinator_of(entry.runtime_data)
    assert as_pairs(coordinator.data.readings) == as_pairs(
        published(simulator, until=polls[-1].time)
    )
    latest = coordinator.data.latest
    assert latest is not None
    state = hass.states.get("sensor.jane_glucose")
    assert state is not None
    assert state.state == str(latest.value)
    reading_time = hass.states.get("sensor.jane_reading_time")
    assert reading_time is not None
    assert dt_util.parse_datetime(reading_time.state) == latest.time.replace(microsecond=0)


async def test_new_reading_shows_up(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next reading is in the glucose sensor shortly after Share publishes it."""
    polls = spy_polls(monkeypatch)
    await setup_entry(hass, make_entry(simulator))
    newest = published(simulator)[-1]
    upcoming = next(
        r
        for r in simulator.published_readings(USERNAME, newest.time + 2 * READING_INTERVAL)
        if r.time > newest.time
    )

    assert upcoming.published_at - upcoming.time <= timedelta(seconds=90)

    await advance(hass, freezer, upcoming.published_at - timedelta(seconds=1) - dt_util.utcnow())
    state = hass.states.get("sensor.jane_glucose")
    assert state is not None
    assert state.state == str(newest.value)

    await advance(hass, freezer, timedelta(seconds=91))
    state = hass.states.get("sensor.jane_glucose")
    assert state is not None
    assert state.state == str(upcoming.value)
    assert polls[-1].returned is not None
    assert polls[-1].returned[-1].time == upcoming.time


async def test_buffer_keeps_one_day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Readings older than a day are forgotten; the rest stays complete."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    first = coordinator_of(entry.runtime_data).data.readings[0]

    for _ in range(26):  # an hour at a time: one late poll per hour
        await move_to(hass, freezer, dt_util.utcnow() + timedelta(hours=1))

    now = dt_util.utcnow()
    readings = coordinator_of(entry.runtime_data).data.readings
    assert polls[-1].time == now
    assert readings[0].time >= now - BUFFER
    assert readings[0].time > first.time + timedelta(hours=25)
    assert len(readings) <= MAX_COUNT
    assert as_pairs(readings) == as_pairs(published(simulator))


async def test_sensor_gap_polls_once_per_reading(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the sensor sends nothing, Share is asked at most once per 5 minutes."""
    now = dt_util.utcnow()
    gap_start, gap_end = now + timedelta(minutes=20), now + timedelta(minutes=80)
    simulator.add_account(GAP_USER, GAP_PASSWORD, gaps=[(gap_start, gap_end)])
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(
        hass, make_entry(simulator, username=GAP_USER, entry_id="01JCGMHANDLERTESTENTRYGAP1")
    )

    await advance(hass, freezer, timedelta(hours=2))

    readings = simulator.published_readings(GAP_USER)
    before = max(r.time for r in readings if r.time < gap_start)
    after = min((r for r in readings if r.time >= gap_end), key=lambda r: r.time)
    # Retrying often is fine while the first missing reading may just be late ...
    settled = before + 2 * READING_INTERVAL + timedelta(seconds=90)
    in_gap = [poll.time for poll in polls if settled <= poll.time < after.time]
    # ... then there is one poll per expected reading until the sensor is back.
    assert len(in_gap) >= (after.time - settled) / READING_INTERVAL - 1
    for earlier, later in itertools.pairwise(in_gap):
        assert later - earlier >= READING_INTERVAL - LATE
    for poll in in_gap:
        window = [t for t in in_gap if poll <= t < poll + READING_INTERVAL - LATE]
        assert len(window) == 1
    # All polls of the first missing slot together stay few.
    assert len([p for p in polls if before < p.time < settled]) <= 20
    # The first reading after the gap is fetched within a slot of its upload.
    assert first_seen(polls)[after.time] - after.published_at <= READING_INTERVAL + LATE
    coordinator = coordinator_of(entry.runtime_data)
    expected = published(simulator, GAP_USER, polls[-1].time)
    assert as_pairs(coordinator.data.readings) == as_pairs(expected)


async def test_expired_session_logs_in_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session that Share forgot costs one login, and no failure."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = account.logins

    simulator.invalidate_sessions()
    await advance(hass, freezer, timedelta(minutes=15))

    assert account.logins == logins + 1
    assert account.failed_logins == 0
    assert all(poll.returned is not None for poll in polls)
    assert coordinator_of(entry.runtime_data).last_update_success
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_wrong_password_starts_reauth_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rejected password costs one login, starts re-authentication and stops polling."""
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = account.logins
    account.password = "changed-in-the-dexcom-app"
    simulator.invalidate_sessions()

    await advance(hass, freezer, MAX_WAIT + LATE)

    assert account.logins == logins + 1
    assert account.failed_logins == 1
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [(flow["context"]["source"], flow["context"]["entry_id"]) for flow in flows] == [
        (SOURCE_REAUTH, entry.entry_id)
    ]
    assert flows[0]["step_id"] == "reauth_confirm"
    assert entry.state is ConfigEntryState.LOADED
    readings_requests = simulator.requests[READINGS_ENDPOINT]

    await advance(hass, freezer, timedelta(hours=6))

    assert account.logins == logins + 1
    assert simulator.requests[READINGS_ENDPOINT] == readings_requests
    assert len(hass.config_entries.flow.async_progress_by_handler(DOMAIN)) == 1
    name = f"{DOMAIN} {entry.entry_id}"
    assert caplog.text.count(f"Authentication failed while fetching {name} data") == 1
    # Without new readings the glucose goes stale.
    state = hass.states.get("sensor.jane_glucose")
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_rejected_password_is_not_tried_again_until_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """Reloads while reauth is pending cost no login; reauth with the old password works.

    Each failed login brings Dexcom's lockout closer, so a reload (or a setup retry) must
    not try a password Dexcom rejected; a successful reauth sign-in lifts that.
    """
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = account.logins
    account.password = "changed-in-the-dexcom-app"
    simulator.invalidate_sessions()
    await advance(hass, freezer, MAX_WAIT + LATE)
    assert account.failed_logins == 1

    for _ in range(3):
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert account.logins == logins + 1
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)

    # The password is changed back in the Dexcom app, and entered again as it was.
    account.password = PASSWORD
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    # The flow looks the account up and logs in; then the reload logs in.
    assert account.logins == logins + 4
    assert account.failed_logins == 1


def lock_issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    """Return the lockout repair issue of an entry."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"account_locked_{entry_id}")


async def test_lockout_waits_before_logging_in(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A locked account raises a repair issue and no login is tried for 30 minutes."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = account.logins
    # Someone else (a follower app with an old password) got the account locked.
    account.locked_until = dt_util.utcnow() + simulator.accounts.lockout_duration
    simulator.invalidate_sessions()

    await advance(hass, freezer, MAX_WAIT + LATE)

    assert account.logins == logins + 1
    assert account.failed_logins == 1
    locked_at = polls[-1].time
    assert polls[-1].returned is None
    issue = lock_issue(hass, entry.entry_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "account_locked"
    assert issue.translation_placeholders == {
        "title": entry.title,
        "minutes": str(int(LOCKOUT_WAIT.total_seconds() // 60)),
    }
    requests = sum(simulator.requests.values())

    await advance(hass, freezer, locked_at + LOCKOUT_WAIT - dt_util.utcnow())

    assert account.logins == logins + 1
    assert sum(simulator.requests.values()) == requests
    assert lock_issue(hass, entry.entry_id) is not None

    await advance(hass, freezer, LATE)

    assert account.logins == logins + 2
    assert account.failed_logins == 1
    assert lock_issue(hass, entry.entry_id) is None
    coordinator = coordinator_of(entry.runtime_data)
    assert coordinator.last_update_success
    assert as_pairs(coordinator.data.readings) == as_pairs(published(simulator))
    state = hass.states.get("sensor.jane_glucose")
    assert state is not None
    assert state.state != STATE_UNAVAILABLE


async def test_lockout_that_lasts_longer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the account is still locked after 30 minutes, one login, then 30 more minutes."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    logins = account.logins
    account.locked_until = dt_util.utcnow() + LOCKOUT_WAIT + timedelta(minutes=20)
    simulator.invalidate_sessions()

    await advance(hass, freezer, MAX_WAIT + LATE)
    locked_at = polls[-1].time
    await advance(hass, freezer, locked_at + LOCKOUT_WAIT + LATE - dt_util.utcnow())

    assert account.logins == logins + 2
    assert account.failed_logins == 2
    assert lock_issue(hass, entry.entry_id) is not None

    await advance(hass, freezer, LOCKOUT_WAIT - 2 * LATE)
    assert account.logins == logins + 2

    await advance(hass, freezer, 3 * LATE)
    assert account.logins == logins + 3
    assert account.failed_logins == 2
    assert lock_issue(hass, entry.entry_id) is None


async def test_lockout_during_setup_is_remembered(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """Setup retries don't log in while the account is locked."""
    account = simulator.account(USERNAME)
    account.locked_until = dt_util.utcnow() + simulator.accounts.lockout_duration
    entry = make_entry(simulator)

    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert account.logins == 1
    assert lock_issue(hass, entry.entry_id) is not None

    await advance(hass, freezer, LOCKOUT_WAIT - LATE)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert account.logins == 1
    assert simulator.requests[LOGIN_ENDPOINT] == 1

    # Home Assistant retries a setup at least every 80 seconds.
    await advance(hass, freezer, timedelta(seconds=90))

    assert entry.state is ConfigEntryState.LOADED
    assert account.logins == 2
    assert account.failed_logins == 1
    assert lock_issue(hass, entry.entry_id) is None


async def test_connection_errors_back_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Share being down is retried after 15 s, doubling up to 5 minutes; logged once.

    Each wait is drawn within ±20 % (JITTER) from the poller's random source, seeded here.
    """
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    coordinator_of(entry.runtime_data).poller.scheduler.rng = random.Random(5)  # noqa: S311
    draws = random.Random(5)  # noqa: S311 - the same draws
    start = dt_util.utcnow()
    outage_end = start + timedelta(minutes=40)
    simulator.outage(start, outage_end, FaultKind.HTML_ERROR)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="custom_components.cgm_handler")

    await advance(hass, freezer, timedelta(hours=1))

    failed = [poll.time for poll in polls if poll.returned is None]
    waits = [(b - a).total_seconds() for a, b in itertools.pairwise(failed)]
    bases = [min(MAX_WAIT, MIN_WAIT * 2**n).total_seconds() for n in range(len(failed))]
    expected = [base * draws.uniform(1 - JITTER, 1 + JITTER) for base in bases]
    assert waits == pytest.approx(expected[:-1], abs=LATE.total_seconds())
    assert bases[-3:] == [MAX_WAIT.total_seconds()] * 3
    assert failed[-1] < outage_end <= failed[-1] + MAX_WAIT * (1 + JITTER) + LATE
    recovered = next(poll for poll in polls if poll.time >= outage_end)
    assert recovered.returned is not None
    assert (recovered.time - failed[-1]).total_seconds() == pytest.approx(
        expected[-1], abs=LATE.total_seconds()
    )

    name = f"{DOMAIN} {entry.entry_id}"
    errors = [r for r in caplog.records if f"Error fetching {name} data" in r.message]
    assert [r.levelno for r in errors] == [logging.ERROR]
    back = [r for r in caplog.records if f"Fetching {name} data recovered" in r.message]
    assert [r.levelno for r in back] == [logging.INFO]
    coordinator = coordinator_of(entry.runtime_data)
    assert coordinator.last_update_success
    settled = [r for r in published(simulator) if r.published_at <= recovered.time]
    assert set(as_pairs(settled)) <= set(as_pairs(coordinator.data.readings))


async def test_unload_stops_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After unloading, neither polls nor the stale timer run."""
    polls = spy_polls(monkeypatch)
    entry = await setup_entry(hass, make_entry(simulator))
    assert await hass.config_entries.async_unload(entry.entry_id)

    await advance(hass, freezer, timedelta(hours=1))

    assert len(polls) == 1


async def test_removing_a_locked_entry_removes_its_repair(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    simulator: ShareSimulator,
) -> None:
    """Deleting an entry while its account is locked leaves no repair behind."""
    entry = await setup_entry(hass, make_entry(simulator))
    account = simulator.account(USERNAME)
    account.locked_until = dt_util.utcnow() + LOCKOUT_WAIT
    simulator.invalidate_sessions()
    await advance(hass, freezer, MAX_WAIT + LATE)
    assert lock_issue(hass, entry.entry_id) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert lock_issue(hass, entry.entry_id) is None


@pytest.mark.parametrize(
    ("spacing", "has_previous"),
    [
        (READING_INTERVAL, True),
        (READING_INTERVAL + timedelta(seconds=90), True),
        (2 * READING_INTERVAL, False),
        (timedelta(minutes=30), False),
    ],
)
def test_previous_reading_is_the_one_just_before(spacing: timedelta, has_previous: bool) -> None:
    """The change compares with the reading just before; one missed reading is a hole."""
    newest = dt_util.utcnow()
    readings = tuple(
        GlucoseReading(value=100, trend=Trend.FLAT, time=time, display_time=time)
        for time in (newest - spacing, newest)
    )
    data = CgmData(readings)
    assert data.latest == readings[1]
    assert data.previous == (readings[0] if has_previous else None)
    assert CgmData(readings[1:]).previous is None
