"""Content-addressed, immutable message bytes (DESIGN rule 5).

A blob of at most YUBIN_BLOB_INLINE_MAX bytes lives in the database: its bytes go into a
BlobData row in the transaction that first names the blob (store.services.messages.blobs_reference),
so the commit that makes a delivery durable makes its bytes durable too. A larger blob is a file,
written to a temporary file, fsynced, renamed into place and its directory fsynced, so a crash at
any moment leaves either no file or a whole one; a half-written temporary file is never visible
under a blob name. The readers take either, the file first: blobs written before the limit
changed stay where they are. The GC sweep (store.services.blobs) removes blobs and files that no
row refers to.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from store.linebreaks import crlf_count, dot_line
from store.sql import SideConnection, driver_cursor, sqlite_file

TEMP_DIR_NAME = "tmp"
T = TypeVar("T")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def blob_root() -> Path:
    return Path(settings.YUBIN_BLOB_DIR)


def blob_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_inline(size: int) -> bool:
    """A blob of this size keeps its bytes in the database, not in a file."""
    return size <= settings.YUBIN_BLOB_INLINE_MAX


class WireFacts(NamedTuple):
    """A message as POP3 (RFC 1939 §3) sends it: every line ending CRLF, the last line terminated.

    size: the octets of that form (what STAT and LIST announce). crlf: the stored bytes already are
    that form, so they can be sent as they are. dots: some line starts with "." and must be
    dot-stuffed. A bare CR is left as it is, like the POP3 encoder does.
    """

    size: int
    crlf: bool
    dots: bool


def wire_facts(data: bytes) -> WireFacts:
    """Worked out from the bytes in memory: three scans at C speed (store.linebreaks)."""
    if not data:
        return WireFacts(0, True, False)
    bare_lf = data.count(b"\n") - crlf_count(data)
    terminated = data.endswith(b"\n")
    size = len(data) + bare_lf + (0 if terminated else 2)
    return WireFacts(size, bare_lf == 0 and terminated, dot_line(data))


def wire_facts_checked_body(raw: bytes, head_size: int, body_dots: bool) -> WireFacts:
    """wire_facts(raw) where everything after the first head_size bytes is known to be CRLF
    only and terminated (or empty), with a line starting with "." exactly when body_dots: what
    SMTP's DATA reader has checked already. Only the head (the trace fields put before it) is
    scanned, where three scans of a 64 KB body cost a fifth of its delivery's statements."""
    head = raw[:head_size]
    facts = wire_facts(head)
    if head and not facts.crlf:  # a head with a bare LF or no final line break: scan it all
        return wire_facts(raw)
    return WireFacts(facts.size + len(raw) - head_size, True, facts.dots or body_dots)


def blob_path(digest: str) -> Path:
    return Path(_file(digest))


def _file(digest: str) -> str:
    """The blob's file name. Plain strings: on the path of every FETCH of a body, pathlib's
    objects cost several times the read itself."""
    if _DIGEST.fullmatch(digest) is None:
        raise ValueError(f"not a blob digest: {digest!r}")
    return f"{settings.YUBIN_BLOB_DIR}/{digest[:2]}/{digest[2:4]}/{digest}"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _present(final: str, data: bytes) -> bool:
    """True when these exact bytes are already under this name; they are fsynced again.

    A file can be there whole but not yet durable (a writer killed between its rename and its
    fsync), or torn on a file system that does not order data before metadata: it is compared
    byte for byte and fsynced before anyone may name it in a row.
    """
    try:
        handle = open(final, "rb")
    except FileNotFoundError:
        return False
    with handle:
        if os.fstat(handle.fileno()).st_size != len(data) or handle.read() != data:
            return False
        os.fsync(handle.fileno())
    return True


def _write_new(data: bytes, digest: str, final: str) -> None:
    """Write into a temporary file, rename it into place, then fsync it.

    Renaming before the fsync lets one journal commit cover the data and the rename on
    journaling file systems, so the directory fsync that must follow (the caller's) is nearly
    free. A crash in between leaves at worst an unfsynced file under its name, which no row
    names yet and which _present checks and fsyncs before it is ever used.
    """
    temp_dir = f"{settings.YUBIN_BLOB_DIR}/{TEMP_DIR_NAME}"
    temp = f"{temp_dir}/{digest}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = _in_directory(temp_dir, lambda: os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        _in_directory(os.path.dirname(final), lambda: os.replace(temp, final))
        os.fsync(fd)
    finally:
        os.close(fd)


def _in_directory(directory: str, operation: Callable[[], T]) -> T:
    """Run a file operation in directory, making the directory first when the operation finds it
    missing: no mkdir calls on the path of every message, once the fan-out directories exist."""
    try:
        return operation()
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return operation()


def blob_write(data: bytes) -> str:
    """Write data durably under its digest and return the digest; idempotent.

    Bytes that fit in the database (blob_inline) are not written here: the caller's transaction
    stores them with the blob's row (blobs_reference), and its commit makes them durable.
    """
    digest = blob_digest(data)
    if blob_inline(len(data)):
        return digest
    final = _file(digest)
    if not _present(final, data):
        _write_new(data, digest, final)
    _fsync_dir(os.path.dirname(final))
    return digest


def blobs_write(chunks: list[bytes]) -> list[str]:
    """Write many blobs durably and return their digests, in order; idempotent.

    Each file is written and fsynced, then every directory that received one is fsynced once:
    the same guarantee as blob_write with fewer fsyncs.
    """
    digests: list[str] = []
    directories: set[str] = set()
    done: set[str] = set()
    for data in chunks:
        digest = blob_digest(data)
        digests.append(digest)
        if digest in done or blob_inline(len(data)):
            continue
        done.add(digest)
        final = _file(digest)
        if not _present(final, data):
            _write_new(data, digest, final)
        directories.add(os.path.dirname(final))
    for directory in directories:
        _fsync_dir(directory)
    return digests


class _Recent:
    """The bytes of blobs kept in the database that were read lately, per process, least
    recently used first out. A blob never changes (its name is its digest), so an entry never
    goes stale: a blob deleted since can only be asked for by a session that has not yet been
    told its message is gone, and RFC 3501 §7.4.1 lets a server answer such a FETCH with the
    data. A read from here costs a dictionary lookup where SQLite's costs a statement (about 10
    µs for 4 KB) and a database server's a round trip."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, bytes] = OrderedDict()
        self.held = 0
        self.lock = threading.Lock()

    def get(self, digest: str) -> bytes | None:
        with self.lock:
            data = self.entries.get(digest)
            if data is not None:
                self.entries.move_to_end(digest)
            return data

    def has_all(self, digests: Iterable[str]) -> bool:
        entries = self.entries
        return all(digest in entries for digest in digests)

    def put(self, digest: str, data: bytes) -> None:
        limit = settings.YUBIN_BLOB_CACHE
        if len(data) * 4 > limit:  # one blob never takes more than a quarter of it
            return
        with self.lock:
            if digest in self.entries:
                return
            self.entries[digest] = data
            self.held += len(data)
            while self.held > limit:
                self.held -= len(self.entries.popitem(last=False)[1])

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.held = 0

    def drop(self, digest: str) -> None:
        with self.lock:
            data = self.entries.pop(digest, None)
            if data is not None:
                self.held -= len(data)


_RECENT = _Recent()
# A range of a blob up to this size is read as the whole blob, which the cache then keeps (SQLite
# reads all of a value for substr() anyway); of a larger one, only the range is read unless it is
# most of the blob, so a client's sync of many large messages' headers moves only the headers.
_WHOLE_READ_MAX = 16 * 1024


def blobs_cached(digests: Iterable[str]) -> bool:
    """True when every one of these blobs can be read without asking the database or a file."""
    return _RECENT.has_all(digests)


def blob_read(digest: str) -> bytes:
    """The blob's bytes; FileNotFoundError when neither a file nor a row holds them."""
    cached = _RECENT.get(digest)
    if cached is not None:
        return cached
    try:
        with open(_file(digest), "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return _read_row_cached(digest)


def _read_row_cached(digest: str) -> bytes:
    data = blob_read_row(digest)
    _RECENT.put(digest, data)
    return data


def blob_read_range(digest: str, start: int, end: int, size: int | None = None) -> bytes:
    """Bytes [start, end) of a blob, read without loading the rest (or fewer at the blob's end).

    With the blob's size, one of at most this size is looked for in the database first: a file
    that is not there costs a failed open and an exception, a third of the read (a blob kept as
    a file when the limit was lower is then read after a query that finds no row).
    """
    if end <= start:
        return b""
    inline = size is not None and blob_inline(size)
    if size is not None and inline:
        cached = _RECENT.get(digest)
        if cached is not None:
            return cached[start:end]
        try:
            if size <= _WHOLE_READ_MAX or (end - start) * 2 >= size:  # the whole blob, kept for the next read
                return _read_row_cached(digest)[start:end]
            return blob_read_row(digest, start, end)  # a header of a large message: not all of it
        except FileNotFoundError:
            pass
    try:
        fd = os.open(_file(digest), os.O_RDONLY)
    except FileNotFoundError:
        if inline:
            raise  # the database was asked already
        return blob_read_row(digest, start, end)
    try:
        data = os.pread(fd, end - start, start)
        if len(data) < end - start and data:  # a short read before the end: read on
            parts = [data]
            position = start + len(data)
            while position < end and (chunk := os.pread(fd, end - position, position)):
                parts.append(chunk)
                position += len(chunk)
            data = b"".join(parts)
        return data
    finally:
        os.close(fd)


def blob_reads_anywhere() -> bool:
    """True when the readers may be called on an event loop's thread: on SQLite a blob kept in
    the database is read through a connection of the module's own (microseconds, like a file
    from the page cache); on a database server it takes a query on a thread with a Django
    connection, so callers on a loop read on a thread."""
    return sqlite_file() is not None


class _Readers(SideConnection, threading.local):
    """Per thread: a SQLite connection of its own that only reads, so a read needs no Django
    connection and works on any thread."""


_READERS = _Readers()
# In a forked child, the forking thread's reader (the only thread there) is checked on next use.
os.register_at_fork(after_in_child=_READERS.forked)
_RANGE = "SELECT substr(data, %s) FROM store_blobdata WHERE sha256 = %s"  # from a 1-based position
_SPAN = "SELECT substr(data, %s, %s) FROM store_blobdata WHERE sha256 = %s"  # position and length
_QMARK = {sql: sql.replace("%s", "?") for sql in (_RANGE, _SPAN)}  # the sqlite3 module's placeholders


def blob_read_row(digest: str, start: int = 0, end: int | None = None) -> bytes:
    """Bytes [start, end) (end None: to the end) of a blob kept in the database, for a caller
    that found no file (blob_read and blob_read_range look for the file first themselves)."""
    params: list[object] = [start + 1, digest] if end is None else [start + 1, end - start, digest]
    sql = _RANGE if end is None else _SPAN
    row = None
    path = sqlite_file()
    if path is not None:
        row = _READERS.connect(path).execute(_QMARK[sql], params).fetchone()
    if row is None and (path is None or connections[DEFAULT_DB_ALIAS].in_atomic_block):
        # On a database server; or this thread's transaction may have written the row, which
        # only its own connection sees before the commit.
        with driver_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        raise FileNotFoundError(f"blob {digest} is neither a file nor in the database")
    return bytes(row[0])


def blob_delete(digest: str) -> None:
    _RECENT.drop(digest)
    try:
        os.unlink(_file(digest))
    except FileNotFoundError:
        pass
