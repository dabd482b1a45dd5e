"""Make the recorder's database fail the way it does in people's homes.

- `DatabaseProxy`: a TCP proxy in front of a database server (PostgreSQL). `down()` cuts
  every connection and refuses new ones, which is what clients see when the server
  stops, restarts or the network to it goes; `up()` listens again on the same port.
  Only the connections through the proxy fail, so other databases of the same server,
  and other tests, are not disturbed.
- `SqliteWriteLock`: another program holding the write lock of an SQLite database, as
  backup tools and database browsers do; readers go on, writers wait.

Both work from threads, so they fail the database whatever the event loop is doing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
import secrets
import socket
import sqlite3
import threading
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


class DatabaseProxy:
    """Forward 127.0.0.1:port to a database server, until told to go down."""

    def __init__(self, host: str, port: int) -> None:
        """Proxy the server at host:port; start() picks the local port."""
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0
        """Connections accepted so far."""

    @classmethod
    def for_url(cls, url: str) -> DatabaseProxy:
        """Return a proxy for the server of a database URL (default port 5432)."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, url: str) -> str:
        """Return a database URL that reaches the same database through the proxy."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> int:
        """Listen (on the same port as before, if any) and return the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self.port

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def up(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None:
            self.start()

    stop = down

    @property
    def is_down(self) -> bool:
        """Tell whether the proxy refuses connections."""
        return self._listener is None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self._sockets.update((client, server))
                self.connections += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, sink))
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


class SqliteWriteLock:
    """Hold the write lock of an SQLite database from a connection of our own."""

    def __init__(self, path: str) -> None:
        """Lock the database file at path when held."""
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def hold(self) -> None:
        """Take the write lock (BEGIN IMMEDIATE) and keep it."""
        connection = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        connection.execute("BEGIN IMMEDIATE")
        self._connection = connection

    def release(self) -> None:
        """Let the writers in again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.execute("ROLLBACK")
            connection.close()

    @property
    def held(self) -> bool:
        """Tell whether the lock is held."""
        return self._connection is not None


@contextmanager
def proxied(url: str) -> Iterator[tuple[DatabaseProxy, str]]:
    """Run a proxy to the server of url; yield it and the URL through it."""
    proxy = DatabaseProxy.for_url(url)
    proxy.start()
    try:
        yield proxy, proxy.url(url)
    finally:
        proxy.down()


class ScratchDatabase:
    """A database of its own on a PostgreSQL server, for one run, dropped afterwards."""

    def __init__(self, server_url: str, prefix: str) -> None:
        """Name a new database on the server of server_url (any database of it)."""
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        parts = urlsplit(server_url)
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
        self._admin = urlunsplit(parts._replace(path="/postgres"))

    def _execute(self, statement: str) -> None:
        import psycopg2  # noqa: PLC0415 - only where PostgreSQL is used

        connection = psycopg2.connect(self._admin)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def create(self) -> None:
        """Create the database."""
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        """Drop the database, closing what is still connected to it."""
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
