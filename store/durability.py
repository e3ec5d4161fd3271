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

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def commit_flush(flush: bool) -> Iterator[None]:
    """Run the transactions inside with the commit waiting for the disk flush or not.

    Call outside any transaction (SQLite refuses to change its safety level inside one). The
    connection is set back to flushing afterwards, so no other write of this thread is affected.
    """
    if flush:
        yield
        return
    _mode_set(flush=False)
    try:
        yield
    finally:
        try:
            _mode_set(flush=True)
        except Exception:
            connection.close()  # the next connection starts with the flushing default


def _mode_set(*, flush: bool) -> None:
    if connection.vendor == "sqlite":
        # On the driver's connection: twice per batch of state writes, Django's cursor wrapper
        # cost more than the pragma.
        connection.ensure_connection()
        connection.connection.execute(f"PRAGMA synchronous={'FULL' if flush else 'NORMAL'}")
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET synchronous_commit = {'on' if flush else 'off'}")
