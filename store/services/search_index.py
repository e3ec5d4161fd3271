"""Filling the SQLite search index after commit (IMAP SEARCH, RFC 3501 §6.4.4).

Deliveries commit without touching the FTS5 trigram index (migration 0007) and, on SQLite,
without the message's body text (search_body, worked out here from the message's bytes); this
indexes the committed messages above the high-water mark in batches, each batch in one
transaction that also moves the mark, so a crash leaves either the batch indexed and the mark
moved or neither. Whatever is above the mark is found by SEARCH scanning it
(store.selectors.imap.imap_text_search), so indexing late never hides a message; it runs in the
agents process after deliveries and in the periodic housekeeping, so nothing stays unindexed.
PostgreSQL indexes in the insert (pg_trgm GIN indexes, cheap there): nothing to do.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from store.selectors.imap import FTS_STATE_TABLE, FTS_TABLE, blob_search_texts
from store.sql import sqlite_database
from store.writelock import database_write_lock

# Most messages and text per indexing transaction: the write lock is held meanwhile (deliveries
# wait), and the trigram index costs about 0.2-0.5 ms of CPU per KB, so a batch is bounded by its
# text: a few 64 KB messages, or many small ones per commit.
SEARCH_INDEX_BATCH = 256
SEARCH_INDEX_BATCH_BYTES = 256 * 1024
SEARCH_COLUMNS = ("subject", "from_display", "to_display", "cc_display", "bcc_display", "search_headers", "search_body")
_COLUMNS = ", ".join(SEARCH_COLUMNS)


def search_index_deferred() -> bool:
    """Whether this database's search index is filled after commit (SQLite) rather than in it."""
    return sqlite_database()  # (per delivery batch: no lookup through django.db.connection)


def search_at_delivery() -> bool:
    """Whether a delivery stores the message's search_body itself: not where the indexer works it
    out after the commit (_search_bodies_fill)."""
    return not search_index_deferred()


def search_index_pending() -> bool:
    """Whether committed messages wait for the index (a read, no write lock)."""
    if not search_index_deferred():
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM store_message) > (SELECT indexed_upto FROM {FTS_STATE_TABLE} WHERE id = 1)"  # noqa: S608
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def search_index_batch(*, batch_max: int = SEARCH_INDEX_BATCH) -> int:
    """Index the next messages above the mark in one transaction; how many were indexed."""
    if not search_index_deferred():
        return 0
    with database_write_lock(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT indexed_upto FROM {FTS_STATE_TABLE} WHERE id = 1")  # noqa: S608
        mark = cursor.fetchone()[0]
        # A delivery leaves search_body empty (see below), so a message's size bounds its text.
        cursor.execute(
            "SELECT id, MAX(size, LENGTH(search_body)) + LENGTH(search_headers) FROM store_message "
            "WHERE id > %s ORDER BY id LIMIT %s",
            [mark, batch_max],
        )
        count = upto = size = 0
        for message_id, text_length in cursor.fetchall():
            count, upto, size = count + 1, message_id, size + (text_length or 0)
            if size >= SEARCH_INDEX_BATCH_BYTES:
                break
        if not count:
            return 0
        _search_bodies_fill(cursor, mark, upto)
        cursor.execute(
            f"INSERT INTO {FTS_TABLE}(rowid, {_COLUMNS}) "  # noqa: S608
            f"SELECT id, {_COLUMNS} FROM store_message WHERE id > %s AND id <= %s",
            [mark, upto],
        )
        cursor.execute(f"UPDATE {FTS_STATE_TABLE} SET indexed_upto = %s WHERE id = 1", [upto])  # noqa: S608
    return int(count)


def _search_bodies_fill(cursor: Any, mark: int, upto: int) -> None:
    """Work out the search_body of the messages in (mark, upto] that have none. Deliveries leave
    it to here (store.parse.parse_message(search=False)): the text of a 64 KB message is 16 more
    database pages in the delivery's commit, which a sender waits for, and decoding all of it
    more work before the reply; here it is a little more work for the indexer, whose trigram
    index costs far more. Above the mark, SEARCH works it out itself (store.selectors.imap)."""
    cursor.execute(
        "SELECT id, blob_id FROM store_message WHERE id > %s AND id <= %s AND search_body = ''",
        [mark, upto],
    )
    pending = cursor.fetchall()
    if not pending:
        return
    texts = blob_search_texts({digest for _, digest in pending})
    cursor.executemany(
        "UPDATE store_message SET search_body = %s WHERE id = %s",
        [(texts[digest], message_id) for message_id, digest in pending if texts.get(digest)],
    )


def search_index_catch_up(*, batch_max: int = SEARCH_INDEX_BATCH) -> int:
    """Index every committed message not yet in the index; how many were indexed."""
    total = 0
    if not search_index_pending():
        return 0
    while True:
        indexed = search_index_batch(batch_max=batch_max)
        if not indexed:
            return total
        total += indexed
