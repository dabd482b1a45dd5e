"""The database faults the tests use: a proxy that goes down and up, and an SQLite lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import socket
import sqlite3
import threading

import pytest

from scripts.database_faults import DatabaseProxy, SqliteWriteLock


@pytest.fixture
def echo_server(socket_enabled: None) -> Iterator[int]:
    """Serve an echo on a loopback port; yield the port."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                while data := connection.recv(1024):
                    connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def echo(port: int, text: bytes) -> bytes:
    """Send text to a port and return what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(text)
        return connection.recv(1024)


def test_proxy_refuses_while_down_and_comes_back_on_its_port(echo_server: int) -> None:
    """Down: the open connection is cut and new ones are refused. Up: the same port works."""
    proxy = DatabaseProxy("127.0.0.1", echo_server)
    port = proxy.start()
    try:
        assert echo(port, b"first") == b"first"
        open_one = socket.create_connection(("127.0.0.1", port), timeout=5)
        open_one.sendall(b"ping")
        assert open_one.recv(1024) == b"ping"
        proxy.down()
        assert proxy.is_down
        assert open_one.recv(1024) == b""  # cut
        open_one.close()
        with pytest.raises(ConnectionRefusedError):
            echo(port, b"refused")
        proxy.up()
        assert proxy.port == port
        assert echo(port, b"back") == b"back"
        assert proxy.connections == 3
    finally:
        proxy.down()


def test_proxy_url_keeps_credentials_and_database() -> None:
    """The URL through the proxy differs only in its host and port."""
    proxy = DatabaseProxy.for_url("postgresql://user:secret@db.example:6543/ha")
    assert proxy.target == ("db.example", 6543)
    proxy.port = 40001
    assert proxy.url("postgresql://user:secret@db.example:6543/ha") == (
        "postgresql://user:secret@127.0.0.1:40001/ha"
    )


def test_sqlite_lock_blocks_writers_but_not_readers(tmp_path: Path) -> None:
    """While held, another connection reads but cannot write; released, it writes."""
    path = str(tmp_path / "db.sqlite")
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x INTEGER)")
    lock = SqliteWriteLock(path)
    lock.hold()
    other = sqlite3.connect(path, timeout=0.1)
    try:
        assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO t VALUES (1)")
        lock.release()
        assert not lock.held
        other.execute("INSERT INTO t VALUES (1)")
        other.commit()
    finally:
        other.close()
