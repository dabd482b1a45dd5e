"""The reliability scenarios, as a table: what happens to Share and Home Assistant, and when.

Every time is counted from the start of the scenario, when the entry is first set up.
Each scenario runs for `days` of simulated time; the harness checks the same invariants
after every one of them (see harness.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
import random
from typing import Literal

from scripts.share_simulator import Backlog, FaultKind
from scripts.share_simulator.wire import READINGS_ENDPOINT

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

REFUSED: Literal["refused"] = "refused"
"""An outage during which nothing listens on Share's port: connections are refused."""

type OutageKind = FaultKind | Literal["refused"]
type RestartKind = Literal["reload", "stop", "crash", "cancel"]


@dataclass(frozen=True, slots=True)
class Outage:
    """Share fails every request from `at` for `length`.

    With `checked`, the run checks what the person sees: the repair about Share not
    answering is up before the end (the outage lasts longer than 30 minutes plus the first
    planned wait), no sign-in meanwhile, at most `most_requests` reads, and every reading
    back with the first poll after Share returns.
    """

    at: timedelta
    length: timedelta
    kind: OutageKind
    status: int | None = None
    """The HTTP status of an HTML_ERROR outage: 403 for a web firewall, else 503."""
    retry_after: int | None = None
    """Seconds of Retry-After on every answer (a rate limit, a maintenance window)."""
    checked: bool = False
    most_requests: int | None = None


@dataclass(frozen=True, slots=True)
class Restart:
    """Home Assistant restarts the integration.

    reload: the entry is reloaded at once (imports may still be queued in the recorder).
    stop: Home Assistant stops (entry unloaded, recorder drained) and starts `down` later.
    crash: Home Assistant dies right after a poll, between the fetch and the statistics
        import it triggers: that import never reaches the database, and the reading
        history saved since the last delayed write is lost; it starts `down` later.
    cancel: Home Assistant stops while a poll is in flight: Share answered, but the
        coordinator never gets the readings; it starts `down` later.
    """

    at: timedelta
    kind: RestartKind
    down: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Inject:
    """Spoil Share's answers: the next `count` matching requests, or all for `length`."""

    at: timedelta
    kind: FaultKind
    count: int = 1
    length: timedelta | None = None
    endpoint: str | None = READINGS_ENDPOINT


@dataclass(frozen=True, slots=True)
class ExpireSessions:
    """Share forgets every session (SessionNotValid on the next read)."""

    at: timedelta


@dataclass(frozen=True, slots=True)
class InvalidateAfterLogin:
    """The session of the next login is invalid by the time the readings are asked for."""

    at: timedelta


@dataclass(frozen=True, slots=True)
class ChangePassword:
    """The password is changed in the Dexcom app; the user re-authenticates later."""

    at: timedelta
    reauth_after: timedelta


@dataclass(frozen=True, slots=True)
class Lock:
    """Another app gets the account locked for `length`."""

    at: timedelta
    length: timedelta


@dataclass(frozen=True, slots=True)
class Offline:
    """The phone (or the sensor) loses its link at `at` for `length`.

    Readings of that period reach Share together, `upload_after` after the link is back,
    so the first new readings come before the backlog. With `keeps` (a G6 transmitter
    keeps 3 hours), only the newest readings of the period are ever sent.
    """

    at: timedelta
    length: timedelta
    upload_after: timedelta = 12 * MINUTE
    keeps: timedelta | None = None

    def backlog(self, start: datetime) -> Backlog:
        """Return the simulator's backlog for a scenario that starts at `start`."""
        end = start + self.at + self.length
        return Backlog(start + self.at, end, end + self.upload_after, self.keeps)


@dataclass(frozen=True, slots=True)
class DatabaseDown:
    """The recorder's database fails from `at` for `length`.

    refused: its server refuses connections and cuts the open ones (PostgreSQL stopped).
    locked: another program holds its write lock (SQLite), for DATABASE_LOCK real seconds,
        longer than the recorder's retries, while `length` of simulated time passes.
    """

    at: timedelta
    length: timedelta
    kind: Literal["refused", "locked"]


type Event = (
    Outage
    | DatabaseDown
    | Restart
    | Inject
    | ExpireSessions
    | InvalidateAfterLogin
    | ChangePassword
    | Lock
    | Offline
)

# Faults that make a poll fail, and so may log one "Error fetching" line each.
FAILING_KINDS = frozenset(
    {
        FaultKind.SERVER_ERROR,
        FaultKind.HTML_ERROR,
        FaultKind.TIMEOUT,
        FaultKind.MALFORMED,
        FaultKind.DISCONNECT,
        FaultKind.RATE_LIMITED,
    }
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One run: an account, a clock start, a duration and what goes wrong."""

    name: str
    start: str
    """The simulated moment the entry is first set up (ISO 8601, UTC)."""
    events: tuple[Event, ...] = ()
    days: float = 2.0
    account: dict[str, object] = field(default_factory=dict)
    """add_account options; datetimes may be given as timedeltas from the start."""
    session_ttl: timedelta = DAY
    why: str = ""

    @property
    def database(self) -> str | None:
        """Return the kind of database fault the scenario needs, if any."""
        kinds = {event.kind for event in self.events if isinstance(event, DatabaseDown)}
        return kinds.pop() if kinds else None

    @property
    def duration(self) -> timedelta:
        """Return how long the scenario runs."""
        return self.days * DAY

    @property
    def restarts(self) -> int:
        """Return the number of restarts."""
        return sum(isinstance(event, Restart) for event in self.events)

    @property
    def login_bound(self) -> int:
        """Return the most logins Dexcom may see, with the reason for each.

        One at setup, one per restart, one per session expiry (Share's lifetime, or an
        invalidation), one more when a session dies between login and read, one per
        malformed readings answer (a garbled answer drops the session), and for a
        changed password: the failed one, the reauth flow's two (it looks the account
        up, then logs in) and the reload's; none while reauth is pending, restarts
        included. A lock costs the login that finds it and the one after it; none while
        it lasts, restarts included.
        """
        bound = 1 + self.restarts + math.ceil(self.duration / self.session_ttl)
        for event in self.events:
            match event:
                case ExpireSessions() | InvalidateAfterLogin():
                    bound += 1
                case Inject(kind=FaultKind.MALFORMED, count=count):
                    bound += count
                case ChangePassword():
                    bound += 4
                case Lock():
                    bound += 2
        return bound

    @property
    def failed_login_bound(self) -> int:
        """Return the most failed logins: one per password change and per lock."""
        return sum(isinstance(event, ChangePassword | Lock) for event in self.events)


def random_restarts(
    seed: int, count: int, span: tuple[timedelta, timedelta]
) -> tuple[Restart, ...]:
    """Return `count` restarts at seeded random moments, of every kind as evenly as can be."""
    rng = random.Random(seed)  # noqa: S311 - reproducible, not secret
    kinds: list[RestartKind] = ["reload", "stop", "crash", "cancel"]
    chosen = kinds * (count // len(kinds))
    chosen += [rng.choice(kinds) for _ in range(count - len(chosen))]
    rng.shuffle(chosen)
    first, last = (int(bound / MINUTE) for bound in span)
    # At least 40 minutes apart, so each restart settles before the next.
    moments: list[int] = []
    while len(moments) < count:
        moment = rng.randrange(first, last)
        if all(abs(moment - other) >= 40 for other in moments):
            moments.append(moment)
    return tuple(
        Restart(
            MINUTE * moment,
            kind,
            timedelta(0) if kind == "reload" else MINUTE * rng.randrange(1, 90),
        )
        for moment, kind in zip(sorted(moments), chosen, strict=True)
    )


START = "2026-04-14T09:17:00+00:00"
# US clocks spring forward at 2026-03-08 07:00 UTC and fall back at 2025-11-02 06:00 UTC.
SPRING_START = "2026-03-07T13:41:00+00:00"
FALL_START = "2025-11-01T08:52:00+00:00"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "outages-10m",
        START,
        (
            Outage(3 * HOUR, 10 * MINUTE, FaultKind.SERVER_ERROR),
            Outage(9 * HOUR, 10 * MINUTE, FaultKind.TIMEOUT),
            Outage(15 * HOUR, 10 * MINUTE, REFUSED),
            Outage(21 * HOUR, 10 * MINUTE, FaultKind.HTML_ERROR),
            Outage(33 * HOUR, 10 * MINUTE, FaultKind.DISCONNECT),
        ),
        why="10-minute outages of every kind: 5xx, timeouts, refused and cut connections",
    ),
    Scenario(
        "outages-2h",
        START,
        (
            Outage(4 * HOUR, 2 * HOUR, FaultKind.HTML_ERROR),
            Outage(14 * HOUR, 2 * HOUR, FaultKind.TIMEOUT),
            Outage(26 * HOUR, 2 * HOUR, REFUSED),
            Outage(38 * HOUR, 2 * HOUR, FaultKind.SERVER_ERROR),
        ),
        why="2-hour outages: the first good poll fetches the whole gap",
    ),
    Scenario(
        "rate-limited-2h",
        START,
        (
            Outage(
                27 * HOUR,
                2 * HOUR,
                FaultKind.RATE_LIMITED,
                retry_after=1800,
                checked=True,
                most_requests=6,
            ),
        ),
        why="Share limits requests for 2 hours mid-day, asking 30 minutes between tries",
    ),
    Scenario(
        "firewall-40m",
        START,
        (Outage(8 * HOUR, 40 * MINUTE, FaultKind.HTML_ERROR, status=403, checked=True),),
        why="a web firewall answers an HTML 403 page for 40 minutes",
    ),
    Scenario(
        "share-down-6h",
        START,
        (Outage(10 * HOUR, 6 * HOUR, FaultKind.HTML_ERROR, retry_after=600, checked=True),),
        why="Share down 6 hours (503 maintenance page) while the phone keeps uploading",
    ),
    Scenario(
        "outage-23h-refused",
        START,
        (Outage(6 * HOUR, 23 * HOUR, REFUSED),),
        days=2.5,
        why="23 hours without Share: everything is still in its window at the end",
    ),
    Scenario(
        "outage-23h-restart",
        START,
        (
            Outage(5 * HOUR, 23 * HOUR, FaultKind.DISCONNECT),
            Restart(17 * HOUR, "stop", 20 * MINUTE),
        ),
        days=2.5,
        why="Home Assistant restarts during a 23-hour outage: setup waits for Share",
    ),
    Scenario(
        "outage-30h-5xx",
        START,
        (
            Outage(6 * HOUR, 30 * HOUR, FaultKind.SERVER_ERROR),
            Restart(20 * HOUR, "reload"),
        ),
        days=3.0,
        why="30 hours of 5xx: six hours fall out of Share's window for good",
    ),
    Scenario(
        "outage-30h-timeout",
        START,
        (Outage(7 * HOUR, 30 * HOUR, FaultKind.TIMEOUT),),
        days=3.0,
        why="30 hours of requests that time out (10 s): six hours are lost at the source",
    ),
    Scenario(
        "restarts-random",
        START,
        random_restarts(seed=20260414, count=10, span=(2 * HOUR, 70 * HOUR)),
        days=3.0,
        why="10 restarts at seeded random moments: reload, stop, crash after a fetch,"
        " cancel during a fetch",
    ),
    Scenario(
        "sessions",
        START,
        (
            InvalidateAfterLogin(8 * HOUR),
            Restart(8 * HOUR + MINUTE, "reload"),
            InvalidateAfterLogin(20 * HOUR),
            ExpireSessions(30 * HOUR),
        ),
        session_ttl=40 * MINUTE,
        why="Sessions expire every 40 minutes; a session dies between login and read",
    ),
    Scenario(
        "password-changed",
        START,
        (
            ChangePassword(8 * HOUR, reauth_after=6 * HOUR),
            Restart(10 * HOUR, "reload"),
            Restart(11 * HOUR, "stop", 20 * MINUTE),
        ),
        why="The password changes in the Dexcom app; restarts while reauth is pending;"
        " reauth 6 hours later backfills",
    ),
    Scenario(
        "lockout",
        START,
        (Lock(10 * HOUR, 25 * MINUTE), Restart(10 * HOUR + 12 * MINUTE, "reload")),
        why="Another app locks the account; a reload during the lock does not log in",
    ),
    Scenario(
        "bad-data",
        START,
        (
            Inject(2 * HOUR, FaultKind.MALFORMED),
            Inject(5 * HOUR, FaultKind.HTML_ERROR),
            Inject(8 * HOUR, FaultKind.DUPLICATES, count=3),
            Inject(11 * HOUR, FaultKind.OUT_OF_ORDER, count=3),
            Inject(14 * HOUR, FaultKind.EMPTY, count=2),
            Inject(17 * HOUR, FaultKind.UNKNOWN_TREND, length=30 * MINUTE),
            Inject(20 * HOUR, FaultKind.MALFORMED, count=2),
            Inject(25 * HOUR, FaultKind.DUPLICATES, count=1),
            Restart(25 * HOUR, "reload"),
            Inject(30 * HOUR, FaultKind.OUT_OF_ORDER, count=1),
            Restart(30 * HOUR, "stop", 30 * MINUTE),
            Inject(36 * HOUR, FaultKind.SERVER_ERROR, count=3),
        ),
        why="Malformed bodies, HTML pages, duplicates, out of order, empty answers and"
        " unknown trends, also in the 24-hour fetch after a restart",
    ),
    Scenario(
        "dst-spring",
        SPRING_START,
        (Restart(20 * HOUR, "stop", 15 * MINUTE),),
        account={"time_zone": "America/New_York"},
        why="DT offsets change from -0500 to -0400 (US spring forward)",
    ),
    Scenario(
        "dst-fall-legacy",
        FALL_START,
        (
            Restart(22 * HOUR, "reload"),
            Inject(23 * HOUR, FaultKind.UNKNOWN_TREND, length=20 * MINUTE),
        ),
        account={"time_zone": "America/New_York", "legacy": True},
        why="Legacy /Date()/ format and integer trends, across the US fall back",
    ),
    Scenario(
        "sensor-gaps",
        START,
        (Restart(11 * HOUR, "stop", 10 * MINUTE),),
        account={
            "sensor_start": 10 * HOUR,
            "gaps": [(30 * HOUR, 30 * HOUR + 20 * MINUTE)],
        },
        why="A new sensor's 2-hour warm-up (with a restart in it), a 20-minute signal loss",
    ),
    Scenario(
        "offline-1h",
        START,
        (Offline(5 * HOUR, HOUR),),
        why="The phone is offline for an hour; its backlog reaches Share after newer readings",
    ),
    Scenario(
        "offline-5h",
        START,
        (Offline(5 * HOUR, 5 * HOUR),),
        why="5 hours offline: the backlog is older than the newest readings by hours",
    ),
    Scenario(
        "offline-20h",
        START,
        (Offline(3 * HOUR, 20 * HOUR),),
        why="20 hours offline (a G7 backfills 24): the backlog fills most of Share's window",
    ),
    Scenario(
        "offline-5h-restart",
        START,
        (
            Offline(6 * HOUR, 5 * HOUR, upload_after=15 * MINUTE),
            Restart(11 * HOUR + 3 * MINUTE, "stop", 2 * MINUTE),
        ),
        why="Home Assistant restarts after the phone's first new reading, before its backlog",
    ),
    Scenario(
        "db-down-11m",
        START,
        (DatabaseDown(5 * HOUR + 38 * MINUTE, 11 * MINUTE, "refused"),),
        days=1.0,
        why="PostgreSQL refuses connections for 11 minutes across an hour boundary while"
        " readings arrive; the recorder drops the imports made meanwhile",
    ),
    Scenario(
        "db-locked-11m",
        START,
        (DatabaseDown(5 * HOUR + 38 * MINUTE, 11 * MINUTE, "locked"),),
        days=1.0,
        why="Another program holds SQLite's write lock longer than the recorder's retries,"
        " across an hour boundary",
    ),
    Scenario(
        "db-down-restart",
        START,
        (
            DatabaseDown(7 * HOUR + 40 * MINUTE, 25 * MINUTE, "refused"),
            Restart(7 * HOUR + 52 * MINUTE, "stop", 4 * MINUTE),
        ),
        days=1.0,
        why="PostgreSQL down across an hour boundary; Home Assistant restarts while it is"
        " down, so the hours waiting are known only from the database and the history",
    ),
    Scenario(
        "g6-backfill-3h",
        START,
        (Offline(8 * HOUR, 5 * HOUR, upload_after=10 * MINUTE, keeps=3 * HOUR),),
        why="A G6 transmitter out of reach for 5 hours backfills its last 3 hours",
    ),
)


def resolve(value: object, start: datetime) -> object:
    """Turn the timedeltas of an account option into moments after the start."""
    if isinstance(value, timedelta):
        return start + value
    if isinstance(value, list | tuple):
        return [resolve(item, start) for item in value]
    return value
