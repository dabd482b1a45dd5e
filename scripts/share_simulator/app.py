"""The simulated Dexcom Share server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
import uuid
from zoneinfo import ZoneInfo

from aiohttp import web

from .accounts import Account, Accounts
from .clock import Now, as_utc, utc_now
from .endpoints import Endpoints
from .faults import Fault, FaultKind, Faults, RateLimit
from .glucose import Excursion, GlucoseModel
from .sensor import Backlog, DelayModel, Reading, SensorTrace, UploadDelay
from .wire import APPLICATION_IDS, BASE_PATH, Region, to_ms

DEFAULT_UPLOAD_DELAY = UploadDelay()
ID_NAMESPACE = uuid.UUID("5b1d7e3c-2f4a-4c8e-9a51-3c0de6f1a7b2")


class ShareSimulator:
    """A Dexcom Share server for tests, benchmarks and demos."""

    def __init__(
        self,
        *,
        region: Region | str = "us",
        seed: int | str = 0,
        now: Now = utc_now,
        # Dexcom publishes neither; 24 h is what nightscout-connect assumes for sessions.
        session_ttl: timedelta = timedelta(hours=24),
        lockout_threshold: int = 5,
        lockout_duration: timedelta = timedelta(minutes=30),
        upload_delay: DelayModel = DEFAULT_UPLOAD_DELAY,
    ) -> None:
        """Configure the server; add accounts with add_account."""
        self.region = Region(region)
        self.application_id = APPLICATION_IDS[self.region]
        self.seed = str(seed)
        self.clock = now
        self.upload_delay = upload_delay
        self.accounts = Accounts(
            session_ttl=session_ttl,
            lockout_threshold=lockout_threshold,
            lockout_duration=lockout_duration,
        )
        self.faults = Faults()
        self.rate_limit: RateLimit | None = None
        """A per-account limit of requests per window, answered with 429; None: no limit."""
        self.requests: Counter[str] = Counter()
        """Calls per endpoint, whatever their outcome."""
        self.bytes_sent: Counter[str] = Counter()
        """Body bytes of the answers, per endpoint."""
        self.held = 0
        """Answers held back by a TIMEOUT fault right now."""
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self.stopping = asyncio.Event()
        """Set while stopping, to release delayed answers."""

    def now(self) -> datetime:
        """Return the simulated time, in UTC."""
        return as_utc(self.clock())

    def add_account(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        time_zone: str = "America/New_York",
        legacy: bool = False,
        history: timedelta = timedelta(days=1),
        gaps: Sequence[tuple[datetime, datetime]] = (),
        sensor_start: datetime | None = None,
        sensor_days: float = 10.0,
        warmup: timedelta = timedelta(hours=2),
        signal_loss_chance: float = 0.0,
        backlogs: Sequence[Backlog] = (),
        excursions: Sequence[tuple[datetime, datetime, float]] = (),
    ) -> Account:
        """Add an account whose readings start `history` before now.

        Each excursion (begin, end, level) holds glucose at level mg/dL from begin to end,
        e.g. 25 for readings Share reports as LOW, 450 for HIGH.
        """
        zone = ZoneInfo(time_zone)
        key = f"{self.seed}:{username}"
        held = [Excursion(to_ms(begin), to_ms(end), level) for begin, end, level in excursions]
        trace = SensorTrace(
            GlucoseModel(key, zone, held),
            start=self.now() - history,
            delay=self.upload_delay,
            gaps=gaps,
            sensor_start=sensor_start,
            sensor_days=sensor_days,
            warmup=warmup,
            signal_loss_chance=signal_loss_chance,
            backlogs=backlogs,
        )
        account_id = str(uuid.uuid5(ID_NAMESPACE, key))
        account = Account(username, password, account_id, trace, zone, email, phone, legacy)
        self.accounts.add(account)
        return account

    def account(self, name: str) -> Account:
        """Return the account with this username, email, phone or id."""
        if (account := self.accounts.find(name)) is None:
            raise KeyError(name)
        return account

    def published_readings(
        self, account: Account | str, until: datetime | None = None
    ) -> list[Reading]:
        """Return every reading published by `until` (default now), oldest first."""
        if isinstance(account, str):
            account = self.account(account)
        return list(account.trace.published(self.now() if until is None else as_utc(until)))

    def inject(
        self,
        kind: FaultKind,
        *,
        count: int | None = 1,
        endpoint: str | None = None,
        delay: float = 30.0,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Hit the next `count` matching requests (None: until cleared)."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None")
        return self.faults.add(Fault(kind, count, endpoint, delay, status, retry_after))

    def outage(
        self,
        start: datetime,
        end: datetime,
        kind: FaultKind = FaultKind.HTML_ERROR,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Hit every request while the simulated time is in [start, end).

        A web firewall is an HTML_ERROR outage with status 403, a maintenance window one
        with status 503 and a retry_after; a rate limit is a RATE_LIMITED one.
        """
        fault = Fault(
            kind,
            None,
            endpoint,
            status=status,
            retry_after=retry_after,
            start=as_utc(start),
            end=as_utc(end),
        )
        return self.faults.add(fault)

    def limit_requests(self, requests: int, window: timedelta) -> RateLimit:
        """Answer 429, with Retry-After, past `requests` of one account in any `window`."""
        self.rate_limit = RateLimit(requests, window)
        return self.rate_limit

    def clear_faults(self) -> None:
        """Remove every injected fault and outage."""
        self.faults.clear()

    def invalidate_sessions(self) -> None:
        """Make every existing session answer SessionNotValid."""
        self.accounts.invalidate_sessions()

    def make_app(self) -> web.Application:
        """Return an aiohttp application serving the Share endpoints."""
        return Endpoints(self).make_app()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host and port (0: any free port); return the base URL."""
        self.stopping.clear()
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}{BASE_PATH}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; delayed answers are released first."""
        self.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
