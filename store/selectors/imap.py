"""Read-side queries of the IMAP server (RFC 3501 SELECT/STATUS/FETCH/SEARCH, RFC 5256 SORT/THREAD).

Hot paths return plain tuples (values_list or a raw cursor), never model instances: a folder of
100k messages is read as four columns into arrays. Text search goes through the index made by
migration 0003_imap_search_index (SQLite FTS5 trigram table, filled after commit since 0007;
PostgreSQL pg_trgm GIN indexes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from store.blobs import blob_read_range
from store.models import Account, Blob, Expunged, Folder, Message, Subscription
from store.parse import search_text
from store.sql import SideConnection, driver_cursor, sqlite_file

FTS_TABLE = "store_message_fts"
FTS_STATE_TABLE = "store_message_fts_state"  # high-water mark of the index (migration 0007)
# Columns the index covers; SEARCH keys map onto them.
TEXT_COLUMNS = (
    "subject",
    "from_display",
    "to_display",
    "cc_display",
    "bcc_display",
    "search_headers",
    "search_body",
)
MIN_INDEXED_NEEDLE = 3  # trigram indexes cannot answer shorter substrings; those scan the column


@dataclass(frozen=True)
class FolderRow:
    id: int
    name: str
    special_use: str
    uid_validity: int
    uid_next: int
    highest_modseq: int
    message_count: int
    unseen_count: int
    total_bytes: int
    recent_uid: int  # UIDs from here on are \Recent and not yet claimed by a session


_FOLDER_FIELDS = (
    "id",
    "name",
    "special_use",
    "uid_validity",
    "uid_next",
    "highest_modseq",
    "message_count",
    "unseen_count",
    "total_bytes",
    "recent_uid",
)


def _first(query: Any) -> Any:
    """The first row of a query on a unique key, or None: without the ORDER BY that first()
    adds (the models' default ordering), which these per-command lookups do not need."""
    rows = list(query.order_by()[:1])
    return rows[0] if rows else None


class _DataVersion:
    """SQLite's PRAGMA data_version on a connection of its own, which never writes: the number
    changes whenever any other connection, of this process or another, commits to the database
    (https://sqlite.org/pragma.html#pragma_data_version). None on other databases.

    Every IMAP command asks (has anything been committed since the session's view was read?),
    and the PRAGMA opens a read transaction: two fcntl() locks on the WAL index and a getpid(),
    half the system calls of a NOOP. So the WAL index's header is read first, one pread() of
    its first 96 bytes (https://sqlite.org/walformat.html: two copies of a header whose change
    counter every commit increments): while it reads as it did at the last PRAGMA, nothing was
    committed since, and that PRAGMA's number still holds. A header caught mid-update (its
    copies differ) or a database not in WAL mode goes to the PRAGMA."""

    HEADER = 96  # the two copies of the WAL index header

    def __init__(self) -> None:
        # One connection for every thread: versions are compared across the threads that read them.
        self._lock = threading.Lock()
        self._side = SideConnection()
        self._connection: sqlite3.Connection | None = None
        self._index = -1  # the WAL index file, opened after the connection's first PRAGMA
        self._header = b""  # the header as read just before the last PRAGMA
        self._version = 0

    def __call__(self) -> int | None:
        path = sqlite_file()  # (the NOOP poll calls this: no lookup through django.db.connection)
        if path is None:
            return None
        with self._lock:
            try:
                connection = self._side.connect(path)
            except OSError:
                return None
            if connection is not self._connection:  # opened anew: another file, or a forked child
                self._index_close()
                self._connection = connection
            header = b""
            if self._index >= 0:
                header = os.pread(self._index, self.HEADER, 0)
                if header == self._header and header[:48] == header[48:]:
                    return self._version
            version = int(connection.execute("PRAGMA data_version").fetchone()[0])
            if self._index < 0:
                self._index_open(path)
            self._header, self._version = header, version
            return version

    def _index_open(self, path: str) -> None:
        """The WAL index that this connection, now reading, keeps open (so no one truncates it)."""
        try:
            self._index = os.open(path + "-shm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # not in WAL mode: the PRAGMA every time
            self._index = -1

    def _index_close(self) -> None:
        if self._index >= 0:
            os.close(self._index)
        self._index, self._header = -1, b""

    def forked(self) -> None:
        self._lock = threading.Lock()  # (the parent's may have been held by another thread)
        self._side.forked()


imap_data_version = _DataVersion()
os.register_at_fork(after_in_child=imap_data_version.forked)


def imap_folders(account_id: int) -> list[FolderRow]:
    with driver_cursor() as cursor:
        cursor.execute(_FOLDERS_OF_ACCOUNT, [account_id])
        return [FolderRow(*row) for row in cursor.fetchall()]


def imap_subscriptions(account_id: int) -> set[str]:
    """The account's subscription list (names, whether their folders exist or not)."""
    with driver_cursor() as cursor:
        cursor.execute(_SUBSCRIPTIONS_OF_ACCOUNT, [account_id])
        return {row[0] for row in cursor.fetchall()}


class _ListingReads(SideConnection, threading.local):
    """Per thread: a SQLite connection of this module's own that only reads (see imap_listing_here)."""


_LISTING_READS = _ListingReads()
os.register_at_fork(after_in_child=_LISTING_READS.forked)


def imap_listing_here(account_id: int) -> tuple[list[FolderRow], set[str]] | None:
    """imap_folders and imap_subscriptions in one read transaction, on whatever thread calls
    (the event loop's: a LIST then needs no trip to a DB thread, which cost it more than the
    two queries), through a read-only connection of this module's own on SQLite; None on a
    database server, whose queries go through Django's connection on a DB thread. Reads see
    everything committed before they start, as a DB thread's would."""
    path = sqlite_file()
    if path is None:
        return None
    try:
        reader = _LISTING_READS.connect(path)
    except OSError:
        return None
    reader.execute("BEGIN")  # one snapshot for both: a folder and its subscription agree
    try:
        folders = [FolderRow(*row) for row in reader.execute(_FOLDERS_OF_ACCOUNT_QMARK, [account_id])]
        subscribed = {row[0] for row in reader.execute(_SUBSCRIPTIONS_OF_ACCOUNT_QMARK, [account_id])}
    finally:
        reader.execute("COMMIT")
    return folders, subscribed


def imap_folder(account_id: int, name: str) -> FolderRow | None:
    with driver_cursor() as cursor:
        cursor.execute(_FOLDER_BY_NAME, [account_id, name])
        row = cursor.fetchone()
    return FolderRow(*row) if row else None


def imap_folder_by_id(folder_id: int) -> FolderRow | None:
    with driver_cursor() as cursor:
        cursor.execute(_FOLDER_BY_ID, [folder_id])
        row = cursor.fetchone()
    return FolderRow(*row) if row else None


# Read for every SELECT, APPEND, LIST and view refresh: plain statements, not ORM queries built each time.
_FOLDER_SELECT = f"SELECT {', '.join(_FOLDER_FIELDS)} FROM {Folder._meta.db_table}"  # noqa: S608
_FOLDER_BY_ID = f"{_FOLDER_SELECT} WHERE id = %s"
_FOLDER_BY_NAME = f"{_FOLDER_SELECT} WHERE account_id = %s AND name = %s"
_FOLDERS_OF_ACCOUNT = f"{_FOLDER_SELECT} WHERE account_id = %s ORDER BY name"
_SUBSCRIPTIONS_OF_ACCOUNT = f"SELECT name FROM {Subscription._meta.db_table} WHERE account_id = %s"  # noqa: S608
# The same for a sqlite3 connection of one's own ("?" placeholders; neither has a literal "%").
_FOLDERS_OF_ACCOUNT_QMARK = _FOLDERS_OF_ACCOUNT.replace("%s", "?")
_SUBSCRIPTIONS_OF_ACCOUNT_QMARK = _SUBSCRIPTIONS_OF_ACCOUNT.replace("%s", "?")


def keywords_tuple(value: Any) -> tuple[str, ...]:
    """A keywords column read through a raw cursor (JSON text, or a list) as a tuple."""
    if not value or value == "[]":
        return ()
    words = _json(value)
    return tuple(words) if isinstance(words, list) else ()


@dataclass
class Snapshot:
    """A folder's messages as parallel columns (ascending uid) plus sparse keywords."""

    folder: FolderRow
    uids: list[int]
    flags: list[int]
    modseqs: list[int]
    keywords: dict[int, tuple[str, ...]]


def imap_snapshot(folder_id: int) -> Snapshot | None:
    """Every message of a folder: one query through a raw cursor, no model instances."""
    folder = imap_folder_by_id(folder_id)
    if folder is None:
        return None
    table = Message._meta.db_table
    with driver_cursor() as cursor:
        cursor.execute(
            f"SELECT uid, flags, modseq, keywords FROM {table} WHERE folder_id = %s ORDER BY uid",  # noqa: S608
            [folder_id],
        )
        rows = cursor.fetchall()
    keywords: dict[int, tuple[str, ...]] = {}
    for uid, _, _, words in rows:
        found = keywords_tuple(words)
        if found:
            keywords[uid] = found
    return Snapshot(
        folder=folder,
        uids=[row[0] for row in rows],
        flags=[row[1] for row in rows],
        modseqs=[row[2] for row in rows],
        keywords=keywords,
    )


@dataclass
class Changes:
    folder: FolderRow
    rows: list[tuple[int, int, int, tuple[str, ...]]]  # (uid, flags, modseq, keywords) ascending uid
    expunged: list[int]


def imap_changes(folder_id: int, since: int) -> Changes | None:
    """What changed in a folder after MODSEQ `since`: changed or new messages, expunged UIDs.

    The folder row is read first: a change committed after it has a greater MODSEQ, so the next
    call (since = this folder's highest_modseq) finds it; rows newer than that may show twice.
    """
    folder = imap_folder_by_id(folder_id)
    if folder is None:
        return None
    if folder.highest_modseq <= since:
        return Changes(folder=folder, rows=[], expunged=[])
    with driver_cursor() as cursor:
        cursor.execute(
            f"SELECT uid, flags, modseq, keywords FROM {Message._meta.db_table} "  # noqa: S608
            "WHERE folder_id = %s AND modseq > %s ORDER BY uid",
            [folder_id, since],
        )
        rows = [(uid, flags, modseq, keywords_tuple(words)) for uid, flags, modseq, words in cursor.fetchall()]
        cursor.execute(
            f"SELECT uid FROM {Expunged._meta.db_table} WHERE folder_id = %s AND modseq > %s",  # noqa: S608
            [folder_id, since],
        )
        expunged = sorted({row[0] for row in cursor.fetchall()})
    return Changes(folder=folder, rows=rows, expunged=expunged)


def imap_expunged_since(folder_id: int, since: int) -> list[int]:
    """UIDs expunged after a MODSEQ, for QRESYNC VANISHED (RFC 7162 §3.2.10)."""
    return sorted(set(Expunged.objects.filter(folder_id=folder_id, modseq__gt=since).values_list("uid", flat=True)))


def imap_column_search(folder_id: int, condition: Q) -> set[int]:
    """UIDs of the folder matching a condition on stored columns (dates, size, message-id)."""
    return set(Message.objects.filter(Q(folder_id=folder_id) & condition).values_list("uid", flat=True))


def _like_escape(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def imap_text_search(folder_id: int, columns: tuple[str, ...], needle: str) -> set[int]:
    """UIDs whose text columns contain needle, case-insensitively (RFC 3501 §6.4.4), via the index."""
    for column in columns:
        if column not in TEXT_COLUMNS:
            raise ValueError(f"not a text column: {column}")
    if not needle:
        return set(Message.objects.filter(folder_id=folder_id).values_list("uid", flat=True))
    table = Message._meta.db_table
    if connection.vendor == "sqlite":
        body = "search_body" in columns
        chosen = "id, uid, " + ("blob_id, " if body else "") + ", ".join(columns)
        with driver_cursor() as cursor:
            # The mark first: the index read after it holds at least every message up to it, and
            # the messages above it (committed, not yet indexed) are scanned.
            cursor.execute(f"SELECT indexed_upto FROM {FTS_STATE_TABLE} WHERE id = 1")  # noqa: S608
            indexed_upto = cursor.fetchone()[0]
            found: set[int] = set()
            if len(needle) >= MIN_INDEXED_NEEDLE:
                phrase = '"' + needle.replace('"', '""') + '"'
                match = "{" + " ".join(columns) + "} : " + phrase
                cursor.execute(
                    f"SELECT m.uid FROM {FTS_TABLE} f JOIN {table} m ON m.id = f.rowid "  # noqa: S608
                    f"WHERE {FTS_TABLE} MATCH %s AND m.folder_id = %s",
                    [match, folder_id],
                )
                found = {row[0] for row in cursor.fetchall()}
                # "+folder_id": walk the primary key from the mark (a short tail of all folders)
                # rather than the folder's whole index.
                cursor.execute(
                    f"SELECT {chosen} FROM {table} WHERE id > %s AND +folder_id = %s",  # noqa: S608
                    [indexed_upto, folder_id],
                )
            else:  # shorter than a trigram: scan the folder's columns
                cursor.execute(f"SELECT {chosen} FROM {table} WHERE folder_id = %s", [folder_id])  # noqa: S608
            rows = cursor.fetchall()
        if body:
            rows = _search_bodies_filled(rows, 3 + columns.index("search_body"), indexed_upto)
        return found | _matching_uids([row[1:] for row in rows], needle)
    if connection.vendor == "postgresql":
        condition = " OR ".join(f"{column} ILIKE %s" for column in columns)
        pattern = "%" + _like_escape(needle) + "%"
        with driver_cursor() as cursor:
            cursor.execute(
                f"SELECT uid FROM {table} WHERE folder_id = %s AND ({condition})",  # noqa: S608
                [folder_id, *([pattern] * len(columns))],
            )
            return {row[0] for row in cursor.fetchall()}
    # Short needles (or another database): scan the folder's columns, folding case in Python.
    return _matching_uids(Message.objects.filter(folder_id=folder_id).values_list("uid", *columns), needle)


def _search_bodies_filled(rows: list[tuple[Any, ...]], at: int, indexed_upto: int) -> list[tuple[Any, ...]]:
    """(id, uid, column values...) from (id, uid, blob_id, column values...) with search_body at
    `at`: a message above the mark may not have its search_body yet (a delivery leaves it to the
    indexer, store.services.search_index), so it is worked out from the message's bytes."""
    pending = {row[2] for row in rows if row[0] > indexed_upto and not row[at]}
    texts = blob_search_texts(pending) if pending else {}
    return [(*row[:2], *row[3:at], texts.get(row[2], row[at]), *row[at + 1 :]) for row in rows]


def blob_search_texts(digests: set[str]) -> dict[str, str]:
    """The search_body (store.parse.search_text) of each message blob, from its bytes and its
    stored BODYSTRUCTURE. A blob whose bytes cannot be read gets none: its message is then found
    by its other columns only."""
    texts: dict[str, str] = {}
    for digest, size, body in Blob.objects.filter(sha256__in=digests).values_list("sha256", "size", "body"):
        try:  # with the size: a small blob is looked for in the database first, not as a file
            raw = blob_read_range(digest, 0, size, size)
        except OSError:
            continue
        texts[digest] = search_text(raw, _json(body))
    return texts


def _matching_uids(rows: Any, needle: str) -> set[int]:
    """UIDs of (uid, text, ...) rows with a text containing needle, case folded."""
    folded = needle.casefold()
    return {row[0] for row in rows if any(folded in (value or "").casefold() for value in row[1:])}


def imap_thread_rows(folder_id: int) -> list[tuple[int, str, str, list[str], str, datetime | None, datetime, str]]:
    """(uid, message_id, in_reply_to, references, subject_base, date_sent, internal_date, subject)."""
    return list(
        Message.objects.filter(folder_id=folder_id)
        .order_by("uid")
        .values_list(
            "uid", "message_id", "in_reply_to", "references", "subject_base", "date_sent", "internal_date", "subject"
        )
    )


def imap_quota(account_id: int) -> tuple[int, int]:
    """(used bytes, quota bytes; 0 = unlimited) for QUOTA (RFC 9208)."""
    row = _first(Account.objects.filter(pk=account_id).values_list("used_bytes", "quota"))
    return (row[0], row[1]) if row else (0, 0)


# Per-message columns that never change after delivery (only flags do): the IMAP server keeps them
# in memory per folder (agents.imap.folder_cache) for SORT, header SEARCH and FETCH metadata.
META_COLUMNS = (
    "uid",
    "internal_date",
    "date_sent",
    "size",
    "blob_id",
    "subject",
    "from_display",
    "to_display",
    "cc_display",
    "bcc_display",
    "subject_base",
    "from_sort",
    "to_sort",
    "cc_sort",
    "display_from",
)


def _timestamp(value: Any) -> float:
    """Seconds since the epoch of a datetime column read through a raw cursor (naive means UTC)."""
    if value is None:
        return float("nan")
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(value)
        if parsed is None:
            return float("nan")
        value = parsed
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def imap_meta_rows(folder_id: int, after_uid: int) -> tuple[int, int, list[tuple[Any, ...]]]:
    """(message count, UIDNEXT, rows of META_COLUMNS with uid > after_uid, ascending uid); dates
    as timestamps. The folder row is read first: a UID below that UIDNEXT missing from the rows
    is gone from the store. The date_sent timestamp is NaN when the message has no usable Date.
    """
    with driver_cursor() as cursor:
        cursor.execute(
            f"SELECT message_count, uid_next FROM {Folder._meta.db_table} WHERE id = %s",  # noqa: S608
            [folder_id],
        )
        folder = cursor.fetchone()
        cursor.execute(
            f"SELECT {', '.join(META_COLUMNS)} FROM {Message._meta.db_table} "  # noqa: S608
            "WHERE folder_id = %s AND uid > %s ORDER BY uid",
            [folder_id, after_uid],
        )
        raw = cursor.fetchall()
    count, uid_next = folder if folder is not None else (0, 1)
    rows = [(row[0], _timestamp(row[1]), _timestamp(row[2]), *row[3:]) for row in raw]
    return count, uid_next, rows


def imap_blob_parse(digests: list[str]) -> dict[str, tuple[Any, Any]]:
    """sha256 -> (envelope, body tree) of the stored parse results."""
    from store.models import Blob

    found: dict[str, tuple[Any, Any]] = {}
    with driver_cursor() as cursor:
        for start in range(0, len(digests), 500):
            chunk = digests[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT sha256, envelope, body FROM {Blob._meta.db_table} WHERE sha256 IN ({marks})",  # noqa: S608
                chunk,
            )
            for digest, envelope, body in cursor.fetchall():
                found[digest] = (_json(envelope), _json(body))
    return found


def _json(value: Any) -> Any:
    """A JSON column as read by a raw cursor: text on SQLite (and PostgreSQL's json), decoded
    already where the driver decodes jsonb."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def imap_recent_count(folder_id: int, recent_uid: int) -> int:
    """STATUS RECENT: messages no read-write session has claimed yet."""
    return Message.objects.filter(folder_id=folder_id, uid__gte=recent_uid).count()
