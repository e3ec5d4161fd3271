"""The driver's cursor for the store's own SQL on the agents' hot paths.

The services and selectors that run once per delivered message or per IMAP command write plain
SQL with "%s" placeholders. Through Django's cursor wrapper each statement paid about 10 µs on
top of the database's own work (the connection proxy's thread-local lookups, the thread-sharing
check, and on SQLite a regular expression rewriting the placeholders every time): as much as a
short SELECT costs SQLite itself. `driver_cursor()` runs the same statements on the driver's cursor: the
placeholder rewrite is done once per statement text, and driver errors are still raised as
Django's (through the connection's error wrapper), so callers catch what they always caught. On
PostgreSQL the parameters are bound by the server (_server_cursor).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

# Django's own rewrite for SQLite (backends.sqlite3.base.FORMAT_QMARK_REGEX): "%s" -> "?", "%%" -> "%".
_FORMAT_QMARK = re.compile(r"(?<!%)%s")
_QMARK_CACHE: dict[str, str] = {}
_QMARK_CACHE_ENTRIES = 2048  # statement texts (IN lists of varying length make new ones)


def _qmark(sql: str) -> str:
    converted = _QMARK_CACHE.get(sql)
    if converted is None:
        if len(_QMARK_CACHE) >= _QMARK_CACHE_ENTRIES:
            _QMARK_CACHE.clear()
        converted = _QMARK_CACHE[sql] = _FORMAT_QMARK.sub("?", sql).replace("%%", "%")
    return converted


class Cursor:
    """execute / executemany with "%s" placeholders, and the driver cursor's results."""

    __slots__ = ("_cursor", "_qmark")

    def __init__(self, raw: Any, qmark: bool) -> None:
        self._cursor = raw
        self._qmark = qmark

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if params is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(_qmark(sql) if self._qmark else sql, params)

    def executemany(self, sql: str, param_list: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(_qmark(sql) if self._qmark else sql, param_list)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


@contextmanager
def driver_cursor() -> Iterator[Cursor]:
    """A cursor on this thread's connection (opened if needed), inside its transaction if any."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        sqlite = db.vendor == "sqlite"
        raw = db.connection.cursor() if sqlite else _server_cursor(db.connection)
        try:
            yield Cursor(raw, sqlite)
        finally:
            raw.close()


def _server_cursor(connection: Any) -> Any:
    """A psycopg cursor that binds parameters on the server, where Django's (a ClientCursor, the
    default of its backend) quotes them into the statement text in Python: a 64 KB message's
    bytea went through that quoting, and no statement text repeated, so none was prepared.
    Measured per delivery of one message on PostgreSQL: 64 KB 3.69 -> 3.07 ms of statements,
    4 KB 1.17 -> 1.12 ms."""
    from psycopg import Cursor as ServerCursor

    return ServerCursor(connection)


def sqlite_database() -> bool:
    """Whether the default database is SQLite (on disk or in memory), from the connection
    handler's settings as sqlite_file reads them."""
    return str(connections.settings[DEFAULT_DB_ALIAS]["ENGINE"]).endswith("sqlite3")


def sqlite_file() -> str | None:
    """The default database's file when it is SQLite on disk, else None (another database, or
    SQLite in memory): what a connection of one's own, beside Django's, can open. Read from the
    connection handler's settings, not through django.db.connection, whose every attribute on an
    event loop's thread is a lookup in a context-local store."""
    settings = connections.settings[DEFAULT_DB_ALIAS]
    if not sqlite_database():
        return None
    path = str(settings["NAME"])
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class SideConnection:
    """A SQLite connection of one's own beside Django's, for reads only: opened on first use,
    opened anew when the database file is another one (its inode compared at most once a second,
    not on every use) and in a forked child, where the parent's connection is left alone (call
    forked() there, from an os.register_at_fork hook: it makes the next use check). Not locked:
    a subclass of threading.local gives each thread its own, a shared one is used under a lock."""

    path = ""
    inode = 0
    pid = 0
    checked = 0.0
    connection: sqlite3.Connection | None = None

    def connect(self, path: str) -> sqlite3.Connection:
        """The connection to the database file at `path`; OSError when the file cannot be found."""
        now = time.monotonic()
        connection = self.connection
        if connection is not None and now - self.checked < 1.0 and path == self.path:
            return connection
        pid = os.getpid()
        fresh = connection is not None and path == self.path and pid == self.pid
        inode = os.stat(path).st_ino
        if connection is None or not fresh or inode != self.inode:
            if connection is not None and pid == self.pid:
                connection.close()
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self.connection, self.path, self.inode, self.pid = connection, path, inode, pid
        self.checked = now
        return connection

    def forked(self) -> None:
        self.checked = 0.0


@contextmanager
def pipelined() -> Iterator[None]:
    """On PostgreSQL, send the statements inside without waiting for each answer (psycopg's
    pipeline mode): the writes of a batch cost one network round trip instead of one each (a
    BEGIN still costs one of its own: psycopg syncs after it). Elsewhere, nothing."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        if db.connection is None:
            db.ensure_connection()
        with db.connection.pipeline():
            yield
    else:
        yield
