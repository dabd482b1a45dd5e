"""Fixtures of the Share simulator tests: a manual clock and real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
import json
from typing import Any

import aiohttp
import pytest

from scripts.share_simulator import ManualClock, ShareSimulator
from scripts.share_simulator.wire import AUTHENTICATE_ENDPOINT, LOGIN_ENDPOINT, READINGS_ENDPOINT

START = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
USERNAME = "jane"
PASSWORD = "correct-horse-battery"
EMAIL = "Jane.Doe@Example.com"
PHONE = "+15555550123"
SESSION_TTL = timedelta(hours=1)
LOCKOUT_THRESHOLD = 3
LOCKOUT_DURATION = timedelta(minutes=30)


class ShareHttp:
    """Raw HTTP calls to a simulator, as a Share client makes them."""

    def __init__(self, http: aiohttp.ClientSession, simulator: ShareSimulator) -> None:
        """Talk to this simulator."""
        assert simulator.base_url
        self.http = http
        self.base_url = simulator.base_url
        self.application_id = simulator.application_id

    async def call(
        self,
        endpoint: str,
        body: object = None,
        params: dict[str, str] | None = None,
        limit: float = 5.0,
    ) -> tuple[int, Any]:
        """Post a body; return the status and the JSON answer (or the text), within limit s."""
        async with self.http.post(
            self.base_url + endpoint,
            data=json.dumps({} if body is None else body),
            params=params,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=limit),
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def authenticate(
        self, name: str, password: str = PASSWORD, application_id: str | None = None
    ) -> tuple[int, Any]:
        """Call AuthenticatePublisherAccount."""
        body = {
            "accountName": name,
            "password": password,
            "applicationId": application_id or self.application_id,
        }
        return await self.call(AUTHENTICATE_ENDPOINT, body)

    async def login(self, account_id: str, password: str = PASSWORD) -> tuple[int, Any]:
        """Call LoginPublisherAccountById."""
        body = {
            "accountId": account_id,
            "password": password,
            "applicationId": self.application_id,
        }
        return await self.call(LOGIN_ENDPOINT, body)

    async def session(self, name: str = USERNAME, password: str = PASSWORD) -> str:
        """Authenticate and log in; return the session id."""
        status, account_id = await self.authenticate(name, password)
        assert status == 200, account_id
        status, session_id = await self.login(account_id, password)
        assert status == 200, session_id
        assert isinstance(session_id, str)
        return session_id

    async def readings(
        self, session_id: str, minutes: object = 1440, max_count: object = 288, **extra: str
    ) -> tuple[int, Any]:
        """Call ReadPublisherLatestGlucoseValues."""
        params = {"sessionId": session_id, "minutes": str(minutes), "maxCount": str(max_count)}
        return await self.call(READINGS_ENDPOINT, {}, params | extra)


@pytest.fixture(autouse=True)
def local_sockets(socket_enabled: None) -> None:
    """Allow sockets; Home Assistant's plugin still limits connect() to 127.0.0.1."""


@pytest.fixture
def clock() -> ManualClock:
    """Return a clock that moves only when the test moves it."""
    return ManualClock(START)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[ShareSimulator], Awaitable[ShareSimulator]]]:
    """Return a function that starts a simulator; all are stopped after the test."""
    started: list[ShareSimulator] = []

    async def start(simulator: ShareSimulator) -> ShareSimulator:
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def simulator(
    clock: ManualClock, serve: Callable[[ShareSimulator], Awaitable[ShareSimulator]]
) -> ShareSimulator:
    """Return a running US simulator with one account, on the manual clock."""
    simulator = ShareSimulator(
        now=clock.now,
        seed=7,
        session_ttl=SESSION_TTL,
        lockout_threshold=LOCKOUT_THRESHOLD,
        lockout_duration=LOCKOUT_DURATION,
    )
    simulator.add_account(USERNAME, PASSWORD, email=EMAIL, phone=PHONE)
    return await serve(simulator)


@pytest.fixture
def share(http: aiohttp.ClientSession, simulator: ShareSimulator) -> ShareHttp:
    """Return raw HTTP access to the simulator."""
    return ShareHttp(http, simulator)
