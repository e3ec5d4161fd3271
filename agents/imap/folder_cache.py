"""Per-folder metadata kept in memory: what SORT, header SEARCH and FETCH metadata read.

A message's dates, size, blob and header columns never change after delivery (only its flags
do, and those live in the session's view), so a folder's metadata only grows by new UIDs. Each
process keeps, per folder, immutable column arrays (FolderMeta) that are extended by the rows
with a UID above the last one seen; expunged UIDs stay until the next full reload and are
filtered through the session's view. On top of the columns, lazily:

- SORT orders per criteria (RFC 5256), so a repeated SORT is a filter of a cached array;
- the SUBJECT/FROM/TO/CC/BCC columns casefolded and joined into one string per column, so a
  header SEARCH (RFC 3501 §6.4.4) is one substring scan (str.find) over the folder;
- serialised ENVELOPE / BODY / BODYSTRUCTURE bytes per blob (WireCache, an LRU by sha256).

Readers never see a half-built object: extension builds a new FolderMeta and swaps it in.
"""

from __future__ import annotations

import math
import string
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from agents.imap.protocol.structure import body_bytes, envelope_bytes
from store.selectors.imap import imap_blob_parse, imap_meta_rows

META_CACHE_MESSAGES = 1_000_000  # messages whose metadata stays cached per process, in all folders
WIRE_CACHE_BYTES = 64 * 1024 * 1024  # serialised ENVELOPE/BODYSTRUCTURE bytes kept per process
# Header fields answers kept per process, as Dovecot keeps them in its cache file: clients list a
# folder with the same BODY.PEEK[HEADER.FIELDS (...)] on every resync and every webmail page, and
# blobs never change, so entries never go stale. A listing's fields are a few hundred bytes a message.
HEADER_CACHE_BYTES = 8 * 1024 * 1024

# SEARCH keys answered from the joined columns (the store's decoded header columns).
TEXT_COLUMNS = ("subject", "from_display", "to_display", "cc_display", "bcc_display")
# SORT keys (RFC 5256, RFC 5957) onto the cached columns; DATE is derived (Date, else arrival).
STRING_SORT_COLUMNS = {
    "SUBJECT": "subject_base",
    "FROM": "from_sort",
    "TO": "to_sort",
    "CC": "cc_sort",
    "DISPLAYFROM": "display_from",
    "DISPLAYTO": "to_display",
}
_STRING_COLUMNS = ("subject_base", "from_sort", "to_sort", "cc_sort", "display_from", "to_display")
# SORT compares strings with i;ascii-casemap (RFC 5256 §2.1, RFC 4790 §9.2), which maps a-z to
# A-Z: "a" sorts before "[" and "_". The stored keys are lowercase, so they are mapped once here.
_ASCII_CASEMAP = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
# Positions in store.selectors.imap.META_COLUMNS.
_ROW = {
    "uid": 0,
    "internal_date": 1,
    "date_sent": 2,
    "size": 3,
    "blob_id": 4,
    "subject": 5,
    "from_display": 6,
    "to_display": 7,
    "cc_display": 8,
    "bcc_display": 9,
    "subject_base": 10,
    "from_sort": 11,
    "to_sort": 12,
    "cc_sort": 13,
    "display_from": 14,
}


class FolderMeta:
    """Immutable metadata columns of one folder (ascending UID)."""

    def __init__(
        self,
        folder_id: int,
        uid_validity: int,
        uids: array,
        internal: array,
        sent: array,
        sizes: array,
        blobs: list[str],
        strings: dict[str, list[str]],
        texts: dict[str, tuple[str, array]],
    ) -> None:
        self.folder_id = folder_id
        self.uid_validity = uid_validity
        self.uids = uids
        self.internal = internal
        self.sent = sent
        self.sizes = sizes
        self.blobs = blobs
        self.strings = strings
        self.texts = texts  # column -> (joined casefolded values, start offset of each)
        self._orders: dict[tuple[tuple[str, bool], ...], array] = {}
        self._dates: array | None = None
        # Every UID up to this one was looked for in the store; those not in the columns are
        # gone (an APPEND expunged before anyone read it), so they are not read for again.
        self.checked_uid = self.last_uid

    def __len__(self) -> int:
        return len(self.uids)

    @property
    def last_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def index(self, uid: int) -> int:
        """Index of uid in the columns, or -1."""
        index = bisect_left(self.uids, uid)
        return index if index < len(self.uids) and self.uids[index] == uid else -1

    # --- SORT -----------------------------------------------------------------------------

    def dates(self) -> array:
        """RFC 5256 §2.2 sent date: the Date header, or the internal date when there is none."""
        if self._dates is None:
            self._dates = array(
                "d",
                (
                    internal if math.isnan(sent) else sent
                    for sent, internal in zip(self.sent, self.internal, strict=True)
                ),
            )
        return self._dates

    def _sort_column(self, key: str) -> Any:
        if key == "ARRIVAL":
            return self.internal
        if key == "DATE":
            return self.dates()
        if key == "SIZE":
            return self.sizes
        return self.strings[STRING_SORT_COLUMNS[key]]

    def order(self, criteria: list[tuple[str, bool]]) -> array:
        """Indexes in RFC 5256 order; ties in ascending UID (stable sorts, last key first)."""
        key = tuple(criteria)
        cached = self._orders.get(key)
        if cached is None:
            indexes = list(range(len(self.uids)))
            for name, reverse in reversed(criteria):
                indexes.sort(key=self._sort_column(name).__getitem__, reverse=reverse)
            cached = array("l", indexes)
            if len(self._orders) < 16:
                self._orders[key] = cached
        return cached

    # --- SEARCH ---------------------------------------------------------------------------

    def text_search(self, column: str, needle: str) -> list[int]:
        """Indexes whose column contains needle, case-insensitively (ascending)."""
        if not needle:
            return list(range(len(self.uids)))
        joined, starts = self.texts[column]
        folded = needle.casefold()
        if "\0" in folded:
            return []
        found: list[int] = []
        count = len(starts)
        position = joined.find(folded)
        while position >= 0:
            index = bisect_right(starts, position) - 1
            found.append(index)
            if index + 1 >= count:
                break
            position = joined.find(folded, starts[index + 1])
        return found


def _joined(values: list[str]) -> tuple[str, array]:
    starts = array("q")
    offset = 0
    pieces = []
    for value in values:
        folded = value.casefold().replace("\0", " ") if value else ""
        starts.append(offset)
        offset += len(folded) + 1
        pieces.append(folded)
    return "\0".join(pieces), starts


def meta_build(folder_id: int, uid_validity: int, rows: list[tuple[Any, ...]], base: FolderMeta | None) -> FolderMeta:
    """base extended by rows (uids above base.last_uid), or a new FolderMeta when base is None."""
    interned: dict[str, str] = {}
    share = interned.setdefault
    uids = array("q", (row[0] for row in rows))
    internal = array("d", (row[1] for row in rows))
    sent = array("d", (row[2] for row in rows))
    sizes = array("q", (row[3] for row in rows))
    blobs = [share(row[4], row[4]) for row in rows]
    strings = {}
    for name in _STRING_COLUMNS:
        column = _ROW[name]
        keys = ((row[column] or "").translate(_ASCII_CASEMAP) for row in rows)
        strings[name] = [share(key, key) for key in keys]
    texts = {name: _joined([row[_ROW[name]] or "" for row in rows]) for name in TEXT_COLUMNS}
    if base is None:
        return FolderMeta(folder_id, uid_validity, uids, internal, sent, sizes, blobs, strings, texts)
    merged_texts: dict[str, tuple[str, array]] = {}
    for name in TEXT_COLUMNS:
        old_joined, old_starts = base.texts[name]
        new_joined, new_starts = texts[name]
        if not len(old_starts):
            merged_texts[name] = (new_joined, new_starts)
            continue
        shift = len(old_joined) + 1
        merged_texts[name] = (
            old_joined + "\0" + new_joined if len(new_starts) else old_joined,
            old_starts + array("q", (start + shift for start in new_starts)),
        )
    return FolderMeta(
        folder_id,
        uid_validity,
        base.uids + uids,
        base.internal + internal,
        base.sent + sent,
        base.sizes + sizes,
        base.blobs + blobs,
        {name: base.strings[name] + strings[name] for name in _STRING_COLUMNS},
        merged_texts,
    )


class MetaCache:
    """folder id -> FolderMeta, LRU bounded by messages. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, FolderMeta] = OrderedDict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, folder_id: int, uid_validity: int) -> FolderMeta | None:
        with self._lock:
            meta = self._entries.get(folder_id)
            if meta is None or meta.uid_validity != uid_validity:
                return None
            self._entries.move_to_end(folder_id)
            return meta

    def put(self, meta: FolderMeta) -> None:
        with self._lock:
            current = self._entries.get(meta.folder_id)
            if current is not None and current.uid_validity == meta.uid_validity and len(current) > len(meta):
                if current.last_uid >= meta.last_uid and current.checked_uid >= meta.checked_uid:
                    return  # another session already stored a newer one
            self._entries[meta.folder_id] = meta
            self._entries.move_to_end(meta.folder_id)
            total = sum(len(entry) for entry in self._entries.values())
            while len(self._entries) > 1 and total > META_CACHE_MESSAGES:
                _, dropped = self._entries.popitem(last=False)
                total -= len(dropped)

    def load(self, folder_id: int, uid_validity: int, need_uid: int) -> FolderMeta:
        """Metadata covering every UID up to need_uid (call in a DB thread)."""
        base = self.get(folder_id, uid_validity)
        if base is not None and base.checked_uid >= need_uid:
            return base
        count, uid_next, rows = imap_meta_rows(folder_id, base.last_uid if base is not None else 0)
        meta = meta_build(folder_id, uid_validity, rows, base)
        if base is not None and len(meta) > count + max(1000, count // 4):  # many expunged: reload
            count, uid_next, rows = imap_meta_rows(folder_id, 0)
            meta = meta_build(folder_id, uid_validity, rows, None)
        meta.checked_uid = max(meta.last_uid, uid_next - 1)
        self.put(meta)
        return meta


META = MetaCache()


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BytesCache(Generic[K, V]):
    """key -> value, the oldest entries dropped once their costs (bytes) pass `limit`. Reads take
    no lock (a dict lookup is atomic); writes do. Shared by the caches of the FETCH answers."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._costs: dict[K, int] = {}
        self._bytes = 0
        self.limit = limit

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V, cost: int) -> V:
        with self._lock:
            if key in self._entries:
                del self._entries[key]
                self._bytes -= self._costs.pop(key)
            self._entries[key] = value
            self._costs[key] = cost
            self._bytes += cost
            while self._bytes > self.limit and len(self._entries) > 1:
                dropped, _ = self._entries.popitem(last=False)
                self._bytes -= self._costs.pop(dropped)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._costs.clear()
            self._bytes = 0


# (ENVELOPE bytes, BODY bytes, BODYSTRUCTURE bytes, body tree with offsets)
WireEntry = tuple[bytes, bytes, bytes, dict[str, Any]]


class WireCache(BytesCache[str, WireEntry]):
    """sha256 -> (ENVELOPE bytes, BODY bytes, BODYSTRUCTURE bytes, body tree), LRU by bytes."""

    def __init__(self, limit: int = WIRE_CACHE_BYTES) -> None:
        super().__init__(limit)

    def entries(self, digests: list[str]) -> dict[str, WireEntry] | None:
        """The entries of digests when every one is cached, else None (no store access)."""
        found: dict[str, WireEntry] = {}
        entries = self._entries
        for digest in digests:
            entry = entries.get(digest)
            if entry is None:
                return None
            found[digest] = entry
        return found

    def load(self, digests: list[str]) -> dict[str, WireEntry]:
        """The entries of digests, reading and serialising the missing ones (call in a DB thread)."""
        found: dict[str, WireEntry] = {}
        wanted = []
        for digest in set(digests):
            entry = self._entries.get(digest)
            if entry is None:
                wanted.append(digest)
            else:
                found[digest] = entry
        if wanted:
            for digest, (envelope, body) in imap_blob_parse(sorted(wanted)).items():
                found[digest] = self.store(digest, envelope, body)
        return found

    def store(self, digest: str, envelope: list[Any], body: dict[str, Any]) -> WireEntry:
        """Serialise a message's ENVELOPE and BODY/BODYSTRUCTURE from its stored parse, and keep them."""
        env = envelope_bytes(envelope)
        plain = body_bytes(body, extended=False)
        extended = body_bytes(body, extended=True)
        cost = len(env) + len(plain) + len(extended) + 2 * len(str(body)) + 200
        return self.put(digest, (env, plain, extended, body), cost)


WIRE = WireCache()
# (blob, header offset, field names, NOT) -> the filtered header block of BODY[HEADER.FIELDS (...)]
HEADERS: BytesCache[tuple[str, int, tuple[str, ...], bool], bytes] = BytesCache(HEADER_CACHE_BYTES)


def caches_clear() -> None:
    META.clear()
    WIRE.clear()
    HEADERS.clear()
