"""One writer at a time on SQLite, handed over at once instead of by SQLite's busy handler.

SQLite lets one transaction write at a time; a second writer that finds the lock taken sleeps in
its busy handler (1, 2, 5, 10... up to 100 ms) and retries, so two agents processes delivering at
the same time lose milliseconds per transaction. The busy writers (delivery batches, the search
indexer) take this lock first: a flock on a file next to the database, which the kernel hands
to the next waiter the moment it is released, plus a thread lock (flock is per open file, so
threads of one process would all get it). The IMAP group writer takes it too. A thread that holds
it may take it again (a no-op). Writers that do not take it stay correct; they only wait the slow
way. PostgreSQL locks rows, not the database: nothing to do there.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_thread_lock = threading.Lock()
_lock_file: dict[str, int] = {}  # database path -> this process's open lock file
_held = threading.local()  # holding: whether this thread holds it (it may take it again)


def _lock_fd() -> int | None:
    database = str(connection.settings_dict["NAME"])
    if database == ":memory:" or database.startswith("file:"):
        return None
    fd = _lock_file.get(database)
    if fd is None:
        fd = os.open(database + "-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _lock_file[database] = fd
    return fd


@contextmanager
def database_write_lock() -> Iterator[None]:
    """Hold the database's writer lock (SQLite; a no-op elsewhere) around a write transaction."""
    if connection.vendor != "sqlite" or getattr(_held, "holding", False):
        yield
        return
    with _thread_lock:
        fd = _lock_fd()
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held.holding = True
        try:
            yield
        finally:
            _held.holding = False
            fcntl.flock(fd, fcntl.LOCK_UN)
