"""Fixtures of the Dexcom Share client tests."""

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture(autouse=True)
def local_sockets(socket_enabled: None) -> None:
    """Allow sockets for the aresponses server; connect() stays limited to 127.0.0.1."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session
