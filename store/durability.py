"""Commits that need not wait for the disk flush.

Every commit waits for the disk by default (SQLite synchronous=FULL, PostgreSQL
synchronous_commit=on): rule 1 needs that for mail. A write of message state only (flag
changes, expunges, IMAP \\Recent claims) may commit without it, as Dovecot does with its default
mail_fsync=optimized: the commit is whole and in order, a crash of the process loses nothing, and
a power failure may lose the last such commits but never corrupts the database. Both databases
keep their log in commit order, so the next commit that does wait for the flush (a delivery, an
APPEND, the blob sweep before it removes files) makes every commit before it durable too.
"""

from __future__ import annotations

import os
import threading

from django.db import connection

from store.sql import driver_cursor, sqlite_file


def flush_mode_keep(flush: bool) -> None:
    """Make this thread's commits wait for the disk flush or not, and leave them so.

    For a thread that chooses the mode before each of its transactions (the IMAP store writer):
    a statement only when the mode changes, not two around every transaction that does not
    flush (setting it, then setting it back). A new connection starts flushing; the mode last
    set is remembered with the driver connection it was set on, so a reconnect is never taken
    for one that does not flush. Call outside any transaction.
    """
    connection.ensure_connection()
    raw = connection.connection
    kept = getattr(connection, "_yubin_flush_mode", None)
    if kept is not None and kept[0] is raw and kept[1] == flush:
        return
    _mode_set(flush=flush)
    # The driver connection itself, not its id(), which a new one may get once the old is freed.
    connection._yubin_flush_mode = (raw, flush)  # type: ignore[attr-defined]


def _mode_set(*, flush: bool) -> None:
    if connection.vendor == "sqlite":
        statement = f"PRAGMA synchronous={'FULL' if flush else 'NORMAL'}"
    elif connection.vendor == "postgresql":
        statement = f"SET synchronous_commit = {'on' if flush else 'off'}"
    else:
        return
    with driver_cursor() as cursor:
        cursor.execute(statement)


# --- SQLite: commit inside the write lock, wait for the disk after it ----------------------------

_wal_lock = threading.Lock()
_wal_files: dict[str, tuple[int, int]] = {}  # WAL file path -> (this process's open fd, its inode)


def commits_flush_after_lock() -> bool:
    """Whether a writer should commit without the flush and call commit_flush after releasing the
    database's write lock (SQLite on disk, in WAL mode), rather than have each commit wait for
    the disk. A database SQLite could not put in WAL mode (a file system without shared memory)
    keeps its rollback journal, whose commits must flush themselves."""
    if sqlite_file() is None:
        return False
    connection.ensure_connection()
    raw = connection.connection
    kept = getattr(connection, "_yubin_wal", None)
    if kept is None or kept[0] is not raw:
        with driver_cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            wal = str(cursor.fetchone()[0]).lower() == "wal"
        kept = connection._yubin_wal = (raw, wal)  # type: ignore[attr-defined]
    return bool(kept[1])


def commit_flush() -> None:
    """Wait until every commit made so far on this SQLite database is on disk.

    What synchronous=FULL does inside each commit, the fdatasync of the write-ahead log, done
    by a writer after it released the database's write lock (store.writelock): two agents
    processes then no longer wait for each other's flushes, and flushes of several commits
    that overlap are one journal commit of the file system. A commit made with
    synchronous=NORMAL and followed by this is as durable as one made with FULL: its frames,
    and every frame before them, are in the log file when this returns; should a checkpoint
    have moved them to the database file meanwhile, SQLite flushed that file before it could
    reuse the log (https://sqlite.org/pragma.html#pragma_synchronous). The log cannot be
    deleted and made anew meanwhile, since the caller's connection is open; its inode is checked
    all the same, so an fd of a log that was replaced is never the one flushed. Raises OSError
    when the disk reports a failure: the caller then answers as for a failed commit.
    """
    path = sqlite_file()
    if path is None:
        return
    wal = path + "-wal"
    inode = os.stat(wal).st_ino
    with _wal_lock:
        known = _wal_files.get(wal)
        if known is None or known[1] != inode:
            # The fd of a replaced log stays open: another thread may be flushing it right now,
            # and a closed number could be reused by any file. (A log is replaced only when every
            # connection to the database was closed: rarely.)
            known = _wal_files[wal] = (os.open(wal, os.O_RDONLY | os.O_CLOEXEC), inode)
    os.fdatasync(known[0])
