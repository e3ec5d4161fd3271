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

from django.db import connection

from store.sql import driver_cursor


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
