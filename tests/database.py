"""The recorder's database failing under a test: refused connections or a held write lock.

Import the fixtures into a test module (or a conftest) to use them there:
- `recorder_db_url` puts a proxy between the recorder and a PostgreSQL server (--dburl),
  and keeps SQLite in a file (persistent_database), so that another connection can lock it;
- `database_fault` makes that database fail: on PostgreSQL every connection is cut and
  new ones are refused, as when the server stops; on SQLite another connection holds the
  write lock, as a backup tool or a database browser does.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from scripts.database_faults import DatabaseProxy, SqliteWriteLock

SQLITE_PREFIX = "sqlite:///"


class DatabaseFault:
    """Make the recorder's database fail, and recover."""

    def __init__(self, url: str, proxy: DatabaseProxy | None) -> None:
        """Fail the database at url, through the proxy if there is one."""
        self.proxy = proxy
        self.lock = None if proxy else SqliteWriteLock(url.removeprefix(SQLITE_PREFIX))

    @property
    def kind(self) -> str:
        """Return what the fault does: "refused" (a server) or "locked" (a file)."""
        return "refused" if self.proxy else "locked"

    @property
    def active(self) -> bool:
        """Tell whether the database fails now."""
        if self.proxy:
            return self.proxy.is_down
        assert self.lock is not None
        return self.lock.held

    def start(self) -> None:
        """Cut and refuse the connections, or take the write lock."""
        if self.proxy:
            self.proxy.down()
        else:
            assert self.lock is not None
            self.lock.hold()

    def stop(self) -> None:
        """Accept connections again, or release the lock."""
        if self.proxy:
            self.proxy.up()
        else:
            assert self.lock is not None
            self.lock.release()


@pytest.fixture
def persistent_database() -> bool:
    """Keep SQLite in a file, which another connection can lock."""
    return True


@pytest.fixture
def database_proxy(
    pytestconfig: pytest.Config, socket_enabled: None
) -> Generator[DatabaseProxy | None]:
    """Return a proxy to the PostgreSQL server of --dburl; None on SQLite."""
    url = str(pytestconfig.getoption("dburl"))
    if not url.startswith("postgresql"):
        yield None
        return
    proxy = DatabaseProxy.for_url(url)
    proxy.start()
    yield proxy
    proxy.down()


@pytest.fixture
def recorder_db_url(recorder_db_url: str, database_proxy: DatabaseProxy | None) -> str:
    """Return the recorder's database URL, through the proxy on PostgreSQL."""
    return database_proxy.url(recorder_db_url) if database_proxy else recorder_db_url


@pytest.fixture
def database_fault(
    recorder_db_url: str, database_proxy: DatabaseProxy | None
) -> Generator[DatabaseFault]:
    """Return the fault of the recorder's database; it never outlives the test."""
    fault = DatabaseFault(recorder_db_url, database_proxy)
    yield fault
    if fault.active:
        fault.stop()
