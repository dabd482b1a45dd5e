"""Run a scenario in simulated time and check what every scenario must keep.

Time: the clock jumps an hour at a time while nothing happens (one poll per jump, which
fetches everything since the last one), and goes from timer to timer, as in production,
for half an hour after each event, so that retries, backoff, session renewal, stale
timers and setup retries run exactly as they would.

Restarts: the same Home Assistant and recorder database stay up; a restart unloads the
entry (or reloads it) and sets it up again, with a fresh coordinator, client, importer
and history loaded from storage. A crash also loses what was not written yet.

Invariants, checked for every scenario:
- Statistics: every imported hour equals what the readings Share published in it give,
  counting the readings some successful poll could fetch (published before it, and
  less than 24 hours old at it); so an hour whose readings were all in the window when
  connectivity returned equals the ground truth. One row per statistic and hour; the
  reading count of an hour never decreases, in the database (sampled before every
  event) or in what is sent to the recorder.
- Logins: at most the scenario's bound (see Scenario.login_bound); failed logins too.
- Entities: the glucose sensor is available exactly while the newest reading is fresh,
  and then shows that reading; never one older than the stale limit.
- Log: nothing at ERROR or above but one "Error fetching" per fault window (and one
  "Authentication failed" per password change); no traceback at WARNING or above.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
import logging
import math
import random
import threading
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.db_schema import Statistics, StatisticsMeta
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.components.recorder.util import session_scope
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
    get_scheduled_timer_handles,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import func, select

from custom_components.cgm_handler import (
    coordinator as cgm_coordinator,
    statistics as cgm_statistics,
)
from custom_components.cgm_handler.const import DOMAIN, LOCKOUT_WAIT
from custom_components.cgm_handler.history import ReadingHistory, storage_key
from custom_components.cgm_handler.scheduler import MAX_WAIT, Poller
from custom_components.cgm_handler.share import MAX_COUNT, MAX_MINUTES, GlucoseReading, ShareClient
from custom_components.cgm_handler.statistics import STATISTICS, statistic_id
from scripts.share_simulator import Account, Fault, FaultKind, Reading, ShareSimulator
from scripts.share_simulator.wire import (
    AUTHENTICATE_ENDPOINT,
    LOGIN_ENDPOINT,
    READINGS_ENDPOINT,
    to_ms,
)
from tests.conftest import PASSWORD, USERNAME
from tests.database import DatabaseFault
from tests.helpers import assert_hours_match, by_hour, make_entry

from .scenarios import (
    DAY,
    FAILING_KINDS,
    HOUR,
    MINUTE,
    REFUSED,
    ChangePassword,
    DatabaseDown,
    Event,
    ExpireSessions,
    Inject,
    InvalidateAfterLogin,
    Lock,
    Offline,
    Outage,
    Restart,
    Scenario,
    resolve,
)

type Action = tuple[timedelta, Callable[[], Awaitable[None]]]

NEW_PASSWORD = "changed-in-the-dexcom-app"
GLUCOSE = "sensor.jane_glucose"
READING_TIME = "sensor.jane_reading_time"
TREND = "sensor.jane_trend"
STALE = timedelta(minutes=15)
STEP = HOUR
"""The jump while nothing happens."""
FINE = 30 * MINUTE
"""How long time goes from timer to timer after each event."""
# A timeout fault holds the answer for longer than the client's 10-second timeout, and
# less than the 15 seconds before the first retry. The event loop's clock is frozen with
# the rest, so these are simulated seconds: a timed-out poll takes no real time.
TIMEOUT_DELAY = 12.0
KEYS = [statistic.key for statistic in STATISTICS]
# The coordinator is named after the entry id, never after the account.
ALLOWED_ERRORS = {
    "Error fetching {name} data": "fault",
    "Authentication failed while fetching {name} data": "auth",
}
DATABASE_LOCK = 20.0
"""Real seconds another program holds SQLite's write lock: more than the recorder retries."""
# What the recorder logs while its database fails (each failed query, with its traceback).
RECORDER_LOGGERS = ("homeassistant.components.recorder", "homeassistant.helpers.recorder")
# The simulator's own server, not Home Assistant: a timed-out answer is written to a
# connection the client already closed.
SIMULATOR_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web")


class Simulator(ShareSimulator):
    """The Share simulator, telling when it starts to hold an answer back."""

    def __init__(self, **kwargs: Any) -> None:
        """Set up the simulator and the event."""
        self.holding = asyncio.Event()
        self.released = asyncio.Event()
        super().__init__(**kwargs)

    @property
    def held(self) -> int:
        """Return the answers held back by a timeout fault."""
        return self._held

    @held.setter
    def held(self, value: int) -> None:
        self._held = value
        if value:
            self.holding.set()
            self.released.clear()
        else:
            self.released.set()

    async def release(self) -> None:
        """Send the answers held for clients that gave up, as when the fault ends."""
        if self._held:
            self.stopping.set()
            await self.released.wait()
            self.stopping.clear()


@dataclass(slots=True)
class Window:
    """A span in which one logged failure of a kind is expected at most."""

    start: datetime
    end: datetime
    kind: str
    what: str
    logged: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary table."""

    scenario: str
    days: float
    published: int
    imported: int
    lost: int
    duplicates: int
    logins: int
    login_bound: int
    failed_logins: int
    login_requests: int
    requests: int
    errors: int
    hours: int
    complete_hours: int


class LogCollector(logging.Handler):
    """Keep every record at WARNING or above, with the simulated time it was logged at."""

    def __init__(self) -> None:
        """Collect from WARNING up."""
        super().__init__(logging.WARNING)
        self.records: list[tuple[datetime, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append((dt_util.utcnow(), record))


@dataclass
class Observed:
    """What the harness saw during the run."""

    good_polls: list[datetime] = field(default_factory=list)
    """When the client got readings from Share (not those of a poll a restart cancelled)."""
    sent_counts: defaultdict[datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    """Each reading count sent to the recorder, per hour, in order."""
    db_counts: dict[datetime, int] = field(default_factory=dict)
    """The reading counts in the database at the last sample."""
    samples: int = 0
    stale_checks: int = 0
    unavailable: int = 0
    """Observations of the glucose sensor while it was unavailable."""
    dropped: int = 0
    """Imports lost to a crash."""
    database_failing: bool = False
    """Whether the statistics were failing when the database came back."""
    offsets: set[timedelta | None] = field(default_factory=set)
    """The UTC offsets of the display times seen."""
    first_back: tuple[datetime, list[datetime]] | None = None
    """The first good poll after a checked outage: when, and the reading times it got."""


class Runner:
    """Drive one scenario: the simulator, the entry, time, events and observations."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        monkeypatch: pytest.MonkeyPatch,
        storage: dict[str, Any],
        scenario: Scenario,
        *,
        database: DatabaseFault,
    ) -> None:
        """Prepare the run; start() sets everything up."""
        self.hass = hass
        self.database = database
        self.unlock: threading.Timer | None = None
        self.freezer = freezer
        self.monkeypatch = monkeypatch
        self.storage = storage
        """What the stores hold on disk (Home Assistant's test storage), by key."""
        self.stores: dict[str, Store[Any]] = {}
        """The store of each key that last asked for a delayed save."""
        self.scenario = scenario
        self.start_at = dt_util.utcnow()
        self.end_at = self.start_at + scenario.duration
        self.simulator = Simulator(
            now=lambda: dt_util.utcnow(),  # noqa: PLW0108 (frozen per test)
            seed=scenario.name,
            session_ttl=scenario.session_ttl,
        )
        options = {key: resolve(value, self.start_at) for key, value in scenario.account.items()}
        backlogs = [e.backlog(self.start_at) for e in scenario.events if isinstance(e, Offline)]
        self.account: Account = self.simulator.add_account(
            USERNAME, PASSWORD, history=timedelta(days=2), backlogs=backlogs, **options
        )
        self.zone = ZoneInfo(str(options.get("time_zone", "America/New_York")))
        self.entry: MockConfigEntry
        self.port = 0
        self.seen = Observed()
        self.windows: list[Window] = []
        self.logs = LogCollector()
        self.fine_until = self.start_at
        self.truth: dict[int, Reading] = {}
        # Flags of the restart kinds that cut into a poll.
        self.dropping = False
        self.crashing = False
        self.cancel_armed = False
        self.invalidate_armed = False
        self.logins_before = 0
        self.requests_before = 0
        self.requests_pending = 0
        self.share_back: datetime | None = None
        """The end of a checked outage, until the first good poll after it."""
        self._patch()

    # Set-up and patches

    def _patch(self) -> None:
        """Spy on polls and imports; let restarts cut in between a fetch and its import.

        The retries' jitter is drawn from a source seeded with the scenario's name, so that
        each run of a scenario is the same.
        """
        seed = self.scenario.name
        self.monkeypatch.setattr(
            cgm_coordinator,
            "Poller",
            lambda: Poller(rng=random.Random(seed)),  # noqa: S311
        )
        self._spy_polls()
        self._spy_imports()
        self._cut_sessions()

    def _spy_polls(self) -> None:
        """Note each good poll at the client; cancel one in flight when a restart asks."""
        runner = self
        get_readings = ShareClient.get_readings

        async def get_readings_cut(
            client: ShareClient, minutes: int = MAX_MINUTES, max_count: int = MAX_COUNT
        ) -> list[GlucoseReading]:
            readings = await get_readings(client, minutes, max_count)
            if runner.cancel_armed and runner.entry.state is ConfigEntryState.LOADED:
                # Home Assistant stops now: the unload cancels this poll, answer in hand.
                runner.cancel_armed = False
                runner.hass.async_create_task(runner.unload())
                await asyncio.Event().wait()
            now = dt_util.utcnow()
            runner.seen.good_polls.append(now)
            if runner.share_back is not None and now >= runner.share_back:
                runner.share_back = None
                runner.seen.first_back = (now, [reading.time for reading in readings])
            return readings

        self.monkeypatch.setattr(ShareClient, "get_readings", get_readings_cut)

    def _spy_imports(self) -> None:
        """Note each reading count sent to the recorder; lose imports and saves in a crash."""
        runner = self
        add = cgm_statistics.async_add_external_statistics

        def add_statistics(hass: HomeAssistant, metadata: Any, rows: Any) -> None:
            if runner.dropping:
                runner.seen.dropped += 1
                return  # queued, but Home Assistant dies before the recorder commits it
            if metadata["statistic_id"] == runner.ids["readings"]:
                for row in rows:
                    runner.seen.sent_counts[row["start"]].append(int(row["mean"]))
            add(hass, metadata, rows)

        self.monkeypatch.setattr(cgm_statistics, "async_add_external_statistics", add_statistics)
        flush = ReadingHistory.async_flush

        async def flush_unless_crashing(history: ReadingHistory) -> None:
            if not runner.crashing:
                await flush(history)

        self.monkeypatch.setattr(ReadingHistory, "async_flush", flush_unless_crashing)
        delay_save = Store.async_delay_save

        def note_delayed_save(store: Store[Any], data_func: Any, delay: float = 0) -> None:
            runner.stores[store.key] = store
            delay_save(store, data_func, delay)

        self.monkeypatch.setattr(Store, "async_delay_save", note_delayed_save)

    def _cut_sessions(self) -> None:
        """Let a session die between its login and its first read, when armed."""
        runner = self
        login = self.simulator.accounts.login

        def login_then_invalidate(account_id: str, password: str, now: datetime) -> str:
            session_id = login(account_id, password, now)
            if runner.invalidate_armed:
                runner.invalidate_armed = False
                runner.simulator.accounts.sessions[session_id].valid = False
            return session_id

        self.monkeypatch.setattr(self.simulator.accounts, "login", login_then_invalidate)

    @property
    def ids(self) -> dict[str, str]:
        """Return the statistic ids of the entry by key."""
        return {key: statistic_id(self.entry.entry_id, key) for key in KEYS}

    async def start(self) -> None:
        """Serve Share, set the entry up and take the first observations."""
        await self.simulator.start()
        assert self.simulator.base_url is not None
        self.port = int(self.simulator.base_url.split(":")[2].split("/")[0])
        logging.getLogger().addHandler(self.logs)
        self.entry = make_entry(self.simulator)
        self.entry.add_to_hass(self.hass)
        await self.setup()
        assert self.entry.state is ConfigEntryState.LOADED
        self.fine_until = self.start_at + FINE
        await self.sample()

    async def close(self) -> None:
        """Unload, then stop serving and collecting.

        Also after a failure: Home Assistant must not stop with a read of the recorder
        running in the executor (SQLite may crash then).
        """
        try:
            entry = getattr(self, "entry", None)
            if entry is not None and entry.state.recoverable:
                await self.hass.config_entries.async_unload(entry.entry_id)
            await self.settle()
            await async_wait_recording_done(self.hass)
        finally:
            logging.getLogger().removeHandler(self.logs)
            await self.simulator.stop()

    async def settle(self) -> None:
        """Finish whatever is running, background tasks included.

        While Share holds an answer back (a timeout fault), nothing happens until time
        passes: the clock goes from timer to timer, to the client's timeout.
        """
        simulator = self.simulator
        await simulator.release()
        waiter = asyncio.ensure_future(self.hass.async_block_till_done(wait_background_tasks=True))
        while not waiter.done():
            if simulator.held:
                # The client gave it 10 s; the one answer held is a poll of this settle.
                self.freezer.move_to(self.next_due(dt_util.utcnow() + MINUTE))
                await asyncio.sleep(0)
                continue
            holding = asyncio.ensure_future(simulator.holding.wait())
            await asyncio.wait({waiter, holding}, return_when=asyncio.FIRST_COMPLETED)
            holding.cancel()
            simulator.holding.clear()
        await waiter

    async def fire(self) -> None:
        """Run the timers due now, and the tasks they start."""
        # Timers are kept in float seconds; one due within a microsecond of now is due.
        async_fire_time_changed_exact(self.hass, dt_util.utcnow() + timedelta(microseconds=1))
        await self.settle()

    async def setup(self) -> None:
        """Set the entry up (it may go into setup retry)."""
        await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.settle()

    async def unload(self) -> None:
        """Unload the entry, as Home Assistant stopping does."""
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)

    # Time

    async def run(self) -> None:
        """Play the scenario's events, then run to its end."""
        actions: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = []
        for order, event in enumerate(self.scenario.events):
            for offset, action in self._actions(event):
                actions.append((self.start_at + offset, order, action))
        for when, _, action in sorted(actions, key=lambda item: (item[0], item[1])):
            await self.until(when)
            await self.sample()
            await action()
            self.fine_until = max(self.fine_until, dt_util.utcnow() + FINE)
        await self.until(self.end_at)
        # A last fine stretch, so that the run ends with a fresh poll.
        self.fine_until = self.end_at + 10 * MINUTE
        await self.until(self.fine_until)

    async def until(self, moment: datetime) -> None:
        """Let time pass until a moment, observing after every step."""
        while (now := dt_util.utcnow()) < moment:
            if now < self.fine_until:
                await self.next_timer(min(moment, self.fine_until))
            else:
                self.freezer.move_to(min(moment, now + STEP))
                await self.fire()
            self.observe()

    def next_due(self, limit: datetime) -> datetime:
        """Return when the next timer is due, or the limit if that comes first."""
        due = [
            handle.when()
            for handle in get_scheduled_timer_handles(self.hass.loop)
            if isinstance(handle, asyncio.TimerHandle) and not handle.cancelled()
        ]
        if not due:
            return limit
        # Round up, so that the timer is due when the clock gets there.
        wait = math.ceil(max(min(due) - self.hass.loop.time(), 0) * 1e6)
        return min(limit, dt_util.utcnow() + timedelta(microseconds=max(wait, 1)))

    async def next_timer(self, limit: datetime) -> None:
        """Jump to the next timer (or the limit) and run what is due."""
        self.freezer.move_to(self.next_due(limit))
        await self.fire()

    async def until_import(self, limit: timedelta = 15 * MINUTE) -> None:
        """Go from timer to timer until a poll brought readings to import (and drop them)."""
        dropped = self.seen.dropped
        end = dt_util.utcnow() + limit
        while self.seen.dropped == dropped:
            assert dt_util.utcnow() < end, "no poll brought new readings"
            await self.next_timer(end)
            self.observe()

    # Events

    def _actions(self, event: Event) -> list[Action]:
        """Return what to do, and when, for one event."""
        plan: dict[type, Callable[[Any], list[Action]]] = {
            Outage: self._outage,
            DatabaseDown: self._database_down,
            Restart: lambda e: [(e.at, partial(self.restart, e.kind, e.down))],
            Inject: self._inject,
            ExpireSessions: lambda e: [(e.at, self.expire_sessions)],
            InvalidateAfterLogin: self._invalidate_after_login,
            ChangePassword: self._change_password,
            Lock: self._lock,
            Offline: self._offline,
        }
        return plan[type(event)](event)

    def _outage(self, event: Outage) -> list[Action]:
        at, end = event.at, event.at + event.length
        self.expect("fault", at, end + MAX_WAIT + MINUTE, f"outage {event.kind}")
        if event.kind == REFUSED:
            return [(at, self.simulator.stop), (end, self.listen)]
        begin, finish = self.start_at + at, self.start_at + end
        kind = FaultKind(event.kind)
        fault = Fault(
            kind,
            None,
            delay=TIMEOUT_DELAY,
            status=event.status,
            retry_after=event.retry_after,
            start=begin,
            end=finish,
        )
        self.simulator.faults.add(fault)
        if not event.checked:
            return [(at, self.noop), (end, self.noop)]
        # The first poll after a rate limit waits up to its Retry-After, plus the jitter.
        asked = timedelta(seconds=(event.retry_after or 0) * 1.2) + 2 * MINUTE
        if kind is not FaultKind.RATE_LIMITED:
            asked = timedelta(0)
        return [
            (at, self.outage_starts),
            (end - MINUTE, partial(self.check_outage, event.most_requests)),
            (end, partial(self.watch_return, finish)),
            (end + max(FINE - MINUTE, asked), self.check_recovered),
        ]

    def _database_down(self, event: DatabaseDown) -> list[Action]:
        at, end = event.at, event.at + event.length
        self.expect("database", at, end + FINE, f"database {event.kind}")
        return [(at, self.database_fails), (end, self.database_back)]

    def _inject(self, event: Inject) -> list[Action]:
        at, kind = event.at, event.kind
        if kind in FAILING_KINDS:
            self.expect("fault", at, at + FINE, f"{event.count} x {kind}")
        if event.length is None:
            return [(at, partial(self.inject, kind, event.count, event.endpoint))]
        start, end = self.start_at + at, self.start_at + at + event.length
        self.simulator.faults.add(Fault(kind, None, event.endpoint, start=start, end=end))
        if kind is FaultKind.UNKNOWN_TREND:
            return [(at, self.noop), (at + event.length - MINUTE, self.check_unknown_trend)]
        return [(at, self.noop)]

    def _invalidate_after_login(self, event: InvalidateAfterLogin) -> list[Action]:
        ttl = self.scenario.session_ttl
        self.expect("fault", event.at, event.at + ttl + FINE, "session died after login")
        return [(event.at, self.arm_invalidation)]

    def _change_password(self, event: ChangePassword) -> list[Action]:
        at, wait = event.at, event.reauth_after
        self.expect("auth", at, at + wait, "password changed")
        return [
            (at, self.change_password),
            (at + FINE, self.check_reauth_pending),
            (at + wait, self.reauth),
        ]

    def _lock(self, event: Lock) -> list[Action]:
        at, length = event.at, event.length
        self.expect("fault", at, at + LOCKOUT_WAIT + length + FINE, "account locked")
        return [
            (at, partial(self.lock, length)),
            (at + length - MINUTE, self.check_locked),
            (at + LOCKOUT_WAIT + length + FINE, self.check_unlocked),
        ]

    def _offline(self, event: Offline) -> list[Action]:
        back = event.at + event.length
        return [(event.at, self.noop), (back, self.noop), (back + event.upload_after, self.noop)]

    def expect(self, kind: str, start: timedelta, end: timedelta, what: str) -> None:
        """Allow one logged failure of a kind in a span."""
        self.windows.append(Window(self.start_at + start, self.start_at + end, kind, what))

    async def noop(self) -> None:
        """Mark a moment (samples are taken and time goes finely from there)."""

    async def listen(self) -> None:
        """Serve Share again on the same port, after refusing connections."""
        await self.simulator.start(port=self.port)

    async def inject(self, kind: FaultKind, count: int, endpoint: str | None) -> None:
        """Spoil the next answers."""
        self.simulator.inject(kind, count=count, endpoint=endpoint, delay=TIMEOUT_DELAY)

    async def database_fails(self) -> None:
        """Fail the recorder's database; another program's lock ends in real time."""
        self.database.start()
        if self.database.kind == "locked":
            self.unlock = threading.Timer(DATABASE_LOCK, self.database.stop)
            self.unlock.start()

    async def database_back(self) -> None:
        """Let the database work again, once the recorder tried the imports of the outage."""
        if self.unlock is not None:
            await self.hass.async_add_executor_job(self.unlock.join)
            self.unlock = None
            return
        await async_wait_recording_done(self.hass)
        self.seen.database_failing = self.entry.runtime_data.statistics.failing_since is not None
        self.database.stop()

    async def expire_sessions(self) -> None:
        """Make Share forget every session."""
        self.simulator.invalidate_sessions()

    async def arm_invalidation(self) -> None:
        """Invalidate the session of the next login before it is used."""
        self.invalidate_armed = True

    async def restart(self, kind: str, down: timedelta) -> None:
        """Restart Home Assistant's side in one of the ways of Restart."""
        hass, entry = self.hass, self.entry
        if kind == "reload":
            # False when the setup has to wait for Share (setup retry).
            await hass.config_entries.async_reload(entry.entry_id)
            await self.settle()
            return
        if kind == "crash":
            assert entry.state is ConfigEntryState.LOADED, "crash only after a poll"
            self.dropping = True
            await self.until_import()
            self.dropping = False
            # That poll brought nothing that lasted.
            self.seen.good_polls.pop()
            # Nothing written since the last delayed save reaches the disk.
            await self.lose_pending_save(storage_key(entry.entry_id))
            self.crashing = True
            await self.unload()
            self.crashing = False
        elif kind == "cancel":
            assert entry.state is ConfigEntryState.LOADED, "cancel only during a poll"
            self.cancel_armed = True
            end = dt_util.utcnow() + 15 * MINUTE
            while entry.state is ConfigEntryState.LOADED:
                assert dt_util.utcnow() < end, "no poll came to cancel"
                await self.next_timer(end)
            assert not self.cancel_armed
        elif entry.state is ConfigEntryState.LOADED:
            await self.unload()
        else:
            # Stopping during a setup retry.
            assert await hass.config_entries.async_unload(entry.entry_id)
        await async_wait_recording_done(hass)
        assert entry.state is ConfigEntryState.NOT_LOADED
        self.freezer.move_to(dt_util.utcnow() + down)
        await self.fire()
        await self.setup()

    async def lose_pending_save(self, key: str) -> None:
        """Drop a store's pending delayed save, keeping what is on disk.

        Saving (or removing) through the store ends the delayed save it had pending.
        """
        store = self.stores.get(key)
        if store is None:
            return
        if (on_disk := self.storage.get(key)) is None:
            await store.async_remove()
        else:
            await store.async_save(on_disk["data"])

    async def check_unknown_trend(self) -> None:
        """Check that an unknown trend shows as none, and the glucose still shows."""
        state, trend = self.hass.states.get(GLUCOSE), self.hass.states.get(TREND)
        assert state is not None
        assert trend is not None
        assert state.state != STATE_UNAVAILABLE
        assert trend.state == "none"

    async def change_password(self) -> None:
        """Change the password on Dexcom's side; Dexcom ends the sessions too."""
        self.account.password = NEW_PASSWORD
        self.simulator.invalidate_sessions()
        self.logins_before = self.account.logins

    def _reauth_flows(self) -> list[Any]:
        return [
            flow
            for flow in self.hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == SOURCE_REAUTH
        ]

    async def check_reauth_pending(self) -> None:
        """One failed login started re-authentication; nothing more is tried."""
        assert self.account.logins == self.logins_before + 1
        assert self.account.failed_logins == 1
        assert len(self._reauth_flows()) == 1
        self.requests_pending = sum(self.simulator.requests.values())

    async def reauth(self) -> None:
        """Complete the reauth flow with the new password: the entry reloads and backfills."""
        assert self.account.logins == self.logins_before + 1, "a login while reauth pended"
        assert sum(self.simulator.requests.values()) == self.requests_pending
        assert self.hass.states.get(GLUCOSE).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
        (flow,) = self._reauth_flows()
        result = await self.hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_PASSWORD: NEW_PASSWORD}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reauth_successful"
        await self.settle()
        assert self.entry.state is ConfigEntryState.LOADED
        assert self.entry.data[CONF_PASSWORD] == NEW_PASSWORD
        assert self.hass.states.get(GLUCOSE).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    async def lock(self, length: timedelta) -> None:
        """Lock the account for a while; the next login finds it locked."""
        self.account.locked_until = dt_util.utcnow() + length
        self.simulator.invalidate_sessions()
        self.logins_before = self.account.logins

    def _lock_issue(self) -> ir.IssueEntry | None:
        issue_id = f"account_locked_{self.entry.entry_id}"
        return ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id)

    async def check_locked(self) -> None:
        """While locked: the repair issue is up and only the first login was tried."""
        assert self._lock_issue() is not None
        assert self.account.logins == self.logins_before + 1
        assert self.account.failed_logins == 1

    async def check_unlocked(self) -> None:
        """After the lock: one more login, it worked, and the issue is gone."""
        assert self.account.logins == self.logins_before + 2
        assert self.account.failed_logins == 1
        assert self._lock_issue() is None
        assert self.entry.state is ConfigEntryState.LOADED

    async def outage_starts(self) -> None:
        """Note the logins and reads before a checked outage."""
        self.logins_before = self.account.logins
        self.requests_before = self.simulator.requests[READINGS_ENDPOINT]
        self.share_back = self.start_at + self.scenario.duration  # set at the outage's end

    def _outage_issue(self) -> ir.IssueEntry | None:
        issue_id = f"share_not_answering_{self.entry.entry_id}"
        return ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id)

    async def check_outage(self, most_requests: int | None) -> None:
        """Near the end of an outage: the repair is up, no sign-in, few reads."""
        assert self._outage_issue() is not None, "no repair about Share not answering"
        assert self.account.logins == self.logins_before, "signed in during the outage"
        reads = self.simulator.requests[READINGS_ENDPOINT] - self.requests_before
        assert most_requests is None or reads <= most_requests, f"{reads} reads"

    async def watch_return(self, back: datetime) -> None:
        """Keep the readings of the first good poll after Share returns."""
        self.share_back = back
        self.seen.first_back = None

    async def check_recovered(self) -> None:
        """After an outage: the first good poll brought every reading; the repair is gone."""
        assert self.seen.first_back is not None, "no good poll after the outage"
        first, fetched = self.seen.first_back
        known = {reading.time for reading in self.entry.runtime_data.data.readings}
        # The coordinator keeps a day: count the readings it still holds now.
        since = dt_util.utcnow() - DAY + MINUTE
        published = {
            reading.time
            for reading in self.simulator.published_readings(self.account, first)
            if reading.time > since
        }
        missing = published - known - set(fetched)
        assert not missing, f"{sorted(missing)} missing after the poll of {first}"
        assert self._outage_issue() is None, "the repair stayed after Share came back"

    # Observations

    def observe(self) -> None:
        """Check the glucose sensor: available exactly while the newest reading is fresh."""
        self.seen.stale_checks += 1
        now = dt_util.utcnow()
        state = self.hass.states.get(GLUCOSE)
        loaded = self.entry.state is ConfigEntryState.LOADED
        latest = self.entry.runtime_data.data.latest if loaded else None
        fresh = latest is not None and now - latest.time < STALE
        if state is None or state.state == STATE_UNAVAILABLE:
            self.seen.unavailable += 1
            assert not fresh, f"{now}: unavailable with a fresh reading from {latest}"
            return
        assert loaded, f"{now}: {GLUCOSE} shows {state.state} while the entry is not loaded"
        shown = self.hass.states.get(READING_TIME)
        assert shown is not None
        shown_at = dt_util.parse_datetime(shown.state)
        assert shown_at is not None
        assert now - shown_at <= STALE, f"{now}: {GLUCOSE} shows a reading from {shown_at}"
        reading = self.truth_at(shown_at)
        assert state.state == str(reading.value), f"{now}: {state.state} != {reading}"

    def truth_at(self, moment: datetime) -> Reading:
        """Return the published reading of a moment (given to the second)."""
        trace = self.account.trace
        slot = trace.slot_at(to_ms(moment) + 999)
        reading = trace.reading(slot)
        assert trace.has_reading(slot), f"{moment}: no reading was published then"
        assert reading.time.replace(microsecond=0) == moment, (moment, reading)
        assert reading.published_at <= dt_util.utcnow(), reading
        return reading

    async def sample(self) -> None:
        """Check that no hour's reading count went down since the last sample."""
        if self.database.active and self.database.kind == "refused":
            return  # nothing can be read
        counts = await self.db_counts()
        for hour, count in self.seen.db_counts.items():
            assert counts.get(hour, 0) >= count, f"{hour}: {count} readings became {counts}"
        self.seen.db_counts = counts
        self.seen.samples += 1
        if self.entry.state is ConfigEntryState.LOADED:
            self.check_offsets(self.entry.runtime_data.data.readings)

    def check_offsets(self, readings: Iterable[GlucoseReading]) -> None:
        """Each reading's display time has the account's UTC offset at that instant."""
        for reading in readings:
            assert reading.display_time == reading.time
            want = reading.time.astimezone(self.zone).utcoffset()
            assert reading.display_time.utcoffset() == want, reading
            self.seen.offsets.add(want)

    async def db_counts(self) -> dict[datetime, int]:
        """Return the reading count of every imported hour."""
        rows = await self.rows({"readings"})
        return {hour: round(row["mean"]) for hour, row in rows["readings"].items()}

    async def rows(self, keys: Iterable[str] = KEYS) -> dict[str, dict[datetime, dict[str, Any]]]:
        """Return the imported rows, by statistic key and hour."""
        await async_wait_recording_done(self.hass)
        ids = {key: self.ids[key] for key in keys}
        found = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            self.start_at - 3 * DAY,
            None,
            set(ids.values()),
            "hour",
            None,
            {"mean", "min", "max"},
        )
        return {
            key: {
                datetime.fromtimestamp(row["start"], UTC): dict(row)
                for row in found.get(statistic, [])
            }
            for key, statistic in ids.items()
        }

    async def row_counts(self) -> dict[str, tuple[int, int]]:
        """Return the rows and distinct hours of each statistic in the database."""
        ids = list(self.ids.values())

        def count() -> dict[str, tuple[int, int]]:
            with session_scope(hass=self.hass, read_only=True) as session:
                query = (
                    select(
                        StatisticsMeta.statistic_id,
                        func.count(Statistics.id),
                        func.count(func.distinct(Statistics.start_ts)),
                    )
                    .join(Statistics, Statistics.metadata_id == StatisticsMeta.id)
                    .where(StatisticsMeta.statistic_id.in_(ids))
                    .group_by(StatisticsMeta.statistic_id)
                )
                return {sid: (rows, hours) for sid, rows, hours in session.execute(query)}

        await async_wait_recording_done(self.hass)
        return await get_instance(self.hass).async_add_executor_job(count)

    # The verdict

    def goes_stale(self) -> bool:
        """Tell whether the newest reading gets older than the stale limit at some point."""
        account = self.scenario.account
        if "sensor_start" in account or "gaps" in account:
            return True
        return any(
            isinstance(event, ChangePassword | Lock)
            or (isinstance(event, Outage | Offline) and event.length > 2 * STALE)
            for event in self.scenario.events
        )

    def obtainable(self, truth: list[Reading]) -> list[Reading]:
        """Return the readings some successful poll could fetch."""
        polls = sorted(self.seen.good_polls)
        found = []
        for reading in truth:
            index = bisect_left(polls, reading.published_at)
            if index < len(polls) and reading.time > polls[index] - DAY:
                found.append(reading)
        return found

    async def finish(self) -> Row:
        """Check every invariant and return the scenario's row of the summary table."""
        await self.settle()
        await self.sample()
        hass, entry, account = self.hass, self.entry, self.account
        # The run ends healthy: loaded, polling, no flow or repair left.
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.last_update_success
        assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert not [key for key in ir.async_get(hass).issues if key[0] == DOMAIN], (
            "repair issue left"
        )
        self.observe()
        if self.goes_stale():
            assert self.seen.unavailable, "the glucose never went stale"
        # Across a daylight saving switch, both offsets were seen in the readings.
        offsets = {
            moment.astimezone(self.zone).utcoffset() for moment in (self.start_at, self.end_at)
        }
        assert offsets <= self.seen.offsets

        last_poll = max(self.seen.good_polls)
        truth = [
            reading
            for reading in self.simulator.published_readings(account, last_poll)
            if reading.time > self.start_at - DAY
        ]
        obtainable = self.obtainable(truth)
        rows = await self.rows()
        expected = by_hour(obtainable)
        complete = check_hours(rows, expected, by_hour(truth))

        counts = await self.row_counts()
        duplicates = sum(rows_ - hours for rows_, hours in counts.values())
        assert duplicates == 0, counts
        hours = len(expected)
        assert counts == dict.fromkeys(self.ids.values(), (hours, hours))
        # An hour the database dropped is sent again with the same count, never fewer.
        resent = sorted if self.scenario.database else lambda sent: sorted(set(sent))
        for hour, sent in self.seen.sent_counts.items():
            assert sent == resent(sent), f"{hour} was imported with {sent}"

        assert account.logins <= self.scenario.login_bound, (
            f"{account.logins} logins, bound {self.scenario.login_bound}"
        )
        assert account.failed_logins <= self.scenario.failed_login_bound
        if (problems := self.check_log()) is not None:
            pytest.fail(problems)
        if self.scenario.database == "refused":
            assert self.seen.database_failing, "the database failed, and nothing noticed"
        imported = sum(round(row["mean"]) for row in rows["readings"].values())
        assert imported == len(obtainable)
        requests = self.simulator.requests
        return Row(
            scenario=self.scenario.name,
            days=self.scenario.days,
            published=len(truth),
            imported=imported,
            lost=len(truth) - len(obtainable),
            duplicates=duplicates,
            logins=account.logins,
            login_bound=self.scenario.login_bound,
            failed_logins=account.failed_logins,
            login_requests=requests[LOGIN_ENDPOINT] + requests[AUTHENTICATE_ENDPOINT],
            requests=sum(requests.values()),
            errors=sum(window.logged for window in self.windows),
            hours=hours,
            complete_hours=complete,
        )

    def in_window(self, kind: str, when: datetime) -> bool:
        """Tell whether a moment falls in a window of a kind."""
        return any(w.kind == kind and w.start <= when <= w.end for w in self.windows)

    def check_log(self) -> str | None:
        """Match every ERROR to a fault window, one per window; no traceback at all."""
        problems = []
        for when, record in self.logs.records:
            if record.name.startswith(SIMULATOR_LOGGERS):
                continue
            if record.name.startswith(RECORDER_LOGGERS) and self.in_window("database", when):
                continue
            message = record.getMessage()
            if record.exc_info is not None:
                problems.append(f"{when}: traceback with {record.levelname} {message}")
                continue
            if record.levelno < logging.ERROR:
                continue
            kind = next(
                (
                    kind
                    for prefix, kind in ALLOWED_ERRORS.items()
                    if message.startswith(prefix.format(name=f"{DOMAIN} {self.entry.entry_id}"))
                ),
                None,
            )
            window = next(
                (
                    window
                    for window in self.windows
                    if window.kind == kind and window.start <= when <= window.end
                ),
                None,
            )
            if window is None:
                problems.append(f"{when}: unexpected {record.levelname} {message}")
            elif window.logged:
                problems.append(f"{when}: second error in {window.what}: {message}")
            else:
                window.logged += 1
        return "\n".join(problems) or None


def check_hours(
    rows: dict[str, dict[datetime, dict[str, Any]]],
    expected: dict[datetime, list[int]],
    truth: dict[datetime, list[int]],
) -> int:
    """Check every imported hour; return how many equal the ground truth in full."""
    assert_hours_match(rows, expected)
    return sum(truth[hour] == values for hour, values in expected.items())
